// The sandbox launcher (tests/support/sandbox.h) against a test that dies without its destructors
// (an assertion's abort): the sandbox must not outlive it. A sandbox left serving held ctest's
// output pipe open, so the crashed test hung until ctest's timeout (found while writing the prune
// integration test), and a data-plane sandbox would have kept its loop devices attached.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "tests/support/sandbox.h"

namespace {

TEST(SandboxLifetime, ASandboxStopsWhenItsTestAborts) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    auto* sandbox = new testsupport::Sandbox(testsupport::SandboxOptions{.data_plane = false});
    const std::string said = sandbox->env("EBSNAP_SANDBOX_PID") + " " + sandbox->state_dir().string();
    (void)!::write(fds[1], said.data(), said.size());
    ::close(fds[1]);
    ::signal(SIGABRT, SIG_DFL);
    std::abort();  // no destructor runs
  }
  ::close(fds[1]);
  char buf[512] = {};
  const auto n = ::read(fds[0], buf, sizeof buf - 1);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_GT(n, 0) << "the child's sandbox did not start";
  const std::string said(buf);
  const pid_t sandbox_pid = std::stoi(said);
  const std::filesystem::path left = said.substr(said.find(' ') + 1);  // the child's TempDir: it never ran its destructor
  bool gone = false;
  for (int i = 0; i < 300 && !gone; ++i) {
    gone = ::kill(sandbox_pid, 0) != 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!gone) ::kill(sandbox_pid, SIGKILL);  // never leave it behind, even when the test fails
  EXPECT_TRUE(gone) << "the sandbox outlived the test that started it";
  if (left.string().find("ebsnap-sandbox") != std::string::npos) std::filesystem::remove_all(left);
}

}  // namespace
