#pragma once
// ebsnap unmount: pre_unmounts/pre_unmount hooks → unmount (busy → a clear error naming the
// mount point, and the volume is left attached) → DetachVolume → wait for the device to go →
// with delete_volumes, once EC2 says available, DeleteVolume of the volumes tagged as ours
// (ebsnap:group and ebsnap:mount-point of this configured volume) and no other → post hooks;
// on_failure for each failed volume, and last on_success for each group that ended ok.
// With delete_volumes a detach record (agent/core/detach_record.h) is written, durably, before
// DetachVolume: it is what lets a rerun delete a volume that a run which died left detached. A
// detached volume that no record names is never deleted, whatever its tags say: it is left alone
// and reported (a warning, and its id in the volume's left_alone).
//
// unmount --inspect runs the same over the group of the inspection volumes EC2 lists for the group
// (ebsnap:purpose=inspect and the group's tags, checked again), with delete_volumes: no hooks.
//
// Decide (decide_unmount, pure): per configured volume, from one DescribeVolumes, the mount
// table and the detach records (read before deciding). Only volumes of ours attached to this
// instance, or detached by a recorded unmount of this instance, are touched. `--dry-run` prints
// the plan; a real run records each step it carries out in the same words. Asking for
// confirmation before deleting belongs to the command line.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/detach_record.h"
#include "agent/core/our_volumes.h"
#include "agent/core/services.h"
#include "agent/report/report.h"

namespace agent {

struct UnmountOptions {
  bool delete_volumes = false;  // delete only volumes tagged as ours
  bool assume_yes = false;      // --yes: do not ask
  // --inspect: the groups' inspections (agent/core/inspect.h) instead of their live volumes, all of
  // them or those of `run_id`: unmounted, detached, deleted (they are copies: the snapshots stay),
  // and their empty directories under `prefix` (empty: <run dir>/inspect) removed.
  bool inspect = false;
  std::optional<std::string> run_id;
  std::filesystem::path prefix;
};

enum class UnmountAction {
  NothingAttached,  // no volume of ours is attached here for this mount point: nothing to do
  DeleteLeftover,   // an unmount --delete-volumes died after DetachVolume (its record says so): delete that volume
  Detach,           // (unmount if it is mounted there), detach, (delete)
};

struct UnmountDecision {
  UnmountAction action = UnmountAction::NothingAttached;
  std::optional<ec2::Volume> volume;
  bool unmount = false;                 // our volume is mounted at the mount point
  std::optional<std::string> left_mounted;  // something else is mounted there: left alone (a warning)
  std::vector<std::string> plan;        // the steps, in the words the real run records
  // With delete_volumes: detached volumes tagged as made by this instance for this mount point
  // that no detach record names. Tags are no proof: they are neither deleted nor touched.
  std::vector<ec2::VolumeId> left_alone;
};

// `ours`: our volumes for the mount point (newest first); `mounted`: what is mounted there;
// `records`: the detach records of the group (read_detach_records), the only proof that a
// detached volume was detached by this instance's unmount to be deleted.
[[nodiscard]] UnmountDecision decide_unmount(const std::string& mount_point, const std::vector<ec2::Volume>& ours,
                                             const MountedAt& mounted, const ec2::InstanceId& instance,
                                             bool delete_volumes, const std::vector<DetachRecord>& records);

// The words of each step (plan and steps).
namespace unmount_step {
[[nodiscard]] std::string unmount(const std::string& mount_point, const std::string& devnode);
[[nodiscard]] std::string detach(const ec2::VolumeId& volume, const std::string& attached_as);
[[nodiscard]] std::string remove(const ec2::VolumeId& volume);
[[nodiscard]] std::string remove_leftover(const ec2::VolumeId& volume);
// Not a step: the warning on a volume left alone (UnmountDecision::left_alone).
[[nodiscard]] std::string left_alone(const ec2::VolumeId& volume);
}  // namespace unmount_step

// context.filters may be empty when the userdata cannot supply them: volumes are then recognised
// by ebsnap:group and ebsnap:mount-point (and their attachment to this instance) alone.
[[nodiscard]] RunReport unmount(const RunContext& context, const UnmountOptions& options);

}  // namespace agent
