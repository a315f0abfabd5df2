#include "agent/core/tags.h"

#include <algorithm>
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
                                    Consistency consistency, std::string_view run_id, std::string_view expires) {
  auto tags = common_tags(group, filters, key, instance);
  tags.push_back({std::string(k_tag_volume_id), volume.value});
  tags.push_back({std::string(k_tag_consistency), std::string(to_string(consistency))});
  tags.push_back({std::string(k_tag_run_id), std::string(run_id)});
  if (!expires.empty()) tags.push_back({std::string(k_tag_expires), std::string(expires)});
  std::erase_if(tags, [](const ec2::Tag& t) { return t.key == k_tag_name; });
  tags.push_back({std::string(k_tag_name), "ebsnap " + key.group + " " + key.mount_point});
  return tags;
}

std::string expires_tag_value(ec2::TimePoint start, std::chrono::seconds expire_after) {
  return ec2::format_iso8601(std::chrono::floor<std::chrono::seconds>(start + expire_after));
}

std::optional<ec2::TimePoint> parse_expires_tag(std::string_view value) { return ec2::parse_iso8601(value); }

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
  if (ec2::find_tag(tags, k_tag_mount_point) != mount_point) return false;
  return std::ranges::all_of(filters, [&](const FilterValue& f) { return ec2::find_tag(tags, f.key) == f.value; });
}

std::map<std::string, SnapshotChoice> choose_snapshots(const std::vector<ec2::Snapshot>& snapshots,
                                                       const FilterValues& filters,
                                                       const std::vector<std::string>& mount_points) {
  // One pass, no sort (a lineage can hold many thousands of snapshots): per mount point the
  // newest snapshot not in state error, and the error ones, whose newer part is reported.
  using Key = std::pair<ec2::TimePoint, const std::string*>;  // StartTime, then id: a stable order
  const auto key_of = [](const ec2::Snapshot& s) { return Key{s.start_time.value_or(ec2::TimePoint{}), &s.id.value}; };
  const auto newer = [](const Key& a, const Key& b) {
    return a.first != b.first ? a.first > b.first : *a.second > *b.second;
  };
  struct Scan {
    const ec2::Snapshot* best = nullptr;
    std::vector<const ec2::Snapshot*> errors;
  };
  std::map<std::string, Scan> scans;
  for (const auto& mp : mount_points) scans[mp];
  for (const auto& s : snapshots) {
    auto mp = ec2::find_tag(s.tags, k_tag_mount_point);
    if (!mp) continue;
    auto it = scans.find(*mp);
    if (it == scans.end() || !in_lineage(s.tags, filters, *mp)) continue;
    if (s.state == ec2::SnapshotState::Error) {
      it->second.errors.push_back(&s);
    } else if (it->second.best == nullptr || newer(key_of(s), key_of(*it->second.best))) {
      it->second.best = &s;
    }
  }
  std::map<std::string, SnapshotChoice> out;
  for (auto& [mp, scan] : scans) {
    auto& choice = out[mp];
    if (scan.best != nullptr) {
      choice.snapshot = *scan.best;
      // pending, or recoverable/recovering/unknown: not restorable now, and an older completed
      // one is not silently used in its place either.
      choice.newest_is_pending = scan.best->state != ec2::SnapshotState::Completed;
    }
    std::ranges::sort(scan.errors, [&](const ec2::Snapshot* a, const ec2::Snapshot* b) {
      return newer(key_of(*a), key_of(*b));
    });
    for (const auto* e : scan.errors) {
      if (scan.best == nullptr || newer(key_of(*e), key_of(*scan.best))) choice.skipped_errors.push_back(e->id);
    }
  }
  return out;
}

}  // namespace agent
