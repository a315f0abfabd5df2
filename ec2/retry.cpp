#include "ec2/retry.h"

#include <algorithm>
#include <cmath>

#include "ec2/log.h"

namespace ec2 {

bool RetryQuota::acquire(int cost) {
  std::lock_guard lock(mutex_);
  if (available_ < cost) return false;
  available_ -= cost;
  return true;
}

void RetryQuota::release(int amount) {
  std::lock_guard lock(mutex_);
  available_ = std::min(capacity_, available_ + amount);
}

int RetryQuota::available() const {
  std::lock_guard lock(mutex_);
  return available_;
}

bool is_throttle(const Error& error) {
  return error.kind == ErrorKind::Throttled;
}

bool is_retryable(const Error& error) {
  switch (error.kind) {
    case ErrorKind::Throttled:
    case ErrorKind::ServerError:
    case ErrorKind::Network:
    case ErrorKind::Timeout:
      return true;
    default:
      // The SDKs also retry these transient codes whatever their status.
      return error.aws_code == "RequestTimeout" || error.aws_code == "RequestTimeoutException" ||
             error.aws_code == "PriorRequestNotComplete";
  }
}

RetryStrategy::RetryStrategy(RetryOptions options, std::shared_ptr<RetryQuota> quota, Sleeper& sleeper,
                             RandomSource& random)
    : options_(options),
      quota_(quota ? std::move(quota) : std::make_shared<RetryQuota>(options.quota_capacity)),
      sleeper_(sleeper),
      random_(random) {}

std::chrono::milliseconds RetryStrategy::backoff(int retry) {
  // Full jitter: rand(0, min(max_backoff, base * 2^(retry-1))).
  const double exp = std::ldexp(static_cast<double>(options_.base_delay.count()), std::min(retry - 1, 30));
  const double cap = std::min(static_cast<double>(options_.max_backoff.count()), exp);
  return std::chrono::milliseconds{static_cast<long long>(std::floor(random_.uniform() * cap))};
}

bool RetryStrategy::should_retry(std::string_view what, Idempotency idempotency, Error& error, int attempt,
                                 int& cost) {
  if (!is_retryable(error)) return false;
  if (options_.throttles_paced && is_throttle(error)) return false;
  // A network failure after the request went out: the server may have acted on it.
  const bool transport = error.kind == ErrorKind::Network || error.kind == ErrorKind::Timeout;
  if (transport && idempotency == Idempotency::NotIdempotent && error.maybe_applied) {
    log_ec2().warn("call={} attempt={} outcome=unknown error=\"{}\" (not retried: it may have been applied)",
                   what, attempt, error.message);
    return false;
  }
  if (!transport) error.maybe_applied = false;
  if (attempt >= options_.max_attempts) {
    log_ec2().warn("call={} attempts={} giving up error=\"{}\"", what, attempt, error.describe());
    return false;
  }
  const int price = error.kind == ErrorKind::Timeout ? options_.timeout_cost : options_.retry_cost;
  if (!quota_->acquire(price)) {
    log_ec2().warn("call={} attempt={} retry quota exhausted error=\"{}\"", what, attempt, error.describe());
    return false;
  }
  cost += price;
  const auto delay = backoff(attempt);
  log_ec2().debug("call={} attempt={} retry_in_ms={} error=\"{}\"", what, attempt, delay.count(),
                  error.describe());
  sleeper_.sleep_for(delay);
  return true;
}

void RetryStrategy::on_success(int cost) {
  quota_->release(cost > 0 ? cost : options_.no_retry_increment);
}

}  // namespace ec2
