#include "agent/commands/history.h"

#include <algorithm>
#include <iterator>

#include "agent/core/compat.h"
#include "agent/core/log.h"
#include "agent/core/restore_points.h"
#include "agent/core/tags.h"

namespace agent {
namespace {

HistoryReport describe_history(const GroupHistory& history, const std::string& region, ec2::TimePoint now) {
  HistoryReport out{.group = history.group, .region = region};
  if (const auto it = std::ranges::find_if(history.points, &RestorePoint::complete); it != history.points.end()) {
    out.newest_complete_age_s =
        std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(now - it->time).count());
  }
  for (const auto& p : history.points) {
    HistoryPointReport point{.run_id = p.run_id,
                             .time = format_utc(p.time),
                             .tagged = p.tagged,
                             .consistency = p.consistency,
                             .complete = p.complete(),
                             .size_gib = p.size_gib()};
    if (!point.complete) point.problem = p.problem();
    for (const auto& m : p.members) {
      HistoryMemberReport member{.mount_point = m.mount_point, .state = std::string(to_string(m.state))};
      if (m.snapshot) {
        member.snapshot_id = m.snapshot->id.value;
        member.size_gib = m.snapshot->volume_size_gib;
        member.progress = m.snapshot->progress;
      }
      point.members.push_back(std::move(member));
    }
    out.points.push_back(std::move(point));
  }
  for (const auto& f : history.foreign) {
    out.foreign.push_back(
        {.mount_point = f.mount_point, .group = f.group, .count = static_cast<std::int64_t>(f.count)});
  }
  return out;
}

}  // namespace

RunReport history(const RunContext& context) {
  auto& s = context.services;
  RunReport report = new_report("history", context);
  std::vector<std::string> mount_points;
  for (const auto* g : context.groups) {
    for (const auto& v : g->volumes) mount_points.push_back(v.mount_point);
  }
  auto snapshots = s.ec2.describe_snapshots(ec2::DescribeSnapshotsOptions{
      .owner_ids = {"self"}, .filters = lineage_filters(context.filters, mount_points)});
  if (snapshots && context.config.compat_snaptastic) {
    auto theirs = s.ec2.describe_snapshots(ec2::DescribeSnapshotsOptions{
        .owner_ids = {"self"}, .filters = snaptastic_filters(context.filters, mount_points)});
    if (!theirs) {
      snapshots = std::unexpected(theirs.error());
    } else {
      std::ranges::move(adopt_snaptastic(*theirs, context.filters, mount_points, {}),
                        std::back_inserter(*snapshots));
    }
  }
  if (!snapshots) {
    log_agent().error("history describe_snapshots_failed=\"{}\"", snapshots.error().describe());
    report.not_run("DescribeSnapshots failed: " + snapshots.error().describe());
    return report;
  }
  for (const auto* g : context.groups) {
    std::vector<std::string> group_mount_points;
    for (const auto& v : g->volumes) group_mount_points.push_back(v.mount_point);
    const auto history = restore_points({.snapshots = *snapshots,
                                         .group = g->name,
                                         .filters = context.filters,
                                         .mount_points = group_mount_points,
                                         .untagged_window = context.config.untagged_run_window});
    log_agent().info(
        "history group={} restore_points={} complete={}", g->name, history.points.size(),
        std::ranges::count_if(history.points, [](const RestorePoint& p) { return p.complete(); }));
    report.history.push_back(describe_history(history, context.instance.region, s.clock.now()));
  }
  return report;
}

}  // namespace agent
