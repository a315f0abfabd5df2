#pragma once
// The volumes of ours, as mount, unmount and list see them: one DescribeVolumes (lineage filters
// + ebsnap:group present) for every mount point of a run, checked against the tags EC2 returned
// (a filter EC2 or a proxy ignored must not make another lineage's volume ours).
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "ec2/ec2_api.h"
#include "ec2/types.h"

namespace agent {

// One configured volume of a group.
struct VolumeKey {
  std::string group;
  std::string mount_point;
};

// Volumes of ours by mount point: in the lineage of `filters` and the mount point, tagged with
// the mount point's group. Volumes being deleted (or in state error) are left out. Newest first.
[[nodiscard]] ec2::Result<std::map<std::string, std::vector<ec2::Volume>>> describe_our_volumes(
    ec2::Ec2Api& ec2, const FilterValues& filters, const std::vector<VolumeKey>& keys);

// The attachment of `volume` to `instance` (attaching or attached), if any.
[[nodiscard]] const ec2::VolumeAttachment* attachment_to(const ec2::Volume& volume,
                                                         const ec2::InstanceId& instance);

// The newest of `volumes` attached (or attaching) to `instance`.
[[nodiscard]] std::optional<ec2::Volume> attached_to(const std::vector<ec2::Volume>& volumes,
                                                     const ec2::InstanceId& instance);

// Whether the block device `devnode` with its own `serial` is `volume`: by serial (Nitro), or for
// a device without one (Xen) by the name the volume is attached to this instance with.
[[nodiscard]] bool device_is_volume(std::string_view devnode, std::string_view serial,
                                    const ec2::Volume& volume, const ec2::InstanceId& instance);

}  // namespace agent
