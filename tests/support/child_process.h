#pragma once
// A program (the ebsnap binary) run as a child of the test, in its own process group, its stdout
// and stderr in files; and the kill matrix's one primitive: SIGKILL that process group once a
// given log line has appeared N times on the child's stderr. Tests only.
//
// A kill lands after the line, at whatever the child does next: the test makes that next step
// slow (the sandbox's latency on the call that follows) so that the kill lands in it, not past it.
// The wait for the line is bounded only so that a hung child cannot hang the suite; no test asserts
// on time.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace testsupport {

struct ChildResult {
  int exit_code = -1;  // 128 + N when ended by signal N
  std::string out;
  std::string err;
};

class ChildProcess {
 public:
  // Starts words[0] with argv `words` and this process's environment, in a new process group
  // (its hooks and mkfs with it; the thaw guardian leaves it with setsid()). Throws
  // std::runtime_error when it cannot start.
  ChildProcess(const std::vector<std::string>& words, std::filesystem::path out, std::filesystem::path err);
  ~ChildProcess();  // still running: its group is SIGKILLed and it is reaped
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  // False once it has ended (then it is reaped).
  [[nodiscard]] bool running();
  // Sends `signal` to its whole process group, as systemd stops a unit's control group.
  void kill_group(int signal) const;
  // Waits for it to end; its exit code and what it wrote.
  ChildResult wait();
  // What it has written to stderr so far.
  [[nodiscard]] std::string err_so_far() const;

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  std::filesystem::path out_;
  std::filesystem::path err_;
};

// The `occurrence`-th (from 1) line of the child's stderr that contains `text`.
struct LogLine {
  std::string text;
  int occurrence = 1;
};

struct KillOutcome {
  bool killed = false;  // false: it ended on its own before the line appeared
  ChildResult result;
};

// Lines of `log` (complete lines only: the last one counts once its newline is written) that
// contain `text`.
[[nodiscard]] int lines_containing(std::string_view log, std::string_view text);

// Lets `child` run until `at` has appeared on its stderr and then `also` holds (when given: e.g.
// the sandbox received the request the line announced), then SIGKILLs its process group and
// reaps it. A child that ended first, or that got there not within `limit`, is reported as not
// killed at the line (killed = false; one that hung is killed all the same).
[[nodiscard]] KillOutcome kill_at_log_line(ChildProcess& child, const LogLine& at,
                                           const std::function<bool()>& also = {},
                                           std::chrono::seconds limit = std::chrono::seconds(120));

}  // namespace testsupport
