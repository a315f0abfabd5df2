#pragma once
// Test doubles for the time seams of ec2/clock.h: ManualClock, whose sleeping advances time
// instead of waiting, and SequenceRandom, for deterministic jitter.
#include <chrono>
#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

#include "ec2/clock.h"

namespace ec2 {

// A clock that only moves when told to (or when something sleeps on it). Thread-safe.
class ManualClock final : public Clock, public Sleeper {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point start = std::chrono::system_clock::time_point{
                           std::chrono::seconds{1'800'000'000}});
  [[nodiscard]] std::chrono::system_clock::time_point now() const override;
  [[nodiscard]] std::chrono::steady_clock::time_point monotonic() const override;
  void sleep_for(std::chrono::milliseconds duration) override;  // advances; records the duration
  void advance(std::chrono::milliseconds duration);
  [[nodiscard]] std::vector<std::chrono::milliseconds> sleeps() const;  // every sleep_for so far

 private:
  mutable std::mutex mutex_;
  std::chrono::system_clock::time_point wall_;
  std::chrono::steady_clock::duration elapsed_{};
  std::vector<std::chrono::milliseconds> sleeps_;
};

// Returns the given values in turn (cycling); for deterministic jitter in tests.
class SequenceRandom final : public RandomSource {
 public:
  explicit SequenceRandom(std::vector<double> values) : values_(std::move(values)) {}
  [[nodiscard]] double uniform() override;

 private:
  std::mutex mutex_;
  std::vector<double> values_;
  std::size_t next_ = 0;
};

}  // namespace ec2
