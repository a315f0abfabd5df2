#include "bench/fleet/sim_freezing.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace fleet {

class SimFreezing::Guard final : public agent::FreezeGuard {
 public:
  Guard(SimFreezing& owner, std::vector<std::string> mounts, Steady::time_point started,
        Steady::time_point bound)
      : owner_(owner), mounts_(std::move(mounts)), started_(started), bound_(bound) {}

  platform::Result<void> exclude(const std::string& mount_point) override {
    const std::lock_guard lock(owner_.mutex_);
    std::erase(mounts_, mount_point);
    owner_.guarded_until_.erase(mount_point);
    return {};
  }

  platform::Result<platform::GuardianReport> finish() override {
    const std::lock_guard lock(owner_.mutex_);
    owner_.guardians_thaw_locked();
    const auto now = owner_.world_.monotonic();
    platform::GuardianReport report{
        .trigger = now >= bound_ ? platform::GuardianTrigger::Timeout : platform::GuardianTrigger::Done,
        .mounts = {},
        .elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::min(now, bound_) - started_)};
    for (const auto& mp : mounts_) {
      const bool was = owner_.frozen_.erase(mp) != 0;
      owner_.guarded_until_.erase(mp);
      report.mounts.push_back(
          {.mount_point = mp,
           .outcome = was ? platform::ThawOutcome::Thawed : platform::ThawOutcome::NotFrozen});
    }
    return report;
  }

  bool thawed_on_its_own() override {
    const std::lock_guard lock(owner_.mutex_);
    owner_.guardians_thaw_locked();
    return owner_.world_.monotonic() >= bound_;
  }

 private:
  SimFreezing& owner_;
  std::vector<std::string> mounts_;
  Steady::time_point started_;
  Steady::time_point bound_;
};

void SimFreezing::add_filesystem(const std::string& mount_point) {
  filesystems_.emplace(mount_point, 100 + filesystems_.size());
}

platform::Result<platform::FsIdentity> SimFreezing::identify(const std::string& path) {
  const auto it = filesystems_.find(path);
  if (it == filesystems_.end()) return platform::FsIdentity{.device = 1, .mount_root = false};
  return platform::FsIdentity{.device = it->second, .mount_root = true};
}

platform::Result<void> SimFreezing::syncfs(const std::string&) {
  return {};
}

platform::Result<void> SimFreezing::freeze(const std::string& mount_point) {
  const std::lock_guard lock(mutex_);
  guardians_thaw_locked();
  if (!frozen_.insert(mount_point).second) {
    return platform::fail(platform::ErrorKind::AlreadyFrozen, mount_point + " already frozen");
  }
  return {};
}

platform::Result<void> SimFreezing::thaw(const std::string& mount_point) {
  const std::lock_guard lock(mutex_);
  guardians_thaw_locked();
  if (frozen_.erase(mount_point) == 0) {
    return platform::fail(platform::ErrorKind::NotFrozen, mount_point + " not frozen");
  }
  return {};
}

platform::Result<std::unique_ptr<agent::FreezeGuard>> SimFreezing::start(
    const platform::GuardianOptions& options) {
  const std::lock_guard lock(mutex_);
  const auto now = world_.monotonic();
  for (const auto& mp : options.mount_points) guarded_until_[mp] = now + options.freeze_bound;
  return std::make_unique<Guard>(*this, options.mount_points, now, now + options.freeze_bound);
}

bool SimFreezing::frozen(const std::string& mount_point) const {
  const std::lock_guard lock(mutex_);
  return frozen_.contains(mount_point);
}

void SimFreezing::guardians_thaw_locked() {
  const auto now = world_.monotonic();
  std::erase_if(guarded_until_, [&](const auto& g) {
    if (now < g.second) return false;
    frozen_.erase(g.first);
    return true;
  });
}

}  // namespace fleet
