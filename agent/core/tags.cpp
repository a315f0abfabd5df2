#include "agent/core/tags.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace agent {

std::string_view to_string(Consistency consistency) {
  switch (consistency) {
    case Consistency::Frozen: return "frozen";
    case Consistency::Unfrozen: return "unfrozen";
    case Consistency::WatchdogThawed: return "watchdog-thawed";
  }
  return "unfrozen";
}

namespace {

std::vector<ec2::Tag> common_tags(const GroupConfig& group, const FilterValues& filters,
                                  const LineageKey& key, const ec2::InstanceId& instance) {
  std::vector<ec2::Tag> tags;
  tags.reserve(filters.size() + group.tags.size() + 8);
  for (const auto& [k, v] : group.tags) tags.push_back({k, v});
  // Filter tags after the group's extra tags: they define the lineage and must win.
  for (const auto& f : filters) {
    std::erase_if(tags, [&](const ec2::Tag& t) { return t.key == f.key; });
    tags.push_back({f.key, f.value});
  }
  tags.push_back({std::string(k_tag_group), key.group});
  tags.push_back({std::string(k_tag_mount_point), key.mount_point});
  tags.push_back({std::string(k_tag_device), key.device});
  tags.push_back({std::string(k_tag_instance_id), instance.value});
  return tags;
}

}  // namespace

std::string_view to_string(Trigger trigger) {
  switch (trigger) {
    case Trigger::Shutdown: return "shutdown";
    case Trigger::Spot: return "spot";
    case Trigger::Rebalance: return "rebalance";
  }
  return "shutdown";
}

std::vector<ec2::Tag> volume_tags(const GroupConfig& group, const FilterValues& filters, const LineageKey& key,
                                  const ec2::InstanceId& instance, std::string_view attempt) {
  auto tags = common_tags(group, filters, key, instance);
  if (!attempt.empty()) tags.push_back({std::string(k_tag_attempt), std::string(attempt)});
  if (!group.tags.contains(std::string(k_tag_name))) {
    tags.push_back({std::string(k_tag_name), "ebsnap " + key.group + " " + key.mount_point});
  }
  return tags;
}

std::vector<ec2::Tag> snapshot_tags(const GroupConfig& group, const FilterValues& filters, const LineageKey& key,
                                    const ec2::InstanceId& instance, const ec2::VolumeId& volume,
                                    Consistency consistency, std::string_view run_id, std::string_view expires,
                                    std::string_view trigger) {
  auto tags = common_tags(group, filters, key, instance);
  tags.push_back({std::string(k_tag_volume_id), volume.value});
  tags.push_back({std::string(k_tag_consistency), std::string(to_string(consistency))});
  tags.push_back({std::string(k_tag_run_id), std::string(run_id)});
  if (!expires.empty()) tags.push_back({std::string(k_tag_expires), std::string(expires)});
  if (!trigger.empty()) tags.push_back({std::string(k_tag_trigger), std::string(trigger)});
  std::erase_if(tags, [](const ec2::Tag& t) { return t.key == k_tag_name; });
  tags.push_back({std::string(k_tag_name), "ebsnap " + key.group + " " + key.mount_point});
  return tags;
}

std::string expires_tag_value(ec2::TimePoint start, std::chrono::seconds expire_after) {
  return ec2::format_iso8601(std::chrono::floor<std::chrono::seconds>(start + expire_after));
}

std::optional<ec2::TimePoint> parse_expires_tag(std::string_view value) { return ec2::parse_iso8601(value); }

std::optional<ec2::TimePoint> point_time(const ec2::Snapshot& snapshot) {
  if (const auto* source = ec2::find_tag_value(snapshot.tags, k_tag_source_time)) return ec2::parse_iso8601(*source);
  return snapshot.start_time;
}

std::size_t run_size_tag(const ec2::Snapshot& snapshot) {
  const auto* value = ec2::find_tag_value(snapshot.tags, k_tag_run_size);
  if (value == nullptr) return 0;
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
  if (ec != std::errc{} || end != value->data() + value->size()) return 0;
  return n;
}

std::vector<ec2::Filter> lineage_filters(const FilterValues& filters, const std::vector<std::string>& mount_points) {
  std::vector<ec2::Filter> out;
  out.reserve(filters.size() + 1);
  for (const auto& f : filters) out.push_back({"tag:" + f.key, {f.value}});
  out.push_back({"tag:" + std::string(k_tag_mount_point), mount_points});
  return out;
}

std::vector<ec2::Filter> our_volume_filters(const FilterValues& filters, const std::vector<std::string>& mount_points) {
  auto out = lineage_filters(filters, mount_points);
  out.push_back({"tag-key", {std::string(k_tag_group)}});
  return out;
}

bool in_lineage(const std::vector<ec2::Tag>& tags, const FilterValues& filters, std::string_view mount_point) {
  const auto* mp = ec2::find_tag_value(tags, k_tag_mount_point);
  if (mp == nullptr || *mp != mount_point) return false;
  return std::ranges::all_of(filters, [&](const FilterValue& f) {
    const auto* value = ec2::find_tag_value(tags, f.key);
    return value != nullptr && *value == f.value;
  });
}

}  // namespace agent
