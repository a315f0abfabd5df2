#pragma once
// ebsnap mount: restore (or create) and mount every volume of some groups. Idempotent and
// resumable: a rerun after a crash at any point converges on one volume per mount point.
//
//   1. One DescribeVolumes finds the volumes of ours (lineage tags + group + mount point).
//      Mounted at the mount point and its device's serial is ours → already-mounted, nothing
//      else. Ours and attached to this instance → reused (a run died after AttachVolume).
//      Ours, not attached, tagged with the attempt recorded under run_dir → reused (a run died
//      after CreateVolume).
//   2. One DescribeSnapshots (OwnerIds=self, lineage filters, paginated) for every mount point
//      left; the newest snapshot of each lineage; a newest one still pending is waited for
//      (Timeouts::pending_snapshot) instead of restoring older data; error ones are skipped.
//   3. CreateVolume for all of them in parallel, each with the ClientToken of its attempt
//      (agent/client_tokens.h) and its tags at creation.
//   4. One batched DescribeVolumes per poll round until they are available.
//   5. Per volume, in parallel: arm the udev watch, AttachVolume (a device name in use → the
//      next free one), the device whose serial is the volume id is the proof of attachment;
//      blkid (from a snapshot: must carry a filesystem; new: must be empty, then mkfs), the
//      serial checked again before mkfs and before mount; mount (undone on failure paths).
//   Hooks: pre_mounts/post_mounts around a group that has work to do, pre_mount/post_mount
//   around each mount, on_failure for each failure. Hooks do not run under --dry-run.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/services.h"
#include "ec2/types.h"

namespace agent {

enum class VolumeStatus {
  Restored,        // created from the lineage's newest snapshot and mounted
  Created,         // first boot: a new empty volume, formatted and mounted
  AlreadyMounted,  // nothing to do
  Failed,
};
// "restored", "created", "already-mounted", "failed"
[[nodiscard]] std::string_view to_string(VolumeStatus status);

struct VolumeOutcome {
  std::string group;
  std::string mount_point;
  std::string device;       // as configured
  std::string attached_as;  // the name given to AttachVolume (another one when it was in use)
  std::string devnode;      // the block device it showed up as ("/dev/nvme1n1")
  std::string filesystem;   // what is mounted (or would be)
  std::optional<ec2::VolumeId> volume_id;
  std::optional<ec2::SnapshotId> snapshot_id;  // restored from
  VolumeStatus status = VolumeStatus::Failed;
  std::string reason;                 // why it failed (one line)
  bool reused = false;                // a volume left by an earlier run that died was taken over
  bool formatted = false;             // mkfs ran
  std::vector<std::string> plan;      // --dry-run: the steps that would run, in order
  std::vector<std::string> warnings;  // skipped error snapshots, a failing post hook, ...
};

struct RestoreResult {
  bool dry_run = false;
  std::vector<VolumeOutcome> volumes;  // config order, group by group
  std::vector<std::string> errors;     // failures outside one volume (a group hook, ...)

  [[nodiscard]] bool ok() const;
  // 0 when every volume is mounted (or would be) and nothing else failed; 1 otherwise.
  [[nodiscard]] int exit_code() const { return ok() ? 0 : 1; }
};

// Restores and mounts the volumes of `groups` (groups of `config`, in the order given; the
// config supplies the timeouts). Never throws for EC2 or device problems: each volume's outcome
// says what happened.
[[nodiscard]] RestoreResult restore_groups(Services& services, const Config& config,
                                           const FilterValues& filters, const InstanceContext& instance,
                                           const std::vector<const GroupConfig*>& groups);

}  // namespace agent
