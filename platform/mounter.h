#pragma once
// The seam for mounting: LibmountMounter for real, FakeMounter for the agent's unit tests.
#include <optional>
#include <string>
#include <vector>

#include "platform/error.h"

namespace platform {

struct MountRequest {
  std::string source;         // "/dev/nvme1n1"
  std::string target;         // "/mnt/solr"
  std::string fs_type;        // "ext4", "xfs"
  std::string options;        // "noatime,…"; may be ""
  bool create_target = true;  // mkdir -p, mode 0755
};

struct MountInfo {
  std::string source;
  std::string target;
  std::string fs_type;
  std::string options;  // VFS + filesystem options as the kernel reports them

  friend bool operator==(const MountInfo&, const MountInfo&) = default;
};

class Mounter {
 public:
  virtual ~Mounter() = default;

  // Mounts and returns what is now mounted. An XFS whose UUID is already mounted elsewhere (a
  // volume restored from a snapshot of a mounted one) gets "nouuid" added.
  [[nodiscard]] virtual Result<MountInfo> mount(const MountRequest& request) = 0;

  // Busy (message names the mount point) when something still uses it; NotFound when nothing is
  // mounted there.
  [[nodiscard]] virtual Result<void> unmount(const std::string& target) = 0;

  // The topmost mount at `target` (path canonicalised), or nullopt.
  [[nodiscard]] virtual Result<std::optional<MountInfo>> find_by_target(const std::string& target) = 0;

  // Every mount of the block device `source` (compared by device number, so symlinks match).
  [[nodiscard]] virtual Result<std::vector<MountInfo>> find_by_source(const std::string& source) = 0;

  // Every mount of this mount namespace, as in /proc/self/mountinfo.
  [[nodiscard]] virtual Result<std::vector<MountInfo>> mounts() = 0;

  // Removes the directory `path` and then each parent while it is empty, up to `stop_at` (kept;
  // it must contain `path`). A directory that is not empty or is in use ends it quietly: only
  // empty directories a mount created are meant (an inspection's, agent/core/inspect.h).
  [[nodiscard]] virtual Result<void> remove_empty_directories(const std::string& path, const std::string& stop_at) = 0;
};

}  // namespace platform
