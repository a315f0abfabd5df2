#include "agent/pending_commands.h"

#include <chrono>

namespace agent {
namespace {

RunReport pending(std::string command, bool dry_run) {
  RunReport report{.command = command, .dry_run = dry_run, .started_at = std::chrono::system_clock::now()};
  report.error = command + " is not implemented in this build";
  return report;
}

}  // namespace

std::expected<std::optional<std::string>, std::string> PendingCommands::instance_userdata() {
  return std::unexpected("reading userdata from IMDS is not implemented in this build; give --userdata JSON|@FILE");
}
RunReport PendingCommands::mount(const CommandContext& context, const GroupRefs&) {
  return pending("mount", context.dry_run);
}
RunReport PendingCommands::snapshot(const CommandContext& context, const GroupRefs&) {
  return pending("snapshot", context.dry_run);
}
RunReport PendingCommands::unmount(const CommandContext& context, const GroupRefs&, const UnmountOptions&) {
  return pending("unmount", context.dry_run);
}
RunReport PendingCommands::list(const CommandContext& context, const GroupRefs&) {
  return pending("list", context.dry_run);
}
RunReport PendingCommands::check(const CommandContext& context) { return pending("check", context.dry_run); }
RunReport PendingCommands::thaw(const ThawRequest& request) { return pending("thaw", request.dry_run); }

}  // namespace agent
