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
#include "platform/block_devices.h"
#include "platform/mounter.h"
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

// What is mounted at a mount point, and whether it is one of our volumes.
struct MountedAt {
  std::string source;   // the device mounted there ("" when nothing is)
  std::string fs_type;
  std::optional<ec2::Volume> volume;  // which of the candidates it is; nullopt: not ours
  std::string why_not;                // not ours: what the device is instead (one line)

  [[nodiscard]] bool mounted() const { return !source.empty(); }
  [[nodiscard]] bool ours() const { return volume.has_value(); }
};

// The one answer to "what is mounted at `mount_point`, and is it our volume?", for mount,
// unmount, list and snapshot: the mount table gives the device, and platform's verify says
// whether it is one of `candidates` (by its own serial on Nitro; a device without a serial, as
// on Xen, by the name the volume is attached to this instance with). The error is the mount
// table's.
[[nodiscard]] platform::Result<MountedAt> mounted_volume_at(platform::Mounter& mounter,
                                                            platform::BlockDevices& devices,
                                                            const std::string& mount_point,
                                                            const std::vector<ec2::Volume>& candidates,
                                                            const ec2::InstanceId& instance);

// What was found for one configured volume before anything is done: our volumes for its mount
// point, and what is mounted there.
struct ObservedMount {
  std::vector<ec2::Volume> ours;       // newest first
  MountedAt mounted;
  std::optional<std::string> problem;  // DescribeVolumes or the mount table failed: one line
};

// One DescribeVolumes for every key, then the mount table at each mount point; in key order.
[[nodiscard]] std::vector<ObservedMount> observe_mounts(ec2::Ec2Api& ec2, platform::Mounter& mounter,
                                                        platform::BlockDevices& devices, const FilterValues& filters,
                                                        const std::vector<VolumeKey>& keys,
                                                        const ec2::InstanceId& instance);

}  // namespace agent
