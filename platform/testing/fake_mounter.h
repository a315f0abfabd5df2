#pragma once
// A stateful in-memory Mounter: mounting over a mount point in use is Busy, unmounting what is not
// mounted is NotFound, a target marked busy refuses to unmount like the kernel would.
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "platform/mounter.h"

namespace platform {

class FakeMounter final : public Mounter {
 public:
  void set_busy(const std::string& target, bool busy = true);
  // The next mount of `target` fails with `error`.
  void fail_next_mount(const std::string& target, Error error);
  // UUID of the filesystem on `source`, for the XFS nouuid rule.
  void set_fs_uuid(const std::string& source, const std::string& uuid);
  // The paths remove_empty_directories was called with, in order.
  [[nodiscard]] std::vector<std::string> removed_directories() const;

  [[nodiscard]] Result<MountInfo> mount(const MountRequest& request) override;
  [[nodiscard]] Result<void> unmount(const std::string& target) override;
  [[nodiscard]] Result<std::optional<MountInfo>> find_by_target(const std::string& target) override;
  [[nodiscard]] Result<std::vector<MountInfo>> find_by_source(const std::string& source) override;
  [[nodiscard]] Result<std::vector<MountInfo>> mounts() override;
  [[nodiscard]] Result<void> remove_empty_directories(const std::string& path, const std::string& stop_at) override;

 private:
  mutable std::mutex mutex_;
  std::vector<MountInfo> mounts_;  // in mount order
  std::vector<std::string> removed_directories_;
  std::set<std::string> busy_;
  std::map<std::string, Error> mount_failures_;
  std::map<std::string, std::string> uuids_;
};

}  // namespace platform
