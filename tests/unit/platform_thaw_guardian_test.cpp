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

}  // namespace
