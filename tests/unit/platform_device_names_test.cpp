#include <gtest/gtest.h>

#include "platform/block_device.h"
#include "platform/device_names.h"

using platform::ErrorKind;

TEST(PlatformDeviceNames, XenTwinMapsBothWays) {
  EXPECT_EQ(platform::xen_twin("/dev/sdf"), "/dev/xvdf");
  EXPECT_EQ(platform::xen_twin("/dev/xvdf"), "/dev/sdf");
  EXPECT_EQ(platform::xen_twin("sdg1"), "xvdg1");
  EXPECT_EQ(platform::xen_twin("/dev/nvme1n1"), std::nullopt);
  EXPECT_EQ(platform::xen_twin("/dev/sd"), std::nullopt);
  EXPECT_EQ(platform::xen_twin("/dev/sdF"), std::nullopt);
}

TEST(PlatformDeviceNames, CanonicalNameIsSdForm) {
  EXPECT_EQ(platform::canonical_device_name("xvdh").value(), "/dev/sdh");
  EXPECT_EQ(platform::canonical_device_name("/dev/sdh").value(), "/dev/sdh");
  EXPECT_EQ(platform::canonical_device_name("/dev/sdh1").error().kind, ErrorKind::Refused);
  EXPECT_EQ(platform::canonical_device_name("/dev/nvme1n1").error().kind, ErrorKind::Refused);
}

TEST(PlatformDeviceNames, PreferredNameKeptWhenFree) {
  EXPECT_EQ(platform::next_free_device_name("/dev/sdf", {"/dev/sda", "/dev/xvdg"}).value(), "/dev/sdf");
}

TEST(PlatformDeviceNames, NextFreeNameSkipsNamesInUseInEitherForm) {
  // sdf is taken as xvdf, sdg as a partition of sdg, sdh plainly.
  EXPECT_EQ(platform::next_free_device_name("/dev/sdf", {"/dev/xvdf", "sdg1", "/dev/sdh"}).value(),
            "/dev/sdi");
  EXPECT_EQ(platform::next_free_device_name("xvdf", {"/dev/sdf"}).value(), "/dev/sdg");
}

TEST(PlatformDeviceNames, NextFreeNameWrapsAroundToSdf) {
  EXPECT_EQ(platform::next_free_device_name("/dev/sdz", {"/dev/sdz"}).value(), "/dev/sdf");
  EXPECT_EQ(platform::next_free_device_name("/dev/sdy", {"/dev/sdy", "/dev/sdz", "/dev/sdf"}).value(),
            "/dev/sdg");
}

TEST(PlatformDeviceNames, AllNamesTakenIsNotFound) {
  std::set<std::string> all;
  for (char c = 'f'; c <= 'z'; ++c) all.insert(std::string("/dev/sd") + c);
  EXPECT_EQ(platform::next_free_device_name("/dev/sdf", all).error().kind, ErrorKind::NotFound);
  EXPECT_EQ(platform::next_free_device_name("/dev/nvme1n1", {}).error().kind, ErrorKind::Refused);
}

TEST(PlatformBlockDevice, VolumeSerialDropsTheDash) {
  EXPECT_EQ(platform::volume_serial("vol-0123456789abcdef0"), "vol0123456789abcdef0");
}

TEST(PlatformBlockDevice, SerialMatchesTheFormsEbsAndUdevUse) {
  const std::string id = "vol-0123456789abcdef0";
  EXPECT_TRUE(platform::serial_matches("vol0123456789abcdef0", id));
  EXPECT_TRUE(platform::serial_matches("vol0123456789abcdef0   ", id));  // NVMe pads with spaces
  EXPECT_TRUE(platform::serial_matches("vol-0123456789abcdef0", id));
  EXPECT_TRUE(platform::serial_matches("Amazon Elastic Block Store_vol0123456789abcdef0", id));
  EXPECT_FALSE(platform::serial_matches("vol0123456789abcdef1", id));
  EXPECT_FALSE(platform::serial_matches("vol0123456789abcdef", id));
  EXPECT_FALSE(platform::serial_matches("", id));
  EXPECT_FALSE(platform::serial_matches("", ""));
  EXPECT_FALSE(platform::serial_matches("QEMU_HARDDISK", "QEMU_HARDDISK"));  // not a volume id
}

TEST(PlatformBlockDevice, ByIdLinkOfAVolume) {
  EXPECT_EQ(platform::nvme_by_id_link("vol-0abc"), "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc");
  EXPECT_EQ(platform::nvme_by_id_link("vol-0abc", "/tmp/x/"),
            "/tmp/x/nvme-Amazon_Elastic_Block_Store_vol0abc");
}

TEST(PlatformBlockDevice, NameMatchesHintOrItsXenTwin) {
  EXPECT_TRUE(platform::name_matches_hint("/dev/xvdf", "/dev/sdf"));
  EXPECT_TRUE(platform::name_matches_hint("/dev/sdf", "/dev/sdf"));
  EXPECT_TRUE(platform::name_matches_hint("/dev/sdf", "xvdf"));
  EXPECT_FALSE(platform::name_matches_hint("/dev/xvdg", "/dev/sdf"));
  EXPECT_FALSE(platform::name_matches_hint("/dev/xvdf", ""));
}
