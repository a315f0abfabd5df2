// The thaw guardian's process handling, without freezing anything (no root): finish() reaps it,
// and one that does not answer is terminated and reaped within its bound instead of waited for.
// Real freezes are in tests/e2e/platform_thaw_guardian_test.cpp.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <filesystem>

#include "platform/thaw_guardian.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;

class ThawGuardianProcess : public ::testing::Test {
 protected:
  testsupport::TempDir dir{"ebsnap-guardian"};
  pid_t pid = -1;

  platform::GuardianOptions options() {
    const auto mount_point = dir.path() / "mnt";  // a plain directory: FITHAW finds it not frozen
    std::filesystem::create_directory(mount_point);
    return {.mount_points = {mount_point.string()},
            .freeze_bound = 60s,
            .state_dir = (dir.path() / "run").string(),
            .report_timeout = 200ms};
  }

  [[nodiscard]] bool gone() const { return ::kill(pid, 0) != 0 && errno == ESRCH; }

  void TearDown() override {
    if (pid > 0 && !gone()) {  // the test failed: do not leave a stopped process behind
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

TEST_F(ThawGuardianProcess, FinishGetsTheReportAndReapsIt) {
  auto guardian = platform::ThawGuardian::start(options());
  ASSERT_TRUE(guardian) << guardian.error().describe();
  pid = guardian->pid();
  const std::string state_file = guardian->state_file();
  auto report = guardian->finish();
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->trigger, platform::GuardianTrigger::Done);
  EXPECT_TRUE(gone());
  EXPECT_FALSE(std::filesystem::exists(state_file));
}

TEST_F(ThawGuardianProcess, SilentGuardianIsTerminatedAndReaped) {
  auto guardian = platform::ThawGuardian::start(options());
  ASSERT_TRUE(guardian) << guardian.error().describe();
  pid = guardian->pid();
  // Stopped, it cannot answer "done" (as if stuck). Wait until it is stopped, without reaping it.
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WSTOPPED | WNOWAIT), 0);

  auto report = guardian->finish();  // returns: the wait is bounded
  // After SIGTERM (and SIGCONT) it thawed, reported and exited.
  EXPECT_TRUE(report) << report.error().describe();
  EXPECT_TRUE(gone()) << "the guardian pid " << pid << " is still there";
}

// freeze --hold: after hold() the guardian no longer depends on us; it answers `thaw GROUP` on
// its socket (only the recorded pid is believed), and reports to its result file at its bound.
class HoldingGuardian : public ThawGuardianProcess {
 protected:
  platform::GuardianOptions hold_options(std::chrono::milliseconds bound) {
    auto o = options();
    o.freeze_bound = bound;
    o.report_timeout = 5s;
    o.hold_socket = (dir.path() / "run" / "hold-g.sock").string();
    o.hold_result = (dir.path() / "run" / "hold-g.result").string();
    return o;
  }
  // The guardian is our child until we exit: reap it once it is done.
  void reap() { ::waitpid(pid, nullptr, 0); }
};

TEST_F(HoldingGuardian, ReleaseOnItsSocketGetsTheReportAndTheStateFileNamesTheGuardian) {
  const auto o = hold_options(60s);
  auto guardian = platform::ThawGuardian::start(o);
  ASSERT_TRUE(guardian) << guardian.error().describe();
  pid = guardian->pid();
  auto held = guardian->hold();
  ASSERT_TRUE(held) << held.error().describe();
  EXPECT_EQ(*held, pid);
  auto states = platform::read_freeze_states(o.state_dir);
  ASSERT_TRUE(states);
  ASSERT_EQ(states->size(), 1U);
  EXPECT_EQ(states->front().agent_pid, pid) << "the holding guardian owns the freeze now";
  // A peer that is not the recorded guardian is never asked.
  auto wrong = platform::release_hold(o.hold_socket, pid + 1, o.mount_points);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().kind, platform::ErrorKind::Refused);
  EXPECT_FALSE(gone());
  auto report = platform::release_hold(o.hold_socket, pid, o.mount_points);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->trigger, platform::GuardianTrigger::Done);
  ASSERT_EQ(report->mounts.size(), 1U);
  EXPECT_EQ(report->mounts[0].outcome, platform::ThawOutcome::NotFrozen);
  reap();
  EXPECT_FALSE(std::filesystem::exists(o.hold_socket));
  auto none = platform::release_hold(o.hold_socket, pid, o.mount_points);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, platform::ErrorKind::NotFound);
}

TEST_F(HoldingGuardian, AtItsBoundItThawsAndWritesTheResultFile) {
  const auto o = hold_options(1s);
  auto guardian = platform::ThawGuardian::start(o);
  ASSERT_TRUE(guardian) << guardian.error().describe();
  pid = guardian->pid();
  ASSERT_TRUE(guardian->hold());
  reap();  // it exits once it thawed at its bound
  auto result = platform::read_hold_result(o.hold_result, o.mount_points);
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->trigger, platform::GuardianTrigger::Timeout);
  EXPECT_FALSE(std::filesystem::exists(o.hold_socket));
}

TEST_F(HoldingGuardian, WithoutAHoldSocketHoldIsRefusedAndNothingIsHeld) {
  auto guardian = platform::ThawGuardian::start(options());
  ASSERT_TRUE(guardian) << guardian.error().describe();
  pid = guardian->pid();
  auto held = guardian->hold();
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error().kind, platform::ErrorKind::Refused);
  EXPECT_TRUE(guardian->finish());
}

}  // namespace
