#pragma once
// Time is injected: the wall clock (SigV4 dates, credential expiry), a monotonic clock
// (deadlines), a sleeper (backoff) and a random source (jitter). Tests use ManualClock,
// whose sleeping advances time instead of waiting.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

namespace ec2 {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual std::chrono::system_clock::time_point now() const = 0;
  [[nodiscard]] virtual std::chrono::steady_clock::time_point monotonic() const = 0;
};

class Sleeper {
 public:
  virtual ~Sleeper() = default;
  virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

// Uniform doubles in [0, 1), for jitter.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  [[nodiscard]] virtual double uniform() = 0;
};

// The real ones (process-wide, thread-safe).
[[nodiscard]] Clock& system_clock();
[[nodiscard]] Sleeper& system_sleeper();
[[nodiscard]] RandomSource& system_random();

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
