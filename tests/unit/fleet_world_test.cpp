// The fleet simulation's virtual time (bench/fleet/world.h): fibers wake at their virtual
// deadlines in order, time moves only when every fiber waits, and task groups join.
#include "bench/fleet/world.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fleet {
namespace {

using std::chrono::milliseconds;

const ec2::TimePoint k_epoch = std::chrono::system_clock::time_point{} + std::chrono::hours(1000);

TEST(FleetWorld, SleepersWakeInDeadlineOrderAndTimeIsVirtual) {
  World world(k_epoch);
  std::vector<std::string> order;
  world.spawn([&] {
    world.sleep_for(milliseconds(300));
    order.push_back("a@" + std::to_string(world.elapsed().count()));
  });
  world.spawn([&] {
    world.sleep_for(milliseconds(100));
    order.push_back("b@" + std::to_string(world.elapsed().count()));
    world.sleep_for(milliseconds(100));
    order.push_back("b@" + std::to_string(world.elapsed().count()));
  });
  world.spawn([&] { order.push_back("c@" + std::to_string(world.elapsed().count())); }, milliseconds(250));
  const auto wall = std::chrono::steady_clock::now();
  world.run();
  EXPECT_EQ(order, (std::vector<std::string>{"b@100", "b@200", "c@250", "a@300"}));
  EXPECT_EQ(world.now(), k_epoch + milliseconds(300));
  EXPECT_LT(std::chrono::steady_clock::now() - wall, std::chrono::seconds(30)) << "300 ms of virtual time took real time";
}

TEST(FleetWorld, EqualDeadlinesRunInTheOrderTheyWereSet) {
  World world(k_epoch);
  std::string order;
  for (char c : std::string("abcd")) {
    world.spawn([&, c] {
      world.sleep_for(milliseconds(10));
      order += c;
    });
  }
  world.run();
  EXPECT_EQ(order, "abcd");
}

TEST(FleetWorld, TaskGroupJoinWaitsForItsLastTask) {
  World world(k_epoch);
  milliseconds joined_at{-1};
  int finished = 0;
  world.spawn([&] {
    auto group = world.group();
    for (int i = 1; i <= 3; ++i) {
      group->spawn([&, i] {
        world.sleep_for(milliseconds(100 * i));
        ++finished;
      });
    }
    group->join();
    joined_at = world.elapsed();
    group->join();  // nothing left: returns at once
  });
  world.run();
  EXPECT_EQ(finished, 3);
  EXPECT_EQ(joined_at, milliseconds(300));
}

TEST(FleetWorld, TaskGroupWaitAnyWakesWhenTheNextTaskReturns) {
  World world(k_epoch);
  std::vector<milliseconds> woken;
  world.spawn([&] {
    auto group = world.group();
    for (int i : {3, 1, 2}) group->spawn([&, i] { world.sleep_for(milliseconds(100 * i)); });
    for (int i = 0; i < 3; ++i) {
      group->wait_any();
      woken.push_back(world.elapsed());
    }
    group->wait_any();  // nothing left running: at once
    woken.push_back(world.elapsed());
  });
  world.run();
  EXPECT_EQ(woken, (std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(300),
                                              milliseconds(300)}));
}

TEST(FleetWorld, ManyFibersReuseStacks) {
  World world(k_epoch, std::size_t{64} << 10);
  int done = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 2'000; ++i) {
      world.spawn([&] {
        world.sleep_for(milliseconds(1));
        ++done;
      });
    }
    world.run();
  }
  EXPECT_EQ(done, 6'000);
  EXPECT_EQ(world.peak_fibers(), 2'000u);
}

TEST(FleetWorld, FibersBlockedForeverAreReported) {
  World world(k_epoch);
  world.spawn([&] { world.block(); });
  EXPECT_THROW(world.run(), std::runtime_error);
}

TEST(FleetWorld, SleepingOutsideAFiberIsRefused) {
  World world(k_epoch);
  EXPECT_THROW(world.sleep_for(milliseconds(1)), std::logic_error);
}

}  // namespace
}  // namespace fleet
