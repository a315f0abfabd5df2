#pragma once
// ebsnap list: per group and configured volume, the volume of ours attached to this instance,
// its device node and mount state, and the newest snapshot of its lineage. One DescribeVolumes
// and one DescribeSnapshots for the whole run; nothing is changed.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/services.h"
#include "ec2/types.h"

namespace agent {

struct ListEntry {
  std::string group;
  std::string mount_point;
  std::string device;                      // as configured
  std::optional<ec2::VolumeId> volume_id;  // ours, attached here (else the newest of ours)
  std::optional<int> size_gib;
  std::string devnode;  // its block device, when present
  // "mounted": attached here and mounted on the mount point; "attached": attached here, not
  // mounted there; "detached": a volume of ours exists but is not attached here; "absent": none.
  std::string state = "absent";
  std::string mounted_source;  // what is mounted on the mount point, when it is not our volume
  std::optional<ec2::SnapshotId> snapshot_id;  // the newest of the lineage (any state)
  std::optional<ec2::TimePoint> snapshot_time;
  std::string snapshot_state;
  std::string snapshot_consistency;  // ebsnap:consistency
};

struct ListResult {
  std::vector<ListEntry> volumes;
  std::vector<std::string> errors;  // a Describe call that failed

  [[nodiscard]] bool ok() const { return errors.empty(); }
  [[nodiscard]] int exit_code() const { return ok() ? 0 : 1; }
};

[[nodiscard]] ListResult list_groups(Services& services, const FilterValues& filters,
                                     const InstanceContext& instance,
                                     const std::vector<const GroupConfig*>& groups);

}  // namespace agent
