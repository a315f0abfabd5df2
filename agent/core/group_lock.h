#pragma once
// One run at a time per group. Every command that changes a group (mount, snapshot, unmount, and
// those to come) holds an exclusive flock on <run_dir>/lock-<group> for the whole run; the
// kernel releases it when the process dies, however it dies. A run that finds a group locked
// waits (timeouts.lock_s), polling, then gives up with one line naming the holder: the pid, the
// command and since when, which the holder wrote into the lock file.
//
// Without it, two mounts of one group (the boot unit and a manual run) would each create and
// attach a volume and stack two mounts on one mount point, and two snapshots would freeze over
// each other.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/core/services.h"
#include "ec2/clock.h"
#include "platform/error.h"
#include "platform/fd.h"

namespace agent {

struct LockRequest {
  std::filesystem::path run_dir;
  std::vector<std::string> groups;  // taken in sorted order, so that two runs never deadlock
  std::string command;              // "mount", "snapshot", "unmount", ...
  std::chrono::milliseconds wait{60'000};
};

// How often a run waiting for a lock tries again.
inline constexpr std::chrono::milliseconds k_lock_poll{100};

class GroupLocks {
 public:
  // Every group's lock, or none: on failure what was taken is released, and the error (kind
  // Busy) names the holder of the lock that was not free in time.
  [[nodiscard]] static platform::Result<GroupLocks> acquire(const LockRequest& request, const ec2::Clock& clock,
                                                            ec2::Sleeper& sleeper);
  GroupLocks(GroupLocks&&) noexcept = default;
  GroupLocks& operator=(GroupLocks&&) noexcept = default;
  GroupLocks(const GroupLocks&) = delete;
  GroupLocks& operator=(const GroupLocks&) = delete;
  ~GroupLocks() = default;  // closing the descriptors releases the locks

 private:
  GroupLocks() = default;
  std::vector<platform::Fd> fds_;
};

// The locks of context.groups for `command`, waiting at most timeouts.lock_s.
[[nodiscard]] platform::Result<GroupLocks> lock_groups(const RunContext& context, std::string command);

// Runs `run` (returning the command's RunReport) holding the locks of context.groups. Not under
// --dry-run, which changes nothing. A lock not free in time ends the run with its one line.
template <class Run>
[[nodiscard]] RunReport with_group_locks(const RunContext& context, const std::string& command, Run run) {
  if (context.services.options.dry_run) return run();
  auto locks = lock_groups(context, command);
  if (!locks) {
    RunReport report = new_report(command, context);
    report.not_run(locks.error().message);
    return report;
  }
  return run();
}

// "<run_dir>/lock-<group>"
[[nodiscard]] std::filesystem::path lock_path(const std::filesystem::path& run_dir, const std::string& group);

}  // namespace agent
