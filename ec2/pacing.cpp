#include "ec2/pacing.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "ec2/log.h"

namespace ec2 {

std::string throttle_bucket(std::string_view action) {
  // "Request throttling for the Amazon EC2 API": these have a bucket each.
  static constexpr std::array<std::string_view, 6> own = {"CreateVolume",   "DeleteVolume",   "CreateSnapshot",
                                                          "CreateSnapshots", "DeleteSnapshot", "CreateTags"};
  if (std::ranges::find(own, action) != own.end()) return std::string(action);
  if (action.starts_with("Describe")) return "describe";
  return "mutating";
}

BucketSize bucket_size(std::string_view bucket) {
  // "Request throttling for the Amazon EC2 API": bucket sizes and refill rates.
  if (bucket == "describe") return {.burst = 100, .rate = 20};
  if (bucket == "mutating") return {.burst = 50, .rate = 5};
  if (bucket == "CreateTags") return {.burst = 100, .rate = 10};
  return {.burst = 100, .rate = 5};
}

bool fleet_shared(std::string_view bucket) {
  return bucket == "describe" || bucket == "CreateVolume" || bucket == "DeleteVolume" || bucket == "DeleteSnapshot";
}

Pacing::Pacing(PacingOptions options, const Clock& clock, Sleeper& sleeper, RandomSource& random)
    : options_(options), clock_(clock), sleeper_(sleeper), random_(random) {}

std::chrono::milliseconds Pacing::jittered(double ms) {
  return std::chrono::milliseconds{static_cast<long long>(ms * (0.5 + random_.uniform()))};
}

// The fleet's share (pacing.h): 95% of the bucket's rate over the fleet, a burst of its share of
// EC2's and one call, Describe* 8 more. Over a start window, a window's refill at a time.
std::chrono::steady_clock::time_point Pacing::shared_slot(Category& c, std::string_view bucket,
                                                          std::chrono::steady_clock::time_point slot) {
  const auto size = bucket_size(bucket);
  const double fleet = options_.fleet;
  const double rate = 0.95 * size.rate / fleet;
  const double window = std::chrono::duration<double>(options_.fleet_window).count();
  const double lump = rate * window;
  const double burst = size.burst / fleet + 1 + lump + (bucket == "describe" ? 8 : 0);
  if (!c.share) {
    // Each volume created is attached: the fleet's first creates take no more than the
    // AttachVolume bucket's burst.
    const double first = bucket == "CreateVolume" ? bucket_size("mutating").burst : size.burst;
    c.share = first / fleet + lump + random_.uniform() + (window > 0 && bucket == "describe" ? 8 : 0);
    c.counted = slot;
    c.first = slot;
  }
  if (window == 0) {
    *c.share = std::min(burst, *c.share + rate * std::chrono::duration<double>(slot - c.counted).count());
    if (*c.share < 1) {
      slot +=
          std::chrono::ceil<std::chrono::milliseconds>(std::chrono::duration<double>((1 - *c.share) / rate));
      *c.share = 1;
    }
  } else {
    const auto windows = [&](std::chrono::steady_clock::time_point t) {
      return std::floor(std::chrono::duration<double>(t - c.first).count() / window);
    };
    *c.share = std::min(burst, *c.share + lump * (windows(slot) - windows(c.counted)));
    if (*c.share < 1) {
      const double more = std::ceil((1 - *c.share) / lump);
      slot = c.first + std::chrono::ceil<std::chrono::milliseconds>(
                           std::chrono::duration<double>((windows(slot) + more) * window));
      *c.share = std::min(burst, *c.share + more * lump);
    }
  }
  *c.share -= 1;
  c.counted = slot;
  return slot;
}

std::chrono::milliseconds Pacing::before(std::string_view action) {
  if (!enabled()) return std::chrono::milliseconds{0};
  std::chrono::steady_clock::time_point slot;
  const auto now = clock_.monotonic();
  const auto bucket = throttle_bucket(action);
  const bool shared = options_.fleet > 1 && fleet_shared(bucket);
  {
    std::lock_guard lock(mutex_);
    auto& c = categories_[bucket];
    if (!shared && c.spacing_ms == 0 && c.next <= now) return std::chrono::milliseconds{0};
    slot = std::max(now, c.next);
    if (shared) slot = shared_slot(c, bucket, slot);
    c.next = c.spacing_ms == 0 ? slot : slot + jittered(c.spacing_ms);
  }
  if (slot <= now) return std::chrono::milliseconds{0};
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(slot - now);
  // A fleet's share can hold a call for minutes: said once per call, where an operator looks.
  if (shared && wait >= std::chrono::seconds(1)) {
    log_ec2().info("call={} waits={:.1f}s for its share of the {} bucket (fleet_size {}, fleet_window_s {})",
                   action, std::chrono::duration<double>(wait).count(), bucket, options_.fleet,
                   options_.fleet_window.count());
  }
  sleeper_.sleep_for(wait);
  return wait;
}

void Pacing::after(std::string_view action, bool throttled) {
  if (!enabled()) return;
  std::lock_guard lock(mutex_);
  const auto bucket = throttle_bucket(action);
  auto& c = categories_[bucket];
  if (!throttled) {
    c.spacing_ms *= options_.ease;
    if (c.spacing_ms < static_cast<double>(options_.base.count()) / 8) c.spacing_ms = 0;
    return;
  }
  c.spacing_ms = std::min(static_cast<double>(options_.max_spacing.count()),
                          std::max(static_cast<double>(options_.base.count()), 2 * c.spacing_ms));
  // Calls of the category answered throttled together: the latest slot holds. A fleet's: a
  // random point of its share of the refill.
  const auto size = bucket_size(bucket);
  const bool in_freeze = bucket == "CreateSnapshot" || bucket == "CreateSnapshots";
  const auto wait = options_.fleet > 1 && !in_freeze
                        ? std::chrono::milliseconds{static_cast<long long>(1000.0 * options_.fleet / size.rate *
                                                                            random_.uniform())}
                        : jittered(c.spacing_ms);
  c.next = std::max(c.next, clock_.monotonic() + wait);
}

}  // namespace ec2
