#pragma once
// Running a helper program (mkfs.*) with posix_spawn: argv only, never a shell.
#include <chrono>
#include <string>
#include <vector>

#include "platform/error.h"

namespace platform {

struct CommandResult {
  int exit_code = -1;  // exit status, or -1 when killed by a signal
  int signal = 0;      // the terminating signal, 0 when it exited
  std::string output;  // stdout and stderr together (bounded)
};

// Spawns argv[0] (looked up in PATH, then /usr/sbin and /sbin) with a clean environment (a fixed
// PATH and LC_ALL=C: never our AWS_* variables), waits at most `timeout` (then SIGKILL and
// Timeout). Errors only when it could not run; a non-zero exit is a CommandResult.
[[nodiscard]] Result<CommandResult> run_command(const std::vector<std::string>& argv,
                                                std::chrono::milliseconds timeout);

}  // namespace platform
