#include "bench/fleet/ideal.h"

#include <algorithm>

namespace fleet {

double bucket_time(double calls, const Bucket& bucket) {
  return std::max(0.0, (calls - bucket.burst) / bucket.rate);
}

double ideal_s(const IdealInputs& in, const AccountOptions& account) {
  double buckets = 0;
  for (const auto& [name, calls] : in.calls_by_bucket) {
    buckets = std::max(buckets, bucket_time(calls, account.buckets.at(name)));
  }
  double out = buckets + in.tail_s;
  for (const double floor : in.floors_s) out = std::max(out, floor);
  return out;
}

}  // namespace fleet
