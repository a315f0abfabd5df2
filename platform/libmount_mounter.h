#pragma once
// Mounter over libmount (mount(2) through a libmnt_context; /proc/self/mountinfo through a
// libmnt_table) and libblkid (XFS UUIDs).
#include <string>

#include "platform/mounter.h"

namespace platform {

struct LibmountOptions {
  std::string mountinfo = "/proc/self/mountinfo";
};

class LibmountMounter final : public Mounter {
 public:
  explicit LibmountMounter(LibmountOptions options = {});

  [[nodiscard]] Result<MountInfo> mount(const MountRequest& request) override;
  [[nodiscard]] Result<void> unmount(const std::string& target) override;
  [[nodiscard]] Result<std::optional<MountInfo>> find_by_target(const std::string& target) override;
  [[nodiscard]] Result<std::vector<MountInfo>> find_by_source(const std::string& source) override;
  [[nodiscard]] Result<std::vector<MountInfo>> mounts() override;
  [[nodiscard]] Result<void> remove_empty_directories(const std::string& path, const std::string& stop_at) override;

 private:
  LibmountOptions options_;
};

}  // namespace platform
