#pragma once
// ebsnap's tags: what every volume and snapshot it creates carries (set at creation with
// TagSpecifications, never by a later CreateTags while a filesystem is frozen), and how a
// snapshot lineage is selected (agent/core/restore_points.h groups it into restore points).
//
// On volumes and snapshots: the filter tags with their userdata values, the group's extra tags,
//   ebsnap:group, ebsnap:mount-point, ebsnap:device, ebsnap:instance-id.
// On snapshots also: ebsnap:volume-id, ebsnap:consistency, ebsnap:run-id, Name,
//   ebsnap:expires when the group's retention has expire_after, and ebsnap:trigger on a run taken
//   at shutdown or on a spot notice.
// On the volumes of an inspection (mount --inspect, agent/core/inspect.h) also: ebsnap:purpose=inspect
//   and ebsnap:run-id; their ebsnap:mount-point is the inspection's path, never a configured one.
// On copies in another region (ebsnap copy, agent/commands/copy.h), beside the source's lineage,
//   run and consistency tags: ebsnap:source-snapshot, ebsnap:source-region, ebsnap:source-time and
//   ebsnap:run-size.
// Set by an operator: ebsnap:keep (any value) pins a snapshot and its whole run against prune.
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "ec2/types.h"

namespace agent {

inline constexpr std::string_view k_tag_group = "ebsnap:group";
inline constexpr std::string_view k_tag_mount_point = "ebsnap:mount-point";
inline constexpr std::string_view k_tag_device = "ebsnap:device";
inline constexpr std::string_view k_tag_instance_id = "ebsnap:instance-id";
inline constexpr std::string_view k_tag_volume_id = "ebsnap:volume-id";
inline constexpr std::string_view k_tag_consistency = "ebsnap:consistency";
// A per-run id on snapshots, so that a run that failed or died mid-call can be reconciled.
inline constexpr std::string_view k_tag_run_id = "ebsnap:run-id";
// On volumes: the restore attempt that created it (pairs with the ClientToken kept in /run/ebsnap).
inline constexpr std::string_view k_tag_attempt = "ebsnap:attempt";
inline constexpr std::string_view k_tag_name = "Name";
// When a snapshot expires (ISO 8601 UTC), set at creation from retention.expire_after: prune
// deletes its run after that, even if a GFS bucket would keep it (agent/commands/prune_decide.h).
inline constexpr std::string_view k_tag_expires = "ebsnap:expires";
// The operator's pin, any value: prune never deletes the snapshot or any snapshot of its run.
inline constexpr std::string_view k_tag_keep = "ebsnap:keep";
// Why a run was taken when it was not the timer or a person: "shutdown" (ebsnap shutdown, the mount
// unit's stop), "spot" (a spot interruption notice) or "rebalance" (a rebalance recommendation),
// both seen by ebsnap watch. Absent on other runs.
inline constexpr std::string_view k_tag_trigger = "ebsnap:trigger";
// On a copy (set at creation): the snapshot it copies, that snapshot's region, and that
// snapshot's point in time (ISO 8601 UTC, milliseconds). A copy's StartTime is when it was copied,
// so restore points, prune and check-backups take a copy's time from ebsnap:source-time.
inline constexpr std::string_view k_tag_source_snapshot = "ebsnap:source-snapshot";
inline constexpr std::string_view k_tag_source_region = "ebsnap:source-region";
inline constexpr std::string_view k_tag_source_time = "ebsnap:source-time";
// On a copy: how many snapshots its run has at the source. A run with fewer in the destination
// is half-copied: no restore point, never pruned as a complete run.
inline constexpr std::string_view k_tag_run_size = "ebsnap:run-size";
// Read, never written: what Data Lifecycle Manager tags its snapshots with when it ran a
// pre-script / post-script ("SUCCESS" or "FAILED"): restore points take their consistency from
// them when ebsnap:consistency is absent (agent/core/restore_points.h).
inline constexpr std::string_view k_tag_dlm_pre_script = "aws:dlm:pre-script";
inline constexpr std::string_view k_tag_dlm_post_script = "aws:dlm:post-script";

// ebsnap:consistency values.
enum class Consistency {
  Frozen,          // every filesystem of the set was frozen when the point in time was fixed
  Unfrozen,        // snapshotted without a freeze ("/", "/boot", or freeze: false)
  WatchdogThawed,  // the thaw guardian thawed before the response arrived: crash-consistent only
};
[[nodiscard]] std::string_view to_string(Consistency consistency);

// ebsnap:trigger values.
enum class Trigger {
  Shutdown,   // ebsnap shutdown: the group's mount unit stopping (or the sysvinit stop)
  Spot,       // ebsnap watch: a spot interruption notice (spot/instance-action)
  Rebalance,  // ebsnap watch: a rebalance recommendation (events/recommendations/rebalance)
};
[[nodiscard]] std::string_view to_string(Trigger trigger);

// Where a volume or snapshot belongs.
struct LineageKey {
  std::string group;
  std::string mount_point;
  std::string device;  // as configured
};

// The tags of a volume ebsnap creates for `key`.
[[nodiscard]] std::vector<ec2::Tag> volume_tags(const GroupConfig& group, const FilterValues& filters,
                                                const LineageKey& key, const ec2::InstanceId& instance,
                                                std::string_view attempt = {});

// The tags of a snapshot of `volume` taken by run `run_id`; `expires` (expires_tag_value), when
// not empty, becomes ebsnap:expires, and `trigger`, when not empty, ebsnap:trigger.
[[nodiscard]] std::vector<ec2::Tag> snapshot_tags(const GroupConfig& group, const FilterValues& filters,
                                                  const LineageKey& key, const ec2::InstanceId& instance,
                                                  const ec2::VolumeId& volume, Consistency consistency,
                                                  std::string_view run_id, std::string_view expires = {},
                                                  std::string_view trigger = {});

// The ebsnap:expires value of a snapshot started at `start` under expire_after, and back (the
// reader takes any ISO 8601 UTC time, so an operator may edit the tag by hand).
[[nodiscard]] std::string expires_tag_value(ec2::TimePoint start, std::chrono::seconds expire_after);
[[nodiscard]] std::optional<ec2::TimePoint> parse_expires_tag(std::string_view value);

// The point in time a snapshot holds: a copy's ebsnap:source-time, else its StartTime (nothing
// when it has neither, or the tag is not a time).
[[nodiscard]] std::optional<ec2::TimePoint> point_time(const ec2::Snapshot& snapshot);

// A copy's ebsnap:run-size: 0 when absent or not a positive number.
[[nodiscard]] std::size_t run_size_tag(const ec2::Snapshot& snapshot);

// The DescribeSnapshots filters that select every lineage of `mount_points` at once (the filter
// tags' values, and ebsnap:mount-point with every mount point as one multi-valued filter): one
// query (paginated) serves all mount points of a run. Use with OwnerIds=self.
[[nodiscard]] std::vector<ec2::Filter> lineage_filters(const FilterValues& filters,
                                                       const std::vector<std::string>& mount_points);

// The DescribeVolumes filters that find volumes of ours for these mount points.
[[nodiscard]] std::vector<ec2::Filter> our_volume_filters(const FilterValues& filters,
                                                          const std::vector<std::string>& mount_points);

// True when every filter tag and ebsnap:mount-point of `tags` equal the lineage's: a check on
// what EC2 returned, so that a filter EC2 (or a proxy) ignored cannot pick another lineage.
[[nodiscard]] bool in_lineage(const std::vector<ec2::Tag>& tags, const FilterValues& filters,
                              std::string_view mount_point);

}  // namespace agent
