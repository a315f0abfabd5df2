#include "platform/block_device.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "platform/device_names.h"

namespace platform {
namespace {

std::string lower_alnum(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0) out += static_cast<char>(std::tolower(u));
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string volume_serial(std::string_view volume_id) {
  std::string out;
  for (char c : trim(volume_id)) {
    if (c != '-') out += c;
  }
  return out;
}

bool serial_matches(std::string_view serial, std::string_view volume_id) {
  serial = trim(serial);
  // udev's ID_SERIAL is "<model>_<serial>" ("Amazon Elastic Block Store_vol0123…").
  if (const auto underscore = serial.rfind('_'); underscore != std::string_view::npos) {
    serial.remove_prefix(underscore + 1);
  }
  const std::string want = lower_alnum(volume_id);
  if (want.size() < 4 || want.rfind("vol", 0) != 0) return false;
  return lower_alnum(serial) == want;
}

std::string nvme_by_id_link(std::string_view volume_id, std::string_view by_id_dir) {
  std::string out{by_id_dir};
  if (!out.empty() && out.back() != '/') out += '/';
  out += "nvme-Amazon_Elastic_Block_Store_";
  out += volume_serial(volume_id);
  return out;
}

bool name_matches_hint(std::string_view devnode, std::string_view device_hint) {
  if (device_hint.empty()) return false;
  auto base = [](std::string_view p) {
    const auto slash = p.rfind('/');
    return slash == std::string_view::npos ? p : p.substr(slash + 1);
  };
  const std::string_view dev = base(devnode);
  const std::string_view hint = base(device_hint);
  if (dev == hint) return true;
  const auto twin = xen_twin(hint);
  return twin.has_value() && base(*twin) == dev;
}

bool same_disk(const DeviceIdentity& a, const DeviceIdentity& b) {
  if (a.devnum != b.devnum) return false;
  return a.diskseq == 0 || b.diskseq == 0 || a.diskseq == b.diskseq;
}

Judgement judge_device(const BlockDevice& d, const VolumeQuery& q, bool present_before_watch) {
  // A node without medium (an unused loop device, a removed disk) is nobody's volume.
  if (d.devnode.empty() || d.size_bytes == 0) return {};
  if (!d.serial.empty()) {
    return serial_matches(d.serial, q.volume_id) ? Judgement{Verdict::Accepted, {}} : Judgement{};
  }
  // No serial (Xen): the kernel's name, or a name a udev rule gave it as a symlink.
  std::string shown = d.devnode;  // and the link that carries the name, if it is one
  if (!name_matches_hint(d.devnode, q.device_hint)) {
    const auto link =
        std::ranges::find_if(d.devlinks, [&](const std::string& l) { return name_matches_hint(l, q.device_hint); });
    if (link == d.devlinks.end()) return {};
    shown += " (" + *link + ")";
  }
  auto refused = [&](std::string why) {
    return Judgement{Verdict::Refused, fmt::format("{} has no serial and {}: not provably {}", shown, why, q.volume_id)};
  };
  if (present_before_watch) return refused("was there before AttachVolume");
  if (q.size_bytes == 0) return refused("the volume's size is not known");
  if (d.size_bytes != q.size_bytes) {
    return refused(fmt::format("is {} bytes, the volume {} bytes", d.size_bytes, q.size_bytes));
  }
  if (q.accepted && !same_disk(identity_of(d), *q.accepted)) {
    return refused(fmt::format("is no longer the disk accepted (dev {} diskseq {}, now dev {} diskseq {})",
                               q.accepted->devnum, q.accepted->diskseq, d.devnum, d.diskseq));
  }
  return {Verdict::Accepted, {}};
}

}  // namespace platform
