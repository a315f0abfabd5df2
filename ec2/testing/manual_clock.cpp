#include "ec2/testing/manual_clock.h"

namespace ec2 {

ManualClock::ManualClock(std::chrono::system_clock::time_point start) : wall_(start) {}

std::chrono::system_clock::time_point ManualClock::now() const {
  std::lock_guard lock(mutex_);
  return wall_;
}

std::chrono::steady_clock::time_point ManualClock::monotonic() const {
  std::lock_guard lock(mutex_);
  return std::chrono::steady_clock::time_point{elapsed_};
}

void ManualClock::sleep_for(std::chrono::milliseconds duration) {
  std::lock_guard lock(mutex_);
  sleeps_.push_back(duration);
  wall_ += duration;
  elapsed_ += duration;
}

void ManualClock::advance(std::chrono::milliseconds duration) {
  std::lock_guard lock(mutex_);
  wall_ += duration;
  elapsed_ += duration;
}

std::vector<std::chrono::milliseconds> ManualClock::sleeps() const {
  std::lock_guard lock(mutex_);
  return sleeps_;
}

double SequenceRandom::uniform() {
  std::lock_guard lock(mutex_);
  if (values_.empty()) return 0.0;
  const double v = values_[next_ % values_.size()];
  ++next_;
  return v;
}

}  // namespace ec2
