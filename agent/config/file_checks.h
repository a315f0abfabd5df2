#pragma once
// Checks of the programs the configuration names (hooks).
#include <sys/types.h>

#include <optional>
#include <string>
#include <filesystem>
#include <string_view>

namespace agent {

// Why a hook program may not be run, or nothing when it may: it must exist, be a regular file,
// executable, owned by root and not writable by group or others, and every directory above it,
// as given and with symlinks resolved, must be safe to go through (platform/trusted_path.h: a
// sticky directory such as /tmp only when the entry below it is root's). Checked at configuration time and again just before running (agent/core/hooks.h).
[[nodiscard]] std::optional<std::string> hook_program_problem(std::string_view path);

}  // namespace agent
