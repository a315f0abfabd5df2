// udev: finding an EBS-like volume by its serial (loop devices given a serial by the test's udev
// rule), events before the wait, stale links, removal, and the sysfs fallback without udevd.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

#include "platform/udev_block_devices.h"
#include "tests/e2e/platform_e2e.h"

using namespace std::chrono_literals;
using platform::ErrorKind;
using Clock = std::chrono::steady_clock;

namespace platform_e2e {
namespace {

class PlatformUdev : public PlatformE2e {};

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

}  // namespace

TEST_F(PlatformUdev, FindsVolumeBySerialWhenItAppearsDuringTheWait) {
  platform::UdevBlockDevices devices;
  ASSERT_TRUE(devices.udevd_running());
  auto [id, image] = volume_image();
  auto watch = devices.arm_watch();  // before the "attach"
  ASSERT_TRUE(watch.has_value()) << watch.error().describe();
  auto attached = std::async(std::launch::async, [&, img = image] {
    std::this_thread::sleep_for(300ms);
    return attach_image(img).devnode();
  });
  const auto start = Clock::now();
  auto device = devices.wait_for_volume(*watch, {.volume_id = id}, Clock::now() + 30s);
  const std::string devnode = attached.get();
  ASSERT_TRUE(device.has_value()) << device.error().describe();
  std::printf("volume %s found as %s after %lld ms (attached after ~300 ms)\n", id.c_str(),
              device->devnode.c_str(), ms_since(start));
  EXPECT_EQ(device->devnode, devnode);
  EXPECT_TRUE(platform::serial_matches(device->serial, id));
  EXPECT_EQ(device->by_id_link, platform::nvme_by_id_link(id));
  EXPECT_EQ(device->size_bytes, 320ULL * 1024 * 1024);
}

TEST_F(PlatformUdev, FindsVolumeWhoseEventArrivedBeforeTheWaitStarted) {
  platform::UdevBlockDevices devices;
  auto [id, image] = volume_image();
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value());
  // The attach completes, and udevd has processed (and sent) the event, before we wait.
  const std::string devnode = attach_image(image).devnode();
  testsupport::udev_settle();
  const auto start = Clock::now();
  auto device = devices.wait_for_volume(*watch, {.volume_id = id}, Clock::now() + 5s);
  ASSERT_TRUE(device.has_value()) << device.error().describe();
  std::printf("found %s %lld ms after the wait started\n", device->devnode.c_str(), ms_since(start));
  EXPECT_EQ(device->devnode, devnode);
}

TEST_F(PlatformUdev, FindsVolumeAttachedBeforeTheWatchWasArmed) {
  platform::UdevBlockDevices devices;
  auto volume = attach_volume();
  testsupport::udev_settle();
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value());
  auto device = devices.wait_for_volume(*watch, {.volume_id = volume.id}, Clock::now() + 5s);
  ASSERT_TRUE(device.has_value()) << device.error().describe();
  EXPECT_EQ(device->devnode, volume.loop->devnode());
  auto found = devices.find_by_serial(volume.id);
  ASSERT_TRUE(found.has_value() && found->has_value());
  EXPECT_EQ((*found)->devnode, volume.loop->devnode());
  EXPECT_TRUE(platform::serial_matches(devices.serial_of(volume.loop->devnode()).value(), volume.id));
}

TEST_F(PlatformUdev, TimesOutWhenTheVolumeNeverComes) {
  platform::UdevBlockDevices devices;
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value());
  const auto start = Clock::now();
  auto device =
      devices.wait_for_volume(*watch, {.volume_id = "vol-0" + random_hex(16)}, Clock::now() + 500ms);
  ASSERT_FALSE(device.has_value());
  EXPECT_EQ(device.error().kind, ErrorKind::Timeout);
  std::printf("timed out after %lld ms (deadline 500 ms)\n", ms_since(start));
}

TEST_F(PlatformUdev, StaleByIdLinkToAnotherDeviceIsRejected) {
  auto wanted = attach_volume();
  auto other = attach_volume();
  testsupport::udev_settle();
  // A by-id directory of our own, where the link for `wanted` (and one for an absent volume)
  // points at the other disk, as a link left over from an earlier attachment would.
  const auto by_id = dir() / "by-id";
  std::filesystem::create_directories(by_id);
  const std::string absent = "vol-0" + random_hex(16);
  std::filesystem::create_symlink(other.loop->devnode(),
                                  platform::nvme_by_id_link(wanted.id, by_id.string()));
  std::filesystem::create_symlink(other.loop->devnode(), platform::nvme_by_id_link(absent, by_id.string()));
  platform::UdevBlockDevices devices({.by_id_dir = by_id.string()});

  auto mismatch =
      devices.verify(platform::nvme_by_id_link(wanted.id, by_id.string()), {.volume_id = wanted.id});
  ASSERT_FALSE(mismatch.has_value());
  EXPECT_EQ(mismatch.error().kind, ErrorKind::Mismatch);

  auto found = devices.find_by_serial(wanted.id);
  ASSERT_TRUE(found.has_value() && found->has_value());
  EXPECT_EQ((*found)->devnode, wanted.loop->devnode());  // the real one, by its serial

  EXPECT_FALSE(devices.find_by_serial(absent).value().has_value());
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value());
  auto waited = devices.wait_for_volume(*watch, {.volume_id = absent}, Clock::now() + 500ms);
  ASSERT_FALSE(waited.has_value());
  EXPECT_EQ(waited.error().kind, ErrorKind::Timeout);
}

TEST_F(PlatformUdev, WaitForRemovalReturnsOnceTheDeviceIsDetached) {
  platform::UdevBlockDevices devices;
  auto volume = attach_volume();
  testsupport::udev_settle();
  const std::string devnode = volume.loop->devnode();
  EXPECT_EQ(devices.wait_for_removal(devnode, Clock::now() + 300ms).error().kind, ErrorKind::Timeout);
  auto detached = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(200ms);
    volume.loop->detach();
  });
  const auto start = Clock::now();
  auto removed = devices.wait_for_removal(devnode, Clock::now() + 30s);
  detached.get();
  ASSERT_TRUE(removed.has_value()) << removed.error().describe();
  std::printf("removal of %s seen after %lld ms\n", devnode.c_str(), ms_since(start));
}

TEST_F(PlatformUdev, WithoutUdevdPollsSysfs) {
  // As if udevd were not running: no serials from the udev database, only names and sysfs.
  platform::UdevBlockDevices devices({.udev_control = (dir() / "no-udevd-control").string()});
  ASSERT_FALSE(devices.udevd_running());
  auto [id, image] = volume_image();
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value());
  // The next free loop device is the one losetup --find will take: the "device name" of a Xen
  // attachment, which has no serial.
  std::string next = testsupport::shell_ok("losetup --find");
  while (!next.empty() && next.back() == '\n') next.pop_back();
  auto attached = std::async(std::launch::async, [&, img = image] {
    std::this_thread::sleep_for(300ms);
    return attach_image(img).devnode();
  });
  const auto start = Clock::now();
  auto device = devices.wait_for_volume(*watch, {.volume_id = id, .device_hint = next}, Clock::now() + 30s);
  const std::string devnode = attached.get();
  ASSERT_TRUE(device.has_value()) << device.error().describe();
  std::printf("sysfs polling found %s after %lld ms\n", device->devnode.c_str(), ms_since(start));
  EXPECT_EQ(device->devnode, devnode);
  // A device name that has a serial of another volume would never match; loop devices have none.
  EXPECT_TRUE(device->serial.empty());
}

}  // namespace platform_e2e
