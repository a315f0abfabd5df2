// agent/core/freeze_window.h: the guardian protocol in one place.
#include <gtest/gtest.h>

#include "agent/core/freeze_window.h"
#include "ec2/testing/manual_clock.h"
#include "tests/unit/agent_snapshot_fixture.h"

namespace agent {
namespace {

using testing::EventLog;
using testing::FakeGuardianLauncher;
using testing::RecordingFreezeOps;

// RecordingFreezeOps whose FIFREEZE of some mount points fails, and whose FITHAW takes `thaw_takes`
// of the manual clock.
class TimedFreezeOps final : public platform::FreezeOps {
 public:
  TimedFreezeOps(RecordingFreezeOps& inner, ec2::ManualClock& clock) : inner_(inner), clock_(clock) {}
  platform::Result<platform::FsIdentity> identify(const std::string& p) override { return inner_.identify(p); }
  platform::Result<void> syncfs(const std::string& mp) override { return inner_.syncfs(mp); }
  platform::Result<void> freeze(const std::string& mp) override {
    if (failing.contains(mp)) return platform::fail(platform::ErrorKind::System, "FIFREEZE " + mp + ": EIO");
    return inner_.freeze(mp);
  }
  platform::Result<void> thaw(const std::string& mp) override {
    clock_.advance(thaw_takes);
    return inner_.thaw(mp);
  }
  std::set<std::string> failing;
  std::chrono::milliseconds thaw_takes{0};

 private:
  RecordingFreezeOps& inner_;
  ec2::ManualClock& clock_;
};

struct WindowMachine {
  EventLog log;
  ec2::ManualClock clock;
  RecordingFreezeOps kernel{log};
  TimedFreezeOps ops{kernel, clock};
  FakeGuardianLauncher guardians{log, kernel};
  testsupport::TempDir run_dir;

  FreezeWindowOptions options(std::vector<std::string> mounts) {
    return {.group = "g", .mount_points = std::move(mounts), .bound = std::chrono::milliseconds(5000),
            .run_dir = run_dir.path().string()};
  }
};

TEST(FreezeWindow, GuardianFirstThenFreezeThenThawThenFinishMeasuredByTheInjectedClock) {
  WindowMachine m;
  m.ops.thaw_takes = std::chrono::milliseconds(7);
  auto window = FreezeWindow::open(m.guardians, m.ops, m.clock, m.options({"/mnt/a", "/mnt/b"}));
  ASSERT_TRUE(window) << window.error().describe();
  EXPECT_EQ(m.guardians.bound, std::chrono::milliseconds(5000));
  const auto report = window->close();
  EXPECT_TRUE(report.held);
  EXPECT_EQ(report.trigger, platform::GuardianTrigger::Done);
  EXPECT_LT(m.log.index("guardian start", true), m.log.index("freeze /mnt/a")) << m.log.dump();
  EXPECT_LT(m.log.index("thaw /mnt/a"), m.log.index("guardian finish")) << m.log.dump();
  // Reverse-order thaws each advance the manual clock by 7 ms: /mnt/b thawed at +7, /mnt/a at +14.
  ASSERT_TRUE(report.window);
  EXPECT_EQ(*report.window, std::chrono::milliseconds(14));
  EXPECT_EQ(report.mounts.at("/mnt/b"), std::chrono::milliseconds(7));
  EXPECT_EQ(report.mounts.at("/mnt/a"), std::chrono::milliseconds(14));
  EXPECT_TRUE(m.kernel.frozen().empty());
}

TEST(FreezeWindow, SomeoneElsesFreezeIsExcludedOnSuccess) {
  WindowMachine m;
  ASSERT_TRUE(m.kernel.freeze("/mnt/a"));  // frozen by another tool
  auto window = FreezeWindow::open(m.guardians, m.ops, m.clock, m.options({"/mnt/a", "/mnt/b"}));
  ASSERT_TRUE(window) << window.error().describe();
  const int exclude = m.log.index("guardian exclude /mnt/a");
  EXPECT_GE(exclude, 0) << m.log.dump();
  const auto report = window->close();
  EXPECT_EQ(report.already_frozen, std::vector<std::string>{"/mnt/a"});
  EXPECT_FALSE(report.mounts.contains("/mnt/a")) << "not ours to measure";
  EXPECT_TRUE(m.kernel.frozen().contains("/mnt/a")) << "not ours to thaw";
}

// The gap the issue named: on the failure path no exclude used to be sent, so the guardian
// thawed another tool's freeze.
TEST(FreezeWindow, SomeoneElsesFreezeIsExcludedOnTheFailurePathBeforeTheGuardianFinishes) {
  WindowMachine m;
  ASSERT_TRUE(m.kernel.freeze("/mnt/a"));
  m.ops.failing = {"/mnt/c"};
  auto window = FreezeWindow::open(m.guardians, m.ops, m.clock, m.options({"/mnt/a", "/mnt/b", "/mnt/c"}));
  ASSERT_FALSE(window);
  EXPECT_NE(window.error().message.find("/mnt/c"), std::string::npos) << window.error().describe();
  const int exclude = m.log.index("guardian exclude /mnt/a");
  const int finish = m.log.index("guardian finish");
  ASSERT_GE(exclude, 0) << m.log.dump();
  EXPECT_LT(exclude, finish) << m.log.dump();
  EXPECT_EQ(m.kernel.frozen(), std::set<std::string>{"/mnt/a"}) << "ours thawed, theirs left";
}

TEST(FreezeWindow, GuardianThatCannotStartFreezesNothing) {
  WindowMachine m;
  m.guardians.fail_start = true;
  auto window = FreezeWindow::open(m.guardians, m.ops, m.clock, m.options({"/mnt/a"}));
  ASSERT_FALSE(window);
  EXPECT_NE(window.error().message.find("nothing was frozen"), std::string::npos);
  EXPECT_EQ(m.log.index("freeze", true), -1);
}

TEST(FreezeWindow, BoundPassedBeforeOurThawMeansNotHeld) {
  WindowMachine m;
  auto window = FreezeWindow::open(m.guardians, m.ops, m.clock, m.options({"/mnt/a"}));
  ASSERT_TRUE(window);
  m.guardians.time_out();
  const auto report = window->close();
  EXPECT_FALSE(report.held);
  EXPECT_EQ(report.trigger, platform::GuardianTrigger::Timeout);
}

TEST(FreezeWindow, DestructorClosesAWindowNeverClosed) {
  WindowMachine m;
  {
    auto window = FreezeWindow::open(m.guardians, m.ops, m.clock, m.options({"/mnt/a"}));
    ASSERT_TRUE(window);
  }
  EXPECT_TRUE(m.kernel.frozen().empty());
  EXPECT_GE(m.log.index("guardian finish"), 0);
}

}  // namespace
}  // namespace agent
