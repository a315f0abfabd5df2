#pragma once
// A block device as the kernel and udev see it, and how an EBS volume id is recognised on it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

namespace platform {

// Waits are bounded by a point on the monotonic clock.
using Deadline = std::chrono::steady_clock::time_point;

struct BlockDevice {
  std::string devnode;     // "/dev/nvme1n1", "/dev/xvdf", "/dev/loop3"
  std::string serial;      // the device's own serial (udev ID_SERIAL_SHORT / sysfs); "" on Xen
  std::string by_id_link;  // "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol…"; may be ""
  std::uint64_t size_bytes = 0;
  std::uint64_t devnum = 0;  // dev_t (major:minor) of the device
  // Every udev symlink of the device ("/dev/xvdf" where a name is given by a rule, by-id, ...).
  std::vector<std::string> devlinks;

  friend bool operator==(const BlockDevice&, const BlockDevice&) = default;
};

// What identifies the volume we wait for.
struct VolumeQuery {
  std::string volume_id;    // "vol-0123456789abcdef0"; matched against the device's own serial
  std::string device_hint;  // "/dev/sdf" as given to AttachVolume; used only for devices without
                            // a serial (Xen), as /dev/sdf or /dev/xvdf
};

// "vol-0123456789abcdef0" -> "vol0123456789abcdef0", the form EBS puts in the NVMe serial.
[[nodiscard]] std::string volume_serial(std::string_view volume_id);

// True when a device serial (possibly "vol0123…", "vol-0123…", space-padded, or udev's
// ID_SERIAL "Amazon Elastic Block Store_vol0123…") names this volume id.
[[nodiscard]] bool serial_matches(std::string_view serial, std::string_view volume_id);

// The udev by-id link EBS NVMe volumes get: "<by_id_dir>/nvme-Amazon_Elastic_Block_Store_vol0123…".
[[nodiscard]] std::string nvme_by_id_link(std::string_view volume_id,
                                          std::string_view by_id_dir = "/dev/disk/by-id");

// A device without a serial matches a query only by name: the hint, or its sd/xvd twin.
[[nodiscard]] bool name_matches_hint(std::string_view devnode, std::string_view device_hint);

}  // namespace platform
