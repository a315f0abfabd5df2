#pragma once
// One freeze window: the thaw guardian protocol in one place, so that no command has to
// remember its steps.
//
//   open():  the guardian first (from then on our death thaws), then FIFREEZE of every
//            filesystem at once (platform::FreezeSet); a filesystem someone else had frozen
//            (EBUSY) is excluded from the guardian at once, on the failure path too, so that
//            the guardian never thaws another tool's freeze;
//   close(): FITHAW of what we froze, then the guardian is told "done" and reports; the window
//            is measured with the injected clock, and whether the freeze held until our FITHAW.
//
// The guardian sits behind the GuardianLauncher seam (Services::guardians), so that the
// ordering and the watchdog paths are unit-tested without forking a process that issues real
// FITHAW ioctls.
#include <chrono>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ec2/clock.h"
#include "platform/error.h"
#include "platform/freeze.h"
#include "platform/freeze_ops.h"
#include "platform/thaw_guardian.h"

namespace agent {

// A running guardian: what the agent may tell it.
class FreezeGuard {
 public:
  virtual ~FreezeGuard() = default;
  // The mount point was frozen by someone else (FIFREEZE said EBUSY): the guardian must not thaw it.
  [[nodiscard]] virtual platform::Result<void> exclude(const std::string& mount_point) = 0;
  // "Done": it thaws whatever is still frozen, reports and exits.
  [[nodiscard]] virtual platform::Result<platform::GuardianReport> finish() = 0;
  // Without blocking: it has already thawed on its own (its bound passed).
  [[nodiscard]] virtual bool thawed_on_its_own() = 0;
  // `freeze --hold`: hands the freeze over to the guardian (platform::ThawGuardian::hold); its pid.
  [[nodiscard]] virtual platform::Result<int> hold() {
    return platform::fail(platform::ErrorKind::Refused, "this guardian cannot hold a freeze");
  }
};

class GuardianLauncher {
 public:
  virtual ~GuardianLauncher() = default;
  // Starts a guardian over `options.mount_points`; nothing is frozen yet when it returns.
  [[nodiscard]] virtual platform::Result<std::unique_ptr<FreezeGuard>> start(
      const platform::GuardianOptions& options) = 0;
};

// platform::ThawGuardian: a forked process holding descriptors of the mount points.
class ProcessGuardianLauncher final : public GuardianLauncher {
 public:
  [[nodiscard]] platform::Result<std::unique_ptr<FreezeGuard>> start(
      const platform::GuardianOptions& options) override;
};

struct FreezeWindowOptions {
  std::string group;  // for the log
  std::vector<std::string> mount_points;
  std::chrono::milliseconds bound{10'000};  // the guardian thaws on its own after it
  std::string run_dir = "/run/ebsnap";      // freeze state files; its filesystem is never frozen
  // freeze --hold: the guardian's socket and result file (platform::GuardianOptions); empty: none.
  std::string hold_socket;
  std::string hold_result;
};

// A window handed over to its guardian (FreezeWindow::hold).
struct HeldWindow {
  int guardian_pid = 0;
  // From the guardian's start to the first FIFREEZE: the guardian's report counts from its start.
  std::chrono::milliseconds freeze_offset{0};
};

// What a closed window says.
struct FreezeWindowReport {
  // Every filesystem we froze was still frozen at our FITHAW: the point in time was fixed while
  // frozen. False when the guardian's bound passed first (watchdog-thawed).
  bool held = true;
  std::optional<std::chrono::microseconds> window;         // first FIFREEZE → last thaw
  std::map<std::string, std::chrono::microseconds> mounts;  // each filesystem we froze
  std::vector<std::string> already_frozen;                 // frozen by someone else; left alone
  std::optional<platform::GuardianTrigger> trigger;        // why the guardian thawed
  std::optional<std::string> error;  // the thaw failed and the guardian did not report
};

// What resolve_foreign_freeze did about one filesystem.
struct ForeignFreeze {
  enum class Action { LeftAlone, Thawed, ThawFailed };
  Action action = Action::LeftAlone;
  std::string reason;  // whose freeze it is and what was done: one line for the volume's report
};

// A filesystem FIFREEZE found frozen by someone else (found_frozen), or one that `ebsnap thaw
// GROUP` may find still frozen when the hold's guardian left no report (found_frozen false: the
// kernel cannot be asked without freezing it). When a freeze state file under run_dir says an
// ebsnap that is now dead froze it (it and its guardian were killed together, say by an OOM kill
// of the whole unit, or a holding guardian was killed), it is thawed: nobody else ever would.
// Any other freeze (another tool, DLM's script, an operator's fsfreeze, an ebsnap still running) is
// left alone.
[[nodiscard]] ForeignFreeze resolve_foreign_freeze(platform::FreezeOps& ops, const std::string& run_dir,
                                                   const std::string& mount_point, bool found_frozen = true);

// The volume's line in a run that found it frozen by someone else and so did not snapshot it.
[[nodiscard]] std::string not_snapshotted(const ForeignFreeze& resolved);

class FreezeWindow {
 public:
  // Starts the guardian and freezes. An error (its message one line for the report) means
  // nothing is frozen by us.
  [[nodiscard]] static platform::Result<FreezeWindow> open(GuardianLauncher& guardians, platform::FreezeOps& ops,
                                                           const ec2::Clock& clock, FreezeWindowOptions options);
  FreezeWindow(FreezeWindow&&) noexcept;
  FreezeWindow& operator=(FreezeWindow&&) = delete;
  FreezeWindow(const FreezeWindow&) = delete;
  FreezeWindow& operator=(const FreezeWindow&) = delete;
  // Closes the window when close() was never called: nothing stays frozen past our interest.
  ~FreezeWindow();

  // FITHAW, then the guardian's report. Call once, as soon as the point in time is fixed.
  [[nodiscard]] FreezeWindowReport close();

  // The guardian's bound passed already (a FIFREEZE slower than the bound, say) and it thawed:
  // whatever the caller was about to do inside the window would no longer be frozen.
  [[nodiscard]] bool expired();

  // freeze --hold: the guardian keeps everything frozen past our exit, until it is released
  // (platform::release_hold), its bound passes, or a signal. The window is then closed without a
  // thaw. On an error the window is closed as close() would (thawed), and the error says why.
  [[nodiscard]] platform::Result<HeldWindow> hold();

  // The filesystems FIFREEZE found frozen by someone else: not frozen by this window (the
  // guardian was told to leave them alone). Known once open() returned.
  [[nodiscard]] const std::vector<std::string>& already_frozen() const;

 private:
  struct State;
  explicit FreezeWindow(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace agent
