#include "agent/core/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "agent/config/file_checks.h"
#include "agent/core/log.h"
#include "platform/fd.h"

namespace agent {
namespace {

using Clock = std::chrono::steady_clock;

// A pidfd of `pid`, closed on destruction.
platform::Fd pidfd_of(pid_t pid) { return platform::Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))); }

// posix_spawn's C objects, destroyed on every path.
class SpawnSetup {
 public:
  SpawnSetup() {
    ::posix_spawn_file_actions_init(&actions_);
    ::posix_spawnattr_init(&attr_);
  }
  ~SpawnSetup() {
    ::posix_spawn_file_actions_destroy(&actions_);
    ::posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  posix_spawn_file_actions_t* actions() { return &actions_; }
  posix_spawnattr_t* attr() { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_{};
  posix_spawnattr_t attr_{};
};

// Waits for the child to exit until the deadline. Returns its wait status, or nothing on timeout;
// the errno of a failing waitpid (ECHILD: someone else reaped it, e.g. SIGCHLD was ignored) is
// an error, since a child whose end we did not see has not succeeded.
std::expected<std::optional<int>, int> wait_until(pid_t pid, Clock::time_point deadline) {
  const platform::Fd pidfd = pidfd_of(pid);
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return std::unexpected(errno);
    const auto now = Clock::now();
    if (now >= deadline) return std::nullopt;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    if (pidfd.get() >= 0) {
      pollfd p{.fd = pidfd.get(), .events = POLLIN, .revents = 0};
      const auto ms = std::min<std::int64_t>(left.count(), INT_MAX);
      (void)::poll(&p, 1, static_cast<int>(ms));
    } else {
      // Kernels without pidfd_open (< 5.3): poll waitpid.
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(10)));
    }
  }
}

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
  // Checked again here: the file may have changed since the configuration was validated.
  if (auto problem = hook_program_problem(command.front())) {
    error.message = "refused: expected " + *problem;
    return std::unexpected(error);
  }

  std::vector<char*> argv;
  for (const auto& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  auto env_strings = hook_environment(phase, context);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  SpawnSetup setup;
  ::posix_spawn_file_actions_addopen(setup.actions(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(setup.actions(), STDERR_FILENO, STDOUT_FILENO);
  // No descriptor of ours reaches a hook: a hook holding the thaw guardian's pipe would delay
  // the guardian noticing our death.
  ::posix_spawn_file_actions_addclosefrom_np(setup.actions(), STDERR_FILENO + 1);
  sigset_t empty;
  sigemptyset(&empty);
  ::posix_spawnattr_setsigmask(setup.attr(), &empty);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD}) {
    sigaddset(&defaults, sig);
  }
  ::posix_spawnattr_setsigdefault(setup.attr(), &defaults);
  ::posix_spawnattr_setpgroup(setup.attr(), 0);  // its own group: a timeout kills all of it
  ::posix_spawnattr_setflags(setup.attr(), static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                              POSIX_SPAWN_SETSIGDEF));

  const auto started = Clock::now();
  pid_t pid = 0;
  log_agent().info("hook phase={} program={} group={}", to_string(phase), command.front(), context.group);
  if (const int rc = ::posix_spawn(&pid, argv[0], setup.actions(), setup.attr(), argv.data(), envp.data());
      rc != 0) {
    error.message = std::string("cannot start: ") + std::strerror(rc);
    log_agent().error("hook phase={} program={} error=\"{}\"", to_string(phase), command.front(), error.message);
    return std::unexpected(error);
  }

  auto status = wait_until(pid, started + options.timeout);
  if (!status) {
    error.message = std::string("lost: waitpid: ") + std::strerror(status.error()) + "; counted as failed";
    log_agent().error("hook phase={} program={} error=\"{}\"", to_string(phase), command.front(), error.message);
    return std::unexpected(error);
  }
  if (!*status) {
    ::kill(-pid, SIGTERM);
    const auto after_term = wait_until(pid, Clock::now() + options.kill_grace);
    if (after_term && !*after_term) {
      ::kill(-pid, SIGKILL);
      int s = 0;
      while (::waitpid(pid, &s, 0) < 0 && errno == EINTR) {
      }
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
