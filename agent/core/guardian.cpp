#include "agent/core/guardian.h"

namespace agent {
namespace {

class ProcessGuard final : public FreezeGuard {
 public:
  explicit ProcessGuard(platform::ThawGuardian guardian) : guardian_(std::move(guardian)) {}
  platform::Result<void> exclude(const std::string& mount_point) override { return guardian_.exclude(mount_point); }
  std::optional<platform::GuardianReport> poll_report() override { return guardian_.poll_report(); }
  platform::Result<platform::GuardianReport> finish() override { return guardian_.finish(); }

 private:
  // Its destructor finishes it when we never did: the guardian never outlives our interest.
  platform::ThawGuardian guardian_;
};

}  // namespace

platform::Result<std::unique_ptr<FreezeGuard>> ProcessGuardianLauncher::start(const platform::GuardianOptions& options) {
  auto guardian = platform::ThawGuardian::start(options);
  if (!guardian) return std::unexpected(guardian.error());
  return std::make_unique<ProcessGuard>(std::move(*guardian));
}

GuardianLauncher& process_guardian_launcher() {
  static ProcessGuardianLauncher launcher;
  return launcher;
}

}  // namespace agent
