#include "platform/testing/fake_block_devices.h"

#include <algorithm>

namespace platform {
namespace {
// The disks present at arm time, as the real watch records them.
class FakeWatchState final : public VolumeWatch::State {
 public:
  std::vector<DeviceIdentity> before;

  [[nodiscard]] bool present_before(const BlockDevice& d) const {
    return std::ranges::any_of(before, [&](const DeviceIdentity& b) { return same_disk(b, identity_of(d)); });
  }
};
}  // namespace

void FakeBlockDevices::add_device(BlockDevice device, ProbeResult content) {
  std::lock_guard lock(mutex_);
  add_device_locked(std::move(device), std::move(content));
}

void FakeBlockDevices::add_device_locked(BlockDevice device, ProbeResult content) {
  if (device.diskseq == 0) device.diskseq = next_diskseq_++;
  std::string key = device.devnode;
  devices_.insert_or_assign(key, Entry{std::move(device), std::move(content)});
}

void FakeBlockDevices::remove_device(const std::string& devnode) {
  std::lock_guard lock(mutex_);
  devices_.erase(devnode);
}

void FakeBlockDevices::set_content(const std::string& devnode, ProbeResult content) {
  std::lock_guard lock(mutex_);
  if (auto it = devices_.find(devnode); it != devices_.end()) it->second.content = std::move(content);
}

void FakeBlockDevices::set_arrival(Arrival arrival) {
  std::lock_guard lock(mutex_);
  arrival_ = std::move(arrival);
}

void FakeBlockDevices::fail_next_mkfs(const std::string& devnode, Error error) {
  std::lock_guard lock(mutex_);
  mkfs_failures_.insert_or_assign(devnode, std::move(error));
}

bool FakeBlockDevices::has_device(const std::string& devnode) const {
  std::lock_guard lock(mutex_);
  return devices_.contains(devnode);
}

std::vector<std::string> FakeBlockDevices::mkfs_calls() const {
  std::lock_guard lock(mutex_);
  return mkfs_calls_;
}

Result<std::optional<BlockDevice>> FakeBlockDevices::match_locked(const VolumeQuery& query, const VolumeWatch& watch,
                                                                     std::vector<std::string>& refused) const {
  const auto* state = dynamic_cast<const FakeWatchState*>(watch.state());
  for (const auto& [node, entry] : devices_) {
    const bool before = state->present_before(entry.device);
    auto j = judge_device(entry.device, query, before);
    if (j.verdict == Verdict::Accepted) return std::optional<BlockDevice>(entry.device);
    if (j.verdict != Verdict::Refused) continue;
    if (before && query.already_attached) return fail(ErrorKind::Mismatch, j.why);
    if (std::ranges::find(refused, j.why) == refused.end()) refused.push_back(j.why);
  }
  return std::optional<BlockDevice>{};
}

Result<VolumeWatch> FakeBlockDevices::arm_watch() {
  auto state = std::make_unique<FakeWatchState>();
  std::lock_guard lock(mutex_);
  for (const auto& [node, entry] : devices_) {
    if (entry.device.size_bytes != 0) state->before.push_back(identity_of(entry.device));
  }
  return VolumeWatch{std::move(state)};
}

Result<BlockDevice> FakeBlockDevices::wait_for_volume(VolumeWatch& watch, const VolumeQuery& query,
                                                      Deadline /*deadline*/) {
  if (!watch.armed() || dynamic_cast<FakeWatchState*>(watch.state()) == nullptr) {
    return fail(ErrorKind::Refused, "wait_for_volume: watch not armed by FakeBlockDevices");
  }
  Arrival arrival;
  std::vector<std::string> refused;
  {
    std::lock_guard lock(mutex_);
    auto d = match_locked(query, watch, refused);
    if (!d || *d) return d ? Result<BlockDevice>(**d) : std::unexpected(d.error());
    arrival = arrival_;
  }
  if (arrival) {
    if (auto d = arrival(query)) {
      std::lock_guard lock(mutex_);
      if (!devices_.contains(d->devnode)) add_device_locked(std::move(*d));
      auto found = match_locked(query, watch, refused);
      if (!found || *found) return found ? Result<BlockDevice>(**found) : std::unexpected(found.error());
    }
  }
  std::string seen;
  for (const auto& why : refused) seen += "; " + why;
  return fail(ErrorKind::Timeout, "volume " + query.volume_id + " did not appear before the deadline" + seen);
}

Result<void> FakeBlockDevices::wait_for_removal(const std::string& devnode, Deadline /*deadline*/) {
  std::lock_guard lock(mutex_);
  if (devices_.contains(devnode))
    return fail(ErrorKind::Timeout, devnode + " was still present at the deadline");
  return {};
}

Result<std::optional<BlockDevice>> FakeBlockDevices::find_by_serial(const std::string& volume_id) {
  std::lock_guard lock(mutex_);
  for (const auto& [node, entry] : devices_) {
    if (!entry.device.serial.empty() && serial_matches(entry.device.serial, volume_id)) {
      return std::optional<BlockDevice>(entry.device);
    }
  }
  return std::optional<BlockDevice>{};
}

Result<BlockDevice> FakeBlockDevices::verify(const std::string& devnode, const VolumeQuery& query) {
  std::lock_guard lock(mutex_);
  auto it = devices_.find(devnode);
  if (it == devices_.end()) return fail(ErrorKind::NotFound, "no device " + devnode);
  const auto j = judge_device(it->second.device, query, /*present_before_watch=*/false);
  if (j.verdict == Verdict::Refused) return fail(ErrorKind::Mismatch, devnode + ": " + j.why);
  if (j.verdict != Verdict::Accepted) {
    return fail(ErrorKind::Mismatch,
                devnode + " (serial '" + it->second.device.serial + "') is not volume " + query.volume_id);
  }
  return it->second.device;
}

void FakeBlockDevices::set_in_use(const std::string& devnode, bool in_use) {
  std::lock_guard lock(mutex_);
  if (in_use) {
    in_use_.insert(devnode);
  } else {
    in_use_.erase(devnode);
  }
}

Result<void> FakeBlockDevices::check_not_in_use(const std::string& devnode) {
  std::lock_guard lock(mutex_);
  if (!devices_.contains(devnode)) return fail(ErrorKind::NotFound, "no device " + devnode);
  if (in_use_.contains(devnode)) return fail(ErrorKind::Busy, devnode + " is in use", EBUSY);
  return {};
}

Result<ProbeResult> FakeBlockDevices::probe(const std::string& devnode) {
  std::lock_guard lock(mutex_);
  auto it = devices_.find(devnode);
  if (it == devices_.end()) return fail(ErrorKind::NotFound, "blkid probe " + devnode + ": no such device");
  return it->second.content;
}

Result<void> FakeBlockDevices::make_filesystem(const std::string& devnode, const MkfsOptions& options) {
  std::lock_guard lock(mutex_);
  auto it = devices_.find(devnode);
  if (it == devices_.end()) return fail(ErrorKind::NotFound, "mkfs " + devnode + ": no such device");
  auto argv = mkfs_argv(devnode, options);
  if (!argv) return std::unexpected(argv.error());
  if (auto ok = check_empty_for_mkfs(devnode, it->second.content); !ok && !options.redo_interrupted) return ok;
  mkfs_calls_.push_back(devnode + " " + options.fs_type);
  if (auto f = mkfs_failures_.find(devnode); f != mkfs_failures_.end()) {
    Error e = std::move(f->second);
    mkfs_failures_.erase(f);
    return std::unexpected(std::move(e));
  }
  it->second.content = ProbeResult{.fs_type = options.fs_type,
                                   .uuid = "fake-uuid-" + std::to_string(mkfs_calls_.size()),
                                   .label = options.label};
  return {};
}

}  // namespace platform
