#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "platform/spawn.h"
#include "tests/support/temp_dir.h"

using namespace std::chrono_literals;

namespace {

struct Ran {
  int status = -1;
  std::string output;
};

// Runs the program open at `program` and collects its stdout and stderr.
platform::Result<Ran> run_fd(const platform::Fd& program, const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return platform::fail_errno("pipe", errno);
  platform::Fd read_end{fds[0]};
  platform::Fd write_end{fds[1]};
  auto child =
      platform::spawn(program, argv, {"PATH=/usr/bin:/bin"},
                      platform::SpawnOptions{.stdout_fd = write_end.get(), .stderr_fd = write_end.get()});
  if (!child) return std::unexpected(child.error());
  write_end.reset();
  Ran ran;
  char buf[512];
  for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof buf)) > 0;)
    ran.output.append(buf, static_cast<std::size_t>(n));
  auto status = child->wait();
  if (!status) return std::unexpected(status.error());
  ran.status = *status;
  return ran;
}

platform::Fd open_path(const std::filesystem::path& p) {
  return platform::Fd(::open(p.c_str(), O_PATH | O_CLOEXEC));
}

void write_script(const std::filesystem::path& p, const std::string& body) {
  std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
  ::chmod(p.c_str(), 0755);
}

// Four pipe buffers' worth, not all the same byte (a lost or repeated chunk shows).
std::string large_input() {
  std::string data;
  for (int i = 0; data.size() < 256 * 1024; ++i) data += std::to_string(i) + "\n";
  return data;
}

}  // namespace

// Issue 11: a hook was checked through its path and then run by its path, looked up again: a
// file swapped in between ran unchecked. spawn runs the descriptor that was opened (and checked).
TEST(PlatformSpawn, RunsTheFileOpenedNotWhatItsPathHoldsLater) {
  testsupport::TempDir dir;
  const auto hook = dir.path() / "hook";
  write_script(hook, "echo checked; exit 4");
  const auto program = open_path(hook);
  ASSERT_TRUE(program);
  write_script(dir.path() / "swapped", "echo swapped; exit 0");
  std::filesystem::rename(dir.path() / "swapped", hook);
  auto ran = run_fd(program, {hook.string()});
  ASSERT_TRUE(ran) << ran.error().describe();
  EXPECT_EQ(ran->output, "checked\n");
  ASSERT_TRUE(WIFEXITED(ran->status));
  EXPECT_EQ(WEXITSTATUS(ran->status), 4);
}

// The kernel hands a `#!` script to its interpreter as /dev/fd/N: that descriptor must survive
// the exec (ENOENT otherwise). It is the script's $0.
TEST(PlatformSpawn, AShellScriptRunsAndSeesItselfAsDevFd3) {
  testsupport::TempDir dir;
  write_script(dir.path() / "script", "echo \"$0 $1\"");
  auto ran = run_fd(open_path(dir.path() / "script"), {"script", "arg"});
  ASSERT_TRUE(ran) << ran.error().describe();
  EXPECT_EQ(ran->output, "/dev/fd/3 arg\n");
}

// No descriptor of ours reaches the child (a hook holding the thaw guardian's pipe would delay
// the guardian noticing our death): stdin, stdout, stderr and the program itself only.
TEST(PlatformSpawn, TheChildGetsNoOtherDescriptor) {
  const platform::Fd extra(::open("/dev/null", O_RDONLY));  // not close-on-exec
  ASSERT_TRUE(extra);
  auto ran = run_fd(open_path("/bin/sh"), {"sh", "-c", "ls /proc/$$/fd"});
  ASSERT_TRUE(ran) << ran.error().describe();
  EXPECT_EQ(ran->output, "0\n1\n2\n3\n");
}

TEST(PlatformSpawn, AFailedExecComesBackAsTheError) {
  testsupport::TempDir dir;
  const auto file = dir.path() / "not-executable";
  std::ofstream(file) << "#!/bin/sh\ntrue\n";
  ::chmod(file.c_str(), 0644);
  auto child = platform::spawn(open_path(file), {"x"}, {}, platform::SpawnOptions{});
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().errno_value, EACCES) << child.error().describe();
}

// Issue 11: with SIGCHLD ignored the kernel reaps the child itself, waitpid fails with ECHILD,
// and hooks counted that as exit 0.
TEST(PlatformSpawn, AChildWhoseEndIsLostIsAFailure) {
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGCHLD, &ignore, &previous), 0);
  auto child = platform::spawn(open_path("/bin/true"), {"true"}, {}, platform::SpawnOptions{});
  ASSERT_TRUE(child) << child.error().describe();
  auto status = child->wait_until(std::chrono::steady_clock::now() + 10s);
  ::sigaction(SIGCHLD, &previous, nullptr);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("lost: waitpid: No child processes"), std::string::npos)
      << status.error().message;
}

// Issue 15: on_success hooks read the report on stdin. More than a pipe holds (64 KiB) reaches a
// child that reads it, byte for byte.
TEST(PlatformSpawn, StdinDataReachesAChildThatReadsItAll) {
  testsupport::TempDir dir;
  const auto copy = dir.path() / "stdin";
  const std::string data = large_input();
  auto child = platform::spawn(open_path("/bin/sh"), {"sh", "-c", "cat > " + copy.string()}, {"PATH=/usr/bin:/bin"},
                               platform::SpawnOptions{.stdin_data = data});
  ASSERT_TRUE(child) << child.error().describe();
  auto status = child->wait_until(std::chrono::steady_clock::now() + 60s);
  ASSERT_TRUE(status) << status.error().describe();
  ASSERT_TRUE(*status) << "still running: its stdin was never closed";
  EXPECT_TRUE(WIFEXITED(**status) && WEXITSTATUS(**status) == 0) << **status;
  std::ifstream in(copy, std::ios::binary);
  const std::string got{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

// A child that closes its stdin unread: the pipe is full, then broken. The EPIPE that follows must
// not be a SIGPIPE (which would end this test process), nor may the full pipe block the wait.
TEST(PlatformSpawn, AChildThatNeverReadsItsStdinBlocksNothingAndRaisesNoSigpipe) {
  const std::string data = large_input();
  auto child = platform::spawn(open_path("/bin/sh"), {"sh", "-c", "exec 0<&-; sleep 0.2; exit 5"},
                               {"PATH=/usr/bin:/bin"}, platform::SpawnOptions{.stdin_data = data});
  ASSERT_TRUE(child) << child.error().describe();
  auto status = child->wait_until(std::chrono::steady_clock::now() + 60s);
  ASSERT_TRUE(status) << status.error().describe();
  ASSERT_TRUE(*status) << "the wait did not see the child end";
  EXPECT_TRUE(WIFEXITED(**status) && WEXITSTATUS(**status) == 5) << **status;
}

TEST(PlatformSpawn, CapturesOutputAndExitCode) {
  auto r = platform::run_command({"sh", "-c", "echo out; echo err >&2; exit 3"}, 10s);
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_NE(r->output.find("out"), std::string::npos);
  EXPECT_NE(r->output.find("err"), std::string::npos);
}

TEST(PlatformSpawn, MissingProgramIsUnsupported) {
  auto r = platform::run_command({"ebsnap-no-such-program"}, 1s);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, platform::ErrorKind::Unsupported);
}

TEST(PlatformSpawn, KilledAtTimeout) {
  auto r = platform::run_command({"sleep", "30"}, 200ms);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, platform::ErrorKind::Timeout);
}

// Issue 11: mkfs inherited the whole environment, AWS_* credentials included.
TEST(PlatformSpawn, TheHelperGetsACleanEnvironment) {
  ::setenv("AWS_SECRET_ACCESS_KEY", "never-in-a-child", 1);
  auto r = platform::run_command({"env"}, std::chrono::seconds(10));
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output.find("never-in-a-child"), std::string::npos) << r->output;
  EXPECT_NE(r->output.find("PATH=/usr/local/sbin"), std::string::npos) << r->output;
}

// Issue 11: with SIGCHLD ignored the kernel reaps the child itself; an end we did not see is a
// failure, never a success.
TEST(PlatformSpawn, ALostChildIsAFailure) {
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGCHLD, &ignore, &previous), 0);
  auto r = platform::run_command({"true"}, std::chrono::seconds(10));
  ::sigaction(SIGCHLD, &previous, nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().describe().find("waitpid"), std::string::npos) << r.error().describe();
}
