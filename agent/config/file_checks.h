#pragma once
// Checks of the programs the configuration names (hooks).
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "platform/fd.h"

namespace agent {

// The hook program at `path` opened once (O_PATH) and checked through that descriptor: reached
// only through directories that are safe to go through (platform::open_trusted_path: every
// directory on the path as given, and those of any symlink's target), and a regular file,
// executable, owned by root and not writable by group or others. Run exactly this descriptor
// (platform::spawn), never the path again. On refusal, what was expected ("an executable file;
// ... is not executable (mode 0644)").
[[nodiscard]] std::expected<platform::Fd, std::string> open_hook_program(std::string_view path);

// open_hook_program's refusal, or nothing: the check at configuration time.
[[nodiscard]] std::optional<std::string> hook_program_problem(std::string_view path);

}  // namespace agent
