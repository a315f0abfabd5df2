#pragma once
// The fleet scenarios' yardstick (issue 16): the least time EC2's token buckets allow for the
// calls every instance of a scenario must make, whatever the client does. A bucket serves its
// burst at once, then `rate` calls a second; an instance cannot finish before it starts, nor
// before EC2's own time on its critical path (a volume's creating → available, ...). The
// scenario's makespan divided by this is how far from the buckets' best ebsnap's calls land.
#include <map>
#include <string>
#include <vector>

#include "bench/fleet/account.h"

namespace fleet {

struct IdealInputs {
  // The calls every instance must make, summed over the fleet, by the account's bucket
  // (AccountOptions::buckets: an action's own, else "describe" / "mutating").
  std::map<std::string, double> calls_by_bucket;
  // EC2's own time after the last call the buckets allow (mount: one volume's median create and
  // attach); 0 when the call's answer is the end (CreateSnapshots' pending, DeleteSnapshot).
  double tail_s = 0;
  // Per instance: when it starts (boot, the timer's randomized delay) plus EC2's own time on its
  // critical path, in seconds from the scenario's start.
  std::vector<double> floors_s;
};

// The time `bucket` needs for `calls`, starting full: nothing for the burst, then its rate.
[[nodiscard]] double bucket_time(double calls, const Bucket& bucket);

// max(every bucket's time for its calls, plus the tail; every instance's floor). A bucket name
// the account does not have: std::out_of_range (a scenario naming a bucket wrongly is a bug).
[[nodiscard]] double ideal_s(const IdealInputs& in, const AccountOptions& account);

}  // namespace fleet
