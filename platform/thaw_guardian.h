#pragma once
// The thaw guardian: a separate process, started before the first FIFREEZE, that thaws every
// mount point of the set when (a) the agent says done, (b) the agent dies for any reason
// (SIGKILL included: the kernel keeps a filesystem frozen after the freezing process is gone),
// (c) the freeze bound passes, or (d) it gets SIGTERM/SIGINT/SIGHUP (systemd stopping the unit).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/error.h"
#include "platform/fd.h"
#include "platform/freeze_state.h"

namespace platform {

struct GuardianOptions {
  std::vector<std::string> mount_points;
  std::chrono::milliseconds freeze_bound{10'000};  // from start(); allowed 1 s .. 120 s
  std::string state_dir = "/run/ebsnap";           // where the freeze state file goes
  // How long finish() waits for the report and the exit: "done" costs one FITHAW per mount
  // point, so a guardian silent for 30 s is stuck. Then it gets SIGTERM (it thaws on it) and
  // as long again to report and exit, and is left running if even that does not end it.
  std::chrono::milliseconds report_timeout{30'000};
};

enum class GuardianTrigger { Done, AgentDied, Timeout, Signal };
[[nodiscard]] std::string_view to_string(GuardianTrigger trigger);

struct GuardianMountReport {
  std::string mount_point;
  ThawOutcome outcome = ThawOutcome::Failed;
  int errno_value = 0;  // when Failed
};

struct GuardianReport {
  GuardianTrigger trigger = GuardianTrigger::Done;
  std::vector<GuardianMountReport> mounts;
  std::chrono::milliseconds elapsed{0};  // from start() to the thaw
};

class ThawGuardian {
 public:
  // Opens the mount points, writes the freeze state file, forks the guardian. Nothing is frozen
  // yet: freeze after this returns.
  [[nodiscard]] static Result<ThawGuardian> start(const GuardianOptions& options);

  ThawGuardian(ThawGuardian&& other) noexcept;
  ThawGuardian& operator=(ThawGuardian&&) = delete;
  ThawGuardian(const ThawGuardian&) = delete;
  ThawGuardian& operator=(const ThawGuardian&) = delete;
  // finish() when not done yet: the guardian never outlives its agent's interest in it.
  ~ThawGuardian();

  [[nodiscard]] int pid() const { return pid_; }
  [[nodiscard]] const std::string& state_file() const { return state_file_; }

  // Tells the guardian that `mount_point` was frozen by someone else (FIFREEZE said EBUSY): it
  // must not thaw it. Call right after FreezeSet::freeze for its AlreadyFrozen entries.
  [[nodiscard]] Result<void> exclude(const std::string& mount_point);

  // Non-blocking: the report when the guardian has already thawed on its own (bound passed).
  [[nodiscard]] std::optional<GuardianReport> poll_report();

  // Tells the guardian "done"; it thaws whatever is still frozen (usually nothing: the agent
  // thawed first) and reports; then the process is reaped and the state file removed. Bounded
  // by report_timeout, twice at most (see GuardianOptions).
  [[nodiscard]] Result<GuardianReport> finish();

 private:
  ThawGuardian() = default;
  [[nodiscard]] Result<GuardianReport> read_report(bool block);
  void terminate(std::string_view why);
  [[nodiscard]] bool reap_until(std::chrono::steady_clock::time_point deadline, int& status);

  int pid_ = -1;
  std::chrono::milliseconds report_timeout_{0};
  // A socketpair: commands to the guardian, its report back. Our death closes it (EOF there);
  // send(MSG_NOSIGNAL) keeps a dead guardian from killing us with SIGPIPE.
  Fd channel_;
  std::vector<std::string> mount_points_;
  std::string state_file_;
  std::optional<GuardianReport> report_cache_;
  bool finished_ = false;
};

}  // namespace platform
