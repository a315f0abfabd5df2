#include <gtest/gtest.h>
#include <signal.h>

#include "platform/spawn.h"

using namespace std::chrono_literals;

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
