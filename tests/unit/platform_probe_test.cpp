#include <gtest/gtest.h>

#include "platform/mkfs.h"
#include "platform/probe.h"

using platform::DeviceContent;
using platform::ErrorKind;
using platform::ProbeResult;

TEST(PlatformProbe, ClassifiesWhatBlkidFound) {
  EXPECT_EQ(platform::classify({}), DeviceContent::Empty);
  EXPECT_EQ(platform::classify({.fs_type = "xfs", .uuid = "u"}), DeviceContent::Filesystem);
  EXPECT_EQ(platform::classify({.partition_table = "gpt"}), DeviceContent::PartitionTable);
  EXPECT_EQ(platform::classify({.ambiguous = true}), DeviceContent::Ambiguous);
  // A filesystem on the whole disk wins over a (protective) partition table signature.
  EXPECT_EQ(platform::classify({.fs_type = "ext4", .partition_table = "dos"}), DeviceContent::Filesystem);
}

TEST(PlatformProbe, MkfsAllowedOnlyOnAnEmptyDevice) {
  EXPECT_TRUE(platform::check_empty_for_mkfs("/dev/x", {}).has_value());
  auto fs = platform::check_empty_for_mkfs("/dev/x", {.fs_type = "ext4", .uuid = "1234"});
  ASSERT_FALSE(fs.has_value());
  EXPECT_EQ(fs.error().kind, ErrorKind::Refused);
  EXPECT_NE(fs.error().message.find("/dev/x"), std::string::npos);
  EXPECT_NE(fs.error().message.find("ext4"), std::string::npos);
  auto pt = platform::check_empty_for_mkfs("/dev/x", {.partition_table = "dos"});
  ASSERT_FALSE(pt.has_value());
  EXPECT_NE(pt.error().message.find("partition table"), std::string::npos);
  EXPECT_EQ(platform::check_empty_for_mkfs("/dev/x", {.ambiguous = true}).error().kind, ErrorKind::Refused);
}

TEST(PlatformProbe, RestoredVolumeMustCarryAFilesystem) {
  EXPECT_TRUE(platform::check_has_filesystem("/dev/x", {.fs_type = "xfs"}).has_value());
  EXPECT_EQ(platform::check_has_filesystem("/dev/x", {}).error().kind, ErrorKind::Refused);
  EXPECT_EQ(platform::check_has_filesystem("/dev/x", {.partition_table = "gpt"}).error().kind,
            ErrorKind::Unsupported);
}

TEST(PlatformMkfs, ForceFlagsPerFilesystem) {
  auto ext4 = platform::mkfs_argv("/dev/x", {.fs_type = "ext4", .label = "data"});
  ASSERT_TRUE(ext4.has_value());
  EXPECT_EQ(*ext4, (std::vector<std::string>{"mkfs.ext4", "-F", "-q", "-L", "data", "/dev/x"}));
  auto xfs = platform::mkfs_argv("/dev/x", {.fs_type = "xfs", .extra_args = {"-m", "crc=1"}});
  ASSERT_TRUE(xfs.has_value());
  EXPECT_EQ(*xfs, (std::vector<std::string>{"mkfs.xfs", "-f", "-q", "-m", "crc=1", "/dev/x"}));
}

TEST(PlatformMkfs, RefusesUnknownTypesAndLongLabels) {
  EXPECT_EQ(platform::mkfs_argv("/dev/x", {.fs_type = "btrfs"}).error().kind, ErrorKind::Unsupported);
  EXPECT_EQ(platform::mkfs_argv("/dev/x", {.fs_type = "xfs", .label = "thirteen-char"}).error().kind,
            ErrorKind::Refused);
  EXPECT_TRUE(platform::mkfs_argv("/dev/x", {.fs_type = "ext4", .label = "thirteen-char"}).has_value());
}
