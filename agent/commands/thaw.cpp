#include "agent/commands/thaw.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "agent/core/log.h"
#include "agent/core/snapshot_record.h"

namespace agent {

ThawPlan plan_thaw(const std::vector<std::string>& mount_points, bool all,
                   const std::vector<platform::FreezeStateRecord>& records) {
  ThawPlan plan;
  std::set<std::string> seen;
  auto add = [&](const std::string& mp, std::optional<std::string> file) {
    // Recorded twice (two state files): the first FITHAW settles it.
    if (seen.insert(mp).second) plan.targets.push_back({.mount_point = mp, .state_file = std::move(file)});
  };
  for (const auto& mp : mount_points) add(mp, std::nullopt);
  if (all) {
    for (const auto& record : records) {
      for (auto it = record.mount_points.rbegin(); it != record.mount_points.rend(); ++it) add(*it, record.path);
    }
  }
  if (!all && mount_points.empty()) plan.error = "nothing to thaw: name mount points or --all";
  return plan;
}

namespace {

ThawReport thaw_one(const ThawFunction& thaw, const std::string& mp) {
  ThawReport out{.mount_point = mp};
  auto r = thaw(mp);
  if (r) {
    out.outcome = *r;
  } else {
    out.outcome = platform::ThawOutcome::Failed;
    out.reason = r.error().describe();
  }
  log_agent().info("thaw mount_point={} result={}{}", mp, to_string(*out.outcome),
                   out.reason ? " error=\"" + *out.reason + "\"" : "");
  return out;
}

}  // namespace

RunReport thaw(const ThawOptions& options) {
  RunReport report = new_report("thaw", options.dry_run);
  std::vector<platform::FreezeStateRecord> records;
  if (options.all) {
    auto read = platform::read_freeze_states(options.run_dir.string());
    if (read) {
      records = std::move(*read);
    } else {
      report.add_error(read.error().message);  // names the run directory and what is wrong with it
    }
  }
  const auto plan = plan_thaw(options.mount_points, options.all, records);
  if (plan.error) report.add_error(*plan.error);
  if (options.dry_run) {
    for (const auto& t : plan.targets) {
      report.thaw.push_back({.mount_point = t.mount_point,
                             .outcome = std::nullopt,
                             .reason = t.state_file ? "would FITHAW: recorded frozen in " + *t.state_file
                                                    : std::string("would FITHAW: named on the command line")});
    }
    return report;
  }
  const ThawFunction thaw = options.thaw ? options.thaw : ThawFunction{[](const std::string& mp) { return platform::thaw(mp); }};
  std::set<std::string> unsettled;
  for (const auto& t : plan.targets) {
    report.thaw.push_back(thaw_one(thaw, t.mount_point));
    if (report.thaw.back().outcome == platform::ThawOutcome::Failed) unsettled.insert(t.mount_point);
  }
  for (const auto& record : records) {
    const bool settled = std::ranges::none_of(record.mount_points, [&](const std::string& mp) { return unsettled.contains(mp); });
    if (settled) ::unlink(record.path.c_str());
  }
  // Only now, with everything thawed that could be: correct the tags of runs that died.
  if (options.ec2 != nullptr && options.clock != nullptr) {
    report.reconciled = reconcile_interrupted_snapshots(*options.ec2, *options.clock, options.run_dir);
  }
  return report;
}

}  // namespace agent
