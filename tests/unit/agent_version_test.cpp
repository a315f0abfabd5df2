#include <gtest/gtest.h>

#include <string_view>

#include "agent/version.h"

TEST(Version, IsSemanticVersion) {
  const std::string_view v = agent::k_version;
  int dots = 0;
  for (char c : v) {
    if (c == '.') ++dots;
    else EXPECT_TRUE(c >= '0' && c <= '9') << v;
  }
  EXPECT_EQ(dots, 2) << v;
}
