#pragma once
// copy, the decide step (issue 14): a pure function from what the run's region holds (the
// source) and what a destination region holds, to the runs to copy there. Nothing here touches
// EC2; `--dry-run` prints this plan.
//
// - The unit is a restore point (agent/core/restore_points.h): a run is copied whole. Only
//   complete points are copied: a pending one is left for the next copy (said), one with a
//   member in error or missing never becomes a restore point anywhere (said, never copied).
// - A source snapshot is copied once: its copy in the destination carries
//   ebsnap:source-snapshot = its id, the group's and the lineage's tags. A copy found in any
//   state is never made again: completed (copied), pending (in flight: waited on), error (the
//   run fails there; the operator deletes the failed copy to have it made again).
// - A source snapshot that is itself a copy of a snapshot of the destination region
//   (ebsnap:source-region = the destination, after a fail-over) is not copied back: its original
//   is there.
// - Oldest first, by the source's point in time: EC2 copies incrementally only while the
//   previous copy of the volume's lineage exists in the destination, so each lineage's copies are
//   made in order, one after the other (agent/commands/copy.h schedules them).
// - With a retention in the destination (its copy_to's), a run none of whose snapshots is there
//   yet is not copied when that retention, applied to the destination as it would be after this
//   plan, would delete it: the destination's prune deleted it before (home keeps it under its own
//   retention), or it is older than what the destination keeps. Copying it would make it again
//   only for the next prune to delete it, at every copy. A run partly there is finished.
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "ec2/types.h"

namespace agent {

enum class CopyStep : std::uint8_t {
  ToCopy,    // no copy in the destination yet
  InFlight,  // a copy exists and is pending
  Copied,    // a copy exists and is completed
  Failed,    // a copy exists in state error
};
[[nodiscard]] std::string_view to_string(CopyStep step);  // "to-copy", "in-flight", "copied", "failed"

struct PlannedCopy {
  std::string mount_point;
  const ec2::Snapshot* source = nullptr;  // into CopyInputs::source
  CopyStep step = CopyStep::ToCopy;
  const ec2::Snapshot* copy = nullptr;    // the existing copy (not ToCopy), into CopyInputs::destination
};

struct PlannedCopyRun {
  std::string run_id;
  ec2::TimePoint time{};                   // the source's point in time
  std::optional<std::string> consistency;  // the restore point's
  std::vector<PlannedCopy> copies;         // one per member with a snapshot, in config order

  [[nodiscard]] bool whole() const;  // every copy completed
};

struct SkippedCopyRun {
  std::string run_id;
  ec2::TimePoint time{};
  std::string reason;    // "pending: the next copy takes it", or the point's problem
  bool pending = false;  // complete but for pending snapshots: the next copy takes it
};

struct CopyPlan {
  std::vector<PlannedCopyRun> runs;     // oldest first; runs already whole are not listed
  std::size_t already_copied = 0;       // runs already whole in the destination
  std::vector<SkippedCopyRun> skipped;  // oldest first
};

// The run ids a destination's retention would not keep of `after`, the destination as it would be
// once a plan is carried out.
using NotKeptThere = std::function<std::set<std::string>(const std::vector<ec2::Snapshot>& after)>;

struct CopyInputs {
  const std::vector<ec2::Snapshot>& source;       // the run's region: OwnerIds=self, lineage_filters
  const std::vector<ec2::Snapshot>& destination;  // the destination: OwnerIds=self, ebsnap:group and filter tags
  std::string_view group;
  const FilterValues& filters;
  const std::vector<std::string>& mount_points;  // the group's, in config order
  std::string_view destination_region;
  std::chrono::seconds untagged_window{k_default_untagged_run_window};
  std::string_view source_region;  // the run's region: the copies' ebsnap:source-region
  // The destination's retention (none: every run is copied): the run ids it would not keep of
  // these snapshots, the destination's own and the copies of the plan (prune's planner,
  // runs_not_kept in agent/commands/prune_decide.h, which copy does not include).
  NotKeptThere not_kept_there;
};

[[nodiscard]] CopyPlan plan_copy(const CopyInputs& in);

// The tags of the copy of `source` (a member of `run`), set at creation: the source's own tags
// but for ebsnap:expires and ebsnap:keep (the destination's retention is its own), ebsnap:run-id
// and ebsnap:consistency of the restore point, and ebsnap:source-snapshot, ebsnap:source-region,
// ebsnap:source-time (the source's point in time, carried through a copy of a copy) and
// ebsnap:run-size; ebsnap:group when the source lacks it (a snapshot of another tool's making).
// AWS's reserved aws:* tags are not copied (EC2 refuses them).
[[nodiscard]] std::vector<ec2::Tag> copy_tags(std::string_view group, const PlannedCopyRun& run,
                                              const ec2::Snapshot& source, std::string_view source_region);

}  // namespace agent
