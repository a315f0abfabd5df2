#pragma once
// Time is injected: the wall clock (SigV4 dates, credential expiry), a monotonic clock
// (deadlines), a sleeper (backoff) and a random source (jitter). Tests use ManualClock
// (ec2/testing/manual_clock.h), whose sleeping advances time instead of waiting.
#include <chrono>

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

}  // namespace ec2
