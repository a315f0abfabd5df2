// judge_device: how a device is recognised as a volume, the one rule of UdevBlockDevices and
// FakeBlockDevices. By serial when it has one; without (Xen), only a disk that appeared after the
// watch was armed, under the volume's name, with the volume's size (issue 11 item 6).
#include <gtest/gtest.h>

#include "platform/block_device.h"

namespace {

using platform::BlockDevice;
using platform::Verdict;
using platform::VolumeQuery;

constexpr std::uint64_t k_10gib = platform::gib_bytes(10);

const VolumeQuery k_query{.volume_id = "vol-0123456789abcdef0", .device_hint = "/dev/sdf", .size_bytes = k_10gib};

BlockDevice xen_disk(std::uint64_t size = k_10gib) {
  return BlockDevice{.devnode = "/dev/xvdf", .size_bytes = size, .devnum = 202 * 256 + 80, .diskseq = 7};
}

TEST(PlatformJudgeDevice, ASerialLessDeviceThereBeforeTheWatchIsRefusedDespiteItsName) {
  // An instance-store disk that carries the name the volume was attached with.
  const auto j = platform::judge_device(xen_disk(), k_query, /*present_before_watch=*/true);
  EXPECT_EQ(j.verdict, Verdict::Refused);
  EXPECT_EQ(j.why, "/dev/xvdf has no serial and was there before AttachVolume: not provably vol-0123456789abcdef0");
}

TEST(PlatformJudgeDevice, ASerialLessDeviceThatAppearedWithAnotherSizeIsRefused) {
  const auto j = platform::judge_device(xen_disk(platform::gib_bytes(8)), k_query, false);
  EXPECT_EQ(j.verdict, Verdict::Refused);
  EXPECT_NE(j.why.find("/dev/xvdf has no serial and is 8589934592 bytes, the volume 10737418240 bytes"),
            std::string::npos)
      << j.why;
}

TEST(PlatformJudgeDevice, ASerialLessDeviceThatAppearedWithTheVolumesSizeIsAccepted) {
  EXPECT_EQ(platform::judge_device(xen_disk(), k_query, false).verdict, Verdict::Accepted);
  // Under the hint itself, or a udev link of that name.
  EXPECT_EQ(platform::judge_device({.devnode = "/dev/sdf", .size_bytes = k_10gib}, k_query, false).verdict,
            Verdict::Accepted);
  const BlockDevice linked{.devnode = "/dev/loop3", .size_bytes = k_10gib, .devlinks = {"/dev/xvdf"}};
  EXPECT_EQ(platform::judge_device(linked, k_query, false).verdict, Verdict::Accepted);
  // Refused, it is named with the link that carries the name.
  EXPECT_EQ(platform::judge_device(linked, k_query, true).why,
            "/dev/loop3 (/dev/xvdf) has no serial and was there before AttachVolume: not provably vol-0123456789abcdef0");
}

TEST(PlatformJudgeDevice, ASerialLessDeviceIsNeverTakenWhenTheVolumesSizeIsUnknown) {
  auto q = k_query;
  q.size_bytes = 0;
  EXPECT_EQ(platform::judge_device(xen_disk(), q, false).verdict, Verdict::Refused);
}

TEST(PlatformJudgeDevice, ASerialLessDeviceUnderAnotherNameIsNotACandidate) {
  EXPECT_EQ(platform::judge_device({.devnode = "/dev/xvdg", .size_bytes = k_10gib}, k_query, false).verdict,
            Verdict::Other);
}

TEST(PlatformJudgeDevice, ASerialDeviceIsStillMatchedBySerialAlone) {
  const BlockDevice nvme{.devnode = "/dev/nvme1n1", .serial = "vol0123456789abcdef0", .size_bytes = k_10gib};
  EXPECT_EQ(platform::judge_device(nvme, k_query, /*present_before_watch=*/true).verdict, Verdict::Accepted);
  // EC2 reports a modified size before the disk grows: the serial is the proof, not the size.
  auto grown = k_query;
  grown.size_bytes = platform::gib_bytes(20);
  EXPECT_EQ(platform::judge_device(nvme, grown, false).verdict, Verdict::Accepted);
  // Another volume's serial is never taken by name.
  const BlockDevice other{.devnode = "/dev/sdf", .serial = "vol0fffffffffffffff0", .size_bytes = k_10gib};
  EXPECT_EQ(platform::judge_device(other, k_query, false).verdict, Verdict::Other);
}

TEST(PlatformJudgeDevice, VerifyWantsTheVeryDiskThatWasAccepted) {
  auto q = k_query;
  q.accepted = platform::identity_of(xen_disk());
  EXPECT_EQ(platform::judge_device(xen_disk(), q, false).verdict, Verdict::Accepted);
  // Same name, same dev_t, a later disk (detached, another attached in its place).
  auto later = xen_disk();
  later.diskseq = 9;
  const auto j = platform::judge_device(later, q, false);
  EXPECT_EQ(j.verdict, Verdict::Refused);
  EXPECT_NE(j.why.find("is no longer the disk accepted"), std::string::npos) << j.why;
}

TEST(PlatformJudgeDevice, WithoutDiskseqTheSameDevNumCountsAsTheSameDisk) {
  EXPECT_TRUE(platform::same_disk({.devnum = 5, .diskseq = 0}, {.devnum = 5, .diskseq = 3}));
  EXPECT_TRUE(platform::same_disk({.devnum = 5, .diskseq = 3}, {.devnum = 5, .diskseq = 3}));
  EXPECT_FALSE(platform::same_disk({.devnum = 5, .diskseq = 3}, {.devnum = 5, .diskseq = 4}));
  EXPECT_FALSE(platform::same_disk({.devnum = 5, .diskseq = 3}, {.devnum = 6, .diskseq = 3}));
}

}  // namespace
