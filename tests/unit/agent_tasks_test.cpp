// The real Tasks (a thread per task): join waits for every task, wait_any for the next to return.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>

#include "agent/core/services.h"

namespace agent {
namespace {

using namespace std::chrono_literals;

TEST(ThreadTasks, WaitAnyReturnsWhenOneTaskHasReturnedWhileAnotherStillRuns) {
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> slow_returned = false;
  auto group = thread_tasks().group();
  group->spawn([&, released] {
    // Held until the test releases it (at most 20 s, so that a wait_any that waits for every
    // task fails the test instead of hanging it).
    (void)released.wait_for(20s);
    slow_returned = true;
  });
  group->spawn([] {});
  group->wait_any();
  EXPECT_FALSE(slow_returned) << "wait_any waited for the task still running";
  release.set_value();
  group->wait_any();  // the slow one
  EXPECT_TRUE(slow_returned);
  group->wait_any();  // nothing left running: at once
  group->join();
}

TEST(ThreadTasks, WaitAnyOfAGroupWithNothingRunningReturnsAtOnce) {
  auto group = thread_tasks().group();
  group->wait_any();
  int ran = 0;
  group->spawn([&] { ++ran; });
  group->join();
  group->wait_any();
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace agent
