#pragma once
// The interim Commands of a build without the orchestration: every command reports a clear
// error (exit 1). This is the one place the orchestration replaces (agent/main.cpp makes it).
#include "agent/commands.h"

namespace agent {

class PendingCommands final : public Commands {
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
