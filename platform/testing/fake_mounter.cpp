#include "platform/testing/fake_mounter.h"

#include <algorithm>

namespace platform {

void FakeMounter::set_busy(const std::string& target, bool busy) {
  std::lock_guard lock(mutex_);
  if (busy) {
    busy_.insert(target);
  } else {
    busy_.erase(target);
  }
}

void FakeMounter::fail_next_mount(const std::string& target, Error error) {
  std::lock_guard lock(mutex_);
  mount_failures_.insert_or_assign(target, std::move(error));
}

void FakeMounter::set_fs_uuid(const std::string& source, const std::string& uuid) {
  std::lock_guard lock(mutex_);
  uuids_.insert_or_assign(source, uuid);
}

Result<MountInfo> FakeMounter::mount(const MountRequest& request) {
  std::lock_guard lock(mutex_);
  if (auto it = mount_failures_.find(request.target); it != mount_failures_.end()) {
    Error e = std::move(it->second);
    mount_failures_.erase(it);
    return std::unexpected(std::move(e));
  }
  if (request.source.empty() || request.target.empty()) {
    return fail(ErrorKind::Refused, "mount: source and target are required");
  }
  for (const auto& m : mounts_) {
    if (m.target == request.target) {
      return fail(ErrorKind::Busy,
                  "mount " + request.source + " on " + request.target +
                      ": the mount point is already in use by " + m.source,
                  EBUSY);
    }
  }
  std::string options = request.options;
  if (request.fs_type == "xfs") {
    const auto mine = uuids_.find(request.source);
    const bool dup =
        mine != uuids_.end() && std::any_of(mounts_.begin(), mounts_.end(), [&](const MountInfo& m) {
          const auto theirs = uuids_.find(m.source);
          return m.fs_type == "xfs" && theirs != uuids_.end() && theirs->second == mine->second;
        });
    if (dup && options.find("nouuid") == std::string::npos) options += options.empty() ? "nouuid" : ",nouuid";
  }
  MountInfo info{
      .source = request.source, .target = request.target, .fs_type = request.fs_type, .options = options};
  mounts_.push_back(info);
  return info;
}

Result<void> FakeMounter::remove_empty_directories(const std::string& path, const std::string& stop_at) {
  std::lock_guard lock(mutex_);
  if (!path.starts_with(stop_at + "/")) return fail(ErrorKind::Refused, path + " is not under " + stop_at);
  removed_directories_.push_back(path);
  return {};
}

std::vector<std::string> FakeMounter::removed_directories() const {
  std::lock_guard lock(mutex_);
  return removed_directories_;
}

Result<void> FakeMounter::unmount(const std::string& target) {
  std::lock_guard lock(mutex_);
  if (busy_.contains(target)) {
    return fail(ErrorKind::Busy, "cannot unmount " + target + ": mount point is busy", EBUSY);
  }
  for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) {
    if (it->target == target) {
      mounts_.erase(std::next(it).base());
      return {};
    }
  }
  return fail(ErrorKind::NotFound, "unmount " + target + ": nothing is mounted there");
}

Result<std::optional<MountInfo>> FakeMounter::find_by_target(const std::string& target) {
  std::lock_guard lock(mutex_);
  for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) {
    if (it->target == target) return std::optional<MountInfo>(*it);
  }
  return std::optional<MountInfo>{};
}

Result<std::vector<MountInfo>> FakeMounter::find_by_source(const std::string& source) {
  std::lock_guard lock(mutex_);
  std::vector<MountInfo> out;
  for (const auto& m : mounts_) {
    if (m.source == source) out.push_back(m);
  }
  return out;
}

Result<std::vector<MountInfo>> FakeMounter::mounts() {
  std::lock_guard lock(mutex_);
  return mounts_;
}

}  // namespace platform
