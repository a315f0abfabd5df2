#include "agent/cli/cli.h"

#include <CLI/CLI.hpp>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>

#include "agent/core/iam_plan.h"
#include "agent/core/log.h"
#include "agent/core/restore_points.h"
#include "agent/report/metrics.h"
#include "agent/report/run_metrics.h"
#include "agent/config/userdata.h"
#include "agent/config/validate_rules.h"
#include "agent/config/validate_suggest.h"
#include "agent/version.h"
#include "ebsnap/try.h"

namespace agent {
namespace {

constexpr std::array<std::string_view, 24> k_command_words = {
    "mount", "mount-snapshots", "snapshot", "make-snapshots", "unmount", "unmount-snapshots", "list",
    "list-volumes", "check", "test", "thaw", "prune", "version", "help", "check-backups", "gc", "history",
    "list-snapshots", "prewarm", "shutdown", "watch", "iam-policy", "freeze", "copy"};

constexpr std::string_view k_help_footer = R"(
Arguments: mount, snapshot, unmount, prune, history, copy, prewarm and shutdown take GROUP...; list,
check-backups, gc and watch take [GROUP...] (default: all); thaw takes [MOUNT...|--all] or one
GROUP. freeze GROUP --hold [--timeout DURATION] (1s..120s; default: freeze_timeout_s): the pre-hooks,
syncfs and FIFREEZE, then exits 0 leaving ebsnap's guardian holding the freeze until `thaw GROUP`
(which thaws, reports the window and runs the post-hooks; exit 1 if the guardian had thawed at its
bound) or the bound: DLM's pre-script and post-script (etc/ssm/ebsnap-dlm-scripts.yaml).
mount [--as-of TIME | --run RUN-ID]: an earlier restore point (refused, exit 2, while a mount
point of the group is mounted); mount --inspect [--prefix DIR]: the point read-only beside the
live volumes; unmount --inspect [--run RUN-ID] [--prefix DIR] removes inspections.
unmount [--delete-volumes] [--yes]; gc [--older-than DURATION] (default 1d) [--yes].
check-backups --max-age DURATION (e.g. 26h, 90m, 1d12h): exit 1 when a volume's newest completed
snapshot is missing, older, or not frozen where the group freezes; check --max-age DURATION does
the same for every group.
list shows how far each restored volume is initialized (loaded from S3; a volume's
"initialization_rate_mibps" sets the rate) and pre-warmed.
prewarm [--wait]: reads every block of the groups' mounted "prewarm" volumes once (resumable;
SIGINT/SIGTERM save the offset); --wait reads nothing and waits until another prewarm (the
ebsnap-prewarm@GROUP unit) has read them in full.
shutdown [--timeout DURATION] (default 2m): the mount unit's stop: a final snapshot of each group
with "snapshot_on_shutdown" (tagged ebsnap:trigger=shutdown), then unmount with
"unmount_on_shutdown". watch [--interval DURATION] (default 5s): until SIGTERM, polls IMDS for a
spot interruption or rebalance notice and then takes one snapshot of each group, once per notice.
iam-policy [--for COMMAND...]: the least-privilege IAM policy (JSON, also with --json) for the
commands the configuration file uses (--userdata applied when given; IMDS is not asked), or for
the commands named; --for all: every command and feature (etc/iam-policy.json). No EC2 call.
copy [--to-region R]: copies each complete run not yet in the group's copy_to regions (or only R),
oldest first, and waits for the copies; history, prune and check-backups with --region R show,
prune and check the copies there (prune with the copy_to's retention).
Global options may also follow the command. Manual: man 8 ebsnap.

Configuration: --config, else $EBSNAP_CONFIG, else /etc/ebsnap/ebsnap.json.
Exit codes: 0 success; 1 the operation failed (partly or wholly); 2 usage or configuration
error, or a refusal (nothing was changed).
)";

CliStop usage_error(std::string message) {
  return CliStop{.exit_code = k_exit_usage, .err = "ebsnap: " + message + "; see 'ebsnap --help'\n"};
}

// The first argument that is neither an option nor the value of one: the unknown command.
std::optional<std::string> first_word(std::span<const char* const> args) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--config" || a == "--userdata" || a == "--region" || a == "--metrics-dir") {
      ++i;
      continue;
    }
    if (!a.starts_with('-')) return std::string(a);
  }
  return std::nullopt;
}

std::string join_names(const Config& config) {
  std::string out;
  for (const auto& g : config.groups) {
    if (!out.empty()) out += ", ";
    out += g.name;
  }
  return out;
}

void print_error_line(std::ostream& err, const std::string& line) { err << "ebsnap: " << line << "\n"; }

int render(const RunReport& report, const Invocation& invocation, std::ostream& out, std::ostream& err) {
  // A refusal (nothing was changed) is one line on stderr, like a usage error; --json still gets
  // its document, which says "refused": true.
  if (report.refused) {
    print_error_line(err, report.command + ": " + report.error.value_or("refused"));
    if (invocation.json) out << render_json(report);
    out.flush();
    return k_exit_usage;
  }
  out << (invocation.json ? render_json(report) : render_text(report));
  out.flush();
  return report.ok() ? k_exit_ok : k_exit_failed;
}

}  // namespace

std::string_view to_string(CommandName command) {
  switch (command) {
    case CommandName::Mount: return "mount";
    case CommandName::Snapshot: return "snapshot";
    case CommandName::Unmount: return "unmount";
    case CommandName::List: return "list";
    case CommandName::Check: return "check";
    case CommandName::Thaw: return "thaw";
    case CommandName::Prune: return "prune";
    case CommandName::Version: return "version";
    case CommandName::CheckBackups: return "check-backups";
    case CommandName::Gc: return "gc";
    case CommandName::History: return "history";
    case CommandName::Prewarm: return "prewarm";
    case CommandName::Shutdown: return "shutdown";
    case CommandName::Watch: return "watch";
    case CommandName::IamPolicy: return "iam-policy";
    case CommandName::Freeze: return "freeze";
    case CommandName::Copy: return "copy";
    case CommandName::CompleteGroups: return "complete-groups";
  }
  return "version";
}

namespace {

// The command line's grammar (CLI11), bound to the fields of an Invocation.
struct Grammar {
  explicit Grammar(Invocation& inv);
  CLI::App app{"ebsnap: restores EBS volumes from their latest snapshots and takes consistent snapshots.", "ebsnap"};
  int verbose = 0;
  bool quiet = false;
  bool version_flag = false;
  std::vector<std::pair<CommandName, CLI::App*>> commands;
};

Grammar::Grammar(Invocation& inv) {
  app.footer(std::string(k_help_footer));
  app.add_option("--config", inv.config_path, "configuration file")->option_text("FILE");
  app.add_option("--userdata", inv.userdata, "userdata to use instead of the instance's")->option_text("JSON|@FILE");
  app.add_option("--region", inv.region, "AWS region")->option_text("R");
  app.add_option("--metrics-dir", inv.metrics_dir,
                 "where Prometheus textfile metrics go (default: the config's metrics_dir, else "
                 "/var/lib/prometheus/node-exporter when it exists)")
      ->option_text("DIR");
  app.add_flag("--json", inv.json, "print one JSON document describing what was done");
  app.add_flag("--dry-run", inv.dry_run, "plan and print; change nothing");
  auto* verbose_flag = app.add_flag("-v,--verbose", verbose, "more logging: info on a terminal, debug elsewhere (-vv, -vvv: more)");
  auto* quiet_flag = app.add_flag("-q,--quiet", quiet, "log errors only");
  verbose_flag->excludes(quiet_flag);
  app.add_flag("--version", version_flag, "print the version");

  const auto sub = [this](CommandName name, const char* alias, const char* description) {
    auto* s = app.add_subcommand(std::string(to_string(name)), description);
    if (alias != nullptr) s->alias(alias);
    s->fallthrough();  // global options may follow the command
    commands.emplace_back(name, s);
    return s;
  };
  auto* mount = sub(CommandName::Mount, "mount-snapshots", "restore (or create) and mount every volume of the groups");
  mount->add_option("GROUP", inv.groups, "group")->required();
  auto* as_of = mount->add_option("--as-of", inv.as_of,
                                  "restore the newest complete restore point at or before TIME: ISO 8601 with a zone "
                                  "(2026-12-03T14:00:00Z) or back from now (-6h, -1d)")
                    ->option_text("TIME");
  mount->add_option("--run", inv.run_id, "restore this run (see 'ebsnap history')")->option_text("RUN-ID")->excludes(as_of);
  mount->add_flag("--inspect", inv.inspect,
                  "restore the point read-only beside the live volumes, under --prefix (default "
                  "/run/ebsnap/inspect)/GROUP/RUN-ID/MOUNT-POINT; the live volumes are not touched");
  mount->add_option("--prefix", inv.prefix, "with --inspect: where inspections are mounted")->option_text("DIR");
  sub(CommandName::Snapshot, "make-snapshots", "freeze, snapshot and thaw the groups' volumes")
      ->add_option("GROUP", inv.groups, "group")
      ->required();
  auto* unmount = sub(CommandName::Unmount, "unmount-snapshots", "unmount and detach the groups' volumes");
  unmount->add_option("GROUP", inv.groups, "group")->required();
  unmount->add_flag("--delete-volumes", inv.delete_volumes, "delete the volumes (only those tagged as ebsnap's)");
  unmount->add_flag("--yes", inv.yes, "do not ask before deleting");
  unmount->add_flag("--inspect", inv.inspect,
                    "unmount and delete the groups' inspections (mount --inspect) instead of their live volumes");
  unmount->add_option("--run", inv.run_id, "with --inspect: only that run's inspection")->option_text("RUN-ID");
  unmount->add_option("--prefix", inv.prefix, "with --inspect: where inspections are mounted")->option_text("DIR");
  sub(CommandName::List, "list-volumes", "volumes, devices, mount state, latest snapshot, initialization")
      ->add_option("GROUP", inv.groups, "group (default: all)");
  sub(CommandName::Check, "test", "check IMDS, credentials, config, udevd, tools and IAM permissions")
      ->add_option("--max-age", inv.max_age, "check the backups instead: the same as check-backups for every group")
      ->option_text("DURATION");
  sub(CommandName::Prune, nullptr,
      "delete the runs the groups' retention does not keep (prints its plan first)")
      ->add_option("GROUP", inv.groups, "group (with a \"retention\" policy)")
      ->required();
  auto* backups = sub(CommandName::CheckBackups, nullptr,
                      "exit 1 when a volume's newest completed snapshot is missing, older than --max-age, or "
                      "not frozen although its group freezes");
  backups->add_option("GROUP", inv.groups, "group (default: all)");
  backups->add_option("--max-age", inv.max_age, "required: the oldest a newest completed snapshot may be (26h, 1d12h)")
      ->option_text("DURATION");
  sub(CommandName::History, "list-snapshots", "the groups' restore points, newest first: time, run, consistency, "
                                              "completeness per mount point")
      ->add_option("GROUP", inv.groups, "group")
      ->required();
  auto* thaw = sub(CommandName::Thaw, nullptr,
                   "emergency thaw of frozen filesystems; with one GROUP: release its freeze --hold");
  thaw->add_option("MOUNT", inv.mount_points, "mount point (starts with '/'), or one GROUP");
  thaw->add_flag("--all", inv.all, "every filesystem ebsnap froze");
  auto* freeze = sub(CommandName::Freeze, nullptr,
                     "pre-hooks, syncfs and freeze of one group, held past the command's exit by ebsnap's "
                     "guardian until `thaw GROUP` or the bound (DLM's pre-script)");
  freeze->add_option("GROUP", inv.groups, "group")->required();
  freeze->add_flag("--hold", inv.hold, "required: leave the group frozen when the command exits");
  freeze->add_option("--timeout", inv.timeout, "thaw after this long if no `thaw GROUP` came (1s..120s; default: the "
                                               "config's freeze_timeout_s)")
      ->option_text("DURATION");
  auto* copy = sub(CommandName::Copy, nullptr,
                   "copy the groups' complete runs not yet in their copy_to regions there, oldest first, and wait "
                   "for the copies (disaster recovery)");
  copy->add_option("GROUP", inv.groups, "group (with \"copy_to\", or --to-region)")->required();
  copy->add_option("--to-region", inv.to_region, "only this region (its copy_to entry when there is one)")
      ->option_text("R");
  sub(CommandName::Version, nullptr, "print the version");
  auto* gc = sub(CommandName::Gc, nullptr,
                 "delete ebsnap's own orphaned volumes: tagged as ebsnap's for these groups and this instance's "
                 "filter values, available, and older than --older-than; never any other volume");
  gc->add_option("GROUP", inv.groups, "group (default: all)");
  gc->add_option("--older-than", inv.older_than, "only volumes created longer ago than this (default 1d)")
      ->option_text("DURATION");
  gc->add_flag("--yes", inv.yes, "do not ask before deleting");
  auto* prewarm = sub(CommandName::Prewarm, nullptr,
                      "read every block of the groups' mounted \"prewarm\" volumes once, resumably, "
                      "with progress");
  prewarm->add_option("GROUP", inv.groups, "group")->required();
  prewarm->add_flag("--wait", inv.wait,
                    "read nothing: wait until another prewarm has read the volumes in full");
  auto* shutdown = sub(CommandName::Shutdown, nullptr,
                       "at shutdown (the mount unit's stop): snapshot and unmount the groups as their "
                       "snapshot_on_shutdown and unmount_on_shutdown say");
  shutdown->add_option("GROUP", inv.groups, "group")->required();
  shutdown->add_option("--timeout", inv.timeout, "end the run after this long (default 2m)")->option_text("DURATION");
  auto* watch = sub(CommandName::Watch, nullptr,
                    "until stopped, poll IMDS for spot interruption and rebalance notices and snapshot the "
                    "groups once per notice");
  watch->add_option("GROUP", inv.groups, "group (default: all)");
  watch->add_option("--interval", inv.interval, "between two polls of IMDS (default 5s)")->option_text("DURATION");
  sub(CommandName::IamPolicy, nullptr,
      "print the least-privilege IAM policy for what the configuration uses; no EC2 or IMDS call")
      ->add_option("--for", inv.iam_for,
                   "only what these commands need (mount, snapshot, unmount, list, history, check-backups, prune, copy, "
                   "gc, prewarm, shutdown, watch, thaw, check); all: every command and feature, no config read")
      ->option_text("COMMAND...")
      ->delimiter(',');
  // For etc/bash-completion/ebsnap: the config file's group names, one per line (no userdata, no
  // EC2 call). Not in --help.
  sub(CommandName::CompleteGroups, nullptr, "")->group("");
  app.require_subcommand(0, 1);
}

// CLI11's parse; its exceptions become the help text or one usage error.
std::expected<void, CliStop> parse_words(Grammar& g, std::span<const char* const> args) {
  std::vector<std::string> argv;
  for (std::size_t i = args.size(); i > 1; --i) argv.emplace_back(args[i - 1]);  // CLI11 wants them reversed
  const auto subs = [&g] { return g.app.get_subcommands(); };
  try {
    g.app.parse(argv);
  } catch (const CLI::CallForHelp&) {
    return std::unexpected(CliStop{.exit_code = k_exit_ok, .out = subs().empty() ? g.app.help() : subs().front()->help()});
  } catch (const CLI::CallForAllHelp&) {
    return std::unexpected(CliStop{.exit_code = k_exit_ok, .out = g.app.help("", CLI::AppFormatMode::All)});
  } catch (const CLI::ExtrasError& e) {
    if (!subs().empty()) return std::unexpected(usage_error(subs().front()->get_name() + ": " + e.what()));
    const auto word = first_word(args);
    if (!word) return std::unexpected(usage_error(e.what()));
    std::string message = "unknown command '" + *word + "'";
    if (const auto guess = closest_match(*word, k_command_words)) message += "; did you mean " + std::string(*guess) + "?";
    return std::unexpected(usage_error(message));
  } catch (const CLI::RequiredError& e) {
    if (!subs().empty()) return std::unexpected(usage_error(subs().front()->get_name() + ": expected at least one GROUP"));
    return std::unexpected(usage_error(e.what()));
  } catch (const CLI::ParseError& e) {
    return std::unexpected(usage_error(e.what()));
  }
  return {};
}

// What CLI11 cannot say: the region's and the group names' form, thaw's arguments.
std::expected<void, CliStop> check_arguments(const Invocation& inv) {
  if (inv.region && !rules::is_valid_region(*inv.region)) {
    return std::unexpected(usage_error("--region: expected a region such as eu-west-1, got '" + *inv.region + "'"));
  }
  if (inv.to_region && !rules::is_valid_region(*inv.to_region)) {
    return std::unexpected(usage_error("copy: --to-region: expected a region such as us-west-2, got '" + *inv.to_region + "'"));
  }
  if (inv.command == CommandName::Thaw && !inv.groups.empty()) {
    if (inv.all || !inv.mount_points.empty() || inv.groups.size() != 1) {
      return std::unexpected(usage_error("thaw: give one GROUP, or mount points (absolute paths) or --all"));
    }
  } else if (inv.command == CommandName::Thaw) {
    if (inv.all && !inv.mount_points.empty()) return std::unexpected(usage_error("thaw: give MOUNT... or --all, not both"));
    if (!inv.all && inv.mount_points.empty()) return std::unexpected(usage_error("thaw: expected MOUNT... or --all"));
    for (const auto& m : inv.mount_points) {
      if (m.empty() || m.front() != '/') return std::unexpected(usage_error("thaw: expected absolute mount points, got '" + m + "'"));
    }
  }
  if (inv.command == CommandName::CheckBackups) {
    if (!inv.max_age) return std::unexpected(usage_error("check-backups: --max-age DURATION is required (e.g. --max-age 26h)"));
    if (!rules::parse_duration(*inv.max_age) || *rules::parse_duration(*inv.max_age) <= std::chrono::seconds{0}) {
      return std::unexpected(usage_error("--max-age: expected a duration such as 26h, 90m or 1d12h, got '" + *inv.max_age + "'"));
    }
  }
  if (inv.command == CommandName::Gc && inv.older_than && !rules::parse_duration(*inv.older_than)) {
    return std::unexpected(
        usage_error("gc: --older-than: expected a duration such as 12h, 1d or 1w, got '" + *inv.older_than + "'"));
  }
  if (inv.command == CommandName::Freeze) {
    if (!inv.hold) return std::unexpected(usage_error("freeze: --hold is required (a freeze that ends with the command is `ebsnap snapshot`)"));
    if (inv.groups.size() != 1) return std::unexpected(usage_error("freeze: expected exactly one GROUP"));
    if (inv.timeout) {
      const auto d = rules::parse_duration(*inv.timeout);
      if (!d || *d < std::chrono::seconds{1} || *d > k_max_hold) {
        return std::unexpected(usage_error("freeze: --timeout: expected a duration from 1s to 120s such as 30s or 2m, got '" +
                                           *inv.timeout + "'"));
      }
    }
  } else if (inv.timeout) {
    const auto d = rules::parse_duration(*inv.timeout);
    if (!d || *d < std::chrono::seconds{1} || *d > std::chrono::hours{1}) {
      return std::unexpected(usage_error("shutdown: --timeout: expected a duration from 1s to 1h such as 90s or 2m, got '" +
                                         *inv.timeout + "'"));
    }
  }
  if (inv.interval) {
    const auto d = rules::parse_duration(*inv.interval);
    if (!d || *d < std::chrono::seconds{1} || *d > k_max_watch_interval) {
      return std::unexpected(usage_error("watch: --interval: expected a duration from 1s to 5m such as 5s, got '" +
                                         *inv.interval + "'"));
    }
  }
  if (inv.run_id && (inv.run_id->empty() || inv.run_id->size() > 128)) {
    return std::unexpected(usage_error("--run: expected a run id such as 20261203T140000-0a1b2c3d"));
  }
  if (inv.command == CommandName::Unmount && !inv.inspect && inv.run_id) {
    return std::unexpected(usage_error("unmount: --run goes with --inspect"));
  }
  if (inv.command == CommandName::Unmount && inv.inspect && inv.delete_volumes) {
    return std::unexpected(usage_error("unmount: --inspect deletes its volumes anyway; drop --delete-volumes"));
  }
  if (inv.metrics_dir && (!inv.metrics_dir->starts_with('/') || *inv.metrics_dir == "/")) {
    return std::unexpected(usage_error("--metrics-dir: expected an absolute directory, got '" + *inv.metrics_dir + "'"));
  }
  if (inv.command == CommandName::IamPolicy) {
    if (auto plan = plan_iam_policy(nullptr, inv.iam_for); !plan) return std::unexpected(usage_error("iam-policy: " + plan.error()));
  }
  if (inv.prefix && !inv.inspect) return std::unexpected(usage_error("--prefix goes with --inspect"));
  if (inv.prefix && (!inv.prefix->starts_with('/') || *inv.prefix == "/")) {
    return std::unexpected(usage_error("--prefix: expected an absolute directory other than /, got '" + *inv.prefix + "'"));
  }
  for (const auto& g : inv.groups) {
    if (!rules::is_valid_group_name(g)) return std::unexpected(usage_error("expected a group name [A-Za-z0-9_.-], got '" + g + "'"));
  }
  return {};
}

}  // namespace

std::expected<Invocation, CliStop> parse_command_line(std::span<const char* const> args) {
  Invocation inv;
  Grammar g(inv);
  EBSNAP_TRY(parse_words(g, args));
  inv.verbosity = g.quiet ? -1 : std::min(g.verbose, 3);
  const auto chosen = std::ranges::find_if(g.commands, [](const auto& c) { return c.second->parsed(); });
  if (g.version_flag) {
    if (chosen != g.commands.end() && chosen->first != CommandName::Version) {
      return std::unexpected(usage_error("--version takes no command"));
    }
    inv.command = CommandName::Version;
    return inv;
  }
  if (chosen == g.commands.end()) return std::unexpected(usage_error("missing command; usage: ebsnap [OPTIONS] COMMAND [ARGS]"));
  inv.command = chosen->first;
  // check --max-age is check-backups for every group: the same output and exit code.
  if (inv.command == CommandName::Check && inv.max_age) inv.command = CommandName::CheckBackups;
  if (inv.command == CommandName::Thaw) {
    // A word without a leading '/' is a group (thaw GROUP releases a freeze --hold); paths are mount points.
    std::vector<std::string> mount_points;
    for (auto& word : inv.mount_points) (!word.empty() && word.front() == '/' ? mount_points : inv.groups).push_back(word);
    inv.mount_points = std::move(mount_points);
  }
  EBSNAP_TRY(check_arguments(inv));
  if (inv.command == CommandName::CheckBackups) inv.max_age_s = *rules::parse_duration(*inv.max_age);
  if (inv.older_than) inv.older_than_s = *rules::parse_duration(*inv.older_than);
  if (inv.timeout) inv.timeout_s = *rules::parse_duration(*inv.timeout);
  if (inv.interval) inv.interval_s = *rules::parse_duration(*inv.interval);
  if (inv.as_of) {
    auto at = parse_point_in_time(*inv.as_of, std::chrono::system_clock::now());
    if (!at) return std::unexpected(usage_error("mount: --as-of: " + at.error()));
    inv.as_of_time = *at;
  }
  return inv;
}

std::string config_path_for(const Invocation& invocation, const char* env_value) {
  if (invocation.config_path) return *invocation.config_path;
  if (env_value != nullptr && *env_value != '\0') return env_value;
  return std::string(k_default_config_path);
}

namespace {

int print_version(const Invocation& inv, std::ostream& out) {
  if (inv.json) {
    out << nlohmann::ordered_json{{"schema", k_report_schema_version}, {"command", "version"}, {"ebsnap_version", k_version}}.dump(2)
        << "\n";
  } else {
    out << "ebsnap " << k_version << "\n";
  }
  return k_exit_ok;
}

// A run that may have changed something adds itself to its command's metrics file, when there is
// a metrics directory (agent/report/run_metrics.h); a failure to write is a warning, not the run's.
void publish_metrics_of(const RunReport& report, const Invocation& inv, const Config& config) {
  if (inv.dry_run || report.refused || !has_run_metrics(report.command)) return;
  const auto dir = resolve_metrics_dir(inv.metrics_dir, config.metrics_dir);
  if (!dir) return;
  if (auto published = publish_run_metrics(*dir, report); !published) log_agent().warn("{}", published.error());
}

// complete-groups: the config file's groups (the userdata's overlay is not read: completion must
// be instant and make no call); a config that does not load prints its one line, exit 2.
int print_group_names(const Invocation& inv, std::ostream& out, std::ostream& err, const CliEnvironment& environment) {
  auto config = load_config_file(config_path_for(inv, environment.config_env));
  if (!config) {
    print_error_line(err, config.error().describe());
    return k_exit_usage;
  }
  for (const auto& g : config->groups) out << g.name << "\n";
  return k_exit_ok;
}

// iam-policy: decide (the configuration file, --userdata when given, and --for → permissions) and
// print the policy. No EC2 call and no IMDS: it runs where ebsnap is not installed yet, and without
// credentials. The policy is the output, with --json too (it is a JSON document already);
// --dry-run changes nothing, as there is nothing to change. Without a configuration file at the
// default path (none named), and with --for all, the policy for every command and feature.
int print_iam_policy(const Invocation& inv, std::ostream& out, std::ostream& err, const CliEnvironment& environment) {
  std::optional<Config> config;
  if (std::ranges::find(inv.iam_for, "all") == inv.iam_for.end()) {
    const auto path = config_path_for(inv, environment.config_env);
    const bool named = inv.config_path || (environment.config_env != nullptr && *environment.config_env != '\0');
    std::error_code ec;
    if (named || std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found) {
      auto file_config = load_config_file(path);
      if (!file_config) {
        print_error_line(err, file_config.error().describe());
        return k_exit_usage;
      }
      config = std::move(*file_config);
      if (inv.userdata) {
        auto given = read_userdata_option(*inv.userdata);
        if (!given) {
          print_error_line(err, given.error().describe());
          return k_exit_usage;
        }
        auto userdata = parse_userdata(given->text, given->origin);
        if (!userdata) {
          print_error_line(err, userdata.error().describe());
          return k_exit_usage;
        }
        auto applied = apply_userdata(std::move(*config), *userdata);
        if (!applied) {
          print_error_line(err, applied.error().describe());
          return k_exit_usage;
        }
        config = std::move(*applied);
      }
    } else {
      log_agent().info("iam-policy no configuration at {}: the policy for every command and feature", path);
    }
  }
  auto plan = plan_iam_policy(config ? &*config : nullptr, inv.iam_for);
  if (!plan) {  // parse_command_line refused it already
    print_error_line(err, "iam-policy: " + plan.error());
    return k_exit_usage;
  }
  log_agent().debug("iam-policy commands={} permissions={}", fmt::join(plan->commands, ","), plan->permissions.size());
  out << iam_policy_text(plan->permissions);
  out.flush();
  return k_exit_ok;
}

// The validated configuration of a run: the file with the userdata applied.
struct RunInputs {
  std::string path;  // the config file
  Config config;
  Userdata userdata;
};

// Loads and validates; on a problem prints its one line and returns the exit code.
std::expected<RunInputs, int> load_inputs(const Invocation& inv, Commands& commands, std::ostream& err,
                                          const CliEnvironment& environment) {
  const auto fail = [&err](const std::string& line, int code) {
    print_error_line(err, line);
    return std::unexpected(code);
  };
  const auto path = config_path_for(inv, environment.config_env);
  auto file_config = load_config_file(path);
  if (!file_config) return fail(file_config.error().describe(), k_exit_usage);
  std::optional<std::string> userdata_text;
  std::string userdata_origin = "userdata";
  if (inv.userdata) {
    auto given = read_userdata_option(*inv.userdata);
    if (!given) return fail(given.error().describe(), k_exit_usage);
    userdata_text = std::move(given->text);
    userdata_origin = std::move(given->origin);
  } else {
    auto fetched = commands.instance_userdata();
    if (!fetched) return fail("userdata from IMDS: " + fetched.error().describe(), k_exit_failed);
    userdata_text = std::move(*fetched);
  }
  auto userdata = parse_userdata(userdata_text, userdata_origin);
  if (!userdata) return fail(userdata.error().describe(), k_exit_usage);
  auto config = apply_userdata(std::move(*file_config), *userdata);
  if (!config) return fail(config.error().describe(), k_exit_usage);
  return RunInputs{.path = path, .config = std::move(*config), .userdata = std::move(*userdata)};
}

// The groups named on the command line, once each, in that order (list and check-backups without
// names: all); an unknown name is printed with a suggestion and ends the run with exit 2.
std::expected<GroupRefs, int> resolve_groups(const Invocation& inv, const RunInputs& in, std::ostream& err) {
  GroupRefs groups;
  if ((inv.command == CommandName::List || inv.command == CommandName::CheckBackups || inv.command == CommandName::Gc ||
       inv.command == CommandName::Watch) &&
      inv.groups.empty()) {
    for (const auto& g : in.config.groups) groups.push_back(&g);
  }
  for (const auto& name : inv.groups) {
    const auto* group = in.config.find_group(name);
    if (group == nullptr) {
      std::vector<std::string_view> names;
      for (const auto& g : in.config.groups) names.push_back(g.name);
      std::string message = in.path + ": unknown group \"" + name + "\"";
      if (const auto guess = closest_match(name, names)) message += "; did you mean " + std::string(*guess) + "?";
      message += " (configured: " + join_names(in.config) + ")";
      print_error_line(err, message);
      return std::unexpected(k_exit_usage);
    }
    // prune --region R of a copy_to region applies that copy_to's retention (agent/commands/prune.h).
    const auto* copies = inv.region ? find_copy_destination(*group, *inv.region) : nullptr;
    if (inv.command == CommandName::Prune && copies != nullptr && !copies->retention) {
      print_error_line(err, group->source_file + ": prune: group \"" + name + "\" has no \"retention\" in its copy_to " +
                                "entry for " + copies->region + "; nothing would be kept or deleted there");
      return std::unexpected(k_exit_usage);
    }
    if (inv.command == CommandName::Prune && copies == nullptr && !group->retention) {
      print_error_line(err, group->source_file + ": prune: group \"" + name + "\" has no \"retention\" policy; nothing would be kept or deleted");
      return std::unexpected(k_exit_usage);
    }
    if (inv.command == CommandName::Copy && !inv.to_region && group->copy_to.empty()) {
      print_error_line(err, group->source_file + ": copy: group \"" + name + "\" has no \"copy_to\"; nowhere to copy to "
                                "(or name a region with --to-region)");
      return std::unexpected(k_exit_usage);
    }
    if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
  }
  return groups;
}

RunReport dispatch(const Invocation& inv, Commands& commands, const CommandContext& context, const GroupRefs& groups,
                   std::ostream& out) {
  switch (inv.command) {
    case CommandName::Mount:
      return commands.mount(context, groups,
                            MountOptions{.point = {.as_of = inv.as_of_time, .run_id = inv.run_id},
                                         .inspect = inv.inspect,
                                         .prefix = inv.prefix.value_or("")});
    case CommandName::History: return commands.history(context, groups);
    case CommandName::Snapshot: return commands.snapshot(context, groups);
    case CommandName::Unmount:
      return commands.unmount(context, groups,
                              UnmountOptions{.delete_volumes = inv.delete_volumes,
                                             .assume_yes = inv.yes,
                                             .inspect = inv.inspect,
                                             .run_id = inv.run_id,
                                             .prefix = inv.prefix.value_or("")});
    case CommandName::List: return commands.list(context, groups);
    case CommandName::Check: return commands.check(context);
    case CommandName::Prune: return commands.prune(context, groups);
    case CommandName::CheckBackups:
      return commands.check_backups(context, groups,
                                    CheckBackupsOptions{.max_age = inv.max_age_s, .max_age_text = *inv.max_age});
    case CommandName::Gc:
      return commands.gc(context, groups, GcOptions{.older_than = inv.older_than_s, .assume_yes = inv.yes});
    case CommandName::Prewarm: return commands.prewarm(context, groups, PrewarmRequest{.wait = inv.wait});
    case CommandName::Shutdown: return commands.shutdown(context, groups, ShutdownRequest{.timeout = inv.timeout_s});
    case CommandName::Watch:
      return commands.watch(context, groups,
                            WatchRequest{.interval = inv.interval_s,
                                         .print = [&inv, &out](const RunReport& r) {
                                           out << (inv.json ? render_json(r) : render_text(r));
                                           out.flush();
                                         },
                                         .metrics_dir = resolve_metrics_dir(inv.metrics_dir, context.config.metrics_dir)});
    case CommandName::Freeze: {
      FreezeHoldOptions options;
      if (inv.timeout) options.timeout = *rules::parse_duration(*inv.timeout);
      return commands.freeze(context, groups, options);
    }
    case CommandName::Thaw: return commands.thaw_group(context, groups);
    case CommandName::Copy: return commands.copy(context, groups, CopyOptions{.to_region = inv.to_region});
    case CommandName::Version:
    case CommandName::IamPolicy:
    case CommandName::CompleteGroups: break;
  }
  return RunReport{};
}

}  // namespace

int run_invocation(const Invocation& inv, Commands& commands, std::ostream& out, std::ostream& err,
                   const CliEnvironment& environment) {
  if (inv.command == CommandName::Version) return print_version(inv, out);
  if (inv.command == CommandName::CompleteGroups) return print_group_names(inv, out, err, environment);
  if (inv.command == CommandName::IamPolicy) return print_iam_policy(inv, out, err, environment);
  if (inv.command == CommandName::Thaw && inv.groups.empty()) {
    log_agent().info("run command=thaw all={} mount_points={} dry_run={}", inv.all, inv.mount_points.size(), inv.dry_run);
    return render(commands.thaw(ThawRequest{.mount_points = inv.mount_points, .all = inv.all, .dry_run = inv.dry_run}), inv,
                  out, err);
  }
  auto in = load_inputs(inv, commands, err, environment);
  if (!in) return in.error();
  auto groups = resolve_groups(inv, *in, err);
  if (!groups) return groups.error();
  CommandContext context{.config = in->config,
                         .region = inv.region,
                         .filter_values = resolve_filter_values(in->config, in->userdata),
                         .dry_run = inv.dry_run,
                         .interactive = environment.stdin_is_tty};
  const bool needs_filter_values = inv.command == CommandName::Mount || inv.command == CommandName::Snapshot ||
                                   inv.command == CommandName::History ||
                                   inv.command == CommandName::List || inv.command == CommandName::Prune ||
                                   inv.command == CommandName::CheckBackups ||
                                   inv.command == CommandName::Gc || inv.command == CommandName::Prewarm ||
                                   inv.command == CommandName::Shutdown || inv.command == CommandName::Watch ||
                                   inv.command == CommandName::Copy;
  if (needs_filter_values && !context.filter_values) {
    print_error_line(err, context.filter_values.error().describe());
    return k_exit_usage;
  }
  log_agent().info("run command={} groups={} config={} dry_run={}", to_string(inv.command), groups->size(), in->path,
                   inv.dry_run);
  RunReport report = dispatch(inv, commands, context, *groups, out);
  if (report.command.empty()) report.command = std::string(to_string(inv.command));
  publish_metrics_of(report, inv, context.config);
  return render(report, inv, out, err);
}

int run_cli(std::span<const char* const> args, Commands& commands, std::ostream& out, std::ostream& err,
            const CliEnvironment& environment) {
  auto invocation = parse_command_line(args);
  if (!invocation) {
    out << invocation.error().out;
    err << invocation.error().err;
    return invocation.error().exit_code;
  }
  if (invocation->command != CommandName::Version) configure_logging(invocation->verbosity, environment.log_sink);
  return run_invocation(*invocation, commands, out, err, environment);
}

}  // namespace agent
