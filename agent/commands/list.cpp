#include "agent/commands/list.h"

#include <algorithm>
#include <tuple>

#include "agent/core/log.h"
#include "agent/core/our_volumes.h"
#include "agent/core/prewarm_state.h"
#include "agent/core/tags.h"

namespace agent {
namespace {

// Where the volume of ours for `v` is, and what is mounted at its mount point. Returns whether that
// volume was created from a snapshot (and so has an initialization to report).
bool describe_volume(const RunContext& c, const std::vector<ec2::Volume>& candidates, VolumeReport& v) {
  auto attached = attached_to(candidates, c.instance.instance_id);
  const ec2::Volume* volume = attached ? &*attached : (candidates.empty() ? nullptr : &candidates.front());
  v.state = "absent";
  if (volume != nullptr) {
    v.volume_id = volume->id.value;
    v.size_gib = volume->size_gib;
    v.fast_restored = volume->fast_restored;
    v.state = attached ? "attached" : "detached";
    if (attached) {
      if (const auto* a = attachment_to(*attached, c.instance.instance_id)) {
        v.delete_on_termination = a->delete_on_termination;
      }
      auto d = c.services.devices.find_by_serial(volume->id.value);
      if (d && *d) v.devnode = (*d)->devnode;
    }
  }
  std::vector<ec2::Volume> ours_here;
  if (attached) ours_here.push_back(*attached);
  auto mounted = mounted_volume_at(c.services.mounter, c.services.devices, v.mount_point, ours_here,
                                   c.instance.instance_id);
  if (mounted && mounted->ours()) {
    v.state = "mounted";
    v.devnode = mounted->source;
  } else if (mounted && mounted->mounted()) {
    v.reason = "mounted there: " + mounted->source;
  }
  return volume != nullptr && volume->snapshot_id.has_value();
}

// The initialization progress of the restored volumes: one DescribeVolumeStatus for all of them. It
// is an extra: when it fails, list still lists, and says so on each volume it would have described.
void describe_initialization(const RunContext& c, const std::vector<ec2::VolumeId>& restored,
                             RunReport& report) {
  if (restored.empty()) return;
  auto statuses =
      c.services.ec2.describe_volume_status(ec2::DescribeVolumeStatusOptions{.volume_ids = restored});
  if (!statuses) log_agent().warn("list describe=volume-status error=\"{}\"", statuses.error().describe());
  for (auto& g : report.groups) {
    for (auto& v : g.volumes) {
      if (!v.volume_id || std::ranges::find(restored, ec2::VolumeId{*v.volume_id}) == restored.end())
        continue;
      if (!statuses) {
        v.warnings.push_back("initialization progress unknown: DescribeVolumeStatus failed: " +
                             statuses.error().describe());
        continue;
      }
      const auto it = std::ranges::find_if(
          *statuses, [&](const ec2::VolumeStatusItem& s) { return s.volume_id.value == *v.volume_id; });
      if (it == statuses->end() || !it->initialization) continue;
      v.initialization_progress = it->initialization->progress;
      v.initialization_eta_s = it->initialization->estimated_seconds_left;
    }
  }
}

// The newest snapshot of the lineage (any state).
void describe_latest(const std::vector<ec2::Snapshot>& snapshots, const FilterValues& filters, VolumeReport& v) {
  const ec2::Snapshot* newest = nullptr;
  for (const auto& s : snapshots) {
    if (!in_lineage(s.tags, filters, v.mount_point)) continue;
    if (newest == nullptr || std::tie(s.start_time, s.id.value) > std::tie(newest->start_time, newest->id.value)) {
      newest = &s;
    }
  }
  if (newest == nullptr) return;
  v.latest_snapshot_id = newest->id.value;
  v.latest_snapshot_state = std::string(ec2::to_string(newest->state));
  if (newest->start_time) v.latest_snapshot_time = format_utc(*newest->start_time);
  if (auto c = ec2::find_tag(newest->tags, k_tag_consistency)) v.consistency = *c;
}

// The pre-warm of the volume attached now, from its state file (agent/commands/prewarm.h); a
// state of an earlier volume at the mount point says nothing about this one.
void describe_prewarm(const RunContext& c, const std::string& group, VolumeReport& v) {
  if (!v.volume_id) return;
  auto saved = PrewarmStates(c.services.options.run_dir).load(group, v.mount_point);
  if (!saved) {
    v.warnings.push_back("pre-warm state: " + saved.error());
  } else if (*saved && (*saved)->volume_id == *v.volume_id) {
    report_prewarm_state(**saved, v);
  }
}

}  // namespace

RunReport list(const RunContext& c) {
  std::vector<VolumeKey> keys;
  std::vector<std::string> mount_points;
  for (const auto* g : c.groups) {
    for (const auto& v : g->volumes) {
      keys.push_back({g->name, v.mount_point});
      mount_points.push_back(v.mount_point);
    }
  }
  RunReport report = new_report("list", c);
  if (keys.empty()) return report;

  auto ours = describe_our_volumes(c.services.ec2, c.filters, keys);
  if (!ours) {
    log_agent().error("list describe=volumes error=\"{}\"", ours.error().describe());
    report.add_error("DescribeVolumes failed: " + ours.error().describe());
  }
  auto snapshots = c.services.ec2.describe_snapshots(
      ec2::DescribeSnapshotsOptions{.owner_ids = {"self"}, .filters = lineage_filters(c.filters, mount_points)});
  if (!snapshots) {
    log_agent().error("list describe=snapshots error=\"{}\"", snapshots.error().describe());
    report.add_error("DescribeSnapshots failed: " + snapshots.error().describe());
  }
  std::vector<ec2::VolumeId> restored;
  for (const auto* g : c.groups) {
    for (const auto& vc : g->volumes) {
      VolumeReport v{.mount_point = vc.mount_point, .device = vc.device, .outcome = Outcome::Listed, .state = "absent"};
      if (ours && describe_volume(c, (*ours)[vc.mount_point], v))
        restored.push_back(ec2::VolumeId{*v.volume_id});
      if (snapshots) describe_latest(*snapshots, c.filters, v);
      describe_prewarm(c, g->name, v);
      report.group(g->name).volumes.push_back(std::move(v));
    }
  }
  describe_initialization(c, restored, report);
  return report;
}

}  // namespace agent
