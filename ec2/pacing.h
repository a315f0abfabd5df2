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
//
// A fleet that starts together (`fleet` > 1: config fleet_size, the instances that may run a
// command at the same moment in this account and region) cannot learn its size from its own few
// answers before it is done, and each throttle it would need to learn it is a call wasted. So
// with that prior, from the first call:
//   - the buckets whose calls start an instance's work (Describe*, CreateVolume, DeleteVolume,
//     DeleteSnapshot: fleet_shared) are held to this client's share of EC2's bucket: a client-side
//     bucket of burst/fleet + 1 calls (8 more for Describe*: a restore polls in bursts) refilled
//     at 95% of rate/fleet, holding burst/fleet and a uniformly random part of one call at the
//     first call: the fleet's first calls take EC2's burst, the rest start at random phases,
//     and together the fleet asks for 95% of the rate;
//   - the calls that follow from those (attach, detach, tags) are not held to a share, which
//     would make each wait for a random phase of its own;
//   - a throttled call's next slot is a random point within the fleet's share of its bucket's
//     refill (fleet/rate), not a second later, where the fleet would meet again;
//   - CreateSnapshot(s), made inside a freeze, keep the spacing above and never wait for a share.
// A fleet that starts over a window (`fleet_window` > 0: config fleet_window_s, a rolling deploy)
// would leave the buckets idle while it arrives if each instance took only its 1/fleet of the
// refill: the first to start have the buckets nearly to themselves. So each takes a window's share
// at a time, at the start of each window of its own (from its first call): at its first call its
// share of EC2's burst, one window's refill (95% of rate/fleet times the window) and the random
// part, 8 more for Describe* (a restore's polls; the fleet's starts are spread over the window);
// every window later one window's refill more. As the fleet arrives uniformly over the window, at
// every moment the instances' windows hold one window's refill between them: the bucket is kept
// busy from the first start, and the last to start is done about two windows later
// (bench/fleet: rolling-1000).
// A fleet_size above the real one slows every instance to its share of a fleet that is not there;
// a window longer than the real one throttles the fleet that is.
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
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
  // The clients that may call EC2 at once in this account and region (above).
  int fleet = 1;
  // The time over which those clients start (above): zero, together.
  std::chrono::seconds fleet_window{0};
};

// EC2's documented bucket of a throttle_bucket: its burst and its refill rate (calls per second).
struct BucketSize {
  double burst = 0;
  double rate = 0;
};
[[nodiscard]] BucketSize bucket_size(std::string_view bucket);
// Whether a fleet's clients hold the bucket's calls to their share from the first call (above).
[[nodiscard]] bool fleet_shared(std::string_view bucket);

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
    // The fleet's share (fleet > 1, fleet_shared): calls in hand as of `counted`; none yet
    // before the first call.
    std::optional<double> share;
    std::chrono::steady_clock::time_point counted{};
    std::chrono::steady_clock::time_point first{};  // the first call's slot
  };
  // The slot of a call of `bucket` no earlier than `slot` that its share allows; takes the call.
  [[nodiscard]] std::chrono::steady_clock::time_point shared_slot(Category& c, std::string_view bucket,
                                                                  std::chrono::steady_clock::time_point slot);
  [[nodiscard]] std::chrono::milliseconds jittered(double ms);
  PacingOptions options_;
  const Clock& clock_;
  Sleeper& sleeper_;
  RandomSource& random_;
  std::mutex mutex_;
  std::map<std::string, Category, std::less<>> categories_;
};

}  // namespace ec2
