#pragma once
// The real Commands: each command makes the Services of its run (agent/core/runtime.h), builds
// its RunContext once and calls the command (agent/commands/), whose RunReport the command line
// renders. The one place where the commands meet the CLI.
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agent/cli/commands.h"
#include "agent/core/services.h"
#include "ec2/imds.h"

namespace agent {

// The commands a fleet starts together, which take their share of EC2's buckets when the config
// has a fleet_size: mount (an Auto Scaling group boots at once) and prune (a fleet-wide Run
// Command or cron minute). The others are run by hand, by their timers over a randomized delay
// (snapshot, copy), or at one instance's own shutdown: a share of a fleet that is not calling
// would only make them wait.
[[nodiscard]] bool fleet_starts_together(std::string_view command);

class AgentCommands final : public Commands {
 public:
  [[nodiscard]] ec2::Result<std::optional<std::string>> instance_userdata() override;
  [[nodiscard]] RunReport mount(const CommandContext& context, const GroupRefs& groups,
                                const MountOptions& options) override;
  [[nodiscard]] RunReport history(const CommandContext& context, const GroupRefs& groups) override;
  [[nodiscard]] RunReport snapshot(const CommandContext& context, const GroupRefs& groups) override;
  [[nodiscard]] RunReport unmount(const CommandContext& context, const GroupRefs& groups,
                                  const UnmountOptions& options) override;
  [[nodiscard]] RunReport list(const CommandContext& context, const GroupRefs& groups) override;
  [[nodiscard]] RunReport check(const CommandContext& context) override;
  [[nodiscard]] RunReport prune(const CommandContext& context, const GroupRefs& groups) override;
  [[nodiscard]] RunReport copy(const CommandContext& context, const GroupRefs& groups,
                               const CopyOptions& options) override;
  [[nodiscard]] RunReport check_backups(const CommandContext& context, const GroupRefs& groups,
                                        const CheckBackupsOptions& options) override;
  [[nodiscard]] RunReport gc(const CommandContext& context, const GroupRefs& groups,
                             const GcOptions& options) override;
  [[nodiscard]] RunReport prewarm(const CommandContext& context, const GroupRefs& groups,
                                  const PrewarmRequest& request) override;
  [[nodiscard]] RunReport shutdown(const CommandContext& context, const GroupRefs& groups,
                                   const ShutdownRequest& request) override;
  [[nodiscard]] RunReport watch(const CommandContext& context, const GroupRefs& groups,
                                const WatchRequest& request) override;
  [[nodiscard]] RunReport thaw(const ThawRequest& request) override;
  [[nodiscard]] RunReport freeze(const CommandContext& context, const GroupRefs& groups,
                                 const FreezeHoldOptions& options) override;
  [[nodiscard]] RunReport thaw_group(const CommandContext& context, const GroupRefs& groups) override;

 private:
  // The run's one IMDS client (userdata, region, instance, credentials), made on first use.
  [[nodiscard]] std::shared_ptr<ec2::Imds> imds();
  // Makes the Services and the RunContext of a command and runs `command` with them; a run that
  // cannot be set up reports why.
  template <class Command>
  [[nodiscard]] RunReport with_context(const std::string& name, const CommandContext& context,
                                       const GroupRefs& groups, Command command);

  std::shared_ptr<ec2::Imds> imds_;
};

}  // namespace agent
