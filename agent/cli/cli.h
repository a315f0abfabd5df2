#pragma once
// The command line (the contract in DESIGN.md; keep these names):
//
//   ebsnap [--config FILE] [--userdata JSON|@FILE] [--region R] [--metrics-dir DIR] [--json] [--dry-run]
//          [-v|--verbose] [-q|--quiet] COMMAND [ARGS]
//     mount GROUP... [--as-of TIME | --run RUN-ID] [--inspect [--prefix DIR]]  (mount-snapshots)
//     snapshot GROUP...  (make-snapshots)       history GROUP...   (list-snapshots)
//     unmount GROUP... [--delete-volumes] [--yes]  (unmount-snapshots)
//     unmount GROUP... --inspect [--run RUN-ID] [--prefix DIR]
//     list [GROUP...]     (list-volumes)        check              (test)
//     thaw [MOUNT...|--all]                     version | --version
//     freeze GROUP --hold [--timeout DURATION]  thaw GROUP  (a hold for DLM's pre/post scripts)
//     prune GROUP...
//     check-backups [GROUP...] --max-age DURATION   (check --max-age DURATION: every group)
//     gc [GROUP...] [--older-than DURATION] [--yes]
//     prewarm GROUP... [--wait]
//     shutdown GROUP... [--timeout DURATION]     (the mount unit's ExecStop)
//     watch [GROUP...] [--interval DURATION]     (ebsnap-watch.service)
//     iam-policy [--for COMMAND...]              (no EC2 or IMDS call)
//
// Exit codes: 0 success; 1 the operation failed (partly or wholly; the output says which
// volumes); 2 usage or configuration error (nothing was changed). Every usage or configuration
// error is exactly one line on stderr and nothing on stdout.
#include <chrono>
#include <expected>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/cli/commands.h"
#include "agent/core/log.h"

namespace agent {

inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_failed = 1;
inline constexpr int k_exit_usage = 2;

enum class CommandName {
  Mount, Snapshot, Unmount, List, Check, Thaw, Prune, Version, CheckBackups, Gc, History, Prewarm, Shutdown, Watch,
  IamPolicy,
  Freeze,
  Copy,
  CompleteGroups  // hidden: the bash completion's group names
};
[[nodiscard]] std::string_view to_string(CommandName command);

struct Invocation {
  CommandName command = CommandName::Version;
  std::vector<std::string> groups;        // mount, snapshot, unmount, list, prune, check-backups, gc
  std::vector<std::string> mount_points;  // thaw (a word without a leading '/' is a GROUP: in groups)
  bool hold = false;                      // freeze --hold
  bool all = false;                       // thaw --all
  bool delete_volumes = false;            // unmount
  bool yes = false;                       // unmount, gc
  std::optional<std::string> max_age;     // check-backups, check: --max-age as given
  std::chrono::seconds max_age_s{0};      // check-backups: --max-age, validated
  std::optional<std::string> older_than;  // gc --older-than, as given
  std::chrono::seconds older_than_s = k_gc_default_older_than;  // gc: --older-than, parsed
  std::optional<std::string> as_of;       // mount --as-of, as given
  std::optional<ec2::TimePoint> as_of_time;  // mount --as-of, parsed (relative to the time of parsing)
  std::optional<std::string> run_id;      // mount --run, unmount --inspect --run
  bool inspect = false;                   // mount --inspect, unmount --inspect
  std::optional<std::string> prefix;      // --prefix (with --inspect)
  bool wait = false;                      // prewarm --wait
  std::optional<std::string> timeout;     // shutdown --timeout, freeze --timeout, as given
  std::chrono::seconds timeout_s = k_default_shutdown_timeout;  // shutdown: --timeout, parsed
  std::optional<std::string> interval;    // watch --interval, as given
  std::chrono::seconds interval_s = k_default_watch_interval;  // watch: --interval, parsed
  std::vector<std::string> iam_for;       // iam-policy --for, as given (validated: agent/core/iam_plan.h)
  std::optional<std::string> config_path; // --config
  std::optional<std::string> userdata;    // --userdata, as given (JSON or @FILE)
  std::optional<std::string> region;      // --region, validated
  std::optional<std::string> to_region;   // copy --to-region, validated
  std::optional<std::string> metrics_dir; // --metrics-dir
  bool json = false;
  bool dry_run = false;
  int verbosity = 0;  // -1 quiet, 0, 1 (-v), 2 (-vv), 3 (-vvv)
};

// How the command line ends without running a command: --help (exit 0, text for stdout) or a
// usage error (exit 2, one line for stderr).
struct CliStop {
  int exit_code = k_exit_usage;
  std::string out;
  std::string err;
};

// args[0] is the program name.
[[nodiscard]] std::expected<Invocation, CliStop> parse_command_line(std::span<const char* const> args);

// --config, else $EBSNAP_CONFIG (env_value, when set and not empty), else /etc/ebsnap/ebsnap.json.
[[nodiscard]] std::string config_path_for(const Invocation& invocation, const char* env_value);

struct CliEnvironment {
  const char* config_env = nullptr;  // $EBSNAP_CONFIG
  bool stdin_is_tty = false;
  LogSink log_sink = LogSink::Plain;  // where stderr goes (log_sink_of)
};

// Loads what the command needs, calls it, renders the report; returns the exit code.
[[nodiscard]] int run_invocation(const Invocation& invocation, Commands& commands, std::ostream& out,
                                 std::ostream& err, const CliEnvironment& environment);

// parse_command_line + logging setup + run_invocation: all of main().
[[nodiscard]] int run_cli(std::span<const char* const> args, Commands& commands, std::ostream& out,
                          std::ostream& err, const CliEnvironment& environment);

}  // namespace agent
