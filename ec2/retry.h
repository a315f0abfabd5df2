#pragma once
// The AWS SDKs' "standard" retry mode:
//   - at most max_attempts attempts (3 by default);
//   - delay before retry n (n = 1, 2, ...): rand(0, min(max_backoff, base_delay * 2^(n-1)));
//   - a retry quota shared by the client: a retry costs retry_cost (timeout_cost after a
//     timeout); a success refunds what its retry cost, or no_retry_increment when it needed
//     none; when the quota cannot pay, the error is returned as it is;
//   - retryable: throttling codes, 5xx, transient network errors.
// A call that is not idempotent is not retried after a network error that may have reached
// the server: that error is returned with maybe_applied = true for the caller to reconcile.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include "ec2/clock.h"
#include "ec2/error.h"

namespace ec2 {

struct RetryOptions {
  int max_attempts = 3;
  std::chrono::milliseconds base_delay{1'000};
  std::chrono::milliseconds max_backoff{20'000};
  int quota_capacity = 500;
  int retry_cost = 5;
  int timeout_cost = 10;
  int no_retry_increment = 1;
  // Throttles are paced by the caller (ec2/pacing.h), which sends them again itself: one that
  // reaches the strategy has used up its patience and is not retried.
  bool throttles_paced = false;
};

// May a request be sent again after it may have reached the server?
enum class Idempotency {
  Idempotent,    // reads, ClientToken calls, deletes/attach/detach (idempotent by state)
  NotIdempotent  // CreateSnapshot(s): reconcile (e.g. by tag) instead of resending
};

// The token bucket shared by every call of a client. Thread-safe.
class RetryQuota {
 public:
  explicit RetryQuota(int capacity = 500) : capacity_(capacity), available_(capacity) {}
  // Takes `cost` tokens; false (and takes nothing) when there are not enough.
  [[nodiscard]] bool acquire(int cost);
  void release(int amount);  // capped at the capacity
  [[nodiscard]] int available() const;
  [[nodiscard]] int capacity() const { return capacity_; }

 private:
  mutable std::mutex mutex_;
  int capacity_;
  int available_;
};

// Whether an error is worth retrying at all (throttling, 5xx, network, timeouts).
[[nodiscard]] bool is_retryable(const Error& error);
[[nodiscard]] bool is_throttle(const Error& error);

class RetryStrategy {
 public:
  RetryStrategy(RetryOptions options, std::shared_ptr<RetryQuota> quota, Sleeper& sleeper,
                RandomSource& random);

  // Runs `attempt` until it succeeds, fails for good, or attempts/quota run out. `attempt`
  // gets the attempt number (1-based). `what` names the call in logs ("CreateVolume").
  template <class T>
  [[nodiscard]] Result<T> run(std::string_view what, Idempotency idempotency,
                              const std::function<Result<T>(int attempt)>& attempt) {
    int cost = 0;                  // what this call's retries took from the quota
    bool earlier_reached = false;  // an earlier attempt may have reached the server
    for (int n = 1;; ++n) {
      Result<T> r = attempt(n);
      if (r) {
        on_success(cost);
        return r;
      }
      const bool reached = r.error().maybe_applied;
      if (!should_retry(what, idempotency, r.error(), n, cost)) {
        // An IncorrectState (or NotFound) after a resent AttachVolume/DetachVolume/DeleteVolume
        // may be the work of our own earlier attempt: say so, the caller reconciles.
        if (earlier_reached) r.error().maybe_applied = true;
        return r;
      }
      earlier_reached = earlier_reached || reached;
    }
  }

  // The delay before retry number `retry` (1-based), drawn from the random source.
  [[nodiscard]] std::chrono::milliseconds backoff(int retry);
  [[nodiscard]] const RetryOptions& options() const { return options_; }
  [[nodiscard]] RetryQuota& quota() { return *quota_; }

 private:
  // Decides, pays the quota, logs and sleeps. May mark the error maybe_applied.
  [[nodiscard]] bool should_retry(std::string_view what, Idempotency idempotency, Error& error, int attempt,
                                  int& cost);
  void on_success(int cost);

  RetryOptions options_;
  std::shared_ptr<RetryQuota> quota_;
  Sleeper& sleeper_;
  RandomSource& random_;
};

}  // namespace ec2
