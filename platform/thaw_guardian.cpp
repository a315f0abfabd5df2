#include "platform/thaw_guardian.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "ebsnap/try.h"
#include "platform/log.h"
#include "platform/run_dir.h"

// Why fork() and not a re-exec of /proc/self/exe: the guardian must exist before the first
// FIFREEZE and must not depend on anything on the filesystems it guards (an exec reads a binary
// and libraries, perhaps from a filesystem about to be frozen). So everything is prepared here,
// before fork() (descriptors, messages, the deadline, the report buffer), and the child runs a
// small loop that makes only async-signal-safe system calls (setsid, sigaction, signalfd,
// close_range, poll, read, send, ioctl, clock_gettime, write, unlink, _exit): after
// fork() in a process that may have other threads, malloc, locks and spdlog are off limits.
//
// It watches three things with one poll(): the socket to the agent (a "done" byte, or EOF when the
// agent dies for any reason, SIGKILL included, because the kernel closes a dead process's
// descriptors), a pidfd of the agent (the same news, even if a descendant kept a copy of the
// socket), and a signalfd for SIGTERM/SIGINT/SIGHUP (systemd stopping the unit kills the whole
// control group; the guardian takes that as "thaw now"). The poll timeout is the freeze bound.
// setsid() takes it out of the agent's process group, so a signal to that group (a terminal's
// ^C, a harness killing the agent's group) does not take the guardian down with the agent.

namespace platform {
namespace {

constexpr std::uint8_t k_done = 0xFF;  // any other byte b: "do not thaw mount point #b"
constexpr std::uint8_t k_hold = 0xFE;  // hand the freeze over (hold()); echoed back as the acknowledgement
constexpr char k_release = 'T';        // on the hold socket: thaw now and report here
constexpr std::size_t k_max_mounts = 250;
constexpr std::int32_t k_report_magic = 0x45425347;
constexpr std::size_t k_header = 4;  // magic, trigger, elapsed ms, count; then (outcome, errno) each

struct Plan {
  std::vector<int> mount_fds;
  std::vector<std::string> mount_points;
  std::vector<int> keep_fds;  // sorted; every other descriptor >= 3 is closed in the child
  std::vector<std::int32_t> report;
  std::vector<char> excluded;
  std::string state_file;
  std::string hold_socket;  // empty: no hold
  std::string hold_result;
  int listen_fd = -1;
  int channel = -1;
  int devnull = -1;
  pid_t agent = 0;
  timespec start{};
  timespec deadline{};
  sigset_t signals{};
};

// ---- child side: async-signal-safe only ----

struct Line {
  char buf[4608];
  std::size_t len = 0;
  void add(std::string_view s) {
    for (const char c : s) {
      if (len >= sizeof buf - 1) break;
      buf[len++] = c;
    }
  }
  void add_int(long long v) {
    char tmp[24];
    int n = 0;
    const bool negative = v < 0;
    unsigned long long u =
        negative ? 0ULL - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
    do {
      tmp[n++] = static_cast<char>('0' + static_cast<int>(u % 10));
      u /= 10;
    } while (u != 0 && n < 22);
    if (negative) tmp[n++] = '-';
    while (n > 0 && len < sizeof buf - 1) buf[len++] = tmp[--n];
  }
  void emit() {
    buf[len++] = '\n';
    const char* p = buf;
    std::size_t left = len;
    while (left > 0) {
      const ssize_t w = ::write(2, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      p += w;
      left -= static_cast<std::size_t>(w);
    }
    len = 0;
  }
};

long long ms_until(const timespec& later, const timespec& now) {
  return (static_cast<long long>(later.tv_sec) - now.tv_sec) * 1000 +
         (static_cast<long long>(later.tv_nsec) - now.tv_nsec) / 1'000'000;
}

const char* trigger_name(GuardianTrigger t) {
  switch (t) {
    case GuardianTrigger::Done:
      return "done";
    case GuardianTrigger::AgentDied:
      return "agent-died";
    case GuardianTrigger::Timeout:
      return "timeout";
    case GuardianTrigger::Signal:
      return "signal";
  }
  return "?";
}

void close_all_but(const std::vector<int>& keep_sorted) {
  unsigned first = 3;
  for (int fd : keep_sorted) {
    const auto k = static_cast<unsigned>(fd);
    if (k < first) continue;
    if (k > first) ::close_range(first, k - 1, 0);
    first = k + 1;
  }
  ::close_range(first, ~0U, 0);
}

// Returns once `child` is no longer in our process group (it called setsid(), or is gone), or
// after k_leave_group_bound.
void wait_until_out_of_group(pid_t child) {
  constexpr long k_step_ns = 50'000;
  constexpr long k_leave_group_bound_ns = 2'000'000'000;
  const pid_t ours = ::getpgrp();
  for (long waited = 0; ::getpgid(child) == ours; waited += k_step_ns) {
    if (waited >= k_leave_group_bound_ns) {
      log_freeze().warn("thaw guardian pid={} still in the agent's process group after {} ms", child,
                        k_leave_group_bound_ns / 1'000'000);
      return;
    }
    const timespec step{.tv_sec = 0, .tv_nsec = k_step_ns};
    ::nanosleep(&step, nullptr);
  }
}

[[noreturn]] void guardian_main(Plan& plan) noexcept {
  ::setsid();
  // The hold socket listens from the guardian: SO_PEERCRED then names the guardian (the process
  // that called listen), which is what `ebsnap thaw GROUP` checks against the hold record.
  if (plan.listen_fd >= 0) ::listen(plan.listen_fd, 4);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, nullptr);
  ::dup2(plan.devnull, 0);
  ::dup2(plan.devnull, 1);
  // Above all the agent's end of the socket: holding it would hide the agent's death from us.
  close_all_but(plan.keep_fds);
  const int sigfd = ::signalfd(-1, &plan.signals, SFD_CLOEXEC);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, plan.agent, 0));
  Line line;

  int trigger = -1;
  bool holding = false;  // hold(): the agent's death no longer thaws; the hold socket does
  int requester = -1;    // the connection of `ebsnap thaw GROUP`, which gets the report
  if (::getppid() != plan.agent) trigger = static_cast<int>(GuardianTrigger::AgentDied);
  while (trigger < 0) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    long long left = ms_until(plan.deadline, now);
    if (left <= 0) {
      trigger = static_cast<int>(GuardianTrigger::Timeout);
      break;
    }
    pollfd fds[4] = {{holding ? -1 : plan.channel, POLLIN, 0},
                     {holding ? -1 : pidfd, POLLIN, 0},
                     {sigfd, POLLIN, 0},
                     {holding ? plan.listen_fd : -1, POLLIN, 0}};
    const int n = ::poll(fds, 4, static_cast<int>(std::min(left + 1, 60'000LL)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      trigger = static_cast<int>(GuardianTrigger::Timeout);  // cannot watch any more: thaw now
      break;
    }
    if (n == 0) continue;
    if (fds[0].revents != 0) {
      std::uint8_t buf[256];
      const ssize_t got = ::read(plan.channel, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        trigger = static_cast<int>(GuardianTrigger::AgentDied);
        break;
      }
      for (ssize_t i = 0; i < got; ++i) {
        const std::uint8_t b = buf[i];
        if (b == k_done) {
          trigger = static_cast<int>(GuardianTrigger::Done);
        } else if (b == k_hold && plan.listen_fd >= 0) {
          holding = true;
          (void)::send(plan.channel, &k_hold, 1, MSG_NOSIGNAL);
          // Off the agent's stderr: whoever reads it to its end (SSM, a shell's $(...)) must not
          // wait for us. What we did goes to the hold socket or the result file instead.
          ::dup2(0, 2);  // /dev/null since the start
        } else if (b < plan.excluded.size()) {
          plan.excluded[b] = 1;
        }
      }
      if (trigger >= 0) break;
    }
    if (!holding && fds[1].revents != 0) {
      trigger = static_cast<int>(GuardianTrigger::AgentDied);
    } else if (fds[2].revents != 0) {
      trigger = static_cast<int>(GuardianTrigger::Signal);
    } else if (holding && fds[3].revents != 0) {
      const int c = ::accept4(plan.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ucred peer{};
      socklen_t peer_len = sizeof peer;
      char request = 0;
      pollfd wait_request{c, POLLIN, 0};
      // Only our own uid may end the hold (the run directory is 0700 already); one byte, soon.
      if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) == 0 && peer.uid == ::geteuid() &&
          ::poll(&wait_request, 1, 5'000) == 1 && ::read(c, &request, 1) == 1 && request == k_release) {
        requester = c;
        trigger = static_cast<int>(GuardianTrigger::Done);
      } else {
        ::close(c);
      }
    }
  }

  // Thaw in reverse order of the set, like the agent would.
  bool all_done = true;
  const std::size_t count = plan.mount_fds.size();
  for (std::size_t j = count; j-- > 0;) {
    ThawOutcome outcome = ThawOutcome::Thawed;
    int err = 0;
    if (plan.excluded[j] != 0) {
      outcome = ThawOutcome::Skipped;
    } else if (::ioctl(plan.mount_fds[j], FITHAW, 0) != 0) {
      err = errno;
      outcome = err == EINVAL ? ThawOutcome::NotFrozen : ThawOutcome::Failed;
      if (outcome == ThawOutcome::Failed) all_done = false;
    }
    plan.report[k_header + 2 * j] = static_cast<std::int32_t>(outcome);
    plan.report[k_header + 2 * j + 1] = err;
  }
  timespec end{};
  ::clock_gettime(CLOCK_MONOTONIC, &end);
  const long long elapsed = ms_until(end, plan.start);
  for (std::size_t j = count; j-- > 0;) {
    // The agent thawed and said so itself: a line per mount point would only bury its report on a
    // terminal. What the guardian did (or failed to do) on its own is always said.
    const auto outcome = static_cast<ThawOutcome>(plan.report[k_header + 2 * j]);
    if (trigger == static_cast<int>(GuardianTrigger::Done) && outcome != ThawOutcome::Thawed &&
        outcome != ThawOutcome::Failed) {
      continue;
    }
    line.add("[thaw-guardian] trigger=");
    line.add(trigger_name(static_cast<GuardianTrigger>(trigger)));
    line.add(" mount_point=");
    line.add(plan.mount_points[j].c_str());
    line.add(" result=");
    line.add(to_string(static_cast<ThawOutcome>(plan.report[k_header + 2 * j])));
    if (plan.report[k_header + 2 * j + 1] != 0 &&
        static_cast<ThawOutcome>(plan.report[k_header + 2 * j]) == ThawOutcome::Failed) {
      line.add(" errno=");
      line.add_int(plan.report[k_header + 2 * j + 1]);
    }
    line.add(" elapsed_ms=");
    line.add_int(elapsed);
    line.emit();
  }
  if (all_done) ::unlink(plan.state_file.c_str());

  plan.report[0] = k_report_magic;
  plan.report[1] = trigger;
  plan.report[2] = static_cast<std::int32_t>(std::min(elapsed, 0x7fffffffLL));
  plan.report[3] = static_cast<std::int32_t>(count);
  int report_fd = plan.channel;
  bool report_is_file = false;
  if (requester >= 0) {
    report_fd = requester;
  } else if (holding) {
    // Thawed unasked (the bound, a signal): `ebsnap thaw GROUP` finds the report here.
    report_fd = ::open(plan.hold_result.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    report_is_file = true;
  }
  if (holding) ::unlink(plan.hold_socket.c_str());
  const char* p = reinterpret_cast<const char*>(plan.report.data());
  std::size_t left = plan.report.size() * sizeof(std::int32_t);
  while (report_fd >= 0 && left > 0) {
    const ssize_t w = report_is_file ? ::write(report_fd, p, left) : ::send(report_fd, p, left, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;  // the agent is gone: nobody to report to
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  if (report_is_file && report_fd >= 0) ::close(report_fd);
  ::_exit(all_done ? 0 : 1);
}

Result<Fd> listen_hold_socket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return fail(ErrorKind::Refused, "hold socket path too long for a unix socket: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  Fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!fd) return fail_errno("hold socket", errno);
  // A dead guardian's socket (the caller checked that no guardian holds the group): replaced.
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return fail_errno("bind " + path, errno);
  }
  return fd;  // listen(2) is the guardian's: see guardian_main
}

// The guardian's report as sent: k_header values, then (outcome, errno) per mount point.
Result<GuardianReport> parse_report(const std::vector<std::int32_t>& buf, const std::vector<std::string>& mount_points) {
  if (buf.size() < k_header + 2 * mount_points.size() || buf[0] != k_report_magic ||
      buf[3] != static_cast<std::int32_t>(mount_points.size())) {
    return fail(ErrorKind::System, "thaw guardian report not recognised");
  }
  GuardianReport report;
  report.trigger = static_cast<GuardianTrigger>(buf[1]);
  report.elapsed = std::chrono::milliseconds(buf[2]);
  for (std::size_t i = 0; i < mount_points.size(); ++i) {
    report.mounts.push_back({.mount_point = mount_points[i],
                             .outcome = static_cast<ThawOutcome>(buf[k_header + 2 * i]),
                             .errno_value = buf[k_header + 2 * i + 1]});
  }
  return report;
}

}  // namespace

std::string_view to_string(GuardianTrigger trigger) {
  return trigger_name(trigger);
}

Result<ThawGuardian> ThawGuardian::start(const GuardianOptions& options) {
  using namespace std::chrono_literals;
  if (options.freeze_bound < 1s || options.freeze_bound > 120s) {
    return fail(ErrorKind::Refused,
                "freeze bound " + std::to_string(options.freeze_bound.count()) + " ms outside 1..120 s");
  }
  if (options.report_timeout <= 0ms)
    return fail(ErrorKind::Refused, "thaw guardian: report timeout must be positive");
  if (options.mount_points.empty() || options.mount_points.size() > k_max_mounts) {
    return fail(ErrorKind::Refused, "thaw guardian: between 1 and 250 mount points");
  }

  Plan plan;
  std::vector<Fd> mount_fds;
  for (const auto& mp : options.mount_points) {
    Fd fd{::open(mp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (!fd) return fail_errno("thaw guardian: open " + mp, errno);
    plan.mount_fds.push_back(fd.get());
    plan.keep_fds.push_back(fd.get());
    mount_fds.push_back(std::move(fd));
  }
  plan.mount_points = options.mount_points;
  plan.excluded.assign(options.mount_points.size(), 0);
  plan.report.assign(k_header + 2 * options.mount_points.size(), 0);

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return fail_errno("thaw guardian: socketpair", errno);
  }
  Fd ours{sv[0]};
  Fd theirs{sv[1]};
  plan.channel = theirs.get();
  plan.keep_fds.push_back(theirs.get());
  std::sort(plan.keep_fds.begin(), plan.keep_fds.end());
  Fd devnull{::open("/dev/null", O_RDWR | O_CLOEXEC)};
  if (!devnull) return fail_errno("open /dev/null", errno);
  plan.devnull = devnull.get();
  sigemptyset(&plan.signals);
  sigaddset(&plan.signals, SIGTERM);
  sigaddset(&plan.signals, SIGINT);
  sigaddset(&plan.signals, SIGHUP);
  // Other signals whose default action would end the guardian without a thaw: taken as SIGTERM.
  sigaddset(&plan.signals, SIGQUIT);
  sigaddset(&plan.signals, SIGUSR1);
  sigaddset(&plan.signals, SIGUSR2);
  sigaddset(&plan.signals, SIGALRM);
  plan.agent = ::getpid();

  EBSNAP_TRY_ASSIGN(plan.state_file, write_freeze_state(options.state_dir, options.mount_points));
  Fd listener;
  if (!options.hold_socket.empty()) {
    auto made = listen_hold_socket(options.hold_socket);
    if (!made) {
      ::unlink(plan.state_file.c_str());
      return std::unexpected(made.error());
    }
    listener = std::move(*made);
    ::unlink(options.hold_result.c_str());  // a previous hold's: this one's report goes there
    plan.listen_fd = listener.get();
    plan.keep_fds.push_back(listener.get());
    std::sort(plan.keep_fds.begin(), plan.keep_fds.end());
    plan.hold_socket = options.hold_socket;
    plan.hold_result = options.hold_result;
  }

  ::clock_gettime(CLOCK_MONOTONIC, &plan.start);
  const auto bound_ms = options.freeze_bound.count();
  plan.deadline = plan.start;
  plan.deadline.tv_sec += static_cast<time_t>(bound_ms / 1000);
  plan.deadline.tv_nsec += static_cast<long>((bound_ms % 1000) * 1'000'000);
  if (plan.deadline.tv_nsec >= 1'000'000'000L) {
    plan.deadline.tv_sec += 1;
    plan.deadline.tv_nsec -= 1'000'000'000L;
  }

  // The child is born with its signals blocked: one that came before it could block them itself
  // would end it without a thaw (a SIGTERM from finish(), or systemd's at any time).
  sigset_t agent_mask;
  ::pthread_sigmask(SIG_BLOCK, &plan.signals, &agent_mask);
  const pid_t pid = ::fork();
  if (pid == 0) guardian_main(plan);
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &agent_mask, nullptr);
  if (pid < 0) {
    ::unlink(plan.state_file.c_str());
    if (listener) ::unlink(options.hold_socket.c_str());
    return fail_errno("thaw guardian: fork", fork_errno);
  }

  // Until its setsid() the guardian is still in our process group, and a SIGKILL of the group
  // (a harness, `kill -9 -PGID`) would take it down with us: whatever we froze next would stay
  // frozen, and its state file would stay behind. So nothing is frozen before it is out: wait for
  // that here (microseconds; bounded should the child be stopped: then it is as it was before).
  wait_until_out_of_group(pid);

  ThawGuardian guardian;
  guardian.pid_ = pid;
  guardian.report_timeout_ = options.report_timeout;
  guardian.channel_ = std::move(ours);
  guardian.mount_points_ = options.mount_points;
  guardian.state_file_ = plan.state_file;
  guardian.hold_socket_ = options.hold_socket;
  log_freeze().info("thaw guardian started pid={} mount_points={} bound_ms={} state_file={}", pid,
                    options.mount_points.size(), bound_ms, plan.state_file);
  return guardian;
}

ThawGuardian::ThawGuardian(ThawGuardian&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      report_timeout_(other.report_timeout_),
      channel_(std::move(other.channel_)),
      mount_points_(std::move(other.mount_points_)),
      state_file_(std::move(other.state_file_)),
      hold_socket_(std::move(other.hold_socket_)),
      report_cache_(std::move(other.report_cache_)),
      finished_(std::exchange(other.finished_, true)) {}

ThawGuardian::~ThawGuardian() {
  if (pid_ > 0 && !finished_) {
    auto r = finish();
    if (!r) log_freeze().error("thaw guardian pid={}: {}", pid_, r.error().message);
  }
}

Result<void> ThawGuardian::exclude(const std::string& mount_point) {
  const auto it = std::find(mount_points_.begin(), mount_points_.end(), mount_point);
  if (it == mount_points_.end()) return fail(ErrorKind::NotFound, mount_point + " is not guarded");
  const auto index = static_cast<std::uint8_t>(it - mount_points_.begin());
  if (::send(channel_.get(), &index, 1, MSG_NOSIGNAL) != 1) {
    return fail_errno("thaw guardian: send exclude " + mount_point, errno);
  }
  return {};
}

Result<GuardianReport> ThawGuardian::read_report(bool block) {
  using Clock = std::chrono::steady_clock;
  const std::size_t want = (k_header + 2 * mount_points_.size()) * sizeof(std::int32_t);
  std::vector<std::int32_t> buf(want / sizeof(std::int32_t), 0);
  auto* p = reinterpret_cast<char*>(buf.data());
  std::size_t got = 0;
  auto deadline = Clock::now() + report_timeout_;
  bool terminated = false;
  int channel_errno = 0;  // the socket failed: what is left to do is reaping
  while (got < want) {
    int timeout_ms = 0;
    if (block || got > 0) {
      timeout_ms = static_cast<int>(std::max<long long>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
    }
    pollfd pfd{.fd = channel_.get(), .events = POLLIN, .revents = 0};
    const int n = ::poll(&pfd, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      channel_errno = errno;
      break;
    }
    if (n == 0) {
      if (!block && got == 0) return fail(ErrorKind::NotFound, "no report yet");
      if (terminated) break;
      // Thawing on SIGTERM, it reports as it would to "done".
      terminate("did not report");
      terminated = true;
      deadline = Clock::now() + report_timeout_;
      continue;
    }
    const ssize_t r = ::read(channel_.get(), p + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {  // ECONNRESET: it ended without reading our "done"
      channel_errno = r < 0 ? errno : 0;
      break;
    }
    got += static_cast<std::size_t>(r);
  }
  // Reap it either way: it exits right after reporting (or has died).
  int status = 0;
  bool exited = reap_until(deadline, status);
  if (!exited && !terminated) {
    terminate("did not exit");
    exited = reap_until(Clock::now() + report_timeout_, status);
  }
  finished_ = true;
  const std::string who = "thaw guardian pid=" + std::to_string(pid_);
  if (!exited) {
    // Stuck in the kernel, most likely in FITHAW. SIGKILL would not help there, and it is the one
    // process that may still thaw: leave it, and its freeze state file for `ebsnap thaw --all`.
    return fail(ErrorKind::Timeout,
                who + " did not exit after SIGTERM; left running (state file " + state_file_ + ")");
  }
  ::unlink(state_file_.c_str());
  if (got < want || buf[0] != k_report_magic) {
    std::string message = who + " ended without a report (status " + std::to_string(status) + ")";
    if (channel_errno != 0) message += ": " + std::string(std::strerror(channel_errno));
    return fail(ErrorKind::System, std::move(message), channel_errno);
  }
  EBSNAP_TRY_ASSIGN(auto report, parse_report(buf, mount_points_));
  log_freeze().info("thaw guardian pid={} trigger={} elapsed_ms={}", pid_, to_string(report.trigger),
                    report.elapsed.count());
  report_cache_ = report;
  return report;
}

void ThawGuardian::terminate(std::string_view why) {
  log_freeze().warn("thaw guardian pid={} {} within {} ms: SIGTERM", pid_, why, report_timeout_.count());
  // Our child, not yet reaped: the pid cannot name another process. SIGCONT: a stopped guardian
  // would not act on the SIGTERM.
  ::kill(pid_, SIGTERM);
  ::kill(pid_, SIGCONT);
}

bool ThawGuardian::reap_until(std::chrono::steady_clock::time_point deadline, int& status) {
  for (;;) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) return true;
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return true;  // ECHILD: reaped already (SIGCHLD ignored); nothing left to wait for
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    ::poll(nullptr, 0, static_cast<int>(std::min<long long>(left.count(), 10)));
  }
}

std::optional<GuardianReport> ThawGuardian::poll_report() {
  if (report_cache_) return report_cache_;
  if (finished_ || pid_ <= 0) return std::nullopt;
  auto r = read_report(false);
  if (!r) {
    if (r.error().kind != ErrorKind::NotFound) log_freeze().error("{}", r.error().message);
    return std::nullopt;
  }
  return *r;
}

Result<GuardianReport> ThawGuardian::finish() {
  if (report_cache_) return *report_cache_;
  if (finished_ || pid_ <= 0) return fail(ErrorKind::NotFound, "thaw guardian already finished");
  const std::uint8_t done = k_done;
  // EPIPE: it already thawed (bound passed) and left; its report is still in our socket buffer.
  if (::send(channel_.get(), &done, 1, MSG_NOSIGNAL) != 1 && errno != EPIPE && errno != ECONNRESET) {
    log_freeze().warn("thaw guardian pid={}: send done: {}", pid_, std::strerror(errno));
  }
  return read_report(true);
}

}  // namespace platform

namespace platform {

Result<int> ThawGuardian::hold() {
  if (hold_socket_.empty()) return fail(ErrorKind::Refused, "thaw guardian: started without a hold socket");
  if (finished_ || pid_ <= 0) return fail(ErrorKind::NotFound, "thaw guardian already finished");
  if (::send(channel_.get(), &k_hold, 1, MSG_NOSIGNAL) != 1) return fail_errno("thaw guardian: send hold", errno);
  pollfd pfd{.fd = channel_.get(), .events = POLLIN, .revents = 0};
  int n = 0;
  do {
    n = ::poll(&pfd, 1, static_cast<int>(report_timeout_.count()));
  } while (n < 0 && errno == EINTR);
  std::uint8_t ack = 0;
  if (n != 1 || ::read(channel_.get(), &ack, 1) != 1 || ack != k_hold) {
    // It thawed first (its bound passed: its report is what came), or it is stuck: finish()
    // collects whatever it says and reaps it; nothing is held.
    auto r = finish();
    return fail(ErrorKind::Timeout, "thaw guardian pid=" + std::to_string(pid_) + " did not take the hold" +
                                        (r ? " (it thawed already: " + std::string(to_string(r->trigger)) + ")" : ""));
  }
  // From here the guardian owns the freeze. Our freeze state file names it as the owner.
  if (auto w = write_freeze_state_owner(state_file_, pid_, mount_points_); !w) {
    log_freeze().warn("freeze state file={} owner pid={} error=\"{}\"", state_file_, pid_, w.error().describe());
  }
  channel_ = Fd{};
  finished_ = true;
  log_freeze().info("thaw guardian pid={} holds the freeze socket={}", pid_, hold_socket_);
  return pid_;
}

Result<GuardianReport> release_hold(const std::string& socket_path, int guardian_pid,
                                    const std::vector<std::string>& mount_points, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) return fail(ErrorKind::Refused, "hold socket path too long");
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  Fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!fd) return fail_errno("hold socket", errno);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ECONNREFUSED) {
      return fail(ErrorKind::NotFound, "no guardian listens on " + socket_path + " (" + std::strerror(e) + ")");
    }
    return fail_errno("connect " + socket_path, e);
  }
  ucred peer{};
  socklen_t peer_len = sizeof peer;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) != 0) {
    return fail_errno("hold socket SO_PEERCRED", errno);
  }
  if (peer.pid != guardian_pid || peer.uid != ::geteuid()) {
    return fail(ErrorKind::Refused, socket_path + " is held by pid " + std::to_string(peer.pid) + " uid " +
                                        std::to_string(peer.uid) + ", not the guardian pid " +
                                        std::to_string(guardian_pid) + ": not asked to thaw");
  }
  if (::send(fd.get(), &k_release, 1, MSG_NOSIGNAL) != 1) return fail_errno("hold socket: send", errno);
  std::vector<std::int32_t> buf(k_header + 2 * mount_points.size(), 0);
  auto* p = reinterpret_cast<char*>(buf.data());
  const std::size_t want = buf.size() * sizeof(std::int32_t);
  std::size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd pfd{.fd = fd.get(), .events = POLLIN, .revents = 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(0, left.count())));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ErrorKind::Timeout, "thaw guardian pid=" + std::to_string(guardian_pid) + " did not report");
    const ssize_t r = ::read(fd.get(), p + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return fail(ErrorKind::System, "thaw guardian pid=" + std::to_string(guardian_pid) + " ended without a report");
    got += static_cast<std::size_t>(r);
  }
  return parse_report(buf, mount_points);
}

Result<GuardianReport> read_hold_result(const std::string& path, const std::vector<std::string>& mount_points) {
  EBSNAP_TRY_ASSIGN(auto text, read_state_file(path));
  std::vector<std::int32_t> buf(k_header + 2 * mount_points.size(), 0);
  if (text.size() != buf.size() * sizeof(std::int32_t)) return fail(ErrorKind::System, path + ": not a guardian report");
  std::memcpy(buf.data(), text.data(), text.size());
  return parse_report(buf, mount_points);
}

}  // namespace platform
