#pragma once
// Virtual time for the fleet simulation: thousands of simulated instances run ebsnap's own code
// (its EC2 client, retries, waiters, the restore's tasks) on fibers of one thread, and time moves
// only when every fiber waits. A fiber that sleeps (ec2::Sleeper: backoff, poll rounds, the
// simulated network) is woken at its virtual deadline; the earliest deadline runs next, ties in
// the order they were set, so a run is deterministic for a seed.
//
// World is the Clock and Sleeper of every simulated instance and its agent::Tasks (a task is a
// fiber), so the production code needs no branch of its own for the simulation.
#include <ucontext.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <unordered_set>
#include <vector>

#include "agent/core/services.h"
#include "ec2/clock.h"

namespace fleet {

using Duration = std::chrono::milliseconds;

class World final : public ec2::Clock, public ec2::Sleeper, public agent::Tasks {
 public:
  // `stack_bytes`: each fiber's stack (one arena, reserved but not committed up front).
  explicit World(ec2::TimePoint epoch, std::size_t stack_bytes = std::size_t{256} << 10);
  ~World() override;
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  [[nodiscard]] std::chrono::system_clock::time_point now() const override;
  [[nodiscard]] std::chrono::steady_clock::time_point monotonic() const override;
  // From a fiber only: it waits `duration` of virtual time.
  void sleep_for(std::chrono::milliseconds duration) override;
  [[nodiscard]] std::unique_ptr<agent::TaskGroup> group() override;

  // Virtual time elapsed since the epoch.
  [[nodiscard]] Duration elapsed() const { return elapsed_; }

  // Starts `fn` on a new fiber `after` from now.
  void spawn(std::function<void()> fn, Duration after = Duration{0});
  // Runs fibers until none is left. Fails (one line) when fibers are left waiting on each other.
  void run();

  // The running fiber leaves the schedule until wake(); wake() puts it back at the current time.
  struct Fiber;
  [[nodiscard]] Fiber* current() const { return current_; }
  void block();
  void wake(Fiber* fiber);

  [[nodiscard]] std::uint64_t switches() const { return switches_; }
  [[nodiscard]] std::size_t peak_fibers() const { return peak_fibers_; }

 private:
  struct Wake {
    Duration at;
    std::uint64_t seq;
    Fiber* fiber;
    bool operator>(const Wake& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  static void entry(unsigned lo, unsigned hi);
  void schedule(Fiber* fiber, Duration at);
  void switch_out();  // from the running fiber back to run()
  [[nodiscard]] char* take_stack();
  void give_back(char* stack);

  ec2::TimePoint epoch_;
  std::chrono::steady_clock::time_point steady_epoch_;
  Duration elapsed_{0};
  std::size_t stack_bytes_;
  std::size_t arena_bytes_ = 0;
  char* arena_ = nullptr;
  std::size_t arena_used_ = 0;
  std::vector<char*> free_stacks_;
  std::priority_queue<Wake, std::vector<Wake>, std::greater<>> schedule_;
  std::uint64_t seq_ = 0;
  ucontext_t main_{};
  Fiber* current_ = nullptr;
  // Every fiber not yet finished, so that those left blocked when run() gives up are freed with the world.
  std::unordered_set<Fiber*> live_;
  std::size_t peak_fibers_ = 0;
  std::uint64_t switches_ = 0;
};

}  // namespace fleet
