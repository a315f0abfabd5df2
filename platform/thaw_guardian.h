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
  // `ebsnap freeze --hold`: a unix socket the guardian listens on once hold() handed the freeze
  // over to it, and the file it writes its report to when it thaws without being asked (the
  // bound, a signal). Both in the run directory; empty: no hold.
  std::string hold_socket;
  std::string hold_result;
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

  // Hands the freeze over (started with hold_socket): from its acknowledgement on, the guardian
  // no longer watches this process (our exit, even SIGKILL, leaves the freeze held); it thaws on
  // a request on hold_socket (release_hold), at the bound, or on a signal. The freeze state file
  // is rewritten to name the guardian as its owner (a dead guardian's freeze is then thawed by
  // `ebsnap thaw --all` and by the next snapshot's resolve_foreign_freeze). The guardian leaves
  // our stderr then (a pipe read to its end, e.g. SSM's, would otherwise wait for the guardian).
  // Afterwards this object owns nothing. Returns the guardian's pid.
  [[nodiscard]] Result<int> hold();

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
  std::string hold_socket_;
  std::optional<GuardianReport> report_cache_;
  bool finished_ = false;
};

// Asks the holding guardian listening on `socket_path` to thaw, and returns its report. The peer
// must be `guardian_pid` running as our euid (SO_PEERCRED): a socket left by a dead guardian and
// taken over by another process is never believed. NotFound: nobody listens there (the guardian
// is gone). `mount_count` are the mount points it guards, in its order.
[[nodiscard]] Result<GuardianReport> release_hold(const std::string& socket_path, int guardian_pid,
                                                  const std::vector<std::string>& mount_points,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds{30});

// The report a holding guardian wrote to hold_result when it thawed unasked; NotFound when none.
[[nodiscard]] Result<GuardianReport> read_hold_result(const std::string& path,
                                                      const std::vector<std::string>& mount_points);

}  // namespace platform
