#pragma once
// Restore points (issue 13): the snapshots of one group taken together, which a restore brings
// back together. A pure function from one DescribeSnapshots answer to the group's restore points,
// and the choice of the one to restore. Used by mount (which set to restore), history (what can
// be restored) and mount --inspect. Nothing here touches EC2.
//
// - A restore point is a run: the group's snapshots carrying one ebsnap:run-id. Its time is the
//   earliest StartTime of its members (the freeze that fixed the point in time preceded them all).
// - Data Lifecycle Manager's snapshots (a policy with CopyTags copies the volume's lineage tags:
//   ebsnap:group, ebsnap:mount-point, the filter tags) have no run id: they are grouped by
//   StartTime like other untagged snapshots (one multi-volume CreateSnapshots is one point), and
//   their consistency comes from DLM's aws:dlm:pre-script / aws:dlm:post-script tags.
// - Snapshots without a run id (older ones, other tools', Snaptastic's under compat) and without
//   another group's ebsnap:group are grouped by StartTime: a point starts at its oldest snapshot
//   and takes the later ones within `untagged_window` that are of mount points it does not hold
//   yet. Its id is "untagged-<time>" ("untagged-20261203T140000Z").
// - A snapshot whose ebsnap:group names another group is never a member: no point mixes two
//   groups. They are counted per mount point (`foreign`), so that a restore does not start a
//   mount point empty while another group's snapshots of it exist.
// - A mount point has a history from its oldest snapshot on. Per point, each of the group's mount
//   points is a member that is completed, pending (or another unsettled state: restore waits for
//   it), in error, missing (it had a history by then but the point has no snapshot of it), or
//   not yet (its history starts after the point: a mount point added to the group later, which
//   a restore of this point starts empty, as on first boot).
// - A point is complete when no member is in error or missing and it has at least one snapshot.
//   Only complete points are restored.
// - In a copy's region (agent/commands/copy.h) a snapshot's time is its source's
//   (ebsnap:source-time, point_time in agent/core/tags.h): a copy's StartTime is when it was
//   copied. A run holding fewer copies than its ebsnap:run-size is half-copied: not complete.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "ec2/types.h"

namespace agent {

inline constexpr std::string_view k_untagged_run_prefix = "untagged-";

enum class MemberState : std::uint8_t { Completed, Pending, Error, Missing, NotYet };
// "completed", "pending", "error", "missing", "not-yet"
[[nodiscard]] std::string_view to_string(MemberState state);

struct PointMember {
  std::string mount_point;
  MemberState state = MemberState::Missing;
  // Completed, Pending, Error: the snapshot, in HistoryInputs::snapshots (the answer must outlive
  // the history: copying a year of snapshots would cost more than the rest of the grouping).
  const ec2::Snapshot* snapshot = nullptr;
};

struct RestorePoint {
  std::string run_id;  // ebsnap:run-id, or "untagged-<time>"
  bool tagged = true;  // false: grouped by StartTime
  ec2::TimePoint time{};
  // The weakest ebsnap:consistency of its snapshots ("watchdog-thawed" < "unfrozen" < "frozen");
  // nullopt when one of them carries none (untagged, other tools').
  std::optional<std::string> consistency;
  std::vector<PointMember> members;  // one per mount point of the group, in the order given
  std::size_t run_size = 0;  // copies: the snapshots of the run at its source (ebsnap:run-size); 0 elsewhere

  [[nodiscard]] bool complete() const;
  [[nodiscard]] std::size_t held() const;  // members with a snapshot
  [[nodiscard]] bool has_pending() const;
  // Why it is not complete: "/mnt/wal: snap-0123 in state error; /mnt/data: no snapshot"; "" when complete.
  [[nodiscard]] std::string problem() const;
  [[nodiscard]] const PointMember* member(std::string_view mount_point) const;
  [[nodiscard]] std::int64_t size_gib() const;  // the sum of its snapshots' volume sizes
};

struct ForeignSnapshots {
  std::string mount_point;
  std::string group;  // the first other group seen
  std::size_t count = 0;
};

struct GroupHistory {
  std::string group;
  std::vector<RestorePoint> points;       // newest first: by time, then run id
  std::vector<ForeignSnapshots> foreign;  // by mount point
  // Whether any of the group's mount points has a snapshot of this group.
  [[nodiscard]] bool empty() const { return points.empty(); }
};

struct HistoryInputs {
  const std::vector<ec2::Snapshot>& snapshots;  // one answer: OwnerIds=self, lineage_filters
  std::string_view group;
  const FilterValues& filters;                   // checked again on what EC2 returned
  const std::vector<std::string>& mount_points;  // the group's, in config order
  std::chrono::seconds untagged_window{k_default_untagged_run_window};
};

[[nodiscard]] GroupHistory restore_points(const HistoryInputs& in);

// Which point a restore wants: the newest complete one (neither set), the newest complete one at
// or before `as_of`, or the run `run_id`.
struct PointSelector {
  std::optional<ec2::TimePoint> as_of;
  std::optional<std::string> run_id;
  [[nodiscard]] bool explicit_choice() const { return as_of || run_id; }
};

struct SkippedPoint {
  std::string run_id;
  ec2::TimePoint time{};
  std::string reason;  // RestorePoint::problem()
};

struct PointChoice {
  std::optional<std::size_t> point;   // index into GroupHistory::points; nullopt: none
  std::vector<SkippedPoint> skipped;  // newer incomplete points passed over (within as_of), newest first
  // No point to restore although one is needed: the history has snapshots but no complete point
  // (within as_of), or run_id is unknown or incomplete. One line; a restore then changes nothing.
  std::optional<std::string> refusal;
};

// With nothing in the history and no explicit choice: no point and no refusal (a first boot).
[[nodiscard]] PointChoice choose_restore_point(const GroupHistory& history, const PointSelector& selector);

// --as-of: ISO 8601 with a zone ("2026-12-03T14:00:00Z", "2026-12-03T15:00+01:00", seconds and
// fraction optional) or relative to `now` ("-6h", "-1d", "-1d12h"). A time without a zone is
// refused: the operator's local time and the instance's UTC differ by hours.
[[nodiscard]] std::expected<ec2::TimePoint, std::string> parse_point_in_time(std::string_view text,
                                                                             ec2::TimePoint now);

// "20261203T140000Z": the compact UTC form in untagged run ids.
[[nodiscard]] std::string compact_utc(ec2::TimePoint t);

}  // namespace agent
