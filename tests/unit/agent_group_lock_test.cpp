// agent/core/group_lock.h: one run at a time per group, with real flock(2) on a temp run dir.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/commands/mount.h"
#include "agent/commands/unmount.h"
#include "agent/core/group_lock.h"
#include "ec2/testing/manual_clock.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/agent_restore_fixture.h"

namespace agent {
namespace {

using namespace std::chrono_literals;

struct LockMachine {
  testsupport::TempDir dir;
  ec2::ManualClock clock;

  platform::Result<GroupLocks> take(std::vector<std::string> groups, std::string command = "mount",
                                    std::chrono::milliseconds wait = 0ms) {
    return GroupLocks::acquire({.run_dir = dir.path(), .groups = std::move(groups), .command = std::move(command),
                                .wait = wait},
                               clock, clock);
  }
};

TEST(GroupLock, ASecondRunWaitsItsBoundThenNamesTheHolder) {
  LockMachine m;
  auto first = m.take({"db"}, "snapshot");
  ASSERT_TRUE(first) << first.error().describe();
  auto second = m.take({"db"}, "mount", 1s);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind, platform::ErrorKind::Busy);
  const auto& line = second.error().message;
  EXPECT_NE(line.find("group db is in use by pid " + std::to_string(::getpid()) + " (ebsnap snapshot) since 20"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("waited 1 s (timeouts.lock_s)"), std::string::npos) << line;
  EXPECT_EQ(m.clock.sleeps().size(), 10U) << "polled every 100 ms for the bound";
}

TEST(GroupLock, ReleasedWhenTheHolderGoes) {
  LockMachine m;
  {
    auto first = m.take({"db"});
    ASSERT_TRUE(first);
  }
  EXPECT_TRUE(m.take({"db"}));
}

TEST(GroupLock, AllOrNone) {
  LockMachine m;
  auto b = m.take({"b"});
  ASSERT_TRUE(b);
  EXPECT_FALSE(m.take({"b", "a"}));
  EXPECT_TRUE(m.take({"a"})) << "a was released when b could not be taken";
}

TEST(GroupLock, TheKernelReleasesTheLockOfAProcessThatDied) {
  LockMachine m;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto held = m.take({"db"}, "unmount");
    const char c = held ? 'y' : 'n';
    (void)::write(ready[1], &c, 1);
    ::pause();
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  auto while_alive = m.take({"db"});
  ASSERT_FALSE(while_alive);
  EXPECT_NE(while_alive.error().message.find("pid " + std::to_string(child) + " (ebsnap unmount)"), std::string::npos)
      << while_alive.error().message;
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  EXPECT_TRUE(m.take({"db"})) << "SIGKILL released it";
}

TEST(GroupLock, AGroupInUseStopsMountAndUnmountBeforeAnyChangeButNotADryRun) {
  testing::FakeInstance f;
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  f.config.timeouts.lock = 2s;
  auto held = GroupLocks::acquire({.run_dir = f.services.options.run_dir, .groups = {"db"}, .command = "snapshot"},
                                  f.clock, f.clock);
  ASSERT_TRUE(held);
  const auto r = mount(f.context());
  EXPECT_FALSE(r.ok());
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->find("group db is in use by pid"), std::string::npos) << *r.error;
  EXPECT_NE(r.error->find("(ebsnap snapshot)"), std::string::npos) << *r.error;
  EXPECT_TRUE(f.ec2.calls().empty()) << "nothing was asked of EC2";
  ASSERT_EQ(r.groups.size(), 1U);
  EXPECT_FALSE(r.groups[0].ok()) << "a group not run is not ok";
  EXPECT_EQ(to_json(r)["groups"][0]["ok"], false);
  EXPECT_FALSE(unmount(f.context(), {.delete_volumes = true}).ok());
  EXPECT_TRUE(f.ec2.calls().empty());
  f.services.options.dry_run = true;
  EXPECT_TRUE(mount(f.context()).ok()) << "a dry run changes nothing and takes no lock";
}

}  // namespace
}  // namespace agent
