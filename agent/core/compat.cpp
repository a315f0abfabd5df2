#include "agent/core/compat.h"

#include <algorithm>

#include "agent/core/tags.h"

namespace agent {

std::vector<ec2::Filter> snaptastic_filters(const FilterValues& filters, const std::vector<std::string>& mount_points) {
  std::vector<ec2::Filter> out;
  for (const auto& f : filters) out.push_back({"tag:" + f.key, {f.value}});
  out.push_back({"tag:" + std::string(k_snaptastic_mount_point), mount_points});
  return out;
}

std::optional<ec2::TimePoint> parse_snaptastic_time(std::string_view value) {
  // str(datetime): a space between date and time, no zone.
  if (value.size() < 19 || value[10] != ' ' || value.find_first_of("TZz+") != std::string_view::npos) return std::nullopt;
  std::string iso(value);
  iso[10] = 'T';
  return ec2::parse_iso8601(iso + "Z");
}

std::vector<ec2::Snapshot> adopt_snaptastic(const std::vector<ec2::Snapshot>& answer, const FilterValues& filters,
                                            const std::vector<std::string>& mount_points, std::string_view group) {
  std::vector<ec2::Snapshot> out;
  for (const auto& s : answer) {
    if (ec2::find_tag(s.tags, k_tag_group)) continue;  // ebsnap's own: read by the lineage query
    const auto mount_point = ec2::find_tag(s.tags, k_snaptastic_mount_point);
    if (!mount_point || std::ranges::find(mount_points, *mount_point) == mount_points.end()) continue;
    const bool owned = std::ranges::all_of(filters, [&](const FilterValue& f) {
      return ec2::find_tag(s.tags, f.key) == f.value;
    });
    if (!owned) continue;
    ec2::Snapshot adopted = s;
    adopted.tags.push_back({std::string(k_tag_mount_point), std::string(*mount_point)});
    if (!group.empty()) {
      adopted.tags.push_back({std::string(k_tag_group), std::string(group)});
      adopted.tags.push_back({std::string(k_tag_run_id), std::string(k_snaptastic_run_prefix) + s.id.value});
    }
    if (const auto expires = ec2::find_tag(s.tags, k_snaptastic_expires)) {
      if (const auto t = parse_snaptastic_time(*expires)) {
        adopted.tags.push_back({std::string(k_tag_expires), ec2::format_iso8601(*t)});
      }
    }
    out.push_back(std::move(adopted));
  }
  return out;
}

}  // namespace agent
