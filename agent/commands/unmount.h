#pragma once
// ebsnap unmount: pre_unmounts/pre_unmount hooks → unmount (busy → a clear error naming the
// mount point, and the volume is left attached) → DetachVolume → wait for the device to go →
// with delete_volumes, once EC2 says available, DeleteVolume of the volumes tagged as ours
// (ebsnap:group and ebsnap:mount-point of this configured volume) and no other → post hooks.
//
// Only volumes of ours attached to this instance are touched. One DescribeVolumes for the run,
// one batched DescribeVolumes per poll round while waiting for available. Asking for
// confirmation before deleting belongs to the command line.
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/services.h"
#include "ec2/types.h"

namespace agent {

enum class UnmountStatus {
  Unmounted,    // unmounted (when it was mounted) and detached
  Deleted,      // and deleted
  NotAttached,  // no volume of ours is attached here for this mount point: nothing to do
  Failed,
};

struct UnmountOutcome {
  std::string group;
  std::string mount_point;
  std::string device;  // as configured
  std::string devnode;
  std::optional<ec2::VolumeId> volume_id;
  UnmountStatus status = UnmountStatus::Failed;
  std::string reason;
  bool was_mounted = false;
  std::vector<std::string> plan;  // --dry-run
  std::vector<std::string> warnings;
};

struct UnmountResult {
  bool dry_run = false;
  std::vector<UnmountOutcome> volumes;
  std::vector<std::string> errors;

  [[nodiscard]] bool ok() const;
  [[nodiscard]] int exit_code() const { return ok() ? 0 : 1; }
};

// `filters` may be empty when the userdata cannot supply them: volumes are then recognised by
// ebsnap:group and ebsnap:mount-point (and their attachment to this instance) alone.
[[nodiscard]] UnmountResult unmount_groups(Services& services, const Config& config,
                                           const FilterValues& filters, const InstanceContext& instance,
                                           const std::vector<const GroupConfig*>& groups,
                                           bool delete_volumes);

}  // namespace agent
