#include "agent/commands/check_backups.h"

#include <algorithm>
#include <tuple>

#include "agent/core/log.h"
#include "agent/core/tags.h"

namespace agent {
namespace {

// Point in time (a copy's is its source's: point_time), then id: the order restore points use for
// a mount point. A snapshot without a time sorts as the oldest (it cannot be shown to be fresh).
bool newer(const ec2::Snapshot& a, const ec2::Snapshot& b) {
  return std::tuple(point_time(a), std::string_view(a.id.value)) > std::tuple(point_time(b), std::string_view(b.id.value));
}

bool counts_for(const ec2::Snapshot& s, const FilterValues& filters, const GroupConfig& group,
                const VolumeConfig& volume) {
  return in_lineage(s.tags, filters, volume.mount_point) && ec2::find_tag(s.tags, k_tag_group) == group.name &&
         ec2::find_tag(s.tags, k_tag_run_id).has_value();
}

BackupCheck decide_one(const std::vector<ec2::Snapshot>& snapshots, const FilterValues& filters,
                       const GroupConfig& group, const VolumeConfig& volume, ec2::TimePoint now,
                       const CheckBackupsOptions& options) {
  BackupCheck out{.group = &group, .volume = &volume};
  const ec2::Snapshot* newest = nullptr;
  for (const auto& s : snapshots) {
    if (s.state != ec2::SnapshotState::Completed || !counts_for(s, filters, group, volume)) continue;
    if (newest == nullptr || newer(s, *newest)) newest = &s;
  }
  // Newer snapshots that are not (yet) backups: said, not counted.
  for (const auto& s : snapshots) {
    if (s.state == ec2::SnapshotState::Completed || !counts_for(s, filters, group, volume)) continue;
    if (newest != nullptr && !newer(s, *newest)) continue;
    out.notes.push_back("newer snapshot " + s.id.value + " is " + std::string(ec2::to_string(s.state)));
  }
  if (newest == nullptr) {
    out.verdict = BackupVerdict::Missing;
    out.problems.push_back("no completed snapshot");
    return out;
  }
  out.newest = *newest;
  const auto taken = point_time(*newest).value_or(ec2::TimePoint{});
  // Compared at full precision: exactly max_age old is still fresh.
  const bool stale = now - taken > options.max_age;
  out.age = std::max(std::chrono::seconds{0}, std::chrono::duration_cast<std::chrono::seconds>(now - taken));
  const auto consistency = ec2::find_tag(newest->tags, k_tag_consistency);
  const bool frozen = consistency == to_string(Consistency::Frozen);
  if (stale) {
    out.problems.push_back("older than --max-age " +
                           (options.max_age_text.empty() ? format_age(options.max_age) : options.max_age_text));
  }
  if (expects_frozen(group, volume) && !frozen) {
    out.problems.push_back("consistency " + std::string(consistency.value_or("(no tag)")) + ", but group " +
                           group.name + " freezes " + volume.mount_point);
  }
  out.verdict = stale ? BackupVerdict::Stale : (out.problems.empty() ? BackupVerdict::Fresh : BackupVerdict::NotFrozen);
  return out;
}

Outcome outcome_of(BackupVerdict verdict) {
  switch (verdict) {
    case BackupVerdict::Fresh: return Outcome::Fresh;
    case BackupVerdict::Missing: return Outcome::Missing;
    case BackupVerdict::Stale: return Outcome::Stale;
    case BackupVerdict::NotFrozen: return Outcome::NotFrozen;
  }
  return Outcome::Failed;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "; ") + l;
  return out;
}

}  // namespace

bool expects_frozen(const GroupConfig& group, const VolumeConfig& volume) {
  return group.freeze && volume.mount_point != "/" && volume.mount_point != "/boot";
}

std::vector<BackupCheck> decide_backups(const std::vector<ec2::Snapshot>& snapshots, const FilterValues& filters,
                                        const std::vector<const GroupConfig*>& groups, ec2::TimePoint now,
                                        const CheckBackupsOptions& options) {
  std::vector<BackupCheck> out;
  for (const auto* g : groups) {
    for (const auto& v : g->volumes) out.push_back(decide_one(snapshots, filters, *g, v, now, options));
  }
  return out;
}

RunReport check_backups(const RunContext& c, const CheckBackupsOptions& options) {
  RunReport report = new_report("check-backups", c);
  std::vector<std::string> mount_points;
  for (const auto* g : c.groups) {
    for (const auto& v : g->volumes) {
      if (std::ranges::find(mount_points, v.mount_point) == mount_points.end()) mount_points.push_back(v.mount_point);
    }
  }
  if (mount_points.empty()) return report;
  auto snapshots = c.services.ec2.describe_snapshots(
      ec2::DescribeSnapshotsOptions{.owner_ids = {"self"}, .filters = lineage_filters(c.filters, mount_points)});
  if (!snapshots) {
    log_agent().error("check-backups describe=snapshots error=\"{}\"", snapshots.error().describe());
    report.add_error("DescribeSnapshots failed: " + snapshots.error().describe());
    return report;
  }
  for (const auto& check : decide_backups(*snapshots, c.filters, c.groups, c.services.clock.now(), options)) {
    VolumeReport v{.mount_point = check.volume->mount_point,
                   .device = check.volume->device,
                   .outcome = outcome_of(check.verdict)};
    if (!check.problems.empty()) v.reason = joined(check.problems);
    if (check.newest) {
      v.latest_snapshot_id = check.newest->id.value;
      v.latest_snapshot_state = std::string(ec2::to_string(check.newest->state));
      if (const auto t = point_time(*check.newest)) v.latest_snapshot_time = format_utc(*t);
      if (auto t = ec2::find_tag(check.newest->tags, k_tag_consistency)) v.consistency = *t;
      v.latest_snapshot_age_s = check.age->count();
    }
    v.warnings = check.notes;
    log_agent().info("check-backups group={} mount_point={} verdict={} snapshot_id={}", check.group->name,
                     v.mount_point, to_string(v.outcome), v.latest_snapshot_id.value_or("-"));
    report.group(check.group->name).volumes.push_back(std::move(v));
  }
  return report;
}

}  // namespace agent
