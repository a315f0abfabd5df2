#include "agent/commands/prune.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "agent/core/compat.h"
#include "agent/core/group_lock.h"
#include "agent/core/log.h"
#include "agent/core/progress.h"
#include "agent/core/tags.h"

namespace agent {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

DeletePace::DeletePace(std::int32_t per_second, Steady::time_point start)
    : interval_(1'000 / std::max(per_second, 1)), next_(start) {}

void DeletePace::sent(Steady::time_point now) {
  next_ = std::max(now, next_) + interval_;
}

PruneReport describe_plan(const std::string& group, const PrunePlan& plan) {
  PruneReport out{.group = group};
  out.runs.reserve(plan.runs.size());
  for (const auto& r : plan.runs) {
    PruneRunReport run{.run_id = r.run_id, .time = format_utc(r.time), .verdict = std::string(to_string(r.verdict))};
    for (const auto reason : r.reasons.list()) run.reasons.push_back(describe(reason, r.time));
    std::set<std::string> mount_points;
    for (const auto& m : r.members) {
      run.snapshots.push_back(m.snapshot->id.value);
      if (m.lineage != k_no_lineage) mount_points.insert(plan.lineages[m.lineage].mount_point);
    }
    run.mount_points.assign(mount_points.begin(), mount_points.end());
    if (r.expires) run.expires = ec2::format_iso8601(*r.expires);
    out.runs.push_back(std::move(run));
  }
  for (const auto& l : plan.lineages) {
    PruneLineageReport lineage{.mount_point = l.mount_point};
    for (const auto i : l.runs) lineage.runs.push_back(plan.runs[i].run_id);
    if (l.newest) lineage.newest = plan.runs[*l.newest].run_id;
    out.lineages.push_back(std::move(lineage));
  }
  for (const auto& id : plan.deletes) out.planned.push_back(id.value);
  out.deferred = static_cast<std::int64_t>(plan.deferred);
  out.skipped = static_cast<std::int64_t>(plan.skipped.size());
  return out;
}

namespace {

class GroupPrune {
 public:
  GroupPrune(const RunContext& c, const GroupConfig& group, const PruneOptions& options, RunReport& report)
      : c_(c), s_(c.services), group_(group), options_(options), report_(report) {}

  void run() {
    auto& out = report_.group(group_.name);
    // In a region the group copies to, the copies' own policy (copy_to's retention).
    const auto* copies = find_copy_destination(group_, c_.instance.region);
    const auto& retention = copies != nullptr ? copies->retention : group_.retention;
    if (!retention) {
      out.error = copies != nullptr ? "group " + group_.name + " has no retention for its copies in " +
                                          c_.instance.region + " (copy_to): nothing to prune there"
                                    : "group " + group_.name + " has no retention policy: nothing to prune";
      return;
    }
    std::vector<ec2::Filter> filters{{"tag:" + std::string(k_tag_group), {group_.name}}};
    for (const auto& f : c_.filters) filters.push_back({"tag:" + f.key, {f.value}});
    auto snapshots = s_.ec2.describe_snapshots({.owner_ids = {"self"}, .filters = std::move(filters)});
    if (snapshots && c_.config.compat_snaptastic) {
      std::vector<std::string> mount_points;
      for (const auto& v : group_.volumes) mount_points.push_back(v.mount_point);
      auto theirs = s_.ec2.describe_snapshots({.owner_ids = {"self"}, .filters = snaptastic_filters(c_.filters, mount_points)});
      if (!theirs) {
        snapshots = std::unexpected(theirs.error());
      } else {
        std::ranges::move(adopt_snaptastic(*theirs, c_.filters, mount_points, group_.name),
                          std::back_inserter(*snapshots));
      }
    }
    if (!snapshots) {
      out.error = "DescribeSnapshots failed: " + snapshots.error().describe();
      log_agent().error("prune group={} status=failed error=\"{}\"", group_.name, snapshots.error().describe());
      return;
    }
    const auto plan = plan_prune(PruneInputs{.snapshots = *snapshots,
                                             .owner = PruneOwner{.group = group_.name, .filters = c_.filters},
                                             .policy = *retention,
                                             .now = s_.clock.now()});
    report_.prune.push_back(describe_plan(group_.name, plan));
    auto& pruned = report_.prune.back();
    pruned.delete_rate_per_s = c_.config.delete_rate_per_s;
    log_agent().info("prune group={} snapshots={} runs={} deletes={} deferred={} dry_run={}", group_.name,
                     snapshots->size(), plan.runs.size(), plan.deletes.size(), plan.deferred, s_.options.dry_run);
    if (s_.options.dry_run || plan.deletes.empty()) return;
    delete_planned(plan.deletes, pruned);
    if (const auto error = summary_error(pruned)) out.error = *error;
  }

 private:
  void delete_planned(const std::vector<ec2::SnapshotId>& deletes, PruneReport& out) {
    DeletePace pace(c_.config.delete_rate_per_s, s_.clock.monotonic());
    Progress progress(s_.clock, "prune " + group_.name, options_.progress_bar);
    const auto count = [&deletes](std::size_t done) { return fmt::format("{}/{}", done, deletes.size()); };
    int failures_in_a_row = 0;
    std::size_t i = 0;
    for (; i < deletes.size();) {
      const auto wait = duration_cast<milliseconds>(pace.ready_at() - s_.clock.monotonic());
      if (wait > milliseconds::zero()) s_.sleeper.sleep_for(wait);
      const auto& id = deletes[i];
      auto deleted = s_.ec2.delete_snapshot({.snapshot_id = id});
      pace.sent(s_.clock.monotonic());
      if (!deleted && deleted.error().kind == ec2::ErrorKind::Throttled) {
        // The client paced and resent it for timeouts.throttled_s (or retried it, pacing off):
        // EC2 stays busy for longer than this run is willing to wait.
        ++out.throttled;
        stop_ = "EC2 still throttled DeleteSnapshot after the client's pacing and retries (timeouts.throttled_s); "
                "the rest is left for the next prune";
        log_agent().warn("prune group={} snapshot_id={} throttled; stopping", group_.name, id.value);
        break;
      }
      ++i;
      progress.update(i, deletes.size(), count(i), [&] {
        log_agent().info("prune group={} deleted={}/{}", group_.name, i, deletes.size());
      });
      if (deleted) {
        failures_in_a_row = 0;
        out.deleted.push_back(id.value);
        log_agent().debug("prune group={} snapshot_id={} status=deleted", group_.name, id.value);
        continue;
      }
      const auto& e = deleted.error();
      if (e.kind == ec2::ErrorKind::NotFound) {
        failures_in_a_row = 0;
        out.already_gone.push_back(id.value);
      } else if (e.kind == ec2::ErrorKind::InUse) {
        failures_in_a_row = 0;
        out.in_use.push_back(id.value);
        log_agent().info("prune group={} snapshot_id={} status=kept reason=\"in use: {}\"", group_.name, id.value,
                         e.message);
      } else {
        out.failed.push_back({.snapshot_id = id.value, .error = e.describe()});
        log_agent().error("prune group={} snapshot_id={} status=failed error=\"{}\"", group_.name, id.value,
                          e.describe());
        if (e.kind == ec2::ErrorKind::Unauthorized || e.kind == ec2::ErrorKind::Auth) {
          stop_ = "DeleteSnapshot refused: " + e.describe();
          break;
        }
        if (++failures_in_a_row >= k_prune_max_failures_in_a_row) {
          stop_ = fmt::format("{} DeleteSnapshot failures in a row; the rest is left for the next prune",
                              failures_in_a_row);
          break;
        }
      }
    }
    progress.finish(i, deletes.size(), count(i));
    for (; i < deletes.size(); ++i) out.not_attempted.push_back(deletes[i].value);
    log_agent().info("prune group={} deleted={} already_gone={} in_use={} failed={} not_attempted={} throttled={}",
                     group_.name, out.deleted.size(), out.already_gone.size(), out.in_use.size(), out.failed.size(),
                     out.not_attempted.size(), out.throttled);
  }

  // The group's error: why it stopped, and how many deletes failed.
  [[nodiscard]] std::optional<std::string> summary_error(const PruneReport& out) const {
    std::vector<std::string> parts;
    if (stop_) parts.push_back(*stop_);
    if (!out.failed.empty()) parts.push_back(fmt::format("{} DeleteSnapshot call(s) failed", out.failed.size()));
    if (parts.empty()) return std::nullopt;
    return fmt::format("{}", fmt::join(parts, "; "));
  }

  const RunContext& c_;
  Services& s_;
  const GroupConfig& group_;
  const PruneOptions& options_;
  RunReport& report_;
  std::optional<std::string> stop_;
};

}  // namespace

void prune_group(const RunContext& context, const GroupConfig& group, const PruneOptions& options, RunReport& report) {
  GroupPrune(context, group, options, report).run();
}

RunReport prune(const RunContext& context, const PruneOptions& options) {
  return with_group_locks(context, "prune", [&] {
    RunReport report = new_report("prune", context);
    for (const auto* g : context.groups) prune_group(context, *g, options, report);
    return report;
  });
}

}  // namespace agent
