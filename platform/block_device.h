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
  // The kernel's disk sequence number (sysfs `diskseq`, Linux 5.15+): a new one for every disk
  // that appears and every medium a loop device is given, not reused before a reboot; unlike the
  // name or dev_t, it tells a disk from a later one in the same place. 0 where the kernel has none.
  std::uint64_t diskseq = 0;
  // Every udev symlink of the device ("/dev/xvdf" where a name is given by a rule, by-id, ...).
  std::vector<std::string> devlinks;

  friend bool operator==(const BlockDevice&, const BlockDevice&) = default;
};

// Which disk, beyond its name: dev_t and the disk sequence number.
struct DeviceIdentity {
  std::uint64_t devnum = 0;
  std::uint64_t diskseq = 0;

  friend bool operator==(const DeviceIdentity&, const DeviceIdentity&) = default;
};

[[nodiscard]] inline DeviceIdentity identity_of(const BlockDevice& d) { return {d.devnum, d.diskseq}; }

// Whether two identities may be one disk: same dev_t and, where both are known, same diskseq.
// Without a diskseq a disk that took the place of another (same dev_t) counts as the same one,
// which errs on the side of refusing.
[[nodiscard]] bool same_disk(const DeviceIdentity& a, const DeviceIdentity& b);

// What identifies the volume we wait for.
//
// A device WITH a serial is the volume when the serial is the volume id (Nitro; the serial is the
// device's own and proves it). A device WITHOUT one (Xen) proves nothing by its name: an
// instance-store disk, or a disk named differently on a kernel that shifts names, can carry the
// name the volume was attached with. Such a device is taken only when it appeared after the
// watch was armed (before AttachVolume), its name is the hint (or its twin), and its size is the
// volume's; verify() also wants it to be still the very disk accepted.
struct VolumeQuery {
  std::string volume_id;    // "vol-0123456789abcdef0"; matched against the device's own serial
  std::string device_hint;  // "/dev/sdf" as given to AttachVolume; used only for devices without
                            // a serial (Xen), as /dev/sdf or /dev/xvdf
  // The volume's size (EC2's Size in GiB << 30). A device without serial must have exactly this
  // size; with 0 (unknown) such a device is never taken. Not checked on a serial match: the
  // serial is the proof, and after ModifyVolume EC2 reports the new size before the disk grows.
  std::uint64_t size_bytes = 0;
  // verify(): the disk wait_for_volume accepted; a device without serial must still be that disk
  // (not one that took its name since). Unset: not checked.
  std::optional<DeviceIdentity> accepted;
  // No AttachVolume follows the watch (a volume an earlier run attached): a device without serial
  // that was there before the watch can never become provable, so wait_for_volume refuses it at
  // once (Mismatch) instead of waiting out the deadline.
  bool already_attached = false;
};

// EBS sizes are whole GiB.
[[nodiscard]] constexpr std::uint64_t gib_bytes(std::uint64_t gib) { return gib << 30; }

// "vol-0123456789abcdef0" -> "vol0123456789abcdef0", the form EBS puts in the NVMe serial.
[[nodiscard]] std::string volume_serial(std::string_view volume_id);

// True when a device serial (possibly "vol0123…", "vol-0123…", space-padded, or udev's
// ID_SERIAL "Amazon Elastic Block Store_vol0123…") names this volume id.
[[nodiscard]] bool serial_matches(std::string_view serial, std::string_view volume_id);

// The udev by-id link EBS NVMe volumes get: "<by_id_dir>/nvme-Amazon_Elastic_Block_Store_vol0123…".
[[nodiscard]] std::string nvme_by_id_link(std::string_view volume_id,
                                          std::string_view by_id_dir = "/dev/disk/by-id");

// Whether a name is the hint or its sd/xvd twin: for a device without serial, a necessary
// condition only (judge_device wants more).
[[nodiscard]] bool name_matches_hint(std::string_view devnode, std::string_view device_hint);

// How a present device stands against a query: the one rule of the real and the fake seam.
enum class Verdict {
  Other,     // not the volume, and not a candidate for it (another serial, another name, no medium)
  Accepted,  // the volume
  Refused,   // has the volume's name but no serial, and cannot be proven to be it: `why`
};
struct Judgement {
  Verdict verdict = Verdict::Other;
  std::string why;  // Refused: one clause naming the device and the reason
};

// `present_before_watch`: the disk (by identity_of) was there when the watch was armed.
[[nodiscard]] Judgement judge_device(const BlockDevice& device, const VolumeQuery& query, bool present_before_watch);

}  // namespace platform
