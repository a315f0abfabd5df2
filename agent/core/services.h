#pragma once
// What a command runs against: the seams to the world (EC2, IMDS, block devices, mounts,
// freezing, time) and the facts of this run. The real ones are made in agent/runtime.h; unit
// tests wire fakes (ec2::FakeEc2, platform::FakeBlockDevices, platform::FakeMounter, ...).
#include <chrono>
#include <filesystem>
#include <string>

#include "agent/core/guardian.h"
#include "ec2/clock.h"
#include "ec2/ec2_api.h"
#include "ec2/imds.h"
#include "ec2/types.h"
#include "ec2/waiter.h"
#include "platform/block_devices.h"
#include "platform/freeze_ops.h"
#include "platform/mounter.h"

namespace agent {

// Where this instance is, from IMDS (once per run).
struct InstanceContext {
  ec2::InstanceId instance_id;
  std::string availability_zone;
  std::string region;
};

struct RunOptions {
  bool dry_run = false;  // plan and print; change nothing
  // Runtime state (restore ClientTokens, freeze state files). /run/ebsnap; EBSNAP_RUN_DIR for tests.
  std::filesystem::path run_dir = "/run/ebsnap";
  // Poll rounds of one batched Describe call each (volumes available, snapshots completed),
  // one call per round whatever the number of volumes. A new volume usually turns available
  // within seconds and the boot waits on it: evenly spaced rounds of 150 ms (±10%) for the
  // first 10 s notice the transition ~70 ms after it (bench/: restore), then rounds grow 1.5x
  // to one a second for a slow volume. A throttled round ends the fast phase.
  ec2::WaiterOptions waiter{.initial_delay = std::chrono::milliseconds{150},
                            .max_delay = std::chrono::milliseconds{1'000},
                            .multiplier = 1.5,
                            .steady_for = std::chrono::milliseconds{10'000},
                            .jitter = 0.2};
};

struct Services {
  ec2::Ec2Api& ec2;
  ec2::Imds& imds;
  platform::BlockDevices& devices;
  platform::Mounter& mounter;
  platform::FreezeOps& freeze_ops;
  const ec2::Clock& clock;
  ec2::Sleeper& sleeper;
  ec2::RandomSource& random;
  RunOptions options;
  // Starts the thaw guardian of a snapshot; null: the real one (a forked process).
  GuardianLauncher* guardians = nullptr;

  [[nodiscard]] GuardianLauncher& guardian_launcher() const {
    return guardians != nullptr ? *guardians : process_guardian_launcher();
  }
};

}  // namespace agent
