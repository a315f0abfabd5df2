#include "platform/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "ebsnap/try.h"

namespace platform {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t k_max_output = 64 * 1024;

// The child's descriptors: 0-2 the standard ones, 3 the program, 4 (close-on-exec) the pipe that
// carries a failed exec's errno back; nothing above.
constexpr int k_program_fd = 3;
constexpr int k_report_fd = 4;
constexpr int k_first_other_fd = 5;

std::unexpected<Error> lost(int errno_value) {
  return fail(ErrorKind::System,
              std::string("lost: waitpid: ") + std::strerror(errno_value) + "; counted as failed",
              errno_value);
}

[[noreturn]] void report_and_exit(int report, int errno_value) {
  (void)!::write(report, &errno_value, sizeof errno_value);
  ::_exit(127);
}

// The child, between fork and exec. The parent may have other threads (holding malloc's lock,
// say), so only async-signal-safe system calls here, on data prepared before the fork.
// `input`: the read end of the stdin pipe, or -1 for /dev/null.
[[noreturn]] void exec_child(int program, int report, int input, char* const* argv, char* const* envp,
                             const SpawnOptions& options) {
  // Everything we keep goes above the numbers it will end on first, so no dup2 below
  // overwrites a descriptor still needed.
  const int rep = ::fcntl(report, F_DUPFD_CLOEXEC, k_first_other_fd);
  if (rep < 0) ::_exit(127);
  const int prog = ::fcntl(program, F_DUPFD_CLOEXEC, k_first_other_fd);
  const int out = ::fcntl(options.stdout_fd, F_DUPFD_CLOEXEC, k_first_other_fd);
  const int err = ::fcntl(options.stderr_fd, F_DUPFD_CLOEXEC, k_first_other_fd);
  if (prog < 0 || out < 0 || err < 0) report_and_exit(rep, errno);
  // Not close-on-exec: if it lands on 0 it stays there; anywhere else it is overwritten or closed.
  const int in = input >= 0 ? ::fcntl(input, F_DUPFD_CLOEXEC, k_first_other_fd) : ::open("/dev/null", O_RDONLY);
  if (in < 0) report_and_exit(rep, errno);
  // dup2 clears close-on-exec on the copy. The program stays open, not close-on-exec: the kernel
  // gives a `#!` script's interpreter /dev/fd/3 to read, and refuses (ENOENT) when that
  // descriptor would be gone by then.
  if (::dup2(in, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 || ::dup2(err, STDERR_FILENO) < 0 ||
      ::dup2(prog, k_program_fd) < 0 || ::dup3(rep, k_report_fd, O_CLOEXEC) < 0) {
    report_and_exit(rep, errno);
  }
  // No other descriptor of ours: a hook holding the thaw guardian's pipe would delay the
  // guardian noticing our death.
  if (::close_range(k_first_other_fd, ~0U, 0) != 0) report_and_exit(k_report_fd, errno);
  if (options.own_process_group && ::setpgid(0, 0) != 0) report_and_exit(k_report_fd, errno);
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  // EINVAL for SIGKILL, SIGSTOP and glibc's own signals: nothing to reset there.
  for (int sig = 1; sig < NSIG; ++sig) (void)::sigaction(sig, &fallback, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execveat(k_program_fd, "", argv, envp, AT_EMPTY_PATH);
  report_and_exit(k_report_fd, errno);
}

// write(2) that fails with EPIPE instead of raising SIGPIPE (a pipe is not a socket: no
// MSG_NOSIGNAL). SIGPIPE is blocked in this thread for the call, and the one the write raised is
// taken back before it is unblocked; one that was pending already is left alone.
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t pending;
  ::sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  sigset_t previous;
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
  const ssize_t written = ::write(fd, data, size);
  const int write_errno = errno;
  if (written < 0 && write_errno == EPIPE && !was_pending) {
    const timespec no_wait{};
    while (::sigtimedwait(&pipe_only, nullptr, &no_wait) < 0 && errno == EINTR) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  errno = write_errno;
  return written;
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  // mkfs.* live in /usr/sbin, which a non-login PATH may lack.
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find(':', start), path.size());
    const std::string dir = path.substr(start, end - start);
    if (!dir.empty()) {
      const std::string candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return {};
}

}  // namespace

Child::Child(pid_t pid, bool own_process_group, Fd stdin_pipe, std::string stdin_data)
    : pid_(pid),
      own_process_group_(own_process_group),
      pidfd_(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))),
      stdin_(std::move(stdin_pipe)),
      stdin_data_(std::move(stdin_data)) {}

Child::~Child() {
  if (pid_ <= 0 || waited_) return;
  signal(SIGKILL);
  (void)wait();
}

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      own_process_group_(other.own_process_group_),
      pidfd_(std::move(other.pidfd_)),
      waited_(other.waited_),
      stdin_(std::move(other.stdin_)),
      stdin_data_(std::move(other.stdin_data_)),
      stdin_written_(other.stdin_written_) {}

void Child::feed_stdin() {
  while (stdin_ && stdin_written_ < stdin_data_.size()) {
    const ssize_t n = write_without_sigpipe(stdin_.get(), stdin_data_.data() + stdin_written_,
                                            stdin_data_.size() - stdin_written_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;  // full: the child has not read yet
    if (n < 0) break;                      // EPIPE: it closed its stdin, or has ended
    stdin_written_ += static_cast<std::size_t>(n);
  }
  stdin_.reset();  // all written (its end of file), or nothing more will be
}

Result<std::optional<int>> Child::wait_until(Clock::time_point deadline) {
  for (;;) {
    feed_stdin();
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      waited_ = true;
      stdin_.reset();
      return status;
    }
    if (r < 0 && errno != EINTR) {
      waited_ = true;  // gone: nothing left to wait for or to kill
      return lost(errno);
    }
    const auto now = Clock::now();
    if (now >= deadline) return std::nullopt;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    // Woken by its end (pidfd) or by room in its stdin pipe; without a pidfd, waitpid is polled.
    std::array<pollfd, 2> p{};
    nfds_t n = 0;
    if (pidfd_) p[n++] = pollfd{.fd = pidfd_.get(), .events = POLLIN, .revents = 0};
    if (stdin_) p[n++] = pollfd{.fd = stdin_.get(), .events = POLLOUT, .revents = 0};
    if (!pidfd_) left = std::min(left, std::chrono::milliseconds(10));
    (void)::poll(p.data(), n, static_cast<int>(std::min<std::int64_t>(left.count(), INT_MAX)));
  }
}

Result<int> Child::wait() {
  stdin_.reset();
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) {
      waited_ = true;
      return lost(errno);
    }
  }
  waited_ = true;
  return status;
}

void Child::signal(int sig) const {
  // Once waited for, the pid may belong to someone else.
  if (pid_ <= 0 || waited_) return;
  ::kill(own_process_group_ ? -pid_ : pid_, sig);
}

Result<Child> spawn(const Fd& program, const std::vector<std::string>& argv,
                    const std::vector<std::string>& env, const SpawnOptions& options) {
  if (argv.empty()) return fail(ErrorKind::Refused, "spawn: empty argv");
  if (!program) return fail(ErrorKind::Refused, "spawn " + argv[0] + ": no program descriptor");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail_errno("pipe", errno);
  Fd report_read{pipe_fds[0]};
  Fd report_write{pipe_fds[1]};
  Fd stdin_read;
  Fd stdin_write;
  if (options.stdin_data) {
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail_errno("pipe", errno);
    stdin_read.reset(pipe_fds[0]);
    stdin_write.reset(pipe_fds[1]);
    // Written between waits (Child::wait_until): a child that never reads must not block us.
    if (::fcntl(stdin_write.get(), F_SETFL, O_NONBLOCK) != 0) return fail_errno("fcntl O_NONBLOCK", errno);
  }

  // No signal handler of ours may run in the child before it resets them all.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(program.get(), report_write.get(), stdin_read.get(), args.data(), envp.data(), options);
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) return fail_errno("fork", fork_errno);

  stdin_read.reset();
  Result<Child> child(std::in_place, pid, options.own_process_group, std::move(stdin_write),
                      std::string(options.stdin_data.value_or(std::string_view{})));
  // Both sides set the group, so it exists whichever runs first (EACCES once it has exec'd).
  if (options.own_process_group) (void)::setpgid(pid, pid);
  report_write.reset();
  int exec_errno = 0;
  ssize_t got = 0;
  do {
    got = ::read(report_read.get(), &exec_errno, sizeof exec_errno);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof exec_errno)) {
    (void)child->wait();
    return fail_errno("exec " + argv[0], exec_errno);
  }
  return child;
}

Result<CommandResult> run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  if (argv.empty()) return fail(ErrorKind::Refused, "run_command: empty argv");
  const std::string path = find_program(argv[0]);
  if (path.empty()) return fail(ErrorKind::Unsupported, argv[0] + ": not found in PATH");
  const Fd program(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!program) return fail_errno("open " + path, errno);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail_errno("pipe", errno);
  Fd read_end{pipe_fds[0]};
  Fd write_end{pipe_fds[1]};
  // A clean environment: nothing of ours (AWS_* credentials, tokens) reaches the helper.
  EBSNAP_TRY_ASSIGN(
      auto child,
      spawn(program, argv, {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"},
            SpawnOptions{.stdout_fd = write_end.get(), .stderr_fd = write_end.get()}));
  write_end.reset();

  CommandResult result;
  const auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{.fd = read_end.get(), .events = POLLIN, .revents = 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 60'000)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[4096];
    const ssize_t got = ::read(read_end.get(), buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (result.output.size() < k_max_output) result.output.append(buf, static_cast<std::size_t>(got));
  }
  if (timed_out) child.signal(SIGKILL);
  auto status = child.wait();
  if (!status)
    return fail(status.error().kind, argv[0] + ": " + status.error().message, status.error().errno_value);
  if (timed_out) {
    return fail(ErrorKind::Timeout,
                argv[0] + " did not finish within " + std::to_string(timeout.count()) + " ms; killed");
  }
  if (WIFEXITED(*status)) {
    result.exit_code = WEXITSTATUS(*status);
  } else if (WIFSIGNALED(*status)) {
    result.signal = WTERMSIG(*status);
  }
  return result;
}

}  // namespace platform
