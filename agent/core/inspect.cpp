#include "agent/core/inspect.h"

#include <algorithm>

#include "agent/core/tags.h"

namespace agent {

std::string inspect_mount_point(const std::filesystem::path& prefix, std::string_view group,
                                std::string_view run_id, std::string_view mount_point) {
  while (mount_point.starts_with('/')) mount_point.remove_prefix(1);
  return (prefix / group / run_id / mount_point).lexically_normal().string();
}

GroupConfig inspect_group(const GroupConfig& live, const RestorePoint& point,
                          const std::filesystem::path& prefix) {
  GroupConfig out{.name = live.name, .source_file = live.source_file};
  out.tags = live.tags;
  out.tags[std::string(k_tag_purpose)] = std::string(k_purpose_inspect);
  out.tags[std::string(k_tag_run_id)] = point.run_id;
  out.freeze = false;
  for (const auto& v : live.volumes) {
    const auto* member = point.member(v.mount_point);
    if (member == nullptr || member->snapshot == nullptr) continue;
    VolumeConfig copy = v;
    copy.mount_point = inspect_mount_point(prefix, live.name, point.run_id, v.mount_point);
    copy.mount_options = v.mount_options + ",ro,noexec";
    out.volumes.push_back(std::move(copy));
  }
  return out;
}

std::vector<ec2::Filter> inspect_volume_filters(const FilterValues& filters, std::string_view group,
                                                const std::optional<std::string>& run_id) {
  std::vector<ec2::Filter> out;
  for (const auto& f : filters) out.push_back({"tag:" + f.key, {f.value}});
  out.push_back({"tag:" + std::string(k_tag_group), {std::string(group)}});
  out.push_back({"tag:" + std::string(k_tag_purpose), {std::string(k_purpose_inspect)}});
  if (run_id) out.push_back({"tag:" + std::string(k_tag_run_id), {*run_id}});
  return out;
}

GroupConfig inspected_group(const GroupConfig& live, const std::vector<ec2::Volume>& volumes,
                            const FilterValues& filters, const std::optional<std::string>& run_id,
                            const std::filesystem::path& prefix) {
  GroupConfig out{.name = live.name, .source_file = live.source_file};
  out.freeze = false;
  const auto under = (prefix / live.name).lexically_normal().string() + "/";
  for (const auto& v : volumes) {
    const auto mp = ec2::find_tag(v.tags, k_tag_mount_point);
    const auto run = ec2::find_tag(v.tags, k_tag_run_id);
    if (!mp || !run || !mp->starts_with(under) || ec2::find_tag(v.tags, k_tag_purpose) != k_purpose_inspect ||
        ec2::find_tag(v.tags, k_tag_group) != live.name || !in_lineage(v.tags, filters, *mp) ||
        (run_id && *run != *run_id)) {
      continue;
    }
    if (std::ranges::any_of(out.volumes, [&](const VolumeConfig& c) { return c.mount_point == *mp; }))
      continue;
    // The live volume it is a copy of: its mount point is the path below <prefix>/<group>/<run>.
    const auto run_dir = under + *run + "/";
    const auto of = mp->starts_with(run_dir) ? mp->substr(run_dir.size() - 1) : std::string();  // from its '/' 
    const auto live_volume = std::ranges::find(live.volumes, of, &VolumeConfig::mount_point);
    VolumeConfig c = live_volume != live.volumes.end() ? *live_volume : VolumeConfig{};
    c.mount_point = *mp;
    c.device = ec2::find_tag(v.tags, k_tag_device).value_or(c.device);
    out.volumes.push_back(std::move(c));
  }
  std::ranges::sort(out.volumes, {}, &VolumeConfig::mount_point);
  return out;
}

}  // namespace agent
