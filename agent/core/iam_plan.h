#pragma once
// What each command may ask of EC2, under a configuration: the planner of `ebsnap iam-policy`
// (decide: config + --for → permissions; the statements are agent/report/iam_policy.h) and the
// list of what `ebsnap check` DryRuns. Pure: no EC2, no IMDS, no credentials.
//
// Each command's set is what its code calls, in any of its options (unmount: DeleteVolume for
// --delete-volumes and --inspect), read from agent/commands/*.cpp; the e2e test
// tests/e2e/agent_iam_policy_test.cpp runs the commands against the sandbox allowed exactly that
// set and compares with the sandbox's call log. A configuration narrows it where a feature is off:
// ModifyInstanceAttribute only with a delete_on_termination volume, Snaptastic's snapshots only with
// compat, prune only for a group with retention (its own or a copy_to's), copy only for a group
// with copy_to (snapshot copies with copy_after_snapshot), shutdown's snapshot and unmount only for groups
// that do them at shutdown.
#include <array>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "agent/report/iam_policy.h"

namespace agent {

// The commands `iam-policy --for` takes (their aliases too, and "all"), in the order a plan lists
// them. version and iam-policy itself ask EC2 nothing.
inline constexpr std::array<std::string_view, 14> k_iam_commands = {
    "mount", "snapshot", "unmount", "list",  "history", "check-backups", "prune",
    "copy",  "gc",       "prewarm", "shutdown", "watch", "thaw",         "check"};

// What `command` may ask of EC2 under `config`; nullptr: with every feature on. `command` is one
// of k_iam_commands.
[[nodiscard]] Permissions permissions_of(std::string_view command, const Config* config);

struct IamPlan {
  std::vector<std::string> commands;  // in k_iam_commands order
  Permissions permissions;
};

// for_commands empty: every command the configuration uses (prune only when a group has a
// retention; config nullptr: every command). "all" among them: every command, every feature
// (config ignored): etc/iam-policy.json. Aliases (mount-snapshots, test, ...) name their command.
// An unknown name: the error line, e.g. "--for: unknown command 'snapshots'; did you mean
// snapshot? (expected mount, snapshot, ..., or all)".
[[nodiscard]] std::expected<IamPlan, std::string> plan_iam_policy(const Config* config,
                                                                  const std::vector<std::string>& for_commands);

}  // namespace agent
