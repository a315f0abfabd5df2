#pragma once
// Lineages from the tools ebsnap replaces ("compat": {"snaptastic": true}; issue 12).
//
// Snaptastic tagged each snapshot, after creating it, with its filter tags' values (role,
// cluster, environment), `mount_point`, `instance_id`, and `expires` and `created` as Python's
// str(datetime.now()) ("2013-05-08 10:11:12.123456", the machine's local time, UTC on EC2), and
// chose the newest by StartTime among the snapshots with the filter tags and the mount point.
//
// With compat on, such a snapshot (OwnerIds=self, every filter tag with this instance's value,
// `mount_point` one of the group's mount points, and no ebsnap:group: an ebsnap snapshot is never
// read twice) joins the lineage of its mount point, in memory only: restore takes it when no
// newer ebsnap snapshot exists, and prune sees it as a run of its own whose ebsnap:expires is
// Snaptastic's `expires`. Without compat they are never read or touched.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "ec2/types.h"

namespace agent {

inline constexpr std::string_view k_snaptastic_mount_point = "mount_point";
inline constexpr std::string_view k_snaptastic_expires = "expires";
// The run id a Snaptastic snapshot gets in prune's plan: "snaptastic-snap-0123...".
inline constexpr std::string_view k_snaptastic_run_prefix = "snaptastic-";

// The DescribeSnapshots filters (with OwnerIds=self) for Snaptastic's snapshots of `mount_points`.
[[nodiscard]] std::vector<ec2::Filter> snaptastic_filters(const FilterValues& filters,
                                                          const std::vector<std::string>& mount_points);

// Snaptastic's `expires` and `created`: "YYYY-MM-DD HH:MM:SS[.ffffff]", taken as UTC.
[[nodiscard]] std::optional<ec2::TimePoint> parse_snaptastic_time(std::string_view value);

// The Snaptastic snapshots of `answer` (checked against the tags EC2 returned: every filter value,
// a mount point of `mount_points`, no ebsnap:group) as members of ebsnap's lineages: ebsnap:mount-point
// from `mount_point`, ebsnap:expires from `expires` when it parses, and unless `group` is empty
// (restore needs only the lineage) ebsnap:group and ebsnap:run-id "snaptastic-<id>". Copies; EC2 is
// not told.
[[nodiscard]] std::vector<ec2::Snapshot> adopt_snaptastic(const std::vector<ec2::Snapshot>& answer,
                                                          const FilterValues& filters,
                                                          const std::vector<std::string>& mount_points,
                                                          std::string_view group);

}  // namespace agent
