#include "agent/cli/cli.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <chrono>

#include "agent/core/log.h"
#include "agent/config/userdata.h"
#include "agent/config/validate_rules.h"
#include "agent/config/validate_suggest.h"
#include "agent/version.h"

namespace agent {
namespace {

constexpr std::array<std::string_view, 13> k_command_words = {
    "mount", "mount-snapshots", "snapshot", "make-snapshots", "unmount", "unmount-snapshots", "list",
    "list-volumes", "check", "test", "thaw", "version", "help"};

constexpr std::string_view k_help_footer = R"(
Arguments: mount, snapshot and unmount take GROUP...; list takes [GROUP...] (default: all);
unmount also takes [--delete-volumes] [--yes]; thaw takes [MOUNT...|--all].
Global options may also follow the command.

Configuration: --config, else $EBSNAP_CONFIG, else /etc/ebsnap/ebsnap.json.
Exit codes: 0 success; 1 the operation failed (partly or wholly); 2 usage or configuration
error (nothing was changed).
)";

CliStop usage_error(std::string message) {
  return CliStop{.exit_code = k_exit_usage, .err = "ebsnap: " + message + "; see 'ebsnap --help'\n"};
}

// The first argument that is neither an option nor the value of one: the unknown command.
std::optional<std::string> first_word(std::span<const char* const> args) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--config" || a == "--userdata" || a == "--region") {
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

int render(const RunReport& report, const Invocation& invocation, std::ostream& out) {
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
    case CommandName::Version: return "version";
  }
  return "version";
}

std::expected<Invocation, CliStop> parse_command_line(std::span<const char* const> args) {
  Invocation inv;
  CLI::App app{"ebsnap: restores EBS volumes from their latest snapshots and takes consistent snapshots.",
               "ebsnap"};
  app.footer(std::string(k_help_footer));
  app.add_option("--config", inv.config_path, "configuration file")->option_text("FILE");
  app.add_option("--userdata", inv.userdata, "userdata to use instead of the instance's")->option_text("JSON|@FILE");
  app.add_option("--region", inv.region, "AWS region")->option_text("R");
  app.add_flag("--json", inv.json, "print one JSON document describing what was done");
  app.add_flag("--dry-run", inv.dry_run, "plan and print; change nothing");
  int verbose = 0;
  bool quiet = false;
  auto* verbose_flag = app.add_flag("-v,--verbose", verbose, "more logging (-vv: trace)");
  auto* quiet_flag = app.add_flag("-q,--quiet", quiet, "log errors only");
  verbose_flag->excludes(quiet_flag);
  bool version_flag = false;
  app.add_flag("--version", version_flag, "print the version");

  const auto sub = [&app](const char* name, const char* alias, const char* description) {
    auto* s = app.add_subcommand(name, description);
    if (alias != nullptr) s->alias(alias);
    s->fallthrough();  // global options may follow the command
    return s;
  };
  auto* mount = sub("mount", "mount-snapshots", "restore (or create) and mount every volume of the groups");
  mount->add_option("GROUP", inv.groups, "group")->required();
  auto* snapshot = sub("snapshot", "make-snapshots", "freeze, snapshot and thaw the groups' volumes");
  snapshot->add_option("GROUP", inv.groups, "group")->required();
  auto* unmount = sub("unmount", "unmount-snapshots", "unmount and detach the groups' volumes");
  unmount->add_option("GROUP", inv.groups, "group")->required();
  unmount->add_flag("--delete-volumes", inv.delete_volumes, "delete the volumes (only those tagged as ebsnap's)");
  unmount->add_flag("--yes", inv.yes, "do not ask before deleting");
  auto* list = sub("list", "list-volumes", "volumes, devices, mount state, latest snapshot");
  list->add_option("GROUP", inv.groups, "group (default: all)");
  auto* check = sub("check", "test", "check IMDS, credentials, config, udevd, tools and IAM permissions");
  auto* thaw = sub("thaw", nullptr, "emergency thaw of frozen filesystems");
  thaw->add_option("MOUNT", inv.mount_points, "mount point");
  thaw->add_flag("--all", inv.all, "every filesystem ebsnap froze");
  auto* version = sub("version", nullptr, "print the version");
  app.require_subcommand(0, 1);

  std::vector<std::string> argv;
  for (std::size_t i = args.size(); i > 1; --i) argv.emplace_back(args[i - 1]);  // CLI11 wants them reversed
  try {
    app.parse(argv);
  } catch (const CLI::CallForHelp&) {
    const auto subs = app.get_subcommands();
    return std::unexpected(CliStop{.exit_code = k_exit_ok, .out = subs.empty() ? app.help() : subs.front()->help()});
  } catch (const CLI::CallForAllHelp&) {
    return std::unexpected(CliStop{.exit_code = k_exit_ok, .out = app.help("", CLI::AppFormatMode::All)});
  } catch (const CLI::ExtrasError& e) {
    const auto subs = app.get_subcommands();
    if (subs.empty()) {
      const auto word = first_word(args);
      if (word) {
        std::string message = "unknown command '" + *word + "'";
        if (const auto guess = closest_match(*word, k_command_words)) message += "; did you mean " + std::string(*guess) + "?";
        return std::unexpected(usage_error(message));
      }
      return std::unexpected(usage_error(e.what()));
    }
    return std::unexpected(usage_error(subs.front()->get_name() + ": " + e.what()));
  } catch (const CLI::RequiredError& e) {
    const auto subs = app.get_subcommands();
    if (!subs.empty()) return std::unexpected(usage_error(subs.front()->get_name() + ": expected at least one GROUP"));
    return std::unexpected(usage_error(e.what()));
  } catch (const CLI::ParseError& e) {
    return std::unexpected(usage_error(e.what()));
  }

  inv.verbosity = quiet ? -1 : std::min(verbose, 2);
  if (version_flag) {
    if (!app.get_subcommands().empty() && !version->parsed()) {
      return std::unexpected(usage_error("--version takes no command"));
    }
    inv.command = CommandName::Version;
    return inv;
  }
  if (app.get_subcommands().empty()) return std::unexpected(usage_error("missing command; usage: ebsnap [OPTIONS] COMMAND [ARGS]"));
  if (mount->parsed()) inv.command = CommandName::Mount;
  if (snapshot->parsed()) inv.command = CommandName::Snapshot;
  if (unmount->parsed()) inv.command = CommandName::Unmount;
  if (list->parsed()) inv.command = CommandName::List;
  if (check->parsed()) inv.command = CommandName::Check;
  if (thaw->parsed()) inv.command = CommandName::Thaw;
  if (version->parsed()) inv.command = CommandName::Version;

  if (inv.region && !rules::is_valid_region(*inv.region)) {
    return std::unexpected(usage_error("--region: expected a region such as eu-west-1, got '" + *inv.region + "'"));
  }
  if (inv.command == CommandName::Thaw) {
    if (inv.all && !inv.mount_points.empty()) return std::unexpected(usage_error("thaw: give MOUNT... or --all, not both"));
    if (!inv.all && inv.mount_points.empty()) return std::unexpected(usage_error("thaw: expected MOUNT... or --all"));
    for (const auto& m : inv.mount_points) {
      if (m.empty() || m.front() != '/') return std::unexpected(usage_error("thaw: expected absolute mount points, got '" + m + "'"));
    }
  }
  for (const auto& g : inv.groups) {
    if (!rules::is_valid_group_name(g)) return std::unexpected(usage_error("expected a group name [A-Za-z0-9_.-], got '" + g + "'"));
  }
  return inv;
}

std::string config_path_for(const Invocation& invocation, const char* env_value) {
  if (invocation.config_path) return *invocation.config_path;
  if (env_value != nullptr && *env_value != '\0') return env_value;
  return std::string(k_default_config_path);
}

int run_invocation(const Invocation& inv, Commands& commands, std::ostream& out, std::ostream& err,
                   const CliEnvironment& environment) {
  if (inv.command == CommandName::Version) {
    if (inv.json) {
      out << nlohmann::ordered_json{{"schema", k_report_schema_version}, {"command", "version"}, {"ebsnap_version", k_version}}.dump(2)
          << "\n";
    } else {
      out << "ebsnap " << k_version << "\n";
    }
    return k_exit_ok;
  }
  if (inv.command == CommandName::Thaw) {
    log_agent().info("run command=thaw all={} mount_points={} dry_run={}", inv.all, inv.mount_points.size(), inv.dry_run);
    return render(commands.thaw(ThawRequest{.mount_points = inv.mount_points, .all = inv.all, .dry_run = inv.dry_run}), inv,
                  out);
  }

  const auto path = config_path_for(inv, environment.config_env);
  auto file_config = load_config_file(path);
  if (!file_config) {
    print_error_line(err, file_config.error().describe());
    return k_exit_usage;
  }

  std::optional<std::string> userdata_text;
  std::string userdata_origin = "userdata";
  if (inv.userdata) {
    auto given = read_userdata_option(*inv.userdata);
    if (!given) {
      print_error_line(err, given.error().describe());
      return k_exit_usage;
    }
    userdata_text = std::move(given->text);
    userdata_origin = std::move(given->origin);
  } else {
    auto fetched = commands.instance_userdata();
    if (!fetched) {
      print_error_line(err, "userdata from IMDS: " + fetched.error().describe());
      return k_exit_failed;
    }
    userdata_text = std::move(*fetched);
  }
  auto userdata = parse_userdata(userdata_text, userdata_origin);
  if (!userdata) {
    print_error_line(err, userdata.error().describe());
    return k_exit_usage;
  }
  auto config = apply_userdata(std::move(*file_config), *userdata);
  if (!config) {
    print_error_line(err, config.error().describe());
    return k_exit_usage;
  }

  GroupRefs groups;
  if (inv.command == CommandName::List && inv.groups.empty()) {
    for (const auto& g : config->groups) groups.push_back(&g);
  }
  for (const auto& name : inv.groups) {
    const auto* group = config->find_group(name);
    if (group == nullptr) {
      std::vector<std::string_view> names;
      for (const auto& g : config->groups) names.push_back(g.name);
      std::string message = path + ": unknown group \"" + name + "\"";
      if (const auto guess = closest_match(name, names)) message += "; did you mean " + std::string(*guess) + "?";
      message += " (configured: " + join_names(*config) + ")";
      print_error_line(err, message);
      return k_exit_usage;
    }
    if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
  }

  CommandContext context{.config = *config,
                         .region = inv.region,
                         .filter_values = resolve_filter_values(*config, *userdata),
                         .dry_run = inv.dry_run,
                         .interactive = environment.stdin_is_tty};
  const bool needs_filter_values =
      inv.command == CommandName::Mount || inv.command == CommandName::Snapshot || inv.command == CommandName::List;
  if (needs_filter_values && !context.filter_values) {
    print_error_line(err, context.filter_values.error().describe());
    return k_exit_usage;
  }

  log_agent().info("run command={} groups={} config={} dry_run={}", to_string(inv.command), groups.size(), path, inv.dry_run);
  RunReport report;
  switch (inv.command) {
    case CommandName::Mount: report = commands.mount(context, groups); break;
    case CommandName::Snapshot: report = commands.snapshot(context, groups); break;
    case CommandName::Unmount:
      report = commands.unmount(context, groups, UnmountOptions{.delete_volumes = inv.delete_volumes, .assume_yes = inv.yes});
      break;
    case CommandName::List: report = commands.list(context, groups); break;
    case CommandName::Check: report = commands.check(context); break;
    case CommandName::Thaw:
    case CommandName::Version: break;
  }
  if (report.command.empty()) report.command = std::string(to_string(inv.command));
  return render(report, inv, out);
}

int run_cli(std::span<const char* const> args, Commands& commands, std::ostream& out, std::ostream& err,
            const CliEnvironment& environment) {
  auto invocation = parse_command_line(args);
  if (!invocation) {
    out << invocation.error().out;
    err << invocation.error().err;
    return invocation.error().exit_code;
  }
  if (invocation->command != CommandName::Version) configure_logging(invocation->verbosity);
  return run_invocation(*invocation, commands, out, err, environment);
}

}  // namespace agent
