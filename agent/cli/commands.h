#pragma once
// The dispatch seam between the command line (agent/cli.h) and the orchestration.
//
// The command line parses, loads and validates the configuration and userdata (exit 2 on any
// problem, before anything is touched), resolves the groups named on the command line, and then
// calls exactly one of these. The implementation does the work and returns a RunReport, which
// the command line renders (text or --json) and turns into the exit code: 0 when report.ok(),
// else 1.
#include <chrono>
#include <expected>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/commands/prune.h"
#include "agent/commands/check_backups.h"
#include "agent/commands/copy.h"
#include "agent/commands/freeze.h"
#include "agent/commands/gc.h"
#include "agent/commands/mount.h"
#include "agent/commands/prewarm.h"
#include "agent/commands/watch.h"
#include "agent/commands/unmount.h"
#include "agent/config/config.h"
#include "agent/report/report.h"
#include "ec2/error.h"

namespace agent {

// What every config-based command runs with.
struct CommandContext {
  const Config& config;  // validated
  // --region: wins over AWS_REGION / AWS_DEFAULT_REGION, the config's region and IMDS.
  std::optional<std::string> region;
  // The filter values from userdata. Always a value for mount, snapshot and list (the command
  // line exits 2 otherwise; also check-backups); for unmount and check it may hold the problem, which check reports.
  std::expected<FilterValues, ConfigError> filter_values;
  bool dry_run = false;       // plan and print; change nothing
  bool interactive = false;   // stdin is a terminal (unmount --delete-volumes and gc ask then)
};

struct ThawRequest {
  std::vector<std::string> mount_points;  // empty with all
  bool all = false;                       // every filesystem ebsnap froze (state under /run/ebsnap)
  bool dry_run = false;
};

// shutdown: its time bound. The run ends (exit 1, one line) when it runs out; what it leaves is
// finished by the next run (agent/commands/shutdown.h).
inline constexpr std::chrono::seconds k_default_shutdown_timeout{120};
struct ShutdownRequest {
  std::chrono::seconds timeout = k_default_shutdown_timeout;
};

// watch: how often it polls, and how each notice's report is shown as it happens.
struct WatchRequest {
  std::chrono::seconds interval = k_default_watch_interval;
  std::function<void(const RunReport&)> print;
  std::optional<std::filesystem::path> metrics_dir;  // none: no metrics file
};

// Groups are given in command-line order (list without groups: every group in config order);
// the pointers stay valid for the call.
using GroupRefs = std::vector<const GroupConfig*>;

class Commands {
 public:
  virtual ~Commands() = default;

  // The instance userdata (IMDS) for a run without --userdata; nullopt when the instance has
  // none. An error (IMDS unreachable) ends the run with exit 1 and this one line.
  [[nodiscard]] virtual ec2::Result<std::optional<std::string>> instance_userdata() = 0;

  [[nodiscard]] virtual RunReport mount(const CommandContext& context, const GroupRefs& groups,
                                        const MountOptions& options) = 0;
  [[nodiscard]] virtual RunReport snapshot(const CommandContext& context, const GroupRefs& groups) = 0;
  [[nodiscard]] virtual RunReport unmount(const CommandContext& context, const GroupRefs& groups,
                                          const UnmountOptions& options) = 0;
  [[nodiscard]] virtual RunReport list(const CommandContext& context, const GroupRefs& groups) = 0;
  [[nodiscard]] virtual RunReport check(const CommandContext& context) = 0;
  // Every group has a retention policy (the command line refuses the others with exit 2).
  [[nodiscard]] virtual RunReport prune(const CommandContext& context, const GroupRefs& groups) = 0;
  // check-backups (and check --max-age: then every group, in config order).
  [[nodiscard]] virtual RunReport check_backups(const CommandContext& context, const GroupRefs& groups,
                                                const CheckBackupsOptions& options) = 0;
  // The groups: those named, else every configured group. options.confirm is the
  // implementation's (a question on the terminal when context.interactive).
  [[nodiscard]] virtual RunReport gc(const CommandContext& context, const GroupRefs& groups,
                                     const GcOptions& options) = 0;
  [[nodiscard]] virtual RunReport history(const CommandContext& context, const GroupRefs& groups) = 0;
  // The groups' volumes with "prewarm": true, read (or waited for, request.wait).
  [[nodiscard]] virtual RunReport prewarm(const CommandContext& context, const GroupRefs& groups,
                                          const PrewarmRequest& request) = 0;
  // The groups' shutdown: snapshot and unmount as each group's config says, within request.timeout.
  [[nodiscard]] virtual RunReport shutdown(const CommandContext& context, const GroupRefs& groups,
                                           const ShutdownRequest& request) = 0;
  // Runs until SIGTERM or SIGINT; every notice's report goes to request.print as it is answered.
  [[nodiscard]] virtual RunReport watch(const CommandContext& context, const GroupRefs& groups,
                                        const WatchRequest& request) = 0;
  // Needs no configuration (it is the escape hatch when things are broken).
  [[nodiscard]] virtual RunReport thaw(const ThawRequest& request) = 0;
  // freeze GROUP --hold: exactly one group.
  [[nodiscard]] virtual RunReport freeze(const CommandContext& context, const GroupRefs& groups,
                                         const FreezeHoldOptions& options) = 0;
  // thaw GROUP: releases the group's hold (exactly one group).
  [[nodiscard]] virtual RunReport thaw_group(const CommandContext& context, const GroupRefs& groups) = 0;
  // Every group has copy_to, or options.to_region is set (the command line refuses the others).
  [[nodiscard]] virtual RunReport copy(const CommandContext& context, const GroupRefs& groups,
                                       const CopyOptions& options) = 0;
};

}  // namespace agent
