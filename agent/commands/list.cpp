#include "agent/commands/list.h"

#include <algorithm>
#include <tuple>

#include "agent/core/log.h"
#include "agent/core/our_volumes.h"
#include "agent/core/tags.h"

namespace agent {

ListResult list_groups(Services& services, const FilterValues& filters, const InstanceContext& instance,
                       const std::vector<const GroupConfig*>& groups) {
  ListResult result;
  std::vector<VolumeKey> keys;
  std::vector<std::string> mount_points;
  for (const auto* g : groups) {
    for (const auto& v : g->volumes) {
      ListEntry e{.group = g->name, .mount_point = v.mount_point, .device = v.device};
      result.volumes.push_back(std::move(e));
      keys.push_back({g->name, v.mount_point});
      mount_points.push_back(v.mount_point);
    }
  }
  if (keys.empty()) return result;

  auto ours = describe_our_volumes(services.ec2, filters, keys);
  if (!ours) {
    log_agent().error("list describe=volumes error=\"{}\"", ours.error().describe());
    result.errors.push_back("DescribeVolumes failed: " + ours.error().describe());
  }
  auto snapshots = services.ec2.describe_snapshots(ec2::DescribeSnapshotsOptions{
      .owner_ids = {"self"}, .filters = lineage_filters(filters, mount_points)});
  if (!snapshots) {
    log_agent().error("list describe=snapshots error=\"{}\"", snapshots.error().describe());
    result.errors.push_back("DescribeSnapshots failed: " + snapshots.error().describe());
  }

  for (auto& e : result.volumes) {
    if (ours) {
      const auto& candidates = (*ours)[e.mount_point];
      auto attached = attached_to(candidates, instance.instance_id);
      const ec2::Volume* v = attached ? &*attached : (candidates.empty() ? nullptr : &candidates.front());
      if (v != nullptr) {
        e.volume_id = v->id;
        e.size_gib = v->size_gib;
        e.state = attached ? "attached" : "detached";
        if (attached) {
          auto d = services.devices.find_by_serial(v->id.value);
          if (d && *d) e.devnode = (*d)->devnode;
        }
      }
      auto mounted = services.mounter.find_by_target(e.mount_point);
      if (mounted && *mounted) {
        const auto& info = **mounted;
        auto serial = services.devices.serial_of(info.source);
        if (attached && serial && device_is_volume(info.source, *serial, *attached, instance.instance_id)) {
          e.state = "mounted";
          e.devnode = info.source;
        } else {
          e.mounted_source = info.source;
        }
      }
    }
    if (snapshots) {
      const ec2::Snapshot* newest = nullptr;
      for (const auto& s : *snapshots) {
        if (!in_lineage(s.tags, filters, e.mount_point)) continue;
        if (newest == nullptr ||
            std::tie(s.start_time, s.id.value) > std::tie(newest->start_time, newest->id.value)) {
          newest = &s;
        }
      }
      if (newest != nullptr) {
        e.snapshot_id = newest->id;
        e.snapshot_time = newest->start_time;
        e.snapshot_state = std::string(ec2::to_string(newest->state));
        e.snapshot_consistency = ec2::find_tag(newest->tags, k_tag_consistency).value_or("");
      }
    }
  }
  return result;
}

}  // namespace agent
