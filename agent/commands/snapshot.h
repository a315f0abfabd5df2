#pragma once
// ebsnap snapshot GROUP...: consistent snapshots of each group's volumes, frozen for the shortest
// possible time.
//
// Per group:
//   1. its volumes: ours (tags), attached to this instance, mounted at their mount points
//      (one DescribeInstances + one DescribeVolumes for the whole run, before any freeze);
//   2. pre_snapshots, pre_snapshot hooks (a failure stops the group; nothing is frozen);
//   3. syncfs of every filesystem, outside the window;
//   4. a run record under run_dir (agent/core/snapshot_record.h), then the thaw guardian (bound =
//      freeze_timeout), then FIFREEZE of every freezable filesystem at once (FreezeSet);
//   5. one CreateSnapshots call for the frozen volumes (ExcludeBootVolume, ExcludeDataVolumeIds =
//      every other attached volume), tags at creation; the unfrozen ones in their own call,
//      concurrently (their consistency tag differs, and a tag specification is common to all);
//   6. FITHAW as soon as the frozen call's response arrives: the point in time is fixed once
//      the snapshots are pending; then the guardian is finished;
//   7. after the thaw only: per-snapshot tags CreateSnapshots cannot express, consistency
//      corrected to watchdog-thawed when the freeze did not hold until the response, a lost
//      response reconciled by the run's tag; then the run record is removed;
//   8. post_snapshot, post_snapshots hooks (always), on_failure once for the group when something
//      failed (agent/core/hook_phases.h); a failed post-hook fails the run (exit 1), as for mount
//      and unmount;
//   9. prune_after_snapshot (options.prune), then on_success when the group ended ok.
//
// Tags at creation: CreateSnapshots' TagSpecifications apply to every snapshot of the call, so
// they carry the tags common to the group (filter tags, group tags, ebsnap:group,
// ebsnap:instance-id, ebsnap:consistency, ebsnap:run-id), and CopyTagsFromSource=volume brings
// each volume's own ebsnap:mount-point and ebsnap:device (our volumes carry them; a volume whose
// tags do not say its mount point is not taken as ours). The lineage (filter tags +
// ebsnap:mount-point) is therefore complete from creation. What stays per snapshot
// (ebsnap:volume-id, and Name when the volume's differs) is added by CreateTags after the thaw:
// one call per snapshot, outside the window. The cost of this choice: those N calls after the
// thaw, and the volume's other tags (e.g. ebsnap:attempt, an operator's own tags) are copied onto
// the snapshot too. The alternative (N concurrent CreateSnapshot calls with exact tags) puts N
// requests, each subject to throttling, inside the window.
//
// Nothing is written to a frozen filesystem: logs go to stderr, state to run_dir (whose
// filesystem is never frozen).
#include <chrono>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/services.h"
#include "agent/report/report.h"
#include "agent/core/snapshot_record.h"
#include "agent/core/tags.h"
#include "ec2/types.h"

namespace agent {

struct SnapshotOptions {
  std::string run_id;  // empty: generated
  std::optional<Trigger> trigger;  // ebsnap:trigger on every snapshot of the run; none: no such tag
  // Called after a group's successful run when its retention says prune_after_snapshot, holding
  // the group's lock (the command line passes prune_group, agent/commands/prune.h: commands do
  // not include each other).
  std::function<void(const RunContext&, const GroupConfig&, RunReport&)> prune;
};

// Takes the snapshots of context.groups. Never throws; every outcome is in the report: per
// volume the snapshot id, its consistency and freeze_ms; per group the freeze window, the call
// made while frozen (call_ms, ec2_calls) and why the guardian thawed; the runs reconciled first.
[[nodiscard]] RunReport snapshot(const RunContext& context, const SnapshotOptions& options = {});

}  // namespace agent
