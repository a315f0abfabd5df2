#include <gtest/gtest.h>

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
