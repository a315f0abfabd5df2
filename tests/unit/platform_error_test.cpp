#include <gtest/gtest.h>

#include <cerrno>

#include "platform/error.h"

TEST(PlatformError, ErrnoMapsToKindAndMessage) {
  auto busy = platform::fail_errno("umount /mnt/x", EBUSY);
  EXPECT_EQ(busy.error().kind, platform::ErrorKind::Busy);
  EXPECT_EQ(busy.error().errno_value, EBUSY);
  EXPECT_NE(busy.error().message.find("umount /mnt/x: "), std::string::npos);
  EXPECT_EQ(platform::fail_errno("open", ENOENT).error().kind, platform::ErrorKind::NotFound);
  EXPECT_EQ(platform::fail_errno("open", EPERM).error().kind, platform::ErrorKind::System);
}
