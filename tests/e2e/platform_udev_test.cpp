// udev: finding an EBS-like volume by its serial (loop devices given a serial by the test's udev
// rule), events before the wait, stale links, removal, the sysfs fallback without udevd, and
// devices without serial named as on Xen (only one that appears after the watch, with the size).
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
  auto device = devices.wait_for_volume(
      *watch, {.volume_id = id, .device_hint = next, .size_bytes = 320ULL << 20}, Clock::now() + 30s);
  const std::string devnode = attached.get();
  ASSERT_TRUE(device.has_value()) << device.error().describe();
  std::printf("sysfs polling found %s after %lld ms\n", device->devnode.c_str(), ms_since(start));
  EXPECT_EQ(device->devnode, devnode);
  // A device name that has a serial of another volume would never match; loop devices have none.
  EXPECT_TRUE(device->serial.empty());
}

// Issue 11 item 6. Loop devices linked as /dev/…/xvdq by a test rule play Xen disks: no serial.
class PlatformUdevXen : public PlatformE2e {
 protected:
  void SetUp() override {
    PlatformE2e::SetUp();
    rule_ = std::make_unique<testsupport::XenUdevRule>(dir());
  }
  void TearDown() override {
    PlatformE2e::TearDown();  // detaches the loops first: their links go with them
    rule_.reset();
  }
  // A loop device backed by <dir>/<folder>/<name>.img: linked as rule_->link(name).
  testsupport::LoopDevice& xen_disk(const std::string& folder, const std::string& name, std::uint64_t size_mib) {
    std::filesystem::create_directories(dir() / folder);
    testsupport::make_sparse_image(dir() / folder / (name + ".img"), size_mib);
    return attach_image(dir() / folder / (name + ".img"));
  }
  // The volume attached as /dev/sdq, 320 MiB.
  platform::VolumeQuery query(const std::string& hint = "/dev/sdq") const {
    return {.volume_id = "vol-0" + random_hex(16), .device_hint = hint, .size_bytes = 320ULL << 20};
  }
  std::unique_ptr<testsupport::XenUdevRule> rule_;
};

TEST_F(PlatformUdevXen, ASerialLessDiskThereBeforeTheWatchOrOfAnotherSizeIsNotTaken) {
  platform::UdevBlockDevices devices;
  ASSERT_TRUE(devices.udevd_running());
  // Under the name the volume is attached with, the volume's size even: an instance-store disk.
  const std::string before = xen_disk("instance-store", "xvdq", 320).devnode();
  testsupport::udev_settle();
  ASSERT_EQ(std::filesystem::canonical(rule_->link("xvdq")).string(), before);
  const auto q = query();
  {
    // Attached by an earlier run: refused at once, it can never become provable.
    auto watch = devices.arm_watch();
    ASSERT_TRUE(watch.has_value()) << watch.error().describe();
    auto reused = q;
    reused.already_attached = true;
    auto refused = devices.wait_for_volume(*watch, reused, Clock::now() + 30s);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().kind, ErrorKind::Mismatch) << refused.error().describe();
  }
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value()) << watch.error().describe();
  // After the watch, a disk under that name of another size.
  auto attached = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(300ms);
    return xen_disk("smaller", "xvdq", 256).devnode();
  });
  auto device = devices.wait_for_volume(*watch, q, Clock::now() + 3s);
  const std::string smaller = attached.get();
  ASSERT_FALSE(device.has_value()) << device->devnode << " was taken";
  EXPECT_EQ(device.error().kind, ErrorKind::Timeout);
  const auto& message = device.error().message;
  std::printf("%s\n", message.c_str());
  EXPECT_NE(message.find(before + " (" + rule_->link("xvdq") +
                         ") has no serial and was there before AttachVolume: not provably " + q.volume_id),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(smaller + " (" + rule_->link("xvdq") +
                         ") has no serial and is 268435456 bytes, the volume 335544320 bytes"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
  // verify, before mkfs and mount, looks at the size again.
  auto small = devices.verify(smaller, q);
  ASSERT_FALSE(small.has_value());
  EXPECT_EQ(small.error().kind, ErrorKind::Mismatch);
}

TEST_F(PlatformUdevXen, ASerialLessDiskAttachedAfterTheWatchWithTheVolumesSizeIsTaken) {
  platform::UdevBlockDevices devices;
  ASSERT_TRUE(devices.udevd_running());
  const std::string before = xen_disk("instance-store", "xvdq", 320).devnode();
  testsupport::udev_settle();
  auto watch = devices.arm_watch();
  ASSERT_TRUE(watch.has_value()) << watch.error().describe();
  auto attached = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(300ms);
    return xen_disk("attached", "xvdq", 320).devnode();  // not vol*: the serial rule matches that
  });
  auto q = query();
  const auto start = Clock::now();
  auto device = devices.wait_for_volume(*watch, q, Clock::now() + 30s);
  const std::string volume = attached.get();
  ASSERT_TRUE(device.has_value()) << device.error().describe();
  std::printf("%s (not %s, there before) taken after %lld ms\n", device->devnode.c_str(), before.c_str(),
              ms_since(start));
  EXPECT_EQ(device->devnode, volume);
  EXPECT_TRUE(device->serial.empty());
  EXPECT_EQ(device->size_bytes, 320ULL << 20);
  EXPECT_NE(device->diskseq, 0U) << "the kernel gives every disk a sequence number (Linux 5.15+)";
  q.accepted = platform::identity_of(*device);
  EXPECT_TRUE(devices.verify(volume, q).has_value());
  // The disk the name belonged to before is not the one accepted.
  EXPECT_EQ(devices.verify(before, q).error().kind, ErrorKind::Mismatch);
}

}  // namespace platform_e2e
