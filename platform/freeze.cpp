#include "platform/freeze.h"

#include <filesystem>
#include <set>
#include <thread>

#include "ebsnap/try.h"
#include "platform/log.h"

namespace platform {
namespace {

using Clock = std::chrono::steady_clock;

// The runtime dir may not exist yet: its filesystem is the one of its nearest existing ancestor.
std::string existing_ancestor(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p{path};
  while (!p.empty() && !std::filesystem::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  return p.empty() ? std::string("/") : p.string();
}

long long us_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
}

}  // namespace

std::string_view to_string(FreezeState state) {
  switch (state) {
    case FreezeState::Pending:
      return "pending";
    case FreezeState::Frozen:
      return "frozen";
    case FreezeState::AlreadyFrozen:
      return "already-frozen";
    case FreezeState::Failed:
      return "failed";
    case FreezeState::Thawed:
      return "thawed";
    case FreezeState::NotFrozen:
      return "not-frozen";
    case FreezeState::ThawFailed:
      return "thaw-failed";
  }
  return "unknown";
}

Result<void> check_freezable(FreezeOps& ops, const std::vector<std::string>& mount_points,
                             const FreezeOptions& options) {
  struct Protected {
    std::string path;
    std::uint64_t device;
  };
  std::vector<Protected> protected_fs;
  for (const auto& path : options.protected_paths) {
    auto id = ops.identify(path);
    if (id) protected_fs.push_back({path, id->device});  // a missing /boot protects nothing
  }
  if (!options.runtime_dir.empty()) {
    const std::string holder = existing_ancestor(options.runtime_dir);
    EBSNAP_TRY_ASSIGN(auto id, ops.identify(holder));
    protected_fs.push_back({options.runtime_dir + " (the agent's runtime state)", id.device});
  }
  std::set<std::uint64_t> seen;
  for (const auto& mp : mount_points) {
    EBSNAP_TRY_ASSIGN(auto id, ops.identify(mp));
    for (const auto& p : protected_fs) {
      if (p.device == id.device) {
        return fail(ErrorKind::Refused, "refusing to freeze " + mp + ": it is on the filesystem of " +
                                            p.path + ", which is never frozen");
      }
    }
    if (!id.mount_root) {
      // FIFREEZE acts on the whole filesystem holding the path.
      return fail(ErrorKind::Refused, "refusing to freeze " + mp +
                                          ": not a mount point (it would freeze the filesystem holding it)");
    }
    if (!seen.insert(id.device).second) {
      return fail(ErrorKind::Refused, "refusing to freeze " + mp + ": its filesystem is already in the set");
    }
  }
  return {};
}

Result<void> sync_filesystems(FreezeOps& ops, const std::vector<std::string>& mount_points) {
  std::vector<Result<void>> results(mount_points.size());
  {
    std::vector<std::jthread> threads;
    threads.reserve(mount_points.size());
    for (std::size_t i = 0; i < mount_points.size(); ++i) {
      threads.emplace_back([&, i] { results[i] = ops.syncfs(mount_points[i]); });
    }
  }
  for (auto& r : results) {
    if (!r) return r;
  }
  return {};
}

Result<FreezeSet> FreezeSet::freeze(FreezeOps& ops, std::vector<std::string> mount_points,
                                    const FreezeOptions& options) {
  EBSNAP_TRY(check_freezable(ops, mount_points, options));

  auto now = options.now ? options.now : [] { return Clock::now(); };
  std::vector<FreezeEntry> entries(mount_points.size());
  for (std::size_t i = 0; i < mount_points.size(); ++i) entries[i].mount_point = mount_points[i];
  {
    // One thread per filesystem: the stalls of the FIFREEZEs overlap instead of adding up.
    std::vector<std::jthread> threads;
    threads.reserve(entries.size());
    for (auto& entry : entries) {
      threads.emplace_back([&ops, &entry, &now] {
        entry.freeze_started = now();
        auto r = ops.freeze(entry.mount_point);
        entry.frozen_at = now();
        if (r) {
          entry.state = FreezeState::Frozen;
        } else if (r.error().kind == ErrorKind::AlreadyFrozen) {
          entry.state = FreezeState::AlreadyFrozen;
          entry.error = r.error();
        } else {
          entry.state = FreezeState::Failed;
          entry.error = r.error();
        }
      });
    }
  }

  FreezeSet set{ops, std::move(entries), now};
  const Error* first_failure = nullptr;
  for (const auto& e : set.entries_) {
    if (e.state == FreezeState::AlreadyFrozen) {
      log_freeze().warn("freeze mount_point={} already frozen by someone else; it will not be thawed by us",
                        e.mount_point);
      if (options.on_already_frozen) options.on_already_frozen(e.mount_point);
    } else if (e.state == FreezeState::Frozen) {
      log_freeze().debug("freeze mount_point={} took_us={}", e.mount_point,
                         us_between(e.freeze_started, e.frozen_at));
    }
    if (e.state == FreezeState::Failed && first_failure == nullptr) first_failure = &*e.error;
  }
  if (first_failure != nullptr) {
    Error error = *first_failure;
    auto thawed = set.thaw();  // rollback, reverse order
    if (thawed) {
      error.message += "; thawed the ones already frozen";
    } else {
      error.message += "; rolling back, a thaw failed too: " + thawed.error().message;
    }
    log_freeze().error("freeze failed: {}", error.message);
    return std::unexpected(std::move(error));
  }
  return set;
}

FreezeSet::FreezeSet(FreezeSet&& other) noexcept
    : ops_(std::exchange(other.ops_, nullptr)), entries_(std::move(other.entries_)), now_(std::move(other.now_)) {}

FreezeSet::~FreezeSet() {
  if (ops_ != nullptr && frozen()) {
    auto r = thaw();
    if (!r) log_freeze().error("thaw at scope exit: {}", r.error().message);
  }
}

bool FreezeSet::frozen() const {
  for (const auto& e : entries_) {
    if (e.state == FreezeState::Frozen) return true;
  }
  return false;
}

Result<void> FreezeSet::thaw() {
  std::optional<Error> failure;
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->state != FreezeState::Frozen) continue;
    auto r = ops_->thaw(it->mount_point);
    it->thawed_at = now_ ? now_() : Clock::now();
    if (r) {
      it->state = FreezeState::Thawed;
    } else if (r.error().kind == ErrorKind::NotFrozen) {
      it->state = FreezeState::NotFrozen;  // thawed by someone else (the guardian): fine
    } else {
      it->state = FreezeState::ThawFailed;
      it->error = r.error();
      if (!failure) failure = r.error();
      log_freeze().error("thaw mount_point={} failed: {}", it->mount_point, r.error().message);
      continue;
    }
    log_freeze().debug("thaw mount_point={} frozen_us={}", it->mount_point,
                       us_between(it->frozen_at, it->thawed_at));
  }
  if (failure) return std::unexpected(*failure);
  return {};
}

}  // namespace platform
