#pragma once
// BlockDevices over libudev (events and the udev database), sysfs and libblkid.
#include <chrono>
#include <string>

#include "platform/block_devices.h"

namespace platform {

struct UdevOptions {
  std::string by_id_dir = "/dev/disk/by-id";
  std::string sysfs_block_dir = "/sys/class/block";
  // udevd is taken as running when it accepts a connection here (a socket file left by a udevd
  // that died refuses it); without udevd, waits poll sysfs with backoff.
  std::string udev_control = "/run/udev/control";
  std::chrono::milliseconds poll_initial{50};  // backoff of the no-udevd fallback
  std::chrono::milliseconds poll_max{1000};
  // With udevd: after this long without an event, the udev database is looked at again.
  std::chrono::milliseconds recheck_every{1000};
};

// Whether a udevd accepts connections on its control socket: a connect, nothing sent (what
// `udevadm control --ping` relies on, without the message). A stale socket file is "no".
[[nodiscard]] bool udevd_listening(const std::string& control_socket = "/run/udev/control");

class UdevBlockDevices final : public BlockDevices {
 public:
  explicit UdevBlockDevices(UdevOptions options = {});

  [[nodiscard]] Result<VolumeWatch> arm_watch() override;
  [[nodiscard]] Result<BlockDevice> wait_for_volume(VolumeWatch& watch, const VolumeQuery& query,
                                                    Deadline deadline) override;
  [[nodiscard]] Result<void> wait_for_removal(const std::string& devnode, Deadline deadline) override;
  [[nodiscard]] Result<std::optional<BlockDevice>> find_by_serial(const std::string& volume_id) override;
  [[nodiscard]] Result<BlockDevice> verify(const std::string& devnode, const VolumeQuery& query) override;
  [[nodiscard]] Result<void> check_not_in_use(const std::string& devnode) override;
  [[nodiscard]] Result<ProbeResult> probe(const std::string& devnode) override;
  [[nodiscard]] Result<void> make_filesystem(const std::string& devnode, const MkfsOptions& options) override;

  // The serial the device reports about itself ("" when it has none, as on Xen).
  [[nodiscard]] Result<std::string> serial_of(const std::string& devnode);

  // Whether udevd looked alive when this object was made (else the sysfs polling fallback).
  [[nodiscard]] bool udevd_running() const { return udevd_running_; }

 private:
  // The whole-disk block devices present now.
  [[nodiscard]] Result<std::vector<BlockDevice>> list();

  UdevOptions options_;
  bool udevd_running_ = false;
};

}  // namespace platform
