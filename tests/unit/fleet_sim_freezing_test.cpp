// The fleet simulation's FIFREEZE and thaw guardian (bench/fleet/sim_freezing.h): the kernel's
// answers, the guardian's bound on virtual time, and calls from FreezeSet's threads.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bench/fleet/sim_freezing.h"

namespace {

using namespace std::chrono_literals;

const ec2::TimePoint k_epoch = std::chrono::system_clock::time_point{} + std::chrono::hours(1000);

TEST(FleetSimFreezing, MountPointsAreFilesystemsOfTheirOwnAndAnswerAsTheKernel) {
  fleet::World world(k_epoch);
  fleet::SimFreezing f(world);
  f.add_filesystem("/data/0");
  f.add_filesystem("/data/1");
  const auto a = f.identify("/data/0");
  const auto b = f.identify("/data/1");
  const auto run_dir = f.identify("/run/ebsnap");
  ASSERT_TRUE(a && b && run_dir);
  EXPECT_TRUE(a->mount_root);
  EXPECT_NE(a->device, b->device);
  EXPECT_FALSE(run_dir->mount_root);
  EXPECT_NE(run_dir->device, a->device);

  ASSERT_TRUE(f.freeze("/data/0"));
  EXPECT_TRUE(f.frozen("/data/0"));
  auto again = f.freeze("/data/0");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, platform::ErrorKind::AlreadyFrozen);
  ASSERT_TRUE(f.thaw("/data/0"));
  auto twice = f.thaw("/data/0");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().kind, platform::ErrorKind::NotFrozen);
}

TEST(FleetSimFreezing, GuardianFinishedBeforeItsBoundThawsWhatIsLeftAndSaysDone) {
  fleet::World world(k_epoch);
  fleet::SimFreezing f(world);
  f.add_filesystem("/data/0");
  f.add_filesystem("/data/1");
  std::optional<platform::GuardianReport> report;
  bool early = true;
  world.spawn([&] {
    auto guard = f.start({.mount_points = {"/data/0", "/data/1"}, .freeze_bound = 10s});
    ASSERT_TRUE(guard);
    ASSERT_TRUE(f.freeze("/data/0") && f.freeze("/data/1"));
    world.sleep_for(9s);
    early = (*guard)->thawed_on_its_own();
    ASSERT_TRUE(f.thaw("/data/0"));  // ours, before the bound
    auto finished = (*guard)->finish();
    ASSERT_TRUE(finished);
    report = *finished;
  });
  world.run();
  EXPECT_FALSE(early);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->trigger, platform::GuardianTrigger::Done);
  EXPECT_EQ(report->elapsed, 9s);
  ASSERT_EQ(report->mounts.size(), 2u);
  EXPECT_EQ(report->mounts[0].outcome, platform::ThawOutcome::NotFrozen);  // /data/0: we thawed it
  EXPECT_EQ(report->mounts[1].outcome, platform::ThawOutcome::Thawed);     // /data/1: the guardian
  EXPECT_FALSE(f.frozen("/data/1"));
}

TEST(FleetSimFreezing, GuardianBoundPassingOnVirtualTimeThawsBehindTheAgentsBack) {
  fleet::World world(k_epoch);
  fleet::SimFreezing f(world);
  f.add_filesystem("/data/0");
  std::optional<platform::GuardianReport> report;
  bool thawed_on_its_own = false;
  std::optional<platform::ErrorKind> our_thaw;
  world.spawn([&] {
    auto guard = f.start({.mount_points = {"/data/0"}, .freeze_bound = 10s});
    ASSERT_TRUE(guard);
    ASSERT_TRUE(f.freeze("/data/0"));
    world.sleep_for(11s);  // the CreateSnapshots answer, late
    auto thawed = f.thaw("/data/0");
    if (!thawed) our_thaw = thawed.error().kind;
    thawed_on_its_own = (*guard)->thawed_on_its_own();
    auto finished = (*guard)->finish();
    ASSERT_TRUE(finished);
    report = *finished;
  });
  world.run();
  EXPECT_EQ(our_thaw, platform::ErrorKind::NotFrozen);
  EXPECT_TRUE(thawed_on_its_own);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->trigger, platform::GuardianTrigger::Timeout);
  EXPECT_EQ(report->elapsed, 10s);
}

// platform::FreezeSet freezes and thaws on one real thread per filesystem: the simulated state is
// changed from several threads at once (unguarded, a fleet of 1,000 snapshots now and then found a
// mount point "frozen by another process", or crashed).
TEST(FleetSimFreezing, FreezeAndThawFromManyThreadsAtOnceKeepEveryAnswerRight) {
  fleet::World world(k_epoch);
  fleet::SimFreezing f(world);
  constexpr int k_threads = 8;
  constexpr int k_rounds = 100'000;
  for (int t = 0; t < k_threads; ++t) f.add_filesystem("/data/" + std::to_string(t));
  std::vector<int> wrong(k_threads, 0);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < k_threads; ++t) {
      threads.emplace_back([&f, &wrong, t] {
        const std::string mp = "/data/" + std::to_string(t);
        for (int i = 0; i < k_rounds; ++i) {
          if (!f.freeze(mp)) ++wrong[static_cast<std::size_t>(t)];
          if (!f.thaw(mp)) ++wrong[static_cast<std::size_t>(t)];
        }
      });
    }
  }
  EXPECT_EQ(wrong, std::vector<int>(k_threads, 0));
}

}  // namespace
