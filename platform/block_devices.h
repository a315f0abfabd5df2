#pragma once
// The seam between the agent and the machine's block devices: the real one is udev + sysfs +
// blkid (UdevBlockDevices), the agent's unit tests use FakeBlockDevices.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "platform/block_device.h"
#include "platform/error.h"
#include "platform/mkfs.h"
#include "platform/probe.h"

namespace platform {

// A subscription to block device events, armed *before* AttachVolume so that a device appearing
// between the attach and the wait is not missed. Move-only; what it holds is up to the
// implementation that made it.
class VolumeWatch {
 public:
  class State {
   public:
    virtual ~State() = default;
  };

  VolumeWatch() = default;
  explicit VolumeWatch(std::unique_ptr<State> state) : state_(std::move(state)) {}

  [[nodiscard]] bool armed() const { return state_ != nullptr; }
  [[nodiscard]] State* state() const { return state_.get(); }

 private:
  std::unique_ptr<State> state_;
};

class BlockDevices {
 public:
  virtual ~BlockDevices() = default;

  // Starts listening for block devices and records the disks present now (the watch's State):
  // call before AttachVolume.
  [[nodiscard]] virtual Result<VolumeWatch> arm_watch() = 0;

  // The device whose own serial is the volume id, already present or appearing before `deadline`;
  // or, for a device without serial (Xen), one that was not there when `watch` was armed, whose
  // name is the hint or its xvd twin and whose size is query.size_bytes (judge_device). A device
  // without serial that fails this is not taken and the wait goes on (the genuine one may still
  // come). Timeout at `deadline`, its message "… did not appear before the deadline" followed by
  // "; <why>" for each device refused; Mismatch at once for a refused device that was there
  // before the watch when query.already_attached.
  [[nodiscard]] virtual Result<BlockDevice> wait_for_volume(VolumeWatch& watch, const VolumeQuery& query,
                                                            Deadline deadline) = 0;

  // Returns once `devnode` is gone (after DetachVolume); Timeout at `deadline`.
  [[nodiscard]] virtual Result<void> wait_for_removal(const std::string& devnode, Deadline deadline) = 0;

  // The device present now whose serial is the volume id, or nullopt.
  [[nodiscard]] virtual Result<std::optional<BlockDevice>> find_by_serial(const std::string& volume_id) = 0;

  // Re-checks that `devnode` is the volume (before mkfs and before mount): by serial, or without one
  // by name, size and (query.accepted) the very disk accepted. Mismatch otherwise.
  [[nodiscard]] virtual Result<BlockDevice> verify(const std::string& devnode, const VolumeQuery& query) = 0;

  // Nothing holds the device: opened O_EXCL (and closed), which fails with EBUSY while it is
  // mounted in any mount namespace (a container's bind mount, say) or held by another opener.
  // Busy then; NotFound when there is no such device.
  [[nodiscard]] virtual Result<void> check_not_in_use(const std::string& devnode) = 0;

  [[nodiscard]] virtual Result<ProbeResult> probe(const std::string& devnode) = 0;

  // mkfs, refused unless probe() shows the device empty (or options.redo_interrupted).
  [[nodiscard]] virtual Result<void> make_filesystem(const std::string& devnode,
                                                     const MkfsOptions& options) = 0;
};

}  // namespace platform
