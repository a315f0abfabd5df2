#pragma once
// ebsnap unmount: pre_unmounts/pre_unmount hooks → unmount (busy → a clear error naming the
// mount point, and the volume is left attached) → DetachVolume → wait for the device to go →
// with delete_volumes, once EC2 says available, DeleteVolume of the volumes tagged as ours
// (ebsnap:group and ebsnap:mount-point of this configured volume) and no other → post hooks.
//
// Decide (decide_unmount, pure): per configured volume, from one DescribeVolumes and the mount
// table. Only volumes of ours attached to this instance are touched. `--dry-run` prints the
// plan; a real run records each step it carries out in the same words. Asking for confirmation
// before deleting belongs to the command line.
#include <optional>
#include <string>
#include <vector>

#include "agent/core/our_volumes.h"
#include "agent/core/services.h"
#include "agent/report/report.h"

namespace agent {

struct UnmountOptions {
  bool delete_volumes = false;  // delete only volumes tagged as ours
  bool assume_yes = false;      // --yes: do not ask
};

enum class UnmountAction {
  NothingAttached,  // no volume of ours is attached here for this mount point: nothing to do
  DeleteLeftover,   // an unmount --delete-volumes died after DetachVolume: delete that volume
  Detach,           // (unmount if it is mounted there), detach, (delete)
};

struct UnmountDecision {
  UnmountAction action = UnmountAction::NothingAttached;
  std::optional<ec2::Volume> volume;
  bool unmount = false;                 // our volume is mounted at the mount point
  std::optional<std::string> left_mounted;  // something else is mounted there: left alone (a warning)
  std::vector<std::string> plan;        // the steps, in the words the real run records
};

// `ours`: our volumes for the mount point (newest first); `mounted`: what is mounted there.
[[nodiscard]] UnmountDecision decide_unmount(const std::string& mount_point, const std::vector<ec2::Volume>& ours,
                                             const MountedAt& mounted, const ec2::InstanceId& instance,
                                             bool delete_volumes);

// The words of each step (plan and steps).
namespace unmount_step {
[[nodiscard]] std::string unmount(const std::string& mount_point, const std::string& devnode);
[[nodiscard]] std::string detach(const ec2::VolumeId& volume, const std::string& attached_as);
[[nodiscard]] std::string remove(const ec2::VolumeId& volume);
[[nodiscard]] std::string remove_leftover(const ec2::VolumeId& volume);
}  // namespace unmount_step

// context.filters may be empty when the userdata cannot supply them: volumes are then recognised
// by ebsnap:group and ebsnap:mount-point (and their attachment to this instance) alone.
[[nodiscard]] RunReport unmount(const RunContext& context, const UnmountOptions& options);

}  // namespace agent
