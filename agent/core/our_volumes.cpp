#include "agent/core/our_volumes.h"

#include <algorithm>

#include "agent/core/tags.h"
#include "ebsnap/try.h"

namespace agent {

ec2::Result<std::map<std::string, std::vector<ec2::Volume>>> describe_our_volumes(
    ec2::Ec2Api& ec2, const FilterValues& filters, const std::vector<VolumeKey>& keys) {
  std::map<std::string, std::vector<ec2::Volume>> out;
  if (keys.empty()) return out;
  std::vector<std::string> mount_points;
  for (const auto& k : keys) {
    mount_points.push_back(k.mount_point);
    out[k.mount_point];
  }
  EBSNAP_TRY_ASSIGN(auto volumes, ec2.describe_volumes(
                                       ec2::DescribeVolumesOptions{.filters = our_volume_filters(filters, mount_points)}));
  for (auto& v : volumes) {
    if (v.state == ec2::VolumeState::Deleting || v.state == ec2::VolumeState::Deleted ||
        v.state == ec2::VolumeState::Error) {
      continue;
    }
    const auto mp = ec2::find_tag(v.tags, k_tag_mount_point);
    if (!mp || !in_lineage(v.tags, filters, *mp)) continue;
    const auto key = std::ranges::find_if(keys, [&](const VolumeKey& k) { return k.mount_point == *mp; });
    if (key == keys.end() || ec2::find_tag(v.tags, k_tag_group) != key->group) continue;
    out[*mp].push_back(std::move(v));
  }
  for (auto& [mp, list] : out) {
    std::ranges::sort(list, [](const ec2::Volume& a, const ec2::Volume& b) {
      return std::tie(a.create_time, a.id.value) > std::tie(b.create_time, b.id.value);
    });
  }
  return out;
}

const ec2::VolumeAttachment* attachment_to(const ec2::Volume& volume, const ec2::InstanceId& instance) {
  for (const auto& a : volume.attachments) {
    if (a.instance_id == instance &&
        (a.state == ec2::AttachmentState::Attaching || a.state == ec2::AttachmentState::Attached ||
         a.state == ec2::AttachmentState::Busy)) {
      return &a;
    }
  }
  return nullptr;
}

std::optional<ec2::Volume> attached_to(const std::vector<ec2::Volume>& volumes,
                                       const ec2::InstanceId& instance) {
  for (const auto& v : volumes) {
    if (attachment_to(v, instance) != nullptr) return v;
  }
  return std::nullopt;
}

platform::Result<MountedAt> mounted_volume_at(platform::Mounter& mounter, platform::BlockDevices& devices,
                                              const std::string& mount_point,
                                              const std::vector<ec2::Volume>& candidates,
                                              const ec2::InstanceId& instance) {
  EBSNAP_TRY_ASSIGN(const auto mounted, mounter.find_by_target(mount_point));
  MountedAt out;
  if (!mounted) return out;
  out.source = mounted->source;
  out.fs_type = mounted->fs_type;
  for (const auto& v : candidates) {
    const auto* a = attachment_to(v, instance);
    auto verified = devices.verify(out.source, {.volume_id = v.id.value,
                                                .device_hint = a ? a->device : "",
                                                .size_bytes = platform::gib_bytes(static_cast<std::uint64_t>(v.size_gib))});
    if (verified) {
      out.volume = v;
      return out;
    }
    if (out.why_not.empty()) out.why_not = verified.error().describe();
  }
  if (out.why_not.empty()) out.why_not = out.source + " is not a volume of ours";
  return out;
}

std::vector<ObservedMount> observe_mounts(ec2::Ec2Api& ec2, platform::Mounter& mounter, platform::BlockDevices& devices,
                                          const FilterValues& filters, const std::vector<VolumeKey>& keys,
                                          const ec2::InstanceId& instance) {
  std::vector<ObservedMount> out(keys.size());
  auto ours = describe_our_volumes(ec2, filters, keys);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto& o = out[i];
    if (!ours) {
      o.problem = "DescribeVolumes failed: " + ours.error().describe();
      continue;
    }
    o.ours = (*ours)[keys[i].mount_point];
    auto mounted = mounted_volume_at(mounter, devices, keys[i].mount_point, o.ours, instance);
    if (mounted) {
      o.mounted = std::move(*mounted);
    } else {
      o.problem = "cannot read the mount table: " + mounted.error().describe();
    }
  }
  return out;
}

}  // namespace agent
