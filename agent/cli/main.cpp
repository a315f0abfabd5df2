// ebsnap: the agent. Everything but the wiring lives in agent/cli.h and the Commands it calls.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <span>
#include <string_view>

#include "agent/cli/cli.h"
#include "agent/cli/agent_commands.h"

int main(int argc, char** argv) {
  // Credentials (the config's keys, the instance role's session token, the IMDS token) live in
  // this process for the whole run: no core dump of it, and its /proc/PID/{mem,environ} and
  // ptrace stay root's. Programs we exec (hooks, mkfs) are dumpable again as usual.
  ::prctl(PR_SET_DUMPABLE, 0);
  // An ignored SIGCHLD survives exec: whoever started us may have left it so. The kernel then
  // reaps our children itself and waitpid cannot tell how a hook or mkfs ended.
  ::signal(SIGCHLD, SIG_DFL);
  try {
    agent::AgentCommands commands;
    const char* journal_stream = std::getenv("JOURNAL_STREAM");
    const agent::CliEnvironment environment{
        .config_env = std::getenv("EBSNAP_CONFIG"),
        .stdin_is_tty = ::isatty(STDIN_FILENO) == 1,
        .log_sink = agent::log_sink_of(journal_stream ? std::optional<std::string_view>(journal_stream) : std::nullopt,
                                       STDERR_FILENO)};
    return agent::run_cli(std::span<const char* const>(argv, static_cast<std::size_t>(argc)), commands, std::cout,
                          std::cerr, environment);
  } catch (const std::exception& e) {
    std::cerr << "ebsnap: internal error: " << e.what() << "\n";
    return agent::k_exit_failed;
  }
}
