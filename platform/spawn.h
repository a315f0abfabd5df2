#pragma once
// Running a program (a hook, mkfs.*): argv only, never a shell, and always the file that was
// opened and checked, never a path looked up again when it starts.
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/error.h"
#include "platform/fd.h"

namespace platform {

// A started child process. One that is dropped before it was waited for is killed (SIGKILL, its
// whole process group when it has one of its own) and reaped: no stray process, no zombie.
class Child {
 public:
  // `stdin_pipe`: the write end of the child's stdin (invalid: none), fed `stdin_data` by
  // wait_until.
  Child(pid_t pid, bool own_process_group, Fd stdin_pipe = {}, std::string stdin_data = {});
  ~Child();
  Child(Child&& other) noexcept;
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }

  // Its wait status once it ended, or nothing when `deadline` came first. A failing waitpid is
  // an error, never a success: with SIGCHLD ignored the kernel reaps the child itself (ECHILD)
  // and how it ended is lost. Meanwhile it writes SpawnOptions::stdin_data to the child as far as
  // the child reads it: never blocked by a child that does not read, never killed by SIGPIPE
  // (EPIPE: the child closed its stdin; the rest is dropped).
  [[nodiscard]] Result<std::optional<int>> wait_until(std::chrono::steady_clock::time_point deadline);
  // Its wait status, however long it takes. Writes nothing more to its stdin (closed first: a
  // child still reading it sees its end).
  [[nodiscard]] Result<int> wait();

  // Sends `sig` to it, or to its whole process group when it has one of its own.
  void signal(int sig) const;

 private:
  // Writes what the pipe takes now of the rest of stdin_data_; closes stdin_ when all is written
  // or the child will read no more.
  void feed_stdin();

  pid_t pid_ = -1;
  bool own_process_group_ = false;
  Fd pidfd_;  // to sleep on until it ends (absent before Linux 5.3: then waitpid is polled)
  bool waited_ = false;
  Fd stdin_;  // non-blocking write end of the child's stdin, while there is more to write
  std::string stdin_data_;
  std::size_t stdin_written_ = 0;
};

struct SpawnOptions {
  int stdout_fd = STDOUT_FILENO;  // the child's stdout and stderr
  int stderr_fd = STDERR_FILENO;
  bool own_process_group = false;  // then Child::signal reaches whatever it started, too
  // The child's stdin: these bytes through a pipe (written by Child::wait_until); none: /dev/null.
  std::optional<std::string_view> stdin_data;
};

// Starts the program open at `program` (an O_PATH descriptor will do) with argv and exactly the
// environment `env` ("KEY=value"), by execveat(AT_EMPTY_PATH): what runs is the file opened,
// whatever its path holds by now. The child has no other descriptor of ours, an empty signal
// mask and default signal dispositions. It also keeps the program itself open as descriptor 3
// (O_PATH): the kernel hands a `#!` script to its interpreter as /dev/fd/3, so that is the
// script's $0. Errors when it could not start (the exec's errno comes back).
[[nodiscard]] Result<Child> spawn(const Fd& program, const std::vector<std::string>& argv,
                                  const std::vector<std::string>& env, const SpawnOptions& options);

struct CommandResult {
  int exit_code = -1;  // exit status, or -1 when killed by a signal
  int signal = 0;      // the terminating signal, 0 when it exited
  std::string output;  // stdout and stderr together (bounded)
};

// Runs argv[0] (looked up in PATH, then /usr/sbin and /sbin) with a clean environment (a fixed
// PATH and LC_ALL=C: never our AWS_* variables), waits at most `timeout` (then SIGKILL and
// Timeout). Errors only when it could not run or was lost; a non-zero exit is a CommandResult.
[[nodiscard]] Result<CommandResult> run_command(const std::vector<std::string>& argv,
                                                std::chrono::milliseconds timeout);

}  // namespace platform
