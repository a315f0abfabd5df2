#pragma once
// A simulated instance's filesystems as FIFREEZE sees them, and its thaw guardian, for
// agent::snapshot in the fleet simulation (bench/fleet/instance.h).
//
// Each mount point added is the root of a filesystem of its own (anything else, such as the run
// dir, lives on another one); freeze and thaw answer as the kernel does (EBUSY: already frozen,
// EINVAL: not frozen). The guardian keeps its bound on the world's clock: once `freeze_bound`
// has passed since it started, the mount points it guards are thawed (as platform::ThawGuardian's
// FITHAW would have done at that moment; applied when next looked at), so a CreateSnapshots held
// up past the bound shows in the report as watchdog-thawed.
//
// Thread-safe: platform::FreezeSet syncs, freezes and thaws on one real thread per filesystem
// (not through Services::tasks), while the world's own thread waits for them to join. The
// unit tests' RecordingFreezeOps and FakeGuardianLauncher (tests/unit/agent_snapshot_fixture.h)
// know fixed paths only and time out only when a test says so.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "agent/core/freeze_window.h"
#include "bench/fleet/world.h"
#include "platform/freeze_ops.h"

namespace fleet {

class SimFreezing final : public platform::FreezeOps, public agent::GuardianLauncher {
 public:
  explicit SimFreezing(const World& world) : world_(world) {}

  // Set-up, before any freeze.
  void add_filesystem(const std::string& mount_point);

  [[nodiscard]] platform::Result<platform::FsIdentity> identify(const std::string& path) override;
  [[nodiscard]] platform::Result<void> syncfs(const std::string& mount_point) override;
  [[nodiscard]] platform::Result<void> freeze(const std::string& mount_point) override;
  [[nodiscard]] platform::Result<void> thaw(const std::string& mount_point) override;
  [[nodiscard]] platform::Result<std::unique_ptr<agent::FreezeGuard>> start(
      const platform::GuardianOptions& options) override;

  [[nodiscard]] bool frozen(const std::string& mount_point) const;

 private:
  class Guard;
  using Steady = std::chrono::steady_clock;
  // Every guardian whose bound has passed has thawed what it guards, and is gone. Holding mutex_.
  void guardians_thaw_locked();

  const World& world_;
  std::map<std::string, std::uint64_t> filesystems_;  // written at set-up only
  mutable std::mutex mutex_;
  std::set<std::string> frozen_;
  std::map<std::string, Steady::time_point> guarded_until_;  // mount point → its guardian's bound
};

}  // namespace fleet
