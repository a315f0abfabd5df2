#pragma once
// The real Commands: each command makes the Services of its run (agent/runtime.h), calls its
// orchestration (restore, snapshot, unmount, list, check, thaw) and turns the result into the
// RunReport the command line renders. The one place where the orchestration meets the CLI.
#include <expected>
#include <optional>
#include <string>

#include "agent/cli/commands.h"

namespace agent {

struct RestoreResult;
struct SnapshotResult;
struct UnmountResult;
struct ListResult;
struct CheckResult;
struct ThawCommandResult;

// The RunReport of one orchestration result, made by the same code the commands below use: what
// the command line would print for it (`render_text(report_of(r))`). Without the run's timing,
// which belongs to the command, and without the groups the result does not mention.
[[nodiscard]] RunReport report_of(const RestoreResult& result);
[[nodiscard]] RunReport report_of(const SnapshotResult& result);
[[nodiscard]] RunReport report_of(const UnmountResult& result);
[[nodiscard]] RunReport report_of(const ListResult& result);
[[nodiscard]] RunReport report_of(const CheckResult& result);
[[nodiscard]] RunReport report_of(const ThawCommandResult& result);

class AgentCommands final : public Commands {
 public:
  [[nodiscard]] std::expected<std::optional<std::string>, std::string> instance_userdata() override;
  [[nodiscard]] RunReport mount(const CommandContext& context, const GroupRefs& groups) override;
  [[nodiscard]] RunReport snapshot(const CommandContext& context, const GroupRefs& groups) override;
  [[nodiscard]] RunReport unmount(const CommandContext& context, const GroupRefs& groups,
                                  const UnmountOptions& options) override;
  [[nodiscard]] RunReport list(const CommandContext& context, const GroupRefs& groups) override;
  [[nodiscard]] RunReport check(const CommandContext& context) override;
  [[nodiscard]] RunReport thaw(const ThawRequest& request) override;
};

}  // namespace agent
