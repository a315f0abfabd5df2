#include "agent/commands/shutdown.h"

#include "agent/core/log.h"
#include "agent/core/tags.h"

namespace agent {

ShutdownPlan decide_shutdown(const GroupConfig& group) {
  return {.snapshot = group.snapshot_on_shutdown, .unmount = group.unmount_on_shutdown};
}

RunReport shutdown(const RunContext& context, const ShutdownOptions& options) {
  RunReport report = new_report("shutdown", context);
  report.trigger = std::string(to_string(Trigger::Shutdown));
  RunContext to_snapshot = context;
  RunContext to_unmount = context;
  to_snapshot.groups.clear();
  to_unmount.groups.clear();
  for (const auto* g : context.groups) {
    const auto plan = decide_shutdown(*g);
    if (plan.snapshot) to_snapshot.groups.push_back(g);
    if (plan.unmount) to_unmount.groups.push_back(g);
    log_agent().info("shutdown group={} snapshot={} unmount={}", g->name, plan.snapshot, plan.unmount);
  }
  if (!to_snapshot.groups.empty()) absorb_report(report, options.snapshot(to_snapshot));
  if (!to_unmount.groups.empty()) absorb_report(report, options.unmount(to_unmount));
  return report;
}

}  // namespace agent
