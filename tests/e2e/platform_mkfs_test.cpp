// blkid probing and mkfs on loop devices: ext4 and xfs on empty devices; refused on a device with
// a filesystem, and on one with only a partition table.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "platform/probe.h"
#include "platform/udev_block_devices.h"
#include "tests/e2e/platform_e2e.h"

using platform::ErrorKind;

namespace platform_e2e {
namespace {

class PlatformMkfs : public PlatformE2e, public ::testing::WithParamInterface<const char*> {};

// A DOS partition table with one partition, written with sfdisk; by hand where sfdisk (Debian's
// fdisk package) is not installed.
void write_partition_table(const std::string& devnode) {
  if (testsupport::shell("command -v sfdisk").exit_code == 0) {
    testsupport::shell_ok("echo ',+,L' | sfdisk -q --label dos --no-reread --no-tell-kernel '" + devnode +
                          "'");
    return;
  }
  std::uint8_t mbr[512] = {};
  const std::uint32_t signature = 0x65627378;  // disk identifier
  std::memcpy(mbr + 440, &signature, 4);
  std::uint8_t* entry = mbr + 446;
  entry[4] = 0x83;  // Linux
  const std::uint32_t start = 2048;
  const std::uint32_t sectors = 320U * 2048U - start;
  std::memcpy(entry + 8, &start, 4);  // little-endian on x86 and arm64
  std::memcpy(entry + 12, &sectors, 4);
  mbr[510] = 0x55;
  mbr[511] = 0xAA;
  const int fd = ::open(devnode.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::pwrite(fd, mbr, sizeof mbr, 0), static_cast<ssize_t>(sizeof mbr));
  EXPECT_EQ(::fsync(fd), 0);
  ::close(fd);
}

}  // namespace

TEST_P(PlatformMkfs, FormatsAnEmptyDeviceAndProbesIt) {
  const std::string fs_type = GetParam();
  auto volume = attach_volume();
  auto before = platform::probe_device(volume.loop->devnode());
  ASSERT_TRUE(before.has_value()) << before.error().describe();
  EXPECT_EQ(platform::classify(*before), platform::DeviceContent::Empty);

  platform::UdevBlockDevices devices;
  auto made = devices.make_filesystem(volume.loop->devnode(), {.fs_type = fs_type, .label = "ebsnaptest"});
  ASSERT_TRUE(made.has_value()) << made.error().describe();
  auto after = devices.probe(volume.loop->devnode());
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->fs_type, fs_type);
  EXPECT_EQ(after->label, "ebsnaptest");
  EXPECT_EQ(after->uuid.size(), 36U) << after->uuid;
  EXPECT_TRUE(after->partition_table.empty());
}

TEST_P(PlatformMkfs, RefusedOnADeviceWithAFilesystem) {
  const std::string fs_type = GetParam();
  auto volume = attach_volume();
  ASSERT_TRUE(platform::make_filesystem(volume.loop->devnode(), {.fs_type = fs_type}).has_value());
  const auto uuid = platform::probe_device(volume.loop->devnode()).value().uuid;
  for (const char* other : {"ext4", "xfs"}) {
    auto again = platform::make_filesystem(volume.loop->devnode(), {.fs_type = other});
    ASSERT_FALSE(again.has_value()) << other;
    EXPECT_EQ(again.error().kind, ErrorKind::Refused);
    EXPECT_NE(again.error().message.find(volume.loop->devnode()), std::string::npos);
  }
  EXPECT_EQ(platform::probe_device(volume.loop->devnode()).value().uuid, uuid);  // untouched
}

TEST_P(PlatformMkfs, RefusedOnADeviceWithOnlyAPartitionTable) {
  auto volume = attach_volume();
  write_partition_table(volume.loop->devnode());
  auto probe = platform::probe_device(volume.loop->devnode());
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(probe->partition_table, "dos");
  EXPECT_TRUE(probe->fs_type.empty());
  auto made = platform::make_filesystem(volume.loop->devnode(), {.fs_type = GetParam()});
  ASSERT_FALSE(made.has_value());
  EXPECT_EQ(made.error().kind, ErrorKind::Refused);
  EXPECT_NE(made.error().message.find("partition table"), std::string::npos);
  EXPECT_EQ(platform::probe_device(volume.loop->devnode()).value().partition_table, "dos");
}

INSTANTIATE_TEST_SUITE_P(Filesystems, PlatformMkfs, ::testing::Values("ext4", "xfs"));

}  // namespace platform_e2e
