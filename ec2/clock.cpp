#include "ec2/clock.h"

#include <random>
#include <thread>

namespace ec2 {
namespace {

class SystemClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::now();
  }
  [[nodiscard]] std::chrono::steady_clock::time_point monotonic() const override {
    return std::chrono::steady_clock::now();
  }
};

class SystemSleeper final : public Sleeper {
 public:
  void sleep_for(std::chrono::milliseconds duration) override { std::this_thread::sleep_for(duration); }
};

class SystemRandom final : public RandomSource {
 public:
  [[nodiscard]] double uniform() override {
    thread_local std::mt19937_64 engine{std::random_device{}()};
    return std::uniform_real_distribution<double>{0.0, 1.0}(engine);
  }
};

}  // namespace

Clock& system_clock() {
  static SystemClock c;
  return c;
}
Sleeper& system_sleeper() {
  static SystemSleeper s;
  return s;
}
RandomSource& system_random() {
  static SystemRandom r;
  return r;
}

}  // namespace ec2
