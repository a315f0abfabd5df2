// libmount: mount and unmount ext4 and xfs, find by target and by device, busy unmount, XFS
// duplicate UUID (a copy of a mounted volume), MountPoint undoing a mount on a failure path.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/block_device.h"
#include "platform/fd.h"
#include "platform/mount_point.h"
#include "platform/probe.h"
#include "tests/e2e/platform_e2e.h"

using platform::ErrorKind;

namespace platform_e2e {
namespace {

class PlatformMount : public PlatformE2e, public ::testing::WithParamInterface<const char*> {};

bool has_option(const std::string& options, const std::string& name) {
  return ("," + options + ",").find("," + name + ",") != std::string::npos;
}

}  // namespace

TEST_P(PlatformMount, MountsWithOptionsFindsAndUnmounts) {
  const std::string fs_type = GetParam();
  auto volume = attach_volume();
  ASSERT_TRUE(platform::make_filesystem(volume.loop->devnode(), {.fs_type = fs_type}).has_value());
  testsupport::udev_settle();
  const std::string target = (dir() / "deep" / "mount" / "point").string();
  platform::LibmountMounter mounter;
  // The by-id link as source: found again by device number.
  const std::string by_id = platform::nvme_by_id_link(volume.id);
  auto info = mounter.mount({.source = by_id, .target = target, .fs_type = fs_type, .options = "noatime"});
  ASSERT_TRUE(info.has_value()) << info.error().describe();
  track_mount(target);
  EXPECT_EQ(info->target, target);
  EXPECT_EQ(info->fs_type, fs_type);
  EXPECT_TRUE(has_option(info->options, "noatime")) << info->options;
  struct stat st {};
  ASSERT_EQ(::stat((dir() / "deep").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755U);

  auto by_target = mounter.find_by_target(target);
  ASSERT_TRUE(by_target.has_value() && by_target->has_value());
  EXPECT_EQ((*by_target)->fs_type, fs_type);
  auto by_source = mounter.find_by_source(volume.loop->devnode());
  ASSERT_TRUE(by_source.has_value());
  ASSERT_EQ(by_source->size(), 1U);
  EXPECT_EQ((*by_source)[0].target, target);
  EXPECT_EQ(mounter.find_by_source(by_id).value().size(), 1U);

  ASSERT_TRUE(mounter.unmount(target).has_value());
  EXPECT_FALSE(mounter.find_by_target(target).value().has_value());
  EXPECT_TRUE(mounter.find_by_source(volume.loop->devnode()).value().empty());
  auto again = mounter.unmount(target);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().kind, ErrorKind::NotFound);
}

TEST_P(PlatformMount, BusyUnmountNamesTheMountPoint) {
  const std::string target = mounted_filesystem(GetParam());
  platform::Fd open_file{::open((target + "/held-open").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600)};
  ASSERT_TRUE(open_file.valid());
  platform::LibmountMounter mounter;
  auto busy = mounter.unmount(target);
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().kind, ErrorKind::Busy);
  EXPECT_NE(busy.error().message.find(target), std::string::npos) << busy.error().message;
  std::printf("busy unmount error: %s\n", busy.error().describe().c_str());
  EXPECT_TRUE(mounter.find_by_target(target).value().has_value());
  open_file.reset();
  EXPECT_TRUE(mounter.unmount(target).has_value());
}

TEST_P(PlatformMount, MountPointUnmountsOnAFailurePathUnlessReleased) {
  const std::string fs_type = GetParam();
  auto volume = attach_volume();
  ASSERT_TRUE(platform::make_filesystem(volume.loop->devnode(), {.fs_type = fs_type}).has_value());
  const std::string target = (dir() / "mp").string();
  platform::LibmountMounter mounter;
  track_mount(target);
  {
    auto mp = platform::MountPoint::mount(
        mounter, {.source = volume.loop->devnode(), .target = target, .fs_type = fs_type});
    ASSERT_TRUE(mp.has_value()) << mp.error().describe();
    EXPECT_TRUE(mounter.find_by_target(target).value().has_value());
  }
  EXPECT_FALSE(mounter.find_by_target(target).value().has_value());
  {
    auto mp = platform::MountPoint::mount(
        mounter, {.source = volume.loop->devnode(), .target = target, .fs_type = fs_type});
    ASSERT_TRUE(mp.has_value());
    mp->release();
  }
  EXPECT_TRUE(mounter.find_by_target(target).value().has_value());
}

INSTANTIATE_TEST_SUITE_P(Filesystems, PlatformMount, ::testing::Values("ext4", "xfs"));

class PlatformMountXfs : public PlatformE2e {};

TEST_F(PlatformMountXfs, CopyOfAMountedVolumeIsMountedWithNouuid) {
  auto original = attach_volume();
  ASSERT_TRUE(platform::make_filesystem(original.loop->devnode(), {.fs_type = "xfs"}).has_value());
  // A volume restored from a snapshot of the original: same bytes, same XFS UUID.
  const auto copy_image = dir() / ("vol0" + random_hex(16) + ".img");
  testsupport::shell_ok("cp --sparse=always '" + original.loop->image().string() + "' '" +
                        copy_image.string() + "'");
  auto& copy = attach_image(copy_image);
  EXPECT_EQ(platform::probe_device(copy.devnode()).value().uuid,
            platform::probe_device(original.loop->devnode()).value().uuid);

  platform::LibmountMounter mounter;
  const std::string first = (dir() / "original").string();
  const std::string second = (dir() / "copy").string();
  ASSERT_TRUE(
      mounter.mount({.source = original.loop->devnode(), .target = first, .fs_type = "xfs"}).has_value());
  track_mount(first);
  auto info =
      mounter.mount({.source = copy.devnode(), .target = second, .fs_type = "xfs", .options = "noatime"});
  ASSERT_TRUE(info.has_value()) << info.error().describe();
  track_mount(second);
  EXPECT_TRUE(has_option(info->options, "nouuid")) << info->options;
  EXPECT_TRUE(has_option(info->options, "noatime")) << info->options;
}

TEST_F(PlatformMountXfs, MountOfAMissingDeviceFailsClearly) {
  platform::LibmountMounter mounter;
  const std::string target = (dir() / "never").string();
  auto info = mounter.mount({.source = "/dev/ebsnap-no-such-device", .target = target, .fs_type = "xfs"});
  ASSERT_FALSE(info.has_value());
  EXPECT_NE(info.error().message.find(target), std::string::npos) << info.error().message;
  std::printf("error: %s\n", info.error().describe().c_str());
}

}  // namespace platform_e2e
