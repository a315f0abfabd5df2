#include "agent/core/hooks.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "agent/config/file_checks.h"
#include "agent/core/log.h"
#include "platform/spawn.h"

namespace agent {
namespace {

using Clock = std::chrono::steady_clock;

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "ended with wait status " + std::to_string(status);
}

}  // namespace

std::string HookError::describe() const {
  return "hook " + std::string(to_string(phase)) + " " + program + ": " + message;
}

std::vector<std::string> hook_environment(HookPhase phase, const HookContext& context) {
  std::vector<std::string> env;
  env.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (const char* name : {"LANG", "LC_ALL", "TZ"}) {
    if (const char* value = std::getenv(name)) env.push_back(std::string(name) + "=" + value);
  }
  env.push_back("EBSNAP_PHASE=" + std::string(to_string(phase)));
  env.push_back("EBSNAP_GROUP=" + context.group);
  const auto add = [&env](const char* name, const std::optional<std::string>& value) {
    if (value) env.push_back(std::string(name) + "=" + *value);
  };
  add("EBSNAP_MOUNT_POINT", context.mount_point);
  add("EBSNAP_DEVICE", context.device);
  add("EBSNAP_VOLUME_ID", context.volume_id);
  add("EBSNAP_SNAPSHOT_ID", context.snapshot_id);
  if (context.ok) env.push_back(std::string("EBSNAP_STATUS=") + (*context.ok ? "ok" : "failed"));
  add("EBSNAP_ERROR", context.error);
  return env;
}

std::expected<void, HookError> run_hook(const HookCommand& command, HookPhase phase,
                                        const HookContext& context, const HookRunOptions& options) {
  HookError error{.phase = phase, .program = command.empty() ? std::string() : command.front()};
  if (command.empty()) {
    error.message = "empty command";
    return std::unexpected(error);
  }
  // Checked again here: the file may have changed since the configuration was validated. What
  // runs is the descriptor checked, not the path looked up again.
  auto program = open_hook_program(command.front());
  if (!program) {
    error.message = "refused: expected " + program.error();
    return std::unexpected(error);
  }

  const auto started = Clock::now();
  log_agent().info("hook phase={} program={} group={}", to_string(phase), command.front(), context.group);
  // Its own process group, so that a timeout kills all of it; stdout on our stderr (stdout stays
  // clean for --json).
  auto child =
      platform::spawn(*program, command, hook_environment(phase, context),
                      platform::SpawnOptions{.stdout_fd = STDERR_FILENO,
                                             .stderr_fd = STDERR_FILENO,
                                             .own_process_group = true,
                                             .stdin_data = context.report_json});
  if (!child) {
    error.message = "cannot start: " + child.error().message;
    log_agent().error("hook phase={} program={} error=\"{}\"", to_string(phase), command.front(), error.message);
    return std::unexpected(error);
  }

  auto status = child->wait_until(started + options.timeout);
  if (!status) {
    error.message = status.error().message;
    log_agent().error("hook phase={} program={} error=\"{}\"", to_string(phase), command.front(), error.message);
    return std::unexpected(error);
  }
  if (!*status) {
    child->signal(SIGTERM);
    const auto after_term = child->wait_until(Clock::now() + options.kill_grace);
    if (after_term && !*after_term) {
      child->signal(SIGKILL);
      (void)child->wait();
    }
    error.message = "timed out after " + std::to_string(options.timeout.count()) + " ms; killed";
    log_agent().error("hook phase={} program={} error=\"{}\"", to_string(phase), command.front(), error.message);
    return std::unexpected(error);
  }
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  if (WIFEXITED(**status) && WEXITSTATUS(**status) == 0) {
    log_agent().debug("hook phase={} program={} ok duration_ms={}", to_string(phase), command.front(), elapsed_ms);
    return {};
  }
  error.message = describe_status(**status);
  log_agent().error("hook phase={} program={} error=\"{}\" duration_ms={}", to_string(phase), command.front(),
                    error.message, elapsed_ms);
  return std::unexpected(error);
}

std::expected<void, HookError> run_hooks(const Hooks& hooks, HookPhase phase, const HookContext& context,
                                         const HookRunOptions& options) {
  std::optional<HookError> first_failure;
  for (const auto& command : hooks.of(phase)) {
    auto result = run_hook(command, phase, context, options);
    if (result) continue;
    if (is_pre_phase(phase)) return result;
    if (!first_failure) first_failure = std::move(result).error();
  }
  if (first_failure) return std::unexpected(std::move(*first_failure));
  return {};
}

}  // namespace agent
