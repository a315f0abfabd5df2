#pragma once
// Shared fixture of the platform e2e tests (root): udevd, the test's own udev rule, loop devices
// backed by images in a temp dir, filesystems mounted under that dir; everything undone in
// TearDown, thaw first (a frozen filesystem left behind is an outage).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "platform/freeze_state.h"
#include "platform/libmount_mounter.h"
#include "platform/mkfs.h"
#include "tests/support/loop_device.h"
#include "tests/support/shell.h"
#include "tests/support/temp_dir.h"
#include "tests/support/udev_rule.h"

namespace platform_e2e {

inline std::string random_hex(std::size_t n) {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += digits[rng() % 16];
  return out;
}

class PlatformE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(::geteuid(), 0U) << "platform e2e tests need root (loop devices, udev, mount, freeze)";
    testsupport::ensure_udevd();
    // Orphaned thaw guardians (their agent was killed) are re-parented to us and reaped here.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  void SetUp() override {
    dir_ = std::make_unique<testsupport::TempDir>("ebsnap-platform-e2e");
    rule_ = std::make_unique<testsupport::EbsUdevRule>(dir_->path());
  }

  void TearDown() override {
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) {
      if (it->second) (void)platform::thaw(it->first);
    }
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) {
      if (::umount2(it->first.c_str(), 0) != 0) ::umount2(it->first.c_str(), MNT_DETACH);
    }
    mounts_.clear();
    loops_.clear();
    testsupport::udev_settle();
    rule_.reset();
    dir_.reset();
  }

  [[nodiscard]] const std::filesystem::path& dir() const { return dir_->path(); }

  // A new volume id, and the loop device that plays it (serial vol0…, by-id link).
  struct Volume {
    std::string id;  // "vol-0…"
    testsupport::LoopDevice* loop;
  };
  Volume attach_volume(std::uint64_t size_mib = 320) {
    const std::string hex = "0" + random_hex(16);
    const std::string id = "vol-" + hex;
    loops_.push_back(std::make_unique<testsupport::LoopDevice>(dir() / ("vol" + hex + ".img"), size_mib));
    return Volume{id, loops_.back().get()};
  }
  // An image with a volume name, not attached yet.
  std::pair<std::string, std::filesystem::path> volume_image(std::uint64_t size_mib = 320) {
    const std::string hex = "0" + random_hex(16);
    const auto image = dir() / ("vol" + hex + ".img");
    testsupport::make_sparse_image(image, size_mib);
    return {"vol-" + hex, image};
  }
  testsupport::LoopDevice& attach_image(const std::filesystem::path& image) {
    loops_.push_back(std::make_unique<testsupport::LoopDevice>(image));
    return *loops_.back();
  }

  // mkfs + mount under the temp dir; the mount is undone in TearDown.
  std::string mounted_filesystem(const std::string& fs_type) {
    auto volume = attach_volume();
    auto made = platform::make_filesystem(volume.loop->devnode(), {.fs_type = fs_type});
    EXPECT_TRUE(made.has_value()) << made.error().describe();
    const std::string target = (dir() / ("mnt-" + std::to_string(mounts_.size()) + "-" + fs_type)).string();
    platform::LibmountMounter mounter;
    auto info = mounter.mount({.source = volume.loop->devnode(), .target = target, .fs_type = fs_type});
    EXPECT_TRUE(info.has_value()) << info.error().describe();
    track_mount(target);
    return target;
  }
  // Unmounted in TearDown; thawed first unless it is a view of a filesystem not ours (a bind
  // mount of /).
  void track_mount(const std::string& target, bool ours = true) { mounts_.emplace_back(target, ours); }

 private:
  std::unique_ptr<testsupport::TempDir> dir_;
  std::unique_ptr<testsupport::EbsUdevRule> rule_;
  std::vector<std::unique_ptr<testsupport::LoopDevice>> loops_;
  std::vector<std::pair<std::string, bool>> mounts_;
};

}  // namespace platform_e2e
