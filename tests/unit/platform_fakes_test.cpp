#include <gtest/gtest.h>

#include "platform/mount_point.h"
#include "platform/testing/fake_block_devices.h"
#include "platform/testing/fake_mounter.h"

using platform::ErrorKind;

namespace {
platform::Deadline soon() {
  return std::chrono::steady_clock::now() + std::chrono::seconds(1);
}
}  // namespace

TEST(PlatformFakeMounter, MountFindUnmount) {
  platform::FakeMounter m;
  auto info =
      m.mount({.source = "/dev/nvme1n1", .target = "/mnt/a", .fs_type = "ext4", .options = "noatime"});
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(m.find_by_target("/mnt/a").value()->source, "/dev/nvme1n1");
  EXPECT_EQ(m.find_by_source("/dev/nvme1n1").value().size(), 1U);
  EXPECT_EQ(m.mount({.source = "/dev/nvme2n1", .target = "/mnt/a", .fs_type = "ext4"}).error().kind,
            ErrorKind::Busy);
  m.set_busy("/mnt/a");
  auto busy = m.unmount("/mnt/a");
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().kind, ErrorKind::Busy);
  EXPECT_NE(busy.error().message.find("/mnt/a"), std::string::npos);
  m.set_busy("/mnt/a", false);
  EXPECT_TRUE(m.unmount("/mnt/a").has_value());
  EXPECT_EQ(m.unmount("/mnt/a").error().kind, ErrorKind::NotFound);
  EXPECT_FALSE(m.find_by_target("/mnt/a").value().has_value());
}

TEST(PlatformFakeMounter, DuplicateXfsUuidGetsNouuid) {
  platform::FakeMounter m;
  m.set_fs_uuid("/dev/a", "U");
  m.set_fs_uuid("/dev/b", "U");
  ASSERT_TRUE(m.mount({.source = "/dev/a", .target = "/mnt/a", .fs_type = "xfs"}).has_value());
  auto second = m.mount({.source = "/dev/b", .target = "/mnt/b", .fs_type = "xfs", .options = "noatime"});
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->options, "noatime,nouuid");
}

TEST(PlatformMountPoint, UnmountsOnFailurePathUnlessReleased) {
  platform::FakeMounter m;
  {
    auto mp = platform::MountPoint::mount(m, {.source = "/dev/a", .target = "/mnt/a", .fs_type = "ext4"});
    ASSERT_TRUE(mp.has_value());
  }
  EXPECT_FALSE(m.find_by_target("/mnt/a").value().has_value());
  {
    auto mp = platform::MountPoint::mount(m, {.source = "/dev/a", .target = "/mnt/a", .fs_type = "ext4"});
    ASSERT_TRUE(mp.has_value());
    mp->release();
  }
  EXPECT_TRUE(m.find_by_target("/mnt/a").value().has_value());
}

TEST(PlatformFakeBlockDevices, WaitFindsBySerialOrXenName) {
  platform::FakeBlockDevices devices;
  devices.add_device({.devnode = "/dev/nvme1n1", .serial = "vol0aaa", .size_bytes = 1});
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value());
  devices.add_device({.devnode = "/dev/xvdg", .size_bytes = 1});  // appeared after the watch
  EXPECT_EQ(devices.wait_for_volume(*watch, {.volume_id = "vol-0aaa"}, soon()).value().devnode,
            "/dev/nvme1n1");
  EXPECT_EQ(devices.wait_for_volume(*watch, {.volume_id = "vol-0bbb", .device_hint = "/dev/sdg", .size_bytes = 1},
                                    soon())
                .value()
                .devnode,
            "/dev/xvdg");
  // A device with another serial never matches by name.
  EXPECT_EQ(devices.wait_for_volume(*watch, {.volume_id = "vol-0ccc", .device_hint = "/dev/nvme1n1", .size_bytes = 1},
                                    soon())
                .error()
                .kind,
            ErrorKind::Timeout);
  EXPECT_EQ(devices.verify("/dev/nvme1n1", {.volume_id = "vol-0bbb"}).error().kind, ErrorKind::Mismatch);
}

// Issue 11 item 6: a device without serial was taken on its name alone, even one that was there
// before AttachVolume (an instance-store disk on a kernel that shifts names).
TEST(PlatformFakeBlockDevices, ASerialLessDeviceThereBeforeTheWatchIsRefusedUnderTheVolumesName) {
  platform::FakeBlockDevices devices;
  devices.add_device({.devnode = "/dev/xvdf", .size_bytes = 10});  // instance store, named xvdf
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value());
  const platform::VolumeQuery query{.volume_id = "vol-0aaa", .device_hint = "/dev/sdf", .size_bytes = 10};
  auto waited = devices.wait_for_volume(*watch, query, soon());
  ASSERT_FALSE(waited.has_value());
  EXPECT_EQ(waited.error().kind, ErrorKind::Timeout);
  EXPECT_NE(waited.error().message.find("; /dev/xvdf has no serial and was there before AttachVolume: not provably "
                                        "vol-0aaa"),
            std::string::npos)
      << waited.error().message;
  // Attached by an earlier run (no AttachVolume follows): refused at once.
  auto reused = query;
  reused.already_attached = true;
  EXPECT_EQ(devices.wait_for_volume(*watch, reused, soon()).error().kind, ErrorKind::Mismatch);
}

TEST(PlatformFakeBlockDevices, ASerialLessDeviceThatAppearsWithAnotherSizeIsRefused) {
  platform::FakeBlockDevices devices;
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value());
  devices.add_device({.devnode = "/dev/xvdf", .size_bytes = 8});
  auto waited =
      devices.wait_for_volume(*watch, {.volume_id = "vol-0aaa", .device_hint = "/dev/sdf", .size_bytes = 10}, soon());
  ASSERT_FALSE(waited.has_value());
  EXPECT_EQ(waited.error().kind, ErrorKind::Timeout);
  EXPECT_NE(waited.error().message.find("/dev/xvdf has no serial and is 8 bytes, the volume 10 bytes"),
            std::string::npos)
      << waited.error().message;
}

TEST(PlatformFakeBlockDevices, ASerialLessDeviceThatAppearsWithTheVolumesSizeIsAcceptedAndVerified) {
  platform::FakeBlockDevices devices;
  devices.add_device({.devnode = "/dev/xvdf", .size_bytes = 10});
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value());
  // The disk that had the name goes, the volume's takes it (same name, a new disk).
  devices.remove_device("/dev/xvdf");
  devices.add_device({.devnode = "/dev/xvdf", .size_bytes = 10});
  platform::VolumeQuery query{.volume_id = "vol-0aaa", .device_hint = "/dev/sdf", .size_bytes = 10};
  auto device = devices.wait_for_volume(*watch, query, soon());
  ASSERT_TRUE(device.has_value()) << device.error().describe();
  EXPECT_EQ(device->devnode, "/dev/xvdf");
  query.accepted = platform::identity_of(*device);
  EXPECT_TRUE(devices.verify("/dev/xvdf", query).has_value());
  // Before mkfs and mount: another disk under that name since, or another size, is refused.
  devices.add_device({.devnode = "/dev/xvdf", .size_bytes = 10});
  EXPECT_EQ(devices.verify("/dev/xvdf", query).error().kind, ErrorKind::Mismatch);
  query.accepted.reset();
  query.size_bytes = 11;
  EXPECT_EQ(devices.verify("/dev/xvdf", query).error().kind, ErrorKind::Mismatch);
}

TEST(PlatformFakeBlockDevices, ASerialDeviceThereBeforeTheWatchIsStillMatchedBySerial) {
  platform::FakeBlockDevices devices;
  devices.add_device({.devnode = "/dev/nvme1n1", .serial = "vol0aaa", .size_bytes = 1});
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value());
  auto device =
      devices.wait_for_volume(*watch, {.volume_id = "vol-0aaa", .device_hint = "/dev/sdf", .size_bytes = 10}, soon());
  ASSERT_TRUE(device.has_value()) << device.error().describe();
  EXPECT_EQ(device->devnode, "/dev/nvme1n1");
}

TEST(PlatformFakeBlockDevices, ArrivalHookMakesTheAttachedVolumeAppear) {
  platform::FakeBlockDevices devices;
  devices.set_arrival([](const platform::VolumeQuery& q) -> std::optional<platform::BlockDevice> {
    return platform::BlockDevice{
        .devnode = "/dev/nvme5n1", .serial = platform::volume_serial(q.volume_id), .size_bytes = 1};
  });
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value());
  EXPECT_EQ(devices.wait_for_volume(*watch, {.volume_id = "vol-0ddd"}, soon()).value().devnode,
            "/dev/nvme5n1");
  EXPECT_TRUE(devices.has_device("/dev/nvme5n1"));
  EXPECT_EQ(devices.wait_for_removal("/dev/nvme5n1", soon()).error().kind, ErrorKind::Timeout);
  devices.remove_device("/dev/nvme5n1");
  EXPECT_TRUE(devices.wait_for_removal("/dev/nvme5n1", soon()).has_value());
}

TEST(PlatformFakeBlockDevices, MkfsFollowsTheRealRules) {
  platform::FakeBlockDevices devices;
  devices.add_device({.devnode = "/dev/a", .serial = "vol0a", .size_bytes = 1});
  devices.add_device({.devnode = "/dev/b", .serial = "vol0b", .size_bytes = 1}, {.partition_table = "gpt"});
  EXPECT_TRUE(devices.make_filesystem("/dev/a", {.fs_type = "xfs"}).has_value());
  EXPECT_EQ(devices.probe("/dev/a").value().fs_type, "xfs");
  EXPECT_EQ(devices.make_filesystem("/dev/a", {.fs_type = "xfs"}).error().kind, ErrorKind::Refused);
  EXPECT_EQ(devices.make_filesystem("/dev/b", {.fs_type = "ext4"}).error().kind, ErrorKind::Refused);
  EXPECT_EQ(devices.mkfs_calls(), (std::vector<std::string>{"/dev/a xfs"}));
}
