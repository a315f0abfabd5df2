#pragma once
// mkfs.ext4 / mkfs.xfs, only on a device that probes empty.
#include <string>
#include <vector>

#include "platform/error.h"

namespace platform {

struct MkfsOptions {
  std::string fs_type;                  // "ext4" or "xfs"
  std::string label;                    // optional filesystem label
  std::vector<std::string> extra_args;  // passed to mkfs.* before the device
  // The device holds only what an interrupted mkfs of ours left (a partial filesystem that mount
  // calls corrupt): the caller knows it from its own records. Formats without the emptiness check.
  bool redo_interrupted = false;
};

// The argv for mkfs of `devnode`: "mkfs.ext4 -F -q [-L label] …" (ext4 asks before formatting a
// whole device unless forced) or "mkfs.xfs -f -q [-L label] …". Unsupported for other types.
[[nodiscard]] Result<std::vector<std::string>> mkfs_argv(const std::string& devnode,
                                                         const MkfsOptions& options);

// Probes `devnode`, refuses unless it is empty (or redo_interrupted), then runs mkfs (platform/spawn.h).
[[nodiscard]] Result<void> make_filesystem(const std::string& devnode, const MkfsOptions& options);

}  // namespace platform
