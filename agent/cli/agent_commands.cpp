#include "agent/cli/agent_commands.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>

#include "agent/commands/check.h"
#include "agent/commands/list.h"
#include "agent/core/log.h"
#include "agent/commands/mount.h"
#include "agent/core/runtime.h"
#include "agent/commands/snapshot.h"
#include "agent/core/snapshot_record.h"
#include "agent/commands/thaw.h"
#include "agent/commands/unmount.h"
#include "ec2/ec2_client.h"
#include "ec2/environment.h"

namespace agent {
namespace {

using Clock = std::chrono::system_clock;

RunReport start_report(std::string command, bool dry_run) {
  RunReport report;
  report.command = std::move(command);
  report.dry_run = dry_run;
  report.started_at = Clock::now();
  return report;
}

void finish_report(RunReport& report) {
  report.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - report.started_at).count();
}

// The group's report, made on first use, in the order groups first appear.
GroupReport& group_of(RunReport& report, const std::string& name) {
  for (auto& g : report.groups) {
    if (g.name == name) return g;
  }
  report.groups.push_back(GroupReport{.name = name});
  return report.groups.back();
}

std::optional<std::string> text_if(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

template <class Id>
std::optional<std::string> id_of(const std::optional<Id>& id) {
  if (!id) return std::nullopt;
  return id->value;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += "; ";
    out += l;
  }
  return out;
}

// The Services of a run, or the report says why there are none.
std::unique_ptr<Runtime> make_runtime(const CommandContext& context, RunReport& report) {
  auto runtime = Runtime::create(context.config, RuntimeOptions{.region = context.region,
                                                                .dry_run = context.dry_run});
  if (!runtime) {
    report.error = runtime.error().describe();
    log_agent().error("setup failed error=\"{}\"", *report.error);
    return nullptr;
  }
  return std::move(*runtime);
}

std::vector<std::string> names_of(const GroupRefs& groups) {
  std::vector<std::string> names;
  for (const auto* g : groups) names.push_back(g->name);
  return names;
}

// Every group asked for appears in the report, even one with no volume in the result.
void add_groups(RunReport& report, const GroupRefs& groups) {
  for (const auto* g : groups) (void)group_of(report, g->name);
}

bool confirm_delete(const GroupRefs& groups) {
  std::cerr << "Delete the EBS volumes of " << join(names_of(groups))
            << " after detaching them? Their data then lives only in their snapshots. [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

std::int64_t milliseconds_of(std::chrono::microseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// A mount or unmount volume into its group's report. Under --dry-run what would change something
// is "planned"; a failure, and what needed nothing (already mounted, not attached), stay as they are.
void add_volume(RunReport& report, const std::string& group, VolumeReport r, bool dry_run) {
  const bool changes = r.outcome != Outcome::failed && r.outcome != Outcome::already_mounted &&
                       r.outcome != Outcome::not_attached;
  if (dry_run && changes) r.outcome = Outcome::planned;
  group_of(report, group).volumes.push_back(std::move(r));
}

// What each result adds to the report of its command: volumes go to their group's report (made
// on first use), failures outside a volume become the run's error.
void add_result(RunReport& report, const RestoreResult& result) {
  for (const auto& v : result.volumes) {
    VolumeReport r{.mount_point = v.mount_point,
                   .device = v.device,
                   .volume_id = id_of(v.volume_id),
                   .snapshot_id = id_of(v.snapshot_id),
                   .reason = text_if(v.reason),
                   .attached_as = text_if(v.attached_as),
                   .devnode = text_if(v.devnode),
                   .filesystem = text_if(v.filesystem),
                   .formatted = v.formatted,
                   .plan = v.plan,
                   .warnings = v.warnings};
    switch (v.status) {
      case VolumeStatus::Restored: r.outcome = v.reused ? Outcome::reused : Outcome::restored; break;
      case VolumeStatus::Created: r.outcome = v.reused ? Outcome::reused : Outcome::created; break;
      case VolumeStatus::AlreadyMounted: r.outcome = Outcome::already_mounted; break;
      case VolumeStatus::Failed: r.outcome = Outcome::failed; break;
    }
    add_volume(report, v.group, std::move(r), result.dry_run);
  }
  if (!result.errors.empty()) report.error = join(result.errors);
}

void add_reconciled(RunReport& report, const std::vector<ReconcileResult>& reconciled) {
  auto ids = [](const std::vector<ec2::SnapshotId>& snapshots) {
    std::vector<std::string> out;
    for (const auto& s : snapshots) out.push_back(s.value);
    return out;
  };
  for (const auto& r : reconciled) {
    report.reconciled.push_back(ReconcileReport{.run_id = r.run_id,
                                                .group = r.group,
                                                .found = ids(r.found),
                                                .retagged = ids(r.retagged),
                                                .deleted = ids(r.deleted),
                                                .record_removed = r.record_removed,
                                                .error = r.error,
                                                .note = r.note});
  }
}

void add_result(RunReport& report, const SnapshotResult& result) {
  add_reconciled(report, result.reconciled);
  for (const auto& g : result.groups) {
    auto& group = group_of(report, g.name);
    group.error = g.error;
    if (g.freeze_window) group.freeze_window_ms = milliseconds_of(*g.freeze_window);
    for (const auto& v : g.volumes) {
      VolumeReport r{.mount_point = v.mount_point,
                     .device = v.device,
                     .volume_id = id_of(v.volume_id),
                     .snapshot_id = id_of(v.snapshot_id),
                     .reason = text_if(v.reason)};
      switch (v.outcome) {
        case SnapshotOutcome::Snapshotted: r.outcome = Outcome::snapshotted; break;
        case SnapshotOutcome::Planned: r.outcome = Outcome::planned; break;
        case SnapshotOutcome::Skipped: r.outcome = Outcome::skipped; break;
        case SnapshotOutcome::Failed: r.outcome = Outcome::failed; break;
      }
      if (v.consistency) r.consistency = std::string(to_string(*v.consistency));
      if (v.freeze_window) r.freeze_ms = milliseconds_of(*v.freeze_window);
      group.volumes.push_back(std::move(r));
    }
  }
  if (result.error) report.error = result.error;
}

void add_result(RunReport& report, const UnmountResult& result) {
  for (const auto& v : result.volumes) {
    VolumeReport r{.mount_point = v.mount_point,
                   .device = v.device,
                   .volume_id = id_of(v.volume_id),
                   .reason = text_if(v.reason),
                   .devnode = text_if(v.devnode),
                   .plan = v.plan,
                   .warnings = v.warnings};
    switch (v.status) {
      case UnmountStatus::Unmounted: r.outcome = Outcome::unmounted; break;
      case UnmountStatus::Deleted: r.outcome = Outcome::deleted; break;
      case UnmountStatus::NotAttached: r.outcome = Outcome::not_attached; break;
      case UnmountStatus::Failed: r.outcome = Outcome::failed; break;
    }
    add_volume(report, v.group, std::move(r), result.dry_run);
  }
  if (!result.errors.empty()) report.error = join(result.errors);
}

void add_result(RunReport& report, const ListResult& result) {
  for (const auto& e : result.volumes) {
    VolumeReport r{.mount_point = e.mount_point,
                   .device = e.device,
                   .volume_id = id_of(e.volume_id),
                   .outcome = Outcome::listed,
                   .state = e.state,
                   .latest_snapshot_id = id_of(e.snapshot_id),
                   .devnode = text_if(e.devnode)};
    if (e.size_gib) r.size_gib = *e.size_gib;
    if (e.snapshot_time) r.latest_snapshot_time = format_utc(*e.snapshot_time);
    if (!e.snapshot_consistency.empty()) r.consistency = e.snapshot_consistency;
    if (!e.mounted_source.empty()) r.reason = "mounted there: " + e.mounted_source;
    group_of(report, e.group).volumes.push_back(std::move(r));
  }
  if (!result.errors.empty()) report.error = join(result.errors);
}

void add_result(RunReport& report, const CheckResult& result) {
  for (const auto& item : result.items) {
    report.checks.push_back(CheckReport{.name = item.name, .ok = item.ok, .detail = item.detail});
  }
  for (const auto& action : result.missing_actions) report.missing_actions.push_back("ec2:" + action);
}

void add_result(RunReport& report, const ThawCommandResult& result) {
  add_reconciled(report, result.reconciled);
  for (const auto& e : result.entries) {
    ThawReport r{.mount_point = e.mount_point};
    switch (e.outcome) {
      case platform::ThawOutcome::Thawed: r.outcome = ThawOutcome::thawed; break;
      case platform::ThawOutcome::NotFrozen: r.outcome = ThawOutcome::not_frozen; break;
      case platform::ThawOutcome::Skipped:
        r.outcome = ThawOutcome::not_frozen;
        r.reason = "frozen by someone else: left alone";
        break;
      case platform::ThawOutcome::Failed:
        r.outcome = ThawOutcome::failed;
        r.reason = e.error;
        break;
    }
    report.thaw.push_back(std::move(r));
  }
  if (result.error) report.error = result.error;
}

template <class Result>
RunReport report_alone(std::string command, bool dry_run, const Result& result) {
  RunReport report{.command = std::move(command), .dry_run = dry_run};
  add_result(report, result);
  return report;
}

}  // namespace

RunReport report_of(const RestoreResult& result) { return report_alone("mount", result.dry_run, result); }
RunReport report_of(const SnapshotResult& result) { return report_alone("snapshot", result.dry_run, result); }
RunReport report_of(const UnmountResult& result) { return report_alone("unmount", result.dry_run, result); }
RunReport report_of(const ListResult& result) { return report_alone("list", false, result); }
RunReport report_of(const CheckResult& result) { return report_alone("check", false, result); }
RunReport report_of(const ThawCommandResult& result) { return report_alone("thaw", false, result); }

std::expected<std::optional<std::string>, std::string> AgentCommands::instance_userdata() {
  auto imds = make_imds(ec2::process_environment());
  auto data = imds->user_data();
  if (!data) return std::unexpected("userdata from IMDS: " + data.error().describe());
  return *data;
}

RunReport AgentCommands::mount(const CommandContext& context, const GroupRefs& groups) {
  auto report = start_report("mount", context.dry_run);
  add_groups(report, groups);
  if (auto runtime = make_runtime(context, report)) {
    add_result(report, restore_groups(runtime->services(), context.config, *context.filter_values,
                                      runtime->instance(), groups));
  }
  finish_report(report);
  return report;
}

RunReport AgentCommands::snapshot(const CommandContext& context, const GroupRefs& groups) {
  auto report = start_report("snapshot", context.dry_run);
  add_groups(report, groups);
  if (auto runtime = make_runtime(context, report)) {
    add_result(report, take_snapshots(context.config, *context.filter_values, runtime->instance(),
                                      runtime->services(), SnapshotOptions{.groups = names_of(groups)}));
  }
  finish_report(report);
  return report;
}

RunReport AgentCommands::unmount(const CommandContext& context, const GroupRefs& groups,
                                 const UnmountOptions& options) {
  auto report = start_report("unmount", context.dry_run);
  add_groups(report, groups);
  if (options.delete_volumes && !options.assume_yes && !context.dry_run) {
    if (!context.interactive) {
      report.error = "--delete-volumes without a terminal to ask on: add --yes to confirm";
      finish_report(report);
      return report;
    }
    if (!confirm_delete(groups)) {
      report.error = "not confirmed: nothing was unmounted or deleted";
      finish_report(report);
      return report;
    }
  }
  if (auto runtime = make_runtime(context, report)) {
    const FilterValues filters = context.filter_values ? *context.filter_values : FilterValues{};
    add_result(report, unmount_groups(runtime->services(), context.config, filters, runtime->instance(), groups,
                                      options.delete_volumes));
  }
  finish_report(report);
  return report;
}

RunReport AgentCommands::list(const CommandContext& context, const GroupRefs& groups) {
  auto report = start_report("list", context.dry_run);
  add_groups(report, groups);
  if (auto runtime = make_runtime(context, report)) {
    add_result(report, list_groups(runtime->services(), *context.filter_values, runtime->instance(), groups));
  }
  finish_report(report);
  return report;
}

RunReport AgentCommands::check(const CommandContext& context) {
  auto report = start_report("check", context.dry_run);
  const auto& env = ec2::process_environment();
  auto imds = make_imds(env);
  CheckInputs inputs{.config = &context.config};
  if (!ec2::ImdsOptions::from_environment(env).disabled) inputs.imds = imds.get();
  auto credentials = make_credentials(context.config, env, imds);
  inputs.credentials = credentials.get();
  std::unique_ptr<ec2::Ec2Client> client;
  auto region = resolve_region(context.region, env, context.config, *imds);
  if (region) {
    inputs.region = *region;
    auto made = ec2::Ec2Client::create(ec2::Ec2ClientOptions{.region = *region, .credentials = credentials}, env);
    if (made) {
      client = std::move(*made);
      inputs.ec2 = client.get();
    } else {
      inputs.ec2_error = made.error().describe();
    }
  } else {
    inputs.ec2_error = region.error().describe();
  }
  if (!context.filter_values) inputs.config_error = context.filter_values.error().describe();
  add_result(report, run_check(inputs));
  finish_report(report);
  return report;
}

RunReport AgentCommands::thaw(const ThawRequest& request) {
  auto report = start_report("thaw", request.dry_run);
  const auto& env = ec2::process_environment();
  ThawCommandOptions options{.mount_points = request.mount_points,
                             .all = request.all,
                             .run_dir = run_dir_from(env)};
  // Thawing comes first and needs nothing else. Afterwards, when EC2 can be reached (credentials
  // and region from the environment or IMDS), the snapshot tags of runs that died are corrected.
  std::unique_ptr<Runtime> runtime;
  if (request.all && !request.dry_run) {
    auto made = Runtime::create(Config{}, RuntimeOptions{});
    if (made) {
      runtime = std::move(*made);
      options.ec2 = &runtime->services().ec2;
      options.clock = &runtime->services().clock;
    } else {
      log_agent().info("thaw: no EC2 access, snapshot tags of interrupted runs are not reconciled now error=\"{}\"",
                       made.error().describe());
    }
  }
  if (request.dry_run) {
    for (const auto& mp : request.mount_points) {
      report.thaw.push_back(ThawReport{.mount_point = mp, .outcome = ThawOutcome::not_frozen,
                                       .reason = "dry run: not thawed"});
    }
    finish_report(report);
    return report;
  }
  add_result(report, run_thaw(options));
  finish_report(report);
  return report;
}

}  // namespace agent
