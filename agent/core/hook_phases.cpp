#include "agent/core/hook_phases.h"

#include "agent/core/log.h"

namespace agent {

std::expected<void, HookError> ProcessHookRunner::run(const Hooks& hooks, HookPhase phase, const HookContext& context,
                                                      const HookRunOptions& options) {
  return run_hooks(hooks, phase, context, options);
}

HookPhases::HookPhases(HookRunner& runner, const GroupConfig& group, Names names, std::chrono::milliseconds timeout,
                       bool dry_run)
    : runner_(runner), group_(group), names_(names), options_{.timeout = timeout}, dry_run_(dry_run) {}

std::expected<void, HookError> HookPhases::run(HookPhase phase, const HookContext& context) {
  if (dry_run_) return {};
  auto r = runner_.run(group_.hooks, phase, context, options_);
  if (!r) {
    log_agent().error("hook phase={} group={} mount_point={} error=\"{}\"", to_string(phase), group_.name,
                      context.mount_point.value_or("-"), r.error().describe());
  }
  return r;
}

std::expected<void, HookError> HookPhases::pre_group() { return run(names_.pre_group, HookContext{.group = group_.name}); }

std::optional<HookError> HookPhases::post_group(bool ok) {
  if (auto r = run(names_.post_group, HookContext{.group = group_.name, .ok = ok}); !r) return r.error();
  return std::nullopt;
}

std::expected<void, HookError> HookPhases::pre_volume(const HookContext& context) {
  return run(names_.pre_volume, context);
}

std::optional<HookError> HookPhases::post_volume(HookContext context, bool ok) {
  context.ok = ok;
  if (auto r = run(names_.post_volume, context); !r) return r.error();
  return std::nullopt;
}

void HookPhases::on_failure(HookContext context, const std::string& error) {
  {
    std::lock_guard lock(mutex_);
    if (!failure_ran_.insert(context.mount_point.value_or("")).second) return;
  }
  context.ok = false;
  context.error = error;
  (void)run(HookPhase::OnFailure, context);  // logged by run(); a failing on_failure changes nothing
}

void HookPhases::on_success(RunReport& report) {
  auto& group = report.group(group_.name);
  if (dry_run_ || !group.ok()) return;
  const HookContext context{.group = group_.name, .ok = true, .report_json = render_json(report)};
  if (auto r = run(HookPhase::OnSuccess, context); !r) group.warnings.push_back(r.error().describe());
}

}  // namespace agent
