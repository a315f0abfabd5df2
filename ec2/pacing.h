#pragma once
// Client-side pacing against EC2's request token buckets. EC2 throttles per account and region
// with one bucket per category of action (Describe*, CreateVolume, DeleteVolume, CreateSnapshot(s),
// DeleteSnapshot, CreateTags, the other mutating calls), shared by every instance of the account:
// a fleet that boots together empties them together. Throttling is not failure: the request did
// nothing, the bucket refills, and the call will get through.
//
// So, per category of this client, a spacing between sends (none until the first throttle):
//   - every call of the category takes the next slot, `spacing` (±50%) after the previous one:
//     the volumes of one restore and its poll rounds ask as one contender, not each on its own;
//   - a throttled answer doubles the spacing (from `base`, up to `max_spacing`) and pushes the
//     next slot that far; an answer that was not throttled shrinks it by `ease` (until it is
//     negligible, then none): a slow multiplicative decrease after a fast increase, so that a
//     fleet of clients settles where few of its calls are throttled;
//   - a call keeps being sent while throttled until it has waited `patience` in all (then the
//     throttle is its error). A throttled call does not count as one of the retry strategy's
//     attempts and costs nothing of its quota.
// Before the first throttle nothing waits: one instance's restore is as fast as without.
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "ec2/clock.h"

namespace ec2 {

struct PacingOptions {
  // zero: no pacing; a throttle is an ordinary retryable error (the SDKs' standard mode).
  std::chrono::milliseconds patience{0};
  // Tuned in the fleet simulation (bench/fleet): a longer spacing throttles fewer calls but
  // leaves the buckets idle while the last clients wait out theirs (60 s: 3.5× the ideal at 100
  // instances), a faster ease throttles more for no gain.
  std::chrono::milliseconds base{1'000};
  std::chrono::milliseconds max_spacing{5'000};
  double ease = 0.97;  // the spacing after an answer that was not throttled, as a share of before
};

// The throttling bucket of an action, as EC2 documents them ("describe", "mutating", or the
// action's own name for those with a bucket of their own).
[[nodiscard]] std::string throttle_bucket(std::string_view action);

class Pacing {
 public:
  Pacing(PacingOptions options, const Clock& clock, Sleeper& sleeper, RandomSource& random);

  [[nodiscard]] bool enabled() const { return options_.patience.count() > 0; }
  [[nodiscard]] const PacingOptions& options() const { return options_; }

  // Waits for the next slot of the bucket of `action`; returns the time waited.
  std::chrono::milliseconds before(std::string_view action);
  // The answer: throttled or not.
  void after(std::string_view action, bool throttled);

 private:
  struct Category {
    double spacing_ms = 0;  // none until throttled
    std::chrono::steady_clock::time_point next{};  // the next free slot
  };
  [[nodiscard]] std::chrono::milliseconds jittered(double ms);
  PacingOptions options_;
  const Clock& clock_;
  Sleeper& sleeper_;
  RandomSource& random_;
  std::mutex mutex_;
  std::map<std::string, Category, std::less<>> categories_;
};

}  // namespace ec2
