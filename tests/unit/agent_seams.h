#pragma once
// Test doubles of the agent's own seams (Services::hooks, Services::guardians), shared by the
// command fixtures, so that the hook protocol is unit-tested without spawning programs (and
// without root).
#include <expected>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/freeze_window.h"
#include "agent/core/hook_phases.h"

namespace agent::testing {

// Records every hook phase the command runs, and fails the ones `fail` says.
class RecordingHookRunner final : public HookRunner {
 public:
  struct Call {
    HookPhase phase;
    HookContext context;
    std::vector<HookCommand> commands;  // the configured hooks of the phase (none: nothing would run)
  };

  std::expected<void, HookError> run(const Hooks& hooks, HookPhase phase, const HookContext& context,
                                     const HookRunOptions&) override {
    {
      std::lock_guard lock(mutex_);
      calls_.push_back({phase, context, hooks.of(phase)});
    }
    if (on_call) on_call("hook " + std::string(to_string(phase)) + (context.mount_point ? " " + *context.mount_point : ""));
    if (fail) {
      if (auto message = fail(phase, context)) {
        return std::unexpected(HookError{.phase = phase, .program = "/etc/ebsnap/hooks/x", .message = *message});
      }
    }
    return {};
  }

  [[nodiscard]] std::vector<Call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  // The calls of `phase`, in order.
  [[nodiscard]] std::vector<Call> calls_of(HookPhase phase) const {
    std::vector<Call> out;
    for (const auto& c : calls()) {
      if (c.phase == phase) out.push_back(c);
    }
    return out;
  }
  // How many times `phase` ran for `mount_point` ("" for the group's), with status `ok` when given.
  [[nodiscard]] int count(HookPhase phase, const std::string& mount_point = "", std::optional<bool> ok = {}) const {
    int n = 0;
    for (const auto& c : calls()) {
      if (c.phase == phase && c.context.mount_point.value_or("") == mount_point && (!ok || c.context.ok == ok)) ++n;
    }
    return n;
  }

  // The error message of a hook that fails, or nullopt when it succeeds.
  std::function<std::optional<std::string>(HookPhase, const HookContext&)> fail;
  // Told "hook <phase>[ <mount point>]" for each call (an event log's add).
  std::function<void(std::string)> on_call;

 private:
  mutable std::mutex mutex_;
  std::vector<Call> calls_;
};

// For commands that never freeze (mount, unmount, list): any use is a test's mistake, and fails.
class NoGuardians final : public GuardianLauncher {
 public:
  platform::Result<std::unique_ptr<FreezeGuard>> start(const platform::GuardianOptions&) override {
    return platform::fail(platform::ErrorKind::System, "no thaw guardian in this test");
  }
};

}  // namespace agent::testing
