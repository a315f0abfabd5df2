#pragma once
// Times in the run directory's files (run records, detach records, hold records, copy intents):
// milliseconds since the epoch.
#include <chrono>
#include <cstdint>
#include <optional>

namespace agent {

// ms since the epoch → a system_clock time; nullopt when system_clock cannot hold it. Its
// nanoseconds span ±292 years, so only a damaged or hand-made file holds such a value, and
// converting one unchecked overflows a signed multiplication: undefined behaviour (UBSan:
// "signed integer overflow" in <chrono>).
[[nodiscard]] inline std::optional<std::chrono::system_clock::time_point> time_from_epoch_ms(std::int64_t ms) {
  using std::chrono::milliseconds;
  using Clock = std::chrono::system_clock;
  constexpr auto k_max = std::chrono::duration_cast<milliseconds>(Clock::duration::max()).count();
  constexpr auto k_min = std::chrono::duration_cast<milliseconds>(Clock::duration::min()).count();
  if (ms > k_max || ms < k_min) return std::nullopt;
  return Clock::time_point{std::chrono::duration_cast<Clock::duration>(milliseconds{ms})};
}

}  // namespace agent
