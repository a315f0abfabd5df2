#pragma once
// prune, the decide step (issue 12): a pure function from the snapshots observed for one group
// (one DescribeSnapshots answer: OwnerIds=self, the group's filter tags), the group's ownership
// facts, its retention policy and the time, to a plan: every run of every mount point with its
// verdict and the reasons for it, and the snapshots to delete in order. Nothing here touches EC2.
// `--dry-run` prints this plan; the real run deletes exactly `deletes`, in that order.
//
// The rules, in the order they decide (tests/unit/agent_prune_decide_test.cpp):
//
// - The unit is a run: the snapshots of this group carrying one ebsnap:run-id. They are kept or
//   deleted together, so a restorable set never loses a member. A run's time is the earliest
//   StartTime of its members (the freeze that fixed the point in time was before every one).
//   (The run id alone is not the key: one `snapshot` invocation gives all its groups one id.)
// - Safety, never overridden by the policy. A run is kept whole when
//     - a member lacks the ownership tags (ebsnap:group = this group, every filter tag with its
//       value, an ebsnap:mount-point): `not owned`. Its other members are not deleted either:
//       a run whose membership is in doubt is left for the operator;
//     - a member carries ebsnap:keep (any value): `keep tag`;
//     - a member is pending: `pending`; or in another state than completed and error
//       (recoverable, recovering, unknown) or has no StartTime: `unsettled`;
//     - it is a copy's run (ebsnap copy) holding fewer snapshots than its ebsnap:run-size says
//       the source run has: `half-copied`; the next copy finishes it;
//     - it is the newest run of a lineage (a mount point) whose members on that mount point are
//       all completed: `newest`. Its members elsewhere may be in error: the restore of that
//       mount point would still use it.
// - A copy's time is its source's (ebsnap:source-time): in a copy's region runs are ordered,
//   bucketed and aged by when their source was taken, not by when they were copied. The newest
//   completed copy of each lineage is the base of the next incremental copy: `newest` keeps it.
// - min_age: a run younger than min_age is kept (`min_age`), expired or in error alike.
// - Expiry: a run whose every member carries ebsnap:expires and the latest of them has passed
//   is deleted (`expired`), even when a bucket or keep_last would keep it.
// - error: a run with a member in state error is no restore point; it is deleted once older than
//   min_age (`error`), its completed members with it, unless a safety rule above keeps it.
// - Buckets, over the complete runs (owned, every member completed; pinned and expired ones
//   count too), in UTC: `keep_last` newest runs; the newest run of each of the last `hourly`
//   hours, `daily` days, `weekly` ISO 8601 weeks (week-year: 2026-12-31 is 2026-W53), `monthly`
//   months and `yearly` years. "The last N" are the N most recent buckets that hold a complete
//   run, not the N calendar buckets before now: after an outage of two weeks, daily 7 still
//   keeps seven daily restore points (restic's and borg's reading). Each rule counts on its own;
//   a run may be kept by several, and every one is a reason.
// - Anything else is deleted: `no keep rule`.
// - max_deletes_per_run: deletes go oldest run first; the first run that would take the count
//   past the bound, and every run after it, is deferred (`max_deletes_per_run`) to the next prune.
//
// The plan is the same whatever the order of the input: runs are sorted by time then run id,
// members by mount point, StartTime, id, state (a snapshot id listed twice in one run, as a page
// boundary may do, appears once, in its least settled state).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "ec2/types.h"

namespace agent {

enum class RunVerdict : std::uint8_t {
  Keep,
  Delete,
  Defer,  // would be deleted, but max_deletes_per_run was reached: the next prune
};
[[nodiscard]] std::string_view to_string(RunVerdict verdict);  // "keep", "delete", "defer"

// Why a run gets its verdict; a run carries every reason that applies.
enum class PruneReason : std::uint8_t {
  Newest,      // the newest completed run of a mount point
  KeepTag,     // a member carries ebsnap:keep
  Pending,     // a member is pending
  Unsettled,   // a member is recoverable, recovering, in an unknown state, or has no StartTime
  NotOwned,    // a member lacks this group's ownership tags
  MinAge,      // younger than min_age
  KeepLast,    // among the keep_last newest complete runs
  Hourly,      // the newest complete run of one of the last `hourly` UTC hours
  Daily,
  Weekly,
  Monthly,
  Yearly,
  Expired,     // ebsnap:expires has passed
  Error,       // a member is in state error
  NoKeepRule,  // nothing keeps it
  MaxDeletes,  // deferred: max_deletes_per_run reached
  HalfCopied,  // a copy's run with fewer snapshots than its source (ebsnap:run-size): kept until finished
};
inline constexpr std::size_t k_prune_reason_count = 17;

// The reasons of a run, printed in the enum's order.
class ReasonSet {
 public:
  void add(PruneReason r) { bits_ |= bit(r); }
  [[nodiscard]] bool has(PruneReason r) const { return (bits_ & bit(r)) != 0; }
  [[nodiscard]] bool empty() const { return bits_ == 0; }
  [[nodiscard]] std::vector<PruneReason> list() const;
  friend bool operator==(const ReasonSet&, const ReasonSet&) = default;

 private:
  static constexpr std::uint32_t bit(PruneReason r) { return std::uint32_t{1} << static_cast<unsigned>(r); }
  std::uint32_t bits_ = 0;
};

// The words prune prints, for a run started at `run_time`: "newest", "hourly 2026-12-03T14",
// "daily 2026-12-02", "weekly 2026-W49", "monthly 2026-12", "yearly 2026", "keep_last",
// "keep tag", "pending", "unsettled", "not owned", "min_age", "expired", "error",
// "no keep rule", "max_deletes_per_run", "half-copied". Formatted only when asked (the planner never formats).
[[nodiscard]] std::string describe(PruneReason reason, ec2::TimePoint run_time);

// The UTC buckets of a time, as prune names them.
[[nodiscard]] std::string hour_bucket(ec2::TimePoint t);   // "2026-12-03T14"
[[nodiscard]] std::string day_bucket(ec2::TimePoint t);    // "2026-12-02"
[[nodiscard]] std::string iso_week_bucket(ec2::TimePoint t);  // "2026-W49", "2026-W53", "2027-W01"
[[nodiscard]] std::string month_bucket(ec2::TimePoint t);  // "2026-12"
[[nodiscard]] std::string year_bucket(ec2::TimePoint t);   // "2026"

// Who owns the snapshots prune may delete: ebsnap:group and the filter tags' values (OwnerIds=self
// is the caller's query).
struct PruneOwner {
  std::string_view group;
  const FilterValues& filters;
};

struct PruneInputs {
  const std::vector<ec2::Snapshot>& snapshots;  // one DescribeSnapshots answer, every page
  PruneOwner owner;
  const RetentionPolicy& policy;
  ec2::TimePoint now;
};

inline constexpr std::uint32_t k_no_lineage = UINT32_MAX;

// A member of a run. It points into PruneInputs::snapshots (the answer must outlive the plan):
// copying 100,000 ids would cost more than the rest of the planning, and the printer wants the
// whole snapshot anyway (volume, size, tags).
struct PlannedSnapshot {
  const ec2::Snapshot* snapshot = nullptr;
  std::uint32_t lineage = k_no_lineage;  // index into PrunePlan::lineages; none without ebsnap:mount-point
  bool owned = false;                    // carries this group's ownership tags
  bool pinned = false;                   // carries ebsnap:keep
  // The same member of the same answer however it was ordered: by id and state, not address.
  friend bool operator==(const PlannedSnapshot& a, const PlannedSnapshot& b) {
    return a.snapshot->id == b.snapshot->id && a.snapshot->state == b.snapshot->state && a.lineage == b.lineage &&
           a.owned == b.owned && a.pinned == b.pinned;
  }
};

struct PlannedRun {
  std::string run_id;
  ec2::TimePoint time;                    // the earliest StartTime of its members
  std::optional<ec2::TimePoint> expires;  // every member carries ebsnap:expires: the latest one
  RunVerdict verdict = RunVerdict::Keep;
  ReasonSet reasons;
  std::vector<PlannedSnapshot> members;   // by lineage (mount point), StartTime, id
  friend bool operator==(const PlannedRun&, const PlannedRun&) = default;
};

// One mount point of the group, as the snapshots name it.
struct PruneLineage {
  std::string mount_point;
  std::vector<std::uint32_t> runs;       // indices into PrunePlan::runs, oldest first
  std::optional<std::uint32_t> newest;   // the run kept as `newest` for it, if any
  friend bool operator==(const PruneLineage&, const PruneLineage&) = default;
};

// A snapshot of the answer that is in no run of this group; never touched.
enum class SkipReason : std::uint8_t {
  OtherGroup,  // ebsnap:group is missing or names another group
  NoRunId,     // this group's, but no ebsnap:run-id: not ebsnap's making
};
[[nodiscard]] std::string_view to_string(SkipReason reason);  // "other group", "no run id"

struct SkippedSnapshot {
  ec2::SnapshotId id;
  SkipReason reason = SkipReason::OtherGroup;
  friend bool operator==(const SkippedSnapshot&, const SkippedSnapshot&) = default;
};

struct PrunePlan {
  std::vector<PlannedRun> runs;          // oldest first: by time, then run id
  std::vector<PruneLineage> lineages;    // by mount point
  std::vector<ec2::SnapshotId> deletes;  // in order: oldest run first, never more than max_deletes_per_run
  std::size_t deferred = 0;              // snapshots of deferred runs
  std::vector<SkippedSnapshot> skipped;  // by id
  friend bool operator==(const PrunePlan&, const PrunePlan&) = default;
};

[[nodiscard]] PrunePlan plan_prune(const PruneInputs& in);

// The run ids plan_prune would not keep (deleted or deferred). copy's decide step asks it about a
// destination with a retention (CopyOptions::retention, agent/commands/copy.h, which the command
// line wires to this: commands do not include each other).
[[nodiscard]] std::set<std::string> runs_not_kept(const PruneInputs& in);

}  // namespace agent
