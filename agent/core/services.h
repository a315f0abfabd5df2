#pragma once
// What a command runs against: the seams to the world (EC2, block devices, mounts,
// freezing, the thaw guardian, hooks, time), the options of this run, and RunContext: the
// same inputs for every command. The real Services are made in agent/core/runtime.h; unit tests
// wire fakes (ec2/testing, platform/testing, tests/unit fixtures). Every effect of a command
// goes through one of these seams.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "agent/config/config.h"
#include "agent/core/freeze_window.h"
#include "agent/core/hook_phases.h"
#include "agent/report/report.h"
#include "ec2/clock.h"
#include "ec2/ec2_api.h"
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

// EC2 in other regions than the run's: the destinations of copy (agent/commands/copy.h), which
// calls CopySnapshot there and waits on, prunes and reads its copies there.
class Ec2Regions {
 public:
  virtual ~Ec2Regions() = default;
  // The client of `region`, made on first use and kept for the run; the run's own region gives
  // the run's client. Fails (one line) when no client can be made for it.
  [[nodiscard]] virtual ec2::Result<ec2::Ec2Api*> in(const std::string& region) = 0;
};

// Work that runs beside the caller (a volume's create, attach and mount; the unfrozen volumes'
// CreateSnapshots): a thread each in a run. The fleet simulation (bench/fleet) runs them on its
// virtual time instead, so that it drives the very same code.
class TaskGroup {
 public:
  virtual ~TaskGroup() = default;  // waits for what still runs
  virtual void spawn(std::function<void()> task) = 0;
  // Until every task spawned so far has returned.
  virtual void join() = 0;
  // Until a task has returned since the last wait_any (at once if one has), or none is running:
  // the caller then sees what that task left (under its own lock) without waiting for the rest.
  virtual void wait_any() = 0;
};

class Tasks {
 public:
  virtual ~Tasks() = default;
  [[nodiscard]] virtual std::unique_ptr<TaskGroup> group() = 0;
};

// The real ones: a std::jthread per task.
[[nodiscard]] Tasks& thread_tasks();

struct Services {
  ec2::Ec2Api& ec2;
  platform::BlockDevices& devices;
  platform::Mounter& mounter;
  platform::FreezeOps& freeze_ops;
  const ec2::Clock& clock;
  ec2::Sleeper& sleeper;
  ec2::RandomSource& random;
  GuardianLauncher& guardians;  // the thaw guardian of a freeze window
  HookRunner& hooks;            // operator hooks (agent/core/hook_phases.h)
  Ec2Regions* regions = nullptr;  // none: the run reaches no other region (copy refuses)
  RunOptions options;
  Tasks& tasks = thread_tasks();

  // A waiter for one batched Describe per poll round, bounded by `timeout`.
  [[nodiscard]] ec2::Waiter waiter(std::chrono::seconds timeout) const;
  // The same seams with `other` as the EC2 client: a command's work in another region (copy's
  // prune of a destination).
  [[nodiscard]] Services with_ec2(ec2::Ec2Api& other) const;
};

// What every command that works on groups runs with, passed the same way to each.
struct RunContext {
  Services& services;
  const Config& config;  // validated
  // The filter tags' values from userdata. Empty only for unmount when the userdata cannot
  // supply them (volumes are then recognised by ebsnap:group and ebsnap:mount-point alone).
  FilterValues filters;
  InstanceContext instance;
  // The groups named on the command line, resolved once (config order for list without names).
  std::vector<const GroupConfig*> groups;
};

// A report for `command` with one group report for each of context.groups, started now.
[[nodiscard]] RunReport new_report(std::string command, const RunContext& context);

}  // namespace agent
