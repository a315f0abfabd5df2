#pragma once
// ebsnap mount: restore (or create) and mount every volume of some groups. Idempotent and
// resumable: a rerun after a crash at any point converges on one volume per mount point.
//
// Decide (agent/commands/mount_decide.h), from what one DescribeVolumes, the mount table and the
// attempt records under the run dir show: per volume, already mounted / reuse the attached
// volume a run left / reuse the volume an attempt created / create. One DescribeSnapshots
// (OwnerIds=self, lineage filters, paginated) then picks the newest snapshot of each lineage;
// a newest one still pending is waited for (Timeouts::pending_snapshot) instead of restoring
// older data; error ones are skipped. `--dry-run` prints that plan and stops.
//
// Act, through Services:
//   1. CreateVolume for all of them in parallel, each with the ClientToken of its attempt
//      (agent/core/client_tokens.h) and its tags at creation;
//   2. one batched DescribeVolumes per poll round until they are available;
//   3. per volume, on a thread of its own from the moment it is available: arm the udev watch,
//      AttachVolume (a device name in use → the next free one), the device whose serial is the
//      volume id is the proof of attachment (Xen, no serial: a disk that appeared after the watch
//      under that name with the volume's size; one already attached before the run cannot be
//      proven and fails at once); blkid and decide_format (from a snapshot: must carry a
//      filesystem; new: must be empty, then mkfs), the device checked again before mkfs and
//      before mount; mount (undone on failure paths).
// Which snapshots: the group's restore point (agent/core/restore_points.h), one run for all its
// volumes: the newest complete one, or with --as-of / --run the one asked for. Newer incomplete
// runs are passed over and named (GroupReport::skipped_runs). --as-of and --run refuse (exit 2,
// nothing changed) when any mount point of the group is mounted: replacing live data is a
// deliberate unmount first. --inspect restores the point beside them instead (agent/core/inspect.h).
// Hooks (agent/core/hook_phases.h): pre_mounts/post_mounts around a group that has work to do,
// pre_mount/post_mount around each mount, on_failure for each failure, last on_success for each
// group that ended ok.
#include <filesystem>

#include "agent/core/restore_points.h"
#include "agent/core/services.h"
#include "agent/report/report.h"

namespace agent {

struct MountOptions {
  PointSelector point;  // --as-of TIME, --run RUN-ID; neither: the newest complete restore point
  // --inspect: the point read-only beside the live volumes (agent/core/inspect.h), under `prefix`
  // (empty: <run dir>/inspect, /run/ebsnap/inspect).
  bool inspect = false;
  std::filesystem::path prefix;
  bool progress_bar = false;  // stderr is a terminal: the waits for snapshots and volumes show a bar
};

// Where inspections go: `prefix`, or <run dir>/inspect.
[[nodiscard]] std::filesystem::path inspect_prefix(const RunContext& context, const std::filesystem::path& prefix);

// Restores and mounts the volumes of context.groups. Never throws for EC2 or device problems:
// each volume's report says what happened.
[[nodiscard]] RunReport mount(const RunContext& context, const MountOptions& options = {});

}  // namespace agent
