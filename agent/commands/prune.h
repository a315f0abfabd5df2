#pragma once
// ebsnap prune GROUP...: applies each group's retention policy (issue 12). In a region the group
// copies to (copy_to; `prune GROUP --region R`, or copy's prune_after_copy) the policy is that
// copy_to's retention, applied by the same planner to the copies there (ordered by their
// source's time).
//
// Per group, holding its lock (agent/core/group_lock.h):
//   1. observe: one DescribeSnapshots, OwnerIds=self, filtered on ebsnap:group and the filter
//      tags' values (every page);
//   2. decide: plan_prune (agent/commands/prune_decide.h), pure; the plan goes into the report
//      whole: every run of every lineage with its verdict and reasons. `--dry-run` stops here;
//   3. act: DeleteSnapshot of exactly the plan's deletes, in its order (oldest run first), paced
//      at config.delete_rate_per_s: EC2's DeleteSnapshot bucket (100 burst, 5/s refill) is shared
//      by everything in the account and region. Throttling is the client's to wait out (its
//      pacing, ec2/pacing.h, up to timeouts.throttled_s); a call still throttled after that stops
//      the group, the rest left for the next prune. A snapshot an AMI uses (InvalidSnapshot.InUse)
//      is kept and reported, not a failure;
//      one already gone (NotFound) is reported as such. IAM refusing DeleteSnapshot stops the
//      group at once (every later call would be refused alike), as do 5 failures in a row.
//   4. progress: a bar on stderr when it is a terminal, else a log line every 5 s.
#include <chrono>
#include <cstdint>
#include <string>

#include "agent/commands/prune_decide.h"
#include "agent/config/config.h"
#include "agent/core/services.h"
#include "agent/report/report.h"

namespace agent {

struct PruneOptions {
  bool progress_bar = false;  // stderr is a terminal
};

// The plan, as the report shows it (the real run and --dry-run print the same).
[[nodiscard]] PruneReport describe_plan(const std::string& group, const PrunePlan& plan);

// The groups' prunes, holding their locks. A group without a retention policy is an error of
// that group (the command line refuses it before, with exit 2).
[[nodiscard]] RunReport prune(const RunContext& context, const PruneOptions& options = {});

// One group's prune, its lock held by the caller (snapshot's prune_after_snapshot): appends its
// PruneReport to report.prune; a failure becomes the error of report.group(group.name).
void prune_group(const RunContext& context, const GroupConfig& group, const PruneOptions& options, RunReport& report);

// How prune paces its deletes: one every 1/per_second, the first at once. Pure: the caller sleeps
// until ready_at() and says when a call was sent.
class DeletePace {
 public:
  DeletePace(std::int32_t per_second, std::chrono::steady_clock::time_point start);

  [[nodiscard]] std::chrono::steady_clock::time_point ready_at() const { return next_; }
  void sent(std::chrono::steady_clock::time_point now);

 private:
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point next_;
};

inline constexpr int k_prune_max_failures_in_a_row = 5;

}  // namespace agent
