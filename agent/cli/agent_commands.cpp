#include "agent/cli/agent_commands.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <set>

#include "agent/commands/check.h"
#include "agent/commands/check_backups.h"
#include "agent/commands/freeze.h"
#include "agent/commands/gc.h"
#include "agent/commands/history.h"
#include "agent/commands/list.h"
#include "agent/core/log.h"
#include "agent/commands/mount.h"
#include "agent/commands/prewarm.h"
#include "agent/commands/copy.h"
#include "agent/commands/prune.h"
#include "agent/core/runtime.h"
#include "agent/report/metrics.h"
#include "agent/commands/shutdown.h"
#include "agent/commands/snapshot.h"
#include "agent/commands/thaw.h"
#include "agent/commands/unmount.h"
#include "ec2/ec2_client.h"
#include "ec2/environment.h"

namespace agent {
namespace {

std::vector<std::string> names_of(const GroupRefs& groups) {
  std::vector<std::string> names;
  for (const auto* g : groups) names.push_back(g->name);
  return names;
}

bool confirm_delete(const GroupRefs& groups) {
  std::string names;
  for (const auto& name : names_of(groups)) names += (names.empty() ? "" : ", ") + name;
  std::cerr << "Delete the EBS volumes of " << names
            << " after detaching them? Their data then lives only in their snapshots. [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

bool confirm_gc(const GcPlan& plan) {
  std::cerr << "ebsnap's available volumes to delete:\n";
  for (const auto& item : plan.items) {
    if (item.remove) {
      std::cerr << "  " << item.volume.id.value << "  " << item.group << "  " << item.mount_point << "  "
                << item.volume.size_gib << " GiB\n";
    }
  }
  std::cerr << "Delete these " << plan.to_delete() << " volume(s)? Their data then lives only in snapshots, if any. [y/N] "
            << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

// prewarm's stop: SIGINT and SIGTERM (systemctl stop) end the reads after those in flight, and the
// offset is saved. A lock-free atomic is what a signal handler may touch.
std::atomic<bool> g_prewarm_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void stop_prewarm(int /*signal*/) { g_prewarm_stop = true; }

void on_stop_signals_stop_prewarm() {
  struct sigaction action {};
  action.sa_handler = stop_prewarm;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

// shutdown's time bound: SIGALRM ends the process with one line (prepared before the alarm is set:
// a signal handler may only write and _exit). The thaw guardian thaws what was frozen when the
// agent dies; the next run reconciles the run record.
char g_deadline_line[192];
std::size_t g_deadline_line_size = 0;

void on_deadline(int /*signal*/) {
  (void)!::write(STDERR_FILENO, g_deadline_line, g_deadline_line_size);
  ::_exit(1);
}

void end_run_after(std::chrono::seconds bound) {
  const int n = std::snprintf(g_deadline_line, sizeof g_deadline_line,
                              "ebsnap: shutdown: stopped after its bound of %llds (--timeout); the next run finishes "
                              "what is left\n",
                              static_cast<long long>(bound.count()));
  g_deadline_line_size = n > 0 ? std::min<std::size_t>(static_cast<std::size_t>(n), sizeof g_deadline_line - 1) : 0;
  struct sigaction action {};
  action.sa_handler = on_deadline;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGALRM, &action, nullptr);
  ::alarm(static_cast<unsigned>(bound.count()));
}

// watch's stop: SIGINT and SIGTERM write a byte to a pipe that the wait between polls watches, so
// a stop ends the wait at once, and a snapshot under way is finished first (systemd's stop timeout
// bounds it). The pipe is close-on-exec: hooks and the guardian never hold it.
int g_watch_stop[2] = {-1, -1};

void stop_watch(int /*signal*/) {
  const char byte = 1;
  (void)!::write(g_watch_stop[1], &byte, 1);
}

bool on_stop_signals_stop_watch() {
  if (g_watch_stop[0] < 0 && ::pipe2(g_watch_stop, O_CLOEXEC | O_NONBLOCK) != 0) return false;
  struct sigaction action {};
  action.sa_handler = stop_watch;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  return true;
}

// Waits up to `d`; true when a stop signal came.
bool wait_or_stop(std::chrono::milliseconds d) {
  pollfd p{.fd = g_watch_stop[0], .events = POLLIN, .revents = 0};
  int r = ::poll(&p, 1, static_cast<int>(d.count()));
  if (r < 0 && errno == EINTR) r = ::poll(&p, 1, 0);  // the signal's byte is in the pipe by now
  return r > 0;
}

// What a copy_to's retention would not keep of the destination's snapshots: prune's planner.
std::set<std::string> not_kept_by(const std::vector<ec2::Snapshot>& there, std::string_view group,
                                  const FilterValues& filters, const RetentionPolicy& retention,
                                  ec2::TimePoint now) {
  return runs_not_kept(PruneInputs{.snapshots = there,
                                   .owner = PruneOwner{.group = group, .filters = filters},
                                   .policy = retention,
                                   .now = now});
}

// copy's options on this terminal, with prune_after_copy's prune and the copy_to retention's
// planner (copy leaves out what the destination's prune would delete).
CopyOptions copy_options() {
  const bool bar = ::isatty(STDERR_FILENO) == 1;
  CopyOptions options{.progress_bar = bar, .retention = not_kept_by};
  options.prune = [bar](const RunContext& run, const GroupConfig& group, RunReport& report) {
    prune_group(run, group, PruneOptions{.progress_bar = bar}, report);
  };
  return options;
}

}  // namespace

std::shared_ptr<ec2::Imds> AgentCommands::imds() {
  if (!imds_) imds_ = make_imds(ec2::process_environment());
  return imds_;
}

ec2::Result<std::optional<std::string>> AgentCommands::instance_userdata() { return imds()->user_data(); }

bool fleet_starts_together(std::string_view command) { return command == "mount" || command == "prune"; }

template <class Command>
RunReport AgentCommands::with_context(const std::string& name, const CommandContext& context, const GroupRefs& groups,
                                      Command command) {
  const auto started = std::chrono::system_clock::now();
  auto runtime = Runtime::create(
      context.config,
      RuntimeOptions{.region = context.region, .dry_run = context.dry_run, .fleet_share = fleet_starts_together(name)}, imds());
  RunReport report;
  if (runtime) {
    const RunContext run{.services = (*runtime)->services(),
                         .config = context.config,
                         .filters = context.filter_values ? *context.filter_values : FilterValues{},
                         .instance = (*runtime)->instance(),
                         .groups = groups};
    report = command(run);
    report.ec2_requests = (*runtime)->ec2_requests();
  } else {
    report = new_report(name, context.dry_run, names_of(groups));
    report.not_run(runtime.error().describe());
    log_agent().error("setup failed error=\"{}\"", runtime.error().describe());
  }
  report.started_at = started;
  finish_report(report);
  return report;
}

RunReport AgentCommands::mount(const CommandContext& context, const GroupRefs& groups, const MountOptions& options) {
  MountOptions with_bar = options;
  with_bar.progress_bar = ::isatty(STDERR_FILENO) == 1;
  return with_context("mount", context, groups,
                      [&with_bar](const RunContext& run) { return agent::mount(run, with_bar); });
}

RunReport AgentCommands::history(const CommandContext& context, const GroupRefs& groups) {
  return with_context("history", context, groups, [](const RunContext& run) { return agent::history(run); });
}

RunReport AgentCommands::snapshot(const CommandContext& context, const GroupRefs& groups) {
  const SnapshotOptions options{.prune = [](const RunContext& run, const GroupConfig& group, RunReport& report) {
    prune_group(run, group, PruneOptions{.progress_bar = ::isatty(STDERR_FILENO) == 1}, report);
  }};
  return with_context("snapshot", context, groups, [&options](const RunContext& run) {
    auto report = agent::snapshot(run, options);
    copy_after_snapshot(run, copy_options(), report);
    return report;
  });
}

RunReport AgentCommands::unmount(const CommandContext& context, const GroupRefs& groups,
                                 const UnmountOptions& options) {
  if (options.delete_volumes && !options.assume_yes && !context.dry_run) {
    std::optional<std::string> refused;
    if (!context.interactive) {
      refused = "--delete-volumes without a terminal to ask on: add --yes to confirm";
    } else if (!confirm_delete(groups)) {
      refused = "not confirmed: nothing was unmounted or deleted";
    }
    if (refused) {
      auto report = new_report("unmount", context.dry_run, names_of(groups));
      report.not_run(*refused);
      finish_report(report);
      return report;
    }
  }
  return with_context("unmount", context, groups,
                      [&options](const RunContext& run) { return agent::unmount(run, options); });
}

RunReport AgentCommands::list(const CommandContext& context, const GroupRefs& groups) {
  return with_context("list", context, groups, [](const RunContext& run) { return agent::list(run); });
}

RunReport AgentCommands::copy(const CommandContext& context, const GroupRefs& groups, const CopyOptions& options) {
  CopyOptions with_bar = copy_options();
  with_bar.to_region = options.to_region;
  return with_context("copy", context, groups, [&with_bar](const RunContext& run) { return agent::copy(run, with_bar); });
}

RunReport AgentCommands::prune(const CommandContext& context, const GroupRefs& groups) {
  const PruneOptions options{.progress_bar = ::isatty(STDERR_FILENO) == 1};
  return with_context("prune", context, groups,
                      [&options](const RunContext& run) { return agent::prune(run, options); });
}

RunReport AgentCommands::check_backups(const CommandContext& context, const GroupRefs& groups,
                                       const CheckBackupsOptions& options) {
  return with_context("check-backups", context, groups,
                      [&options](const RunContext& run) { return agent::check_backups(run, options); });
}

RunReport AgentCommands::gc(const CommandContext& context, const GroupRefs& groups, const GcOptions& options) {
  GcOptions with_question = options;
  if (!options.assume_yes && context.interactive) with_question.confirm = confirm_gc;
  return with_context("gc", context, groups,
                      [&with_question](const RunContext& run) { return agent::gc(run, with_question); });
}

RunReport AgentCommands::prewarm(const CommandContext& context, const GroupRefs& groups,
                                 const PrewarmRequest& request) {
  on_stop_signals_stop_prewarm();
  const PrewarmOptions options{
      .wait = request.wait, .progress_bar = ::isatty(STDERR_FILENO) == 1, .stop = &g_prewarm_stop};
  return with_context("prewarm", context, groups,
                      [&options](const RunContext& run) { return agent::prewarm(run, options); });
}

RunReport AgentCommands::shutdown(const CommandContext& context, const GroupRefs& groups,
                                  const ShutdownRequest& request) {
  if (!context.dry_run) end_run_after(request.timeout);
  const ShutdownOptions options{
      .snapshot = [](const RunContext& run) { return agent::snapshot(run, SnapshotOptions{.trigger = Trigger::Shutdown}); },
      .unmount = [](const RunContext& run) { return agent::unmount(run, UnmountOptions{}); }};
  return with_context("shutdown", context, groups,
                      [&options](const RunContext& run) { return agent::shutdown(run, options); });
}

RunReport AgentCommands::watch(const CommandContext& context, const GroupRefs& groups, const WatchRequest& request) {
  if (!on_stop_signals_stop_watch()) {
    auto report = new_report("watch", context.dry_run, names_of(groups));
    report.not_run(std::string("watch: a pipe for the stop signals: ") + std::strerror(errno));
    finish_report(report);
    return report;
  }
  auto imds = this->imds();
  WatchOptions options{
      .imds = imds.get(),
      .interval = request.interval,
      .wait = wait_or_stop,
      .snapshot = [](const RunContext& run, const std::string& run_id,
                     Trigger trigger) { return agent::snapshot(run, SnapshotOptions{.run_id = run_id, .trigger = trigger}); },
      .on_report = request.print,
      .publish_metrics = nullptr};
  if (request.metrics_dir) {
    options.publish_metrics = [dir = *request.metrics_dir](const std::string& text) {
      if (auto written = write_metrics_file(dir, "ebsnap-watch", text); !written) log_agent().warn("watch {}", written.error());
    };
  }
  return with_context("watch", context, groups, [&options](const RunContext& run) { return agent::watch(run, options); });
}

RunReport AgentCommands::freeze(const CommandContext& context, const GroupRefs& groups,
                                const FreezeHoldOptions& options) {
  return with_context("freeze", context, groups,
                      [&options](const RunContext& run) { return agent::freeze_hold(run, options); });
}

RunReport AgentCommands::thaw_group(const CommandContext& context, const GroupRefs& groups) {
  return with_context("thaw", context, groups, [](const RunContext& run) { return agent::thaw_hold(run); });
}

RunReport AgentCommands::check(const CommandContext& context) {
  const auto started = std::chrono::system_clock::now();
  const auto& env = ec2::process_environment();
  auto imds = this->imds();
  CheckInputs inputs{.config = &context.config};
  if (!ec2::ImdsOptions::from_environment(env).disabled) inputs.imds = imds.get();
  auto credentials = make_credentials(context.config, env, imds);
  inputs.credentials = credentials.get();
  std::unique_ptr<ec2::Ec2Client> client;
  std::unique_ptr<RegionClients> regions;
  auto region = resolve_region(context.region, env, context.config, *imds);
  if (region) {
    inputs.region = *region;
    ec2::Ec2ClientOptions client_options;  // member by member: see Runtime::create
    client_options.region = *region;
    client_options.credentials = credentials;
    auto made = ec2::Ec2Client::create(client_options, env);
    if (made) {
      client = std::move(*made);
      inputs.ec2 = client.get();
      regions = std::make_unique<RegionClients>(*client, *region, client_options, env);
      inputs.regions = regions.get();
    } else {
      inputs.ec2_error = made.error().describe();
    }
  } else {
    inputs.ec2_error = region.error().describe();
  }
  if (!context.filter_values) {
    inputs.config_error = context.filter_values.error().describe();
  } else {
    inputs.filters = &*context.filter_values;
  }
  auto report = agent::check(inputs);
  report.dry_run = context.dry_run;
  report.started_at = started;
  finish_report(report);
  return report;
}

RunReport AgentCommands::thaw(const ThawRequest& request) {
  const auto started = std::chrono::system_clock::now();
  const auto& env = ec2::process_environment();
  ThawOptions options{.mount_points = request.mount_points,
                      .all = request.all,
                      .dry_run = request.dry_run,
                      .run_dir = run_dir_from(env)};
  // Thawing comes first and needs nothing else. Afterwards, when EC2 can be reached (credentials
  // and region from the environment or IMDS), the snapshot tags of runs that died are corrected.
  std::unique_ptr<Runtime> runtime;
  if (request.all && !request.dry_run) {
    auto made = Runtime::create(Config{}, RuntimeOptions{}, imds());
    if (made) {
      runtime = std::move(*made);
      options.ec2 = &runtime->services().ec2;
      options.clock = &runtime->services().clock;
    } else {
      log_agent().info("thaw: no EC2 access, snapshot tags of interrupted runs are not reconciled now error=\"{}\"",
                       made.error().describe());
    }
  }
  auto report = agent::thaw(options);
  report.started_at = started;
  finish_report(report);
  return report;
}

}  // namespace agent
