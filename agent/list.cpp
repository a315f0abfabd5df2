#include "agent/list.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

#include "agent/log.h"
#include "agent/our_volumes.h"
#include "agent/tags.h"

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

std::string format_list(const ListResult& result) {
  std::string out =
      fmt::format("{:<10} {:<20} {:<9} {:<22} {:<14} {:<9} {:<23} {:<20} {:<9} {}\n", "GROUP", "MOUNT-POINT",
                  "DEVICE", "VOLUME", "DEVNODE", "STATE", "SNAPSHOT", "SNAPSHOT-TIME", "SNAP", "CONSISTENCY");
  auto dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  for (const auto& e : result.volumes) {
    std::string state = e.state;
    if (!e.mounted_source.empty()) state += " (" + e.mounted_source + " mounted there)";
    out += fmt::format("{:<10} {:<20} {:<9} {:<22} {:<14} {:<9} {:<23} {:<20} {:<9} {}\n", e.group,
                       e.mount_point, e.device, e.volume_id ? e.volume_id->value : "-", dash(e.devnode),
                       state, e.snapshot_id ? e.snapshot_id->value : "-",
                       e.snapshot_time ? ec2::format_iso8601(*e.snapshot_time) : "-", dash(e.snapshot_state),
                       dash(e.snapshot_consistency));
  }
  for (const auto& err : result.errors) out += "error: " + err + "\n";
  return out;
}

nlohmann::json to_json(const ListResult& result) {
  nlohmann::json volumes = nlohmann::json::array();
  auto str = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
  for (const auto& e : result.volumes) {
    nlohmann::json snap = nullptr;
    if (e.snapshot_id) {
      snap = {{"id", e.snapshot_id->value},
              {"time", e.snapshot_time ? nlohmann::json(ec2::format_iso8601(*e.snapshot_time))
                                       : nlohmann::json(nullptr)},
              {"state", str(e.snapshot_state)},
              {"consistency", str(e.snapshot_consistency)}};
    }
    volumes.push_back(
        {{"group", e.group},
         {"mount_point", e.mount_point},
         {"device", e.device},
         {"volume_id", e.volume_id ? nlohmann::json(e.volume_id->value) : nlohmann::json(nullptr)},
         {"size_gib", e.size_gib ? nlohmann::json(*e.size_gib) : nlohmann::json(nullptr)},
         {"devnode", str(e.devnode)},
         {"state", e.state},
         {"mounted_source", str(e.mounted_source)},
         {"latest_snapshot", std::move(snap)}});
  }
  return {
      {"command", "list"}, {"ok", result.ok()}, {"errors", result.errors}, {"volumes", std::move(volumes)}};
}

}  // namespace agent
