#pragma once
// What is on a block device, by libblkid low-level probing (never the blkid cache, which can be
// stale for a volume that was attached a moment ago).
#include <string>

#include "platform/error.h"

namespace platform {

struct ProbeResult {
  std::string fs_type;          // "ext4", "xfs", … ; "" when no filesystem
  std::string uuid;             // filesystem UUID
  std::string label;            // filesystem label
  std::string partition_table;  // "dos", "gpt", … ; "" when none
  bool ambiguous = false;       // several signatures found: never treat such a device as empty

  friend bool operator==(const ProbeResult&, const ProbeResult&) = default;
};

enum class DeviceContent { Empty, Filesystem, PartitionTable, Ambiguous };

[[nodiscard]] DeviceContent classify(const ProbeResult& probe);

// mkfs is allowed only on a device that carries neither a filesystem nor a partition table.
// Refused (naming the device and what is on it) otherwise.
[[nodiscard]] Result<void> check_empty_for_mkfs(const std::string& devnode, const ProbeResult& probe);

// A volume restored from a snapshot must carry a filesystem: Refused otherwise (never mkfs it).
[[nodiscard]] Result<void> check_has_filesystem(const std::string& devnode, const ProbeResult& probe);

// Probes superblocks (type, UUID, label) and partition tables of `devnode`.
[[nodiscard]] Result<ProbeResult> probe_device(const std::string& devnode);

}  // namespace platform
