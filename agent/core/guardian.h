#pragma once
// The seam to the thaw guardian (platform::ThawGuardian), so that the snapshot orchestration's
// ordering (guardian started before the first FIFREEZE, finished after the thaw) and its
// watchdog paths are unit-tested without forking a process that issues real FITHAW ioctls.
#include <memory>
#include <optional>
#include <string>

#include "platform/error.h"
#include "platform/thaw_guardian.h"

namespace agent {

// A running guardian: what the agent may tell it and ask it.
class FreezeGuard {
 public:
  virtual ~FreezeGuard() = default;
  // The mount point was frozen by someone else (FIFREEZE said EBUSY): the guardian must not thaw it.
  [[nodiscard]] virtual platform::Result<void> exclude(const std::string& mount_point) = 0;
  // The report when the guardian already thawed on its own (bound passed), without blocking.
  [[nodiscard]] virtual std::optional<platform::GuardianReport> poll_report() = 0;
  // "Done": it thaws whatever is still frozen, reports and exits.
  [[nodiscard]] virtual platform::Result<platform::GuardianReport> finish() = 0;
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

// The process-wide real launcher (what Services uses when no launcher is injected).
[[nodiscard]] GuardianLauncher& process_guardian_launcher();

}  // namespace agent
