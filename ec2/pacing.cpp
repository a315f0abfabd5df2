#include "ec2/pacing.h"

#include <algorithm>
#include <array>

namespace ec2 {

std::string throttle_bucket(std::string_view action) {
  // "Request throttling for the Amazon EC2 API": these have a bucket each.
  static constexpr std::array<std::string_view, 6> own = {"CreateVolume",   "DeleteVolume",   "CreateSnapshot",
                                                          "CreateSnapshots", "DeleteSnapshot", "CreateTags"};
  if (std::ranges::find(own, action) != own.end()) return std::string(action);
  if (action.starts_with("Describe")) return "describe";
  return "mutating";
}

Pacing::Pacing(PacingOptions options, const Clock& clock, Sleeper& sleeper, RandomSource& random)
    : options_(options), clock_(clock), sleeper_(sleeper), random_(random) {}

std::chrono::milliseconds Pacing::jittered(double ms) {
  return std::chrono::milliseconds{static_cast<long long>(ms * (0.5 + random_.uniform()))};
}

std::chrono::milliseconds Pacing::before(std::string_view action) {
  if (!enabled()) return std::chrono::milliseconds{0};
  std::chrono::steady_clock::time_point slot;
  const auto now = clock_.monotonic();
  {
    std::lock_guard lock(mutex_);
    auto& c = categories_[throttle_bucket(action)];
    if (c.spacing_ms == 0 && c.next <= now) return std::chrono::milliseconds{0};
    slot = std::max(now, c.next);
    c.next = slot + jittered(c.spacing_ms);
  }
  if (slot <= now) return std::chrono::milliseconds{0};
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(slot - now);
  sleeper_.sleep_for(wait);
  return wait;
}

void Pacing::after(std::string_view action, bool throttled) {
  if (!enabled()) return;
  std::lock_guard lock(mutex_);
  auto& c = categories_[throttle_bucket(action)];
  if (!throttled) {
    c.spacing_ms *= options_.ease;
    if (c.spacing_ms < static_cast<double>(options_.base.count()) / 8) c.spacing_ms = 0;
    return;
  }
  c.spacing_ms = std::min(static_cast<double>(options_.max_spacing.count()),
                          std::max(static_cast<double>(options_.base.count()), 2 * c.spacing_ms));
  // Calls of the category answered throttled together: the latest slot holds.
  c.next = std::max(c.next, clock_.monotonic() + jittered(c.spacing_ms));
}

}  // namespace ec2
