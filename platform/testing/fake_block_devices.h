#pragma once
// A stateful in-memory BlockDevices for the agent's unit tests: devices come and go when the test
// (or a fake EC2 wired to it) says so; probe results and mkfs follow the real rules, and so does
// recognising a volume (judge_device): a device without serial is taken only when it was added
// after the watch was armed and has the volume's size.
#include <functional>
#include <map>
#include <set>
#include <mutex>
#include <string>
#include <vector>

#include "platform/block_devices.h"

namespace platform {

class FakeBlockDevices final : public BlockDevices {
 public:
  // Called by wait_for_volume when no present device matches, before giving up with Timeout
  // (the fake never sleeps): lets a fake EC2 make the attached volume appear.
  using Arrival = std::function<std::optional<BlockDevice>(const VolumeQuery&)>;

  // Adds (or replaces) a device with what blkid would find on it. A device given without diskseq
  // gets the next one, as the kernel gives every disk that appears (a replaced one is a new disk).
  void add_device(BlockDevice device, ProbeResult content = {});
  void remove_device(const std::string& devnode);
  void set_content(const std::string& devnode, ProbeResult content);
  void set_arrival(Arrival arrival);
  // check_not_in_use says Busy for `devnode` (a mount in another namespace, say).
  void set_in_use(const std::string& devnode, bool in_use);
  // The next make_filesystem on `devnode` fails with `error`.
  void fail_next_mkfs(const std::string& devnode, Error error);

  [[nodiscard]] bool has_device(const std::string& devnode) const;
  [[nodiscard]] std::vector<std::string> mkfs_calls() const;  // "devnode fs_type", in order

  [[nodiscard]] Result<VolumeWatch> arm_watch() override;
  [[nodiscard]] Result<BlockDevice> wait_for_volume(VolumeWatch& watch, const VolumeQuery& query,
                                                    Deadline deadline) override;
  [[nodiscard]] Result<void> wait_for_removal(const std::string& devnode, Deadline deadline) override;
  [[nodiscard]] Result<std::optional<BlockDevice>> find_by_serial(const std::string& volume_id) override;
  [[nodiscard]] Result<BlockDevice> verify(const std::string& devnode, const VolumeQuery& query) override;
  [[nodiscard]] Result<void> check_not_in_use(const std::string& devnode) override;
  [[nodiscard]] Result<ProbeResult> probe(const std::string& devnode) override;
  [[nodiscard]] Result<void> make_filesystem(const std::string& devnode, const MkfsOptions& options) override;

 private:
  struct Entry {
    BlockDevice device;
    ProbeResult content;
  };
  void add_device_locked(BlockDevice device, ProbeResult content = {});
  // The device accepted for `query`, if any; the refusals of candidates go to `refused`.
  [[nodiscard]] Result<std::optional<BlockDevice>> match_locked(const VolumeQuery& query, const VolumeWatch& watch,
                                                                std::vector<std::string>& refused) const;

  mutable std::mutex mutex_;
  std::map<std::string, Entry> devices_;
  std::map<std::string, Error> mkfs_failures_;
  std::set<std::string> in_use_;
  std::vector<std::string> mkfs_calls_;
  Arrival arrival_;
  std::uint64_t next_diskseq_ = 1;
};

}  // namespace platform
