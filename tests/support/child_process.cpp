#include "tests/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

extern char** environ;

namespace testsupport {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& words, std::filesystem::path out,
                           std::filesystem::path err)
    : out_(std::move(out)), err_(std::move(err)) {
  if (words.empty()) throw std::invalid_argument("ChildProcess: no program");
  std::vector<std::string> copy = words;
  std::vector<char*> argv;
  for (auto& w : copy) argv.push_back(w.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  const int rc = ::posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start " + words[0]);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      status_(other.status_),
      reaped_(std::exchange(other.reaped_, true)),
      out_(std::move(other.out_)),
      err_(std::move(other.err_)) {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill_group(SIGKILL);
    (void)wait();
  }
}

bool ChildProcess::running() {
  if (reaped_) return false;
  if (::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

void ChildProcess::kill_group(int signal) const {
  if (pid_ > 0 && !reaped_) ::kill(-pid_, signal);
}

ChildResult ChildProcess::wait() {
  while (!reaped_) {
    if (::waitpid(pid_, &status_, 0) == pid_)
      reaped_ = true;
    else if (errno != EINTR)
      break;
  }
  return ChildResult{
      .exit_code = reaped_ ? exit_code_of(status_) : -1, .out = slurp(out_), .err = slurp(err_)};
}

std::string ChildProcess::err_so_far() const {
  return slurp(err_);
}

int lines_containing(std::string_view log, std::string_view text) {
  int n = 0;
  std::size_t start = 0;
  for (std::size_t end = log.find('\n'); end != std::string_view::npos; end = log.find('\n', start)) {
    if (log.substr(start, end - start).find(text) != std::string_view::npos) ++n;
    start = end + 1;
  }
  return n;
}

KillOutcome kill_at_log_line(ChildProcess& child, const LogLine& at, const std::function<bool()>& also,
                             std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool line_seen = false;
  bool seen = false;
  // The file is read whole each time: the logs of one run are a few kilobytes.
  while (child.running() && std::chrono::steady_clock::now() < deadline) {
    line_seen = line_seen || lines_containing(child.err_so_far(), at.text) >= at.occurrence;
    if (line_seen && (!also || also())) {
      seen = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  child.kill_group(SIGKILL);
  auto result = child.wait();
  return KillOutcome{.killed = seen && result.exit_code == 128 + SIGKILL, .result = std::move(result)};
}

}  // namespace testsupport
