// The thaw guardian against real freezes: the freezing process SIGKILLed (once, and 25 times at
// random points of the freeze sequence), its process group killed, an agent hanging past the
// bound, SIGTERM to the guardian (systemd stopping the unit), and `thaw --all` when even the
// guardian was killed. Thaw times are printed, never asserted.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "platform/freeze.h"
#include "platform/thaw_guardian.h"
#include "tests/e2e/platform_e2e.h"

using namespace std::chrono_literals;
using platform::GuardianTrigger;
using platform::ThawOutcome;
using Clock = std::chrono::steady_clock;

namespace platform_e2e {
namespace {

constexpr std::int32_t k_frozen = -1;
constexpr std::int32_t k_thawed = -2;

long long ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

struct AgentOptions {
  std::vector<std::string> mount_points;
  std::string state_dir;
  std::chrono::milliseconds bound{60s};
  bool loop = false;       // freeze, thaw, finish, again, until killed
  bool own_group = false;  // setpgid(0, 0): a process group of its own, to be killed as a group
};

// The agent's freeze sequence in a forked child. Reports over `fd`: the pid of each guardian it
// starts (before freezing), k_frozen once frozen, k_thawed after each complete round.
[[noreturn]] void agent_main(const AgentOptions& options, int fd) {
  if (options.own_group) ::setpgid(0, 0);
  auto report = [fd](std::int32_t v) {
    if (::write(fd, &v, sizeof v) != sizeof v) ::_exit(9);
  };
  platform::KernelFreezeOps ops;
  for (;;) {
    auto guardian = platform::ThawGuardian::start({.mount_points = options.mount_points,
                                                   .freeze_bound = options.bound,
                                                   .state_dir = options.state_dir});
    if (!guardian) ::_exit(2);
    report(guardian->pid());
    auto set = platform::FreezeSet::freeze(ops, options.mount_points, {.runtime_dir = options.state_dir});
    if (!set) ::_exit(3);
    report(k_frozen);
    if (!options.loop) {
      for (;;) ::pause();
    }
    if (!set->thaw()) ::_exit(4);
    if (!guardian->finish()) ::_exit(5);
    report(k_thawed);
  }
}

class Agent {
 public:
  explicit Agent(const AgentOptions& options) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      agent_main(options, fds[1]);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~Agent() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(fd_);
  }
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }

  // The next record, or nullopt at EOF / after `timeout`.
  std::optional<std::int32_t> next(std::chrono::milliseconds timeout) {
    pollfd pfd{.fd = fd_, .events = POLLIN, .revents = 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    std::int32_t v = 0;
    if (::read(fd_, &v, sizeof v) != sizeof v) return std::nullopt;
    records_.push_back(v);
    if (v > 0) last_guardian_ = v;
    return v;
  }
  // Waits until it reports frozen; returns the guardian's pid.
  pid_t wait_frozen() {
    while (auto v = next(30s)) {
      if (*v == k_frozen) return last_guardian_;
    }
    throw std::runtime_error("the agent did not freeze");
  }
  void kill_now(int sig = SIGKILL, bool group = false) {
    ::kill(group ? -pid_ : pid_, sig);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    while (next(5s)) {
    }
  }
  [[nodiscard]] pid_t last_guardian() const { return last_guardian_; }
  [[nodiscard]] const std::vector<std::int32_t>& records() const { return records_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  pid_t last_guardian_ = 0;
  std::vector<std::int32_t> records_;
};

// Waits for a (re-parented) guardian to exit; returns its wait status, or -1 if it was gone.
int wait_guardian_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return -1;
  pollfd pfd{.fd = pidfd, .events = POLLIN, .revents = 0};
  const int n = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
  ::close(pidfd);
  if (n != 1) return -2;  // still running
  int status = -1;
  // We are a child subreaper: the orphaned guardian is ours to reap now.
  if (::waitpid(pid, &status, 0) != pid) status = -1;
  return status;
}

// A write in a separate process: it completes on a thawed filesystem and blocks on a frozen one.
class PendingWrite {
 public:
  explicit PendingWrite(std::string mount_point) : mount_point_(std::move(mount_point)) {
    const std::string file = mount_point_ + "/probe-" + random_hex(8);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
      ::_exit(fd >= 0 && ::write(fd, "x", 1) == 1 ? 0 : 1);
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  }
  ~PendingWrite() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)platform::thaw(mount_point_);  // a writer stuck on a frozen filesystem cannot die
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(pidfd_);
  }
  PendingWrite(const PendingWrite&) = delete;
  PendingWrite& operator=(const PendingWrite&) = delete;

  bool completed_within(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return ok_;
    pollfd pfd{.fd = pidfd_, .events = POLLIN, .revents = 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) return false;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    ok_ = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return ok_;
  }

 private:
  std::string mount_point_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  bool ok_ = false;
};

bool write_completes(const std::string& mount_point, std::chrono::milliseconds timeout) {
  PendingWrite write(mount_point);
  return write.completed_within(timeout);
}

class PlatformThawGuardian : public PlatformE2e {
 protected:
  void SetUp() override {
    PlatformE2e::SetUp();
    mps_ = {mounted_filesystem("ext4"), mounted_filesystem("xfs")};
    state_dir_ = (dir() / "run").string();
  }
  // Every mount point is thawed: FITHAW from here says EINVAL (if it did thaw something, that
  // something had been left frozen: reported as a failure, and now undone).
  void expect_all_thawed(const std::string& context) {
    for (const auto& mp : mps_) {
      auto r = platform::thaw(mp);
      ASSERT_TRUE(r.has_value()) << r.error().describe();
      EXPECT_EQ(*r, ThawOutcome::NotFrozen) << mp << " was left frozen (" << context << ")";
    }
  }
  std::vector<std::string> mps_;
  std::string state_dir_;
};

}  // namespace

TEST_F(PlatformThawGuardian, SigkillOfTheFreezingProcessThawsEverything) {
  Agent agent({.mount_points = mps_, .state_dir = state_dir_});
  const pid_t guardian = agent.wait_frozen();
  ASSERT_GT(guardian, 0);
  EXPECT_FALSE(write_completes(mps_[1], 300ms)) << "not frozen before the kill";
  const auto killed = Clock::now();
  agent.kill_now(SIGKILL);
  const int status = wait_guardian_exit(guardian, 20s);
  const auto exited = Clock::now();
  ASSERT_NE(status, -2) << "the guardian is still running 20 s after the agent's death";
  std::printf("SIGKILL of the agent -> guardian thawed %zu filesystems and exited after %lld ms\n",
              mps_.size(), ms_between(killed, exited));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  expect_all_thawed("after SIGKILL");
  for (const auto& mp : mps_) EXPECT_TRUE(write_completes(mp, 10s)) << mp;
  EXPECT_TRUE(platform::read_freeze_states(state_dir_).value().empty()) << "state file left behind";
}

TEST_F(PlatformThawGuardian, SurvivesAKillOfTheAgentsProcessGroup) {
  Agent agent({.mount_points = mps_, .state_dir = state_dir_, .own_group = true});
  const pid_t guardian = agent.wait_frozen();
  const auto killed = Clock::now();
  agent.kill_now(SIGKILL, /*group=*/true);
  const int status = wait_guardian_exit(guardian, 20s);
  std::printf("SIGKILL of the agent's process group -> thawed after %lld ms\n",
              ms_between(killed, Clock::now()));
  ASSERT_NE(status, -2);
  // Exited by itself (after thawing), not killed along with the group.
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "guardian status " << status;
  expect_all_thawed("after a process-group kill");
}

// Issue 16's kill matrix: a SIGKILL of the agent's process group the moment ThawGuardian::start
// returned (before the first FIFREEZE, or during it) took the guardian down too when it had not
// yet left the group (its setsid() runs in the child, after fork): its state file stayed behind,
// and a filesystem frozen next would have stayed frozen. start() now returns once it is out.
TEST_F(PlatformThawGuardian, SurvivesAKillOfTheAgentsProcessGroupTheMomentItStarted) {
  constexpr int k_kills = 20;
  for (int i = 0; i < k_kills; ++i) {
    SCOPED_TRACE("kill " + std::to_string(i + 1));
    Agent agent({.mount_points = mps_, .state_dir = state_dir_, .own_group = true});
    const auto guardian = agent.next(30s);
    ASSERT_TRUE(guardian && *guardian > 0) << "the agent did not start its guardian";
    agent.kill_now(SIGKILL, /*group=*/true);
    const int status = wait_guardian_exit(*guardian, 20s);
    ASSERT_NE(status, -2) << "the guardian is still running 20 s after the kill";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "killed with the group: status " << status;
    expect_all_thawed("after a process-group kill at start");
    EXPECT_TRUE(platform::read_freeze_states(state_dir_).value().empty()) << "state file left behind";
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }
}

TEST_F(PlatformThawGuardian, AgentHangingPastTheBoundIsThawedAndReported) {
  auto guardian =
      platform::ThawGuardian::start({.mount_points = mps_, .freeze_bound = 1s, .state_dir = state_dir_});
  ASSERT_TRUE(guardian.has_value()) << guardian.error().describe();
  platform::KernelFreezeOps ops;
  auto set = platform::FreezeSet::freeze(ops, mps_, {.runtime_dir = state_dir_});
  ASSERT_TRUE(set.has_value()) << set.error().describe();
  const auto frozen = Clock::now();
  // The agent "hangs" (e.g. CreateSnapshots never answers) and only looks now and then.
  std::optional<platform::GuardianReport> report;
  for (int i = 0; i < 200 && !report; ++i) {
    std::this_thread::sleep_for(50ms);
    report = guardian->poll_report();
  }
  ASSERT_TRUE(report.has_value()) << "no report 10 s after a 1 s bound";
  std::printf("bound 1000 ms: guardian thawed %lld ms after the freeze (%lld ms after its start)\n",
              ms_between(frozen, Clock::now()), static_cast<long long>(report->elapsed.count()));
  EXPECT_EQ(report->trigger, GuardianTrigger::Timeout);
  for (const auto& m : report->mounts) EXPECT_EQ(m.outcome, ThawOutcome::Thawed) << m.mount_point;
  for (const auto& mp : mps_) EXPECT_TRUE(write_completes(mp, 10s)) << mp;
  // The agent's own thaw then finds them thawed already.
  ASSERT_TRUE(set->thaw().has_value());
  for (const auto& e : set->entries()) EXPECT_EQ(e.state, platform::FreezeState::NotFrozen);
  EXPECT_EQ(guardian->finish().value().trigger, GuardianTrigger::Timeout);
}

TEST_F(PlatformThawGuardian, SigtermThawsLikeSystemdStoppingTheUnit) {
  auto guardian = platform::ThawGuardian::start({.mount_points = mps_, .state_dir = state_dir_});
  ASSERT_TRUE(guardian.has_value());
  platform::KernelFreezeOps ops;
  auto set = platform::FreezeSet::freeze(ops, mps_, {.runtime_dir = state_dir_});
  ASSERT_TRUE(set.has_value());
  ASSERT_EQ(::kill(guardian->pid(), SIGTERM), 0);
  std::optional<platform::GuardianReport> report;
  for (int i = 0; i < 200 && !report; ++i) {
    std::this_thread::sleep_for(20ms);
    report = guardian->poll_report();
  }
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->trigger, GuardianTrigger::Signal);
  for (const auto& m : report->mounts) EXPECT_EQ(m.outcome, ThawOutcome::Thawed) << m.mount_point;
  expect_all_thawed("after SIGTERM");
}

TEST_F(PlatformThawGuardian, DoneWhileStillFrozenThawsAndReports) {
  auto guardian = platform::ThawGuardian::start({.mount_points = mps_, .state_dir = state_dir_});
  ASSERT_TRUE(guardian.has_value());
  const std::string state_file = guardian->state_file();
  ASSERT_EQ(platform::read_freeze_states(state_dir_).value().size(), 1U);
  platform::KernelFreezeOps ops;
  auto set = platform::FreezeSet::freeze(ops, mps_, {.runtime_dir = state_dir_});
  ASSERT_TRUE(set.has_value());
  auto report = guardian->finish();
  ASSERT_TRUE(report.has_value()) << report.error().describe();
  EXPECT_EQ(report->trigger, GuardianTrigger::Done);
  ASSERT_EQ(report->mounts.size(), 2U);
  for (const auto& m : report->mounts) EXPECT_EQ(m.outcome, ThawOutcome::Thawed) << m.mount_point;
  expect_all_thawed("after done");
  EXPECT_FALSE(std::filesystem::exists(state_file));
}

// The guardian's stderr, which it inherits at the fork: the journal under systemd, a person's
// terminal otherwise.
class CapturedStderr {
 public:
  explicit CapturedStderr(const std::filesystem::path& file) : file_(file) {
    const int fd = ::open(file.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
    saved_ = ::dup(2);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~CapturedStderr() { restore(); }
  CapturedStderr(const CapturedStderr&) = delete;
  CapturedStderr& operator=(const CapturedStderr&) = delete;
  std::string text() {
    restore();
    std::ifstream in(file_);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::filesystem::path file_;
  int saved_ = -1;
};

// A terminal run of snapshot showed a guardian line per mount point ("trigger=done
// result=not-frozen") after every normal window: the agent had thawed, and says so in its report.
TEST_F(PlatformThawGuardian, SaysNothingWhenTheAgentThawedAndALineForEachFilesystemItThawed) {
  platform::KernelFreezeOps ops;
  {
    CapturedStderr err(dir() / "quiet.err");
    auto guardian = platform::ThawGuardian::start({.mount_points = mps_, .state_dir = state_dir_});
    ASSERT_TRUE(guardian.has_value());
    auto set = platform::FreezeSet::freeze(ops, mps_, {.runtime_dir = state_dir_});
    ASSERT_TRUE(set.has_value());
    ASSERT_TRUE(set->thaw().has_value());
    auto report = guardian->finish();
    ASSERT_TRUE(report.has_value()) << report.error().describe();
    for (const auto& m : report->mounts) EXPECT_EQ(m.outcome, ThawOutcome::NotFrozen) << m.mount_point;
    const auto text = err.text();  // this process logs to stderr too: only the guardian's lines count
    EXPECT_EQ(text.find("[thaw-guardian]"), std::string::npos) << text;
  }
  CapturedStderr err(dir() / "thawed.err");
  auto guardian = platform::ThawGuardian::start({.mount_points = mps_, .state_dir = state_dir_});
  ASSERT_TRUE(guardian.has_value());
  auto set = platform::FreezeSet::freeze(ops, mps_, {.runtime_dir = state_dir_});
  ASSERT_TRUE(set.has_value());
  ASSERT_TRUE(guardian->finish().has_value());
  const auto text = err.text();
  for (const auto& mp : mps_) {
    EXPECT_NE(text.find("[thaw-guardian] trigger=done mount_point=" + mp + " result=thawed"), std::string::npos)
        << text;
  }
  expect_all_thawed("after done");
}

TEST_F(PlatformThawGuardian, ThawAllUndoesWhatADeadAgentAndADeadGuardianLeft) {
  Agent agent({.mount_points = mps_, .state_dir = state_dir_});
  const pid_t guardian = agent.wait_frozen();
  ASSERT_EQ(::kill(guardian, SIGKILL), 0);  // the guardian first: nobody is left to thaw
  ASSERT_NE(wait_guardian_exit(guardian, 10s), -2);
  agent.kill_now(SIGKILL);
  PendingWrite blocked(mps_[0]);
  EXPECT_FALSE(blocked.completed_within(300ms)) << "expected still frozen";
  auto reports = platform::thaw_all(state_dir_);
  ASSERT_TRUE(reports.has_value()) << reports.error().describe();
  ASSERT_EQ(reports->size(), 2U);
  for (const auto& r : *reports) EXPECT_EQ(r.outcome, ThawOutcome::Thawed) << r.mount_point;
  EXPECT_TRUE(blocked.completed_within(10s)) << "the blocked writer did not resume";
  EXPECT_EQ((*reports)[0].mount_point, mps_[1]);  // reverse order
  expect_all_thawed("after thaw --all");
  EXPECT_TRUE(platform::read_freeze_states(state_dir_).value().empty());
}

TEST_F(PlatformThawGuardian, KillsAtRandomPointsOfTheFreezeSequenceNeverLeaveAFilesystemFrozen) {
  constexpr int k_kills = 25;
  std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> delay_ms(0, 400);
  int left_frozen = 0;
  std::printf("%4s %8s %-22s %10s %14s\n", "kill", "delay_ms", "phase at kill", "rounds", "thaw_after_ms");
  for (int i = 0; i < k_kills; ++i) {
    Agent agent({.mount_points = mps_, .state_dir = state_dir_, .loop = true});
    const int delay = delay_ms(rng);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    const auto killed = Clock::now();
    agent.kill_now(SIGKILL);
    const auto& records = agent.records();
    const char* phase = records.empty()              ? "before any guardian"
                        : records.back() == k_frozen ? "frozen"
                        : records.back() == k_thawed ? "thawed, between rounds"
                                                     : "guardian up, freezing";
    long long thaw_ms = -1;
    if (agent.last_guardian() > 0) {
      const int status = wait_guardian_exit(agent.last_guardian(), 20s);
      ASSERT_NE(status, -2) << "guardian still running 20 s after the kill";
      thaw_ms = ms_between(killed, Clock::now());
    }
    const auto rounds = std::count(records.begin(), records.end(), k_thawed);
    std::printf("%4d %8d %-22s %10ld %14lld\n", i + 1, delay, phase, static_cast<long>(rounds), thaw_ms);
    for (const auto& mp : mps_) {
      auto r = platform::thaw(mp);
      ASSERT_TRUE(r.has_value()) << r.error().describe();
      if (*r != ThawOutcome::NotFrozen) {
        ++left_frozen;
        ADD_FAILURE() << mp << " left frozen after kill " << (i + 1) << " at " << delay << " ms (" << phase
                      << ")";
      }
    }
    // Reap guardians of earlier rounds that were re-parented to us.
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }
  EXPECT_EQ(left_frozen, 0);
  // A kill between writing the state file and forking the guardian leaves a state file whose
  // filesystems were never frozen: thaw --all finds nothing frozen and cleans it up.
  auto reports = platform::thaw_all(state_dir_);
  ASSERT_TRUE(reports.has_value());
  for (const auto& r : *reports) EXPECT_EQ(r.outcome, ThawOutcome::NotFrozen) << r.mount_point;
  EXPECT_TRUE(platform::read_freeze_states(state_dir_).value().empty());
}

}  // namespace platform_e2e
