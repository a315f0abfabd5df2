#pragma once
// ebsnap copy GROUP... [--to-region R]: copies the groups' restore points to their copy_to regions
// for disaster recovery (issue 14). The source is the run's region.
//
// Per group and destination, holding the group's copy lock (<run_dir>/lock-copy@GROUP: one copy
// of a group at a time; snapshot and mount keep their own lock):
//   1. observe: one DescribeSnapshots in the source (OwnerIds=self, the lineage filters) and one
//      in the destination (OwnerIds=self, ebsnap:group and the filter tags' values);
//   2. decide: plan_copy (agent/commands/copy_decide.h), pure: the complete runs not yet whole in
//      the destination, oldest first. `--dry-run` stops here;
//   3. act: CopySnapshot in the destination (SourceRegion, the PresignedUrl the SDKs make, tags
//      at creation, Encrypted + KmsKeyId, CompletionDurationMinutes as configured), each lineage's
//      copies in order and one at a time (EC2 copies incrementally from the previous copy of the
//      lineage), at most config.copies_in_flight at once; waits with one DescribeSnapshots per
//      round for all copies in flight (rounds from 500 ms growing to 15 s, at most 5 s while copies
//      wait behind those in flight, back to 500 ms after a completion);
//   4. with prune_after_copy, prune the destination with the copy_to's retention.
//
// Crash-safe: CopySnapshot takes no ClientToken. A copy carries ebsnap:source-snapshot from its
// creation, so a later run finds it in any state; and before each call an intent
// (<run_dir>/copy/<region>/<source snapshot>) is written: a rerun that finds an intent younger
// than k_copy_settle and no copy waits for the copy to appear before copying again (a request
// sent by a killed run is served within the HTTP timeout). A lost answer is settled the same way.
//
// Within EC2's limits: ResourceLimitExceeded (20 pending copies into a region, the account's) and
// throttling are waited out, never a give-up; the wait backs off (2 s doubling, at most 60 s) and
// resumes on a completion.
//
// Progress: a bar on stderr when it is a terminal, else a log line every 5 s.
#include <chrono>
#include <expected>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/services.h"
#include "agent/report/report.h"

namespace agent {

// A request sent by a killed run reaches EC2 within the HTTP timeout (30 s): an intent younger than
// this without a copy is waited on, an older one is void.
inline constexpr std::chrono::seconds k_copy_settle{60};
// EC2 completes a time-based copy within 48 h; nothing waits longer.
inline constexpr std::chrono::hours k_copy_wait_bound{49};

// The bytes of a copy intent file (<run_dir>/copy/<region>/<source snapshot id>): the time, in ms
// since the epoch, the CopySnapshot was about to be sent. nullopt when they are not one.
[[nodiscard]] std::optional<ec2::TimePoint> parse_copy_intent(std::string_view text);

struct CopyOptions {
  std::optional<std::string> to_region;  // --to-region: only this destination
  bool progress_bar = false;             // stderr is a terminal
  // Waits (timeouts.pending_snapshot) for pending runs to complete before copying, instead of
  // leaving them to the next copy: copy_after_snapshot, right after the run.
  bool wait_for_pending = false;
  // prune_after_copy: called with a context bound to the destination (its client and region),
  // where prune applies the copy_to's retention (the command line passes prune_group,
  // agent/commands/prune.h: commands do not include each other).
  std::function<void(const RunContext&, const GroupConfig&, RunReport&)> prune;
  // What a copy_to's retention would not keep of a destination's snapshots, as prune plans it
  // (the command line passes runs_not_kept, agent/commands/prune_decide.h): with it, copy leaves
  // out a run that the destination's prune would delete (copy_decide.h). Without it, or without a
  // retention there, every run not yet there is copied.
  std::function<std::set<std::string>(const std::vector<ec2::Snapshot>& there, std::string_view group,
                                      const FilterValues& filters, const RetentionPolicy& retention,
                                      ec2::TimePoint now)>
      retention;
};

// Where a group copies to from `run_region`: its copy_to but the entry for the run's own region
// (after a fail-over the same configuration runs there: empty then, which copy reports as a
// warning), or only --to-region (its copy_to entry, else a bare one, refused for a group with
// encrypted volumes: no key there; refused when it is the run's region).
[[nodiscard]] std::expected<std::vector<CopyDestination>, std::string> copy_destinations(
    const GroupConfig& group, std::string_view run_region, const std::optional<std::string>& to_region);

[[nodiscard]] RunReport copy(const RunContext& context, const CopyOptions& options = {});

// snapshot's copy_after_snapshot: after the snapshot run (its group locks released, no freeze
// held), each group that says so and whose run succeeded is copied, waiting for the new run to
// complete first. Not under --dry-run.
void copy_after_snapshot(const RunContext& context, const CopyOptions& options, RunReport& report);

// One group's copies (snapshot's copy_after_snapshot): appends to report.copy; a failure becomes
// the error of report.group(group.name). Takes the group's copy lock itself.
void copy_group(const RunContext& context, const GroupConfig& group, const CopyOptions& options, RunReport& report);

}  // namespace agent
