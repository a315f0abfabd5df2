// The pre-warm reader on a real loop device (root): it reads the whole device with O_DIRECT, its
// byte count is the device's size as the kernel gives it, a resume reads exactly the rest, and
// the device's content is untouched.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include "platform/prewarm_reader.h"
#include "tests/support/loop_device.h"
#include "tests/support/temp_dir.h"

namespace platform {
namespace {

constexpr std::uint64_t k_mib = 1ULL << 20;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class PrewarmReaderE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0U) << "needs root (loop devices)";
    image_ = dir_.path() / "disk.img";
    // Not sparse: data the reads have to fetch, and a checksum to prove nothing was written.
    std::mt19937 rng(13);
    std::string data(48 * k_mib, '\0');
    for (auto& c : data) c = static_cast<char>(rng() & 0xff);
    std::ofstream(image_, std::ios::binary) << data;
    loop_ = std::make_unique<testsupport::LoopDevice>(image_, 48);
  }

  testsupport::TempDir dir_{"ebsnap-prewarm-e2e"};
  std::filesystem::path image_;
  std::unique_ptr<testsupport::LoopDevice> loop_;
};

TEST_F(PrewarmReaderE2e, ReadsTheWholeDeviceThenResumesExactlyTheRest) {
  const auto before = slurp(image_);
  auto device = open_direct_device(loop_->devnode());
  ASSERT_TRUE(device) << device.error().describe();
  EXPECT_EQ(device->size_bytes, 48 * k_mib);
  std::uint64_t last_progress = 0;
  auto full =
      read_through(device->fd.get(), device->size_bytes,
                   {.progress = [&](std::uint64_t offset, std::uint64_t) { last_progress = offset; }});
  ASSERT_TRUE(full) << full.error().describe();
  EXPECT_EQ(full->bytes_read, device->size_bytes);
  EXPECT_EQ(full->offset, device->size_bytes);
  EXPECT_EQ(last_progress, device->size_bytes);
  EXPECT_TRUE(full->complete());

  auto rest = read_through(device->fd.get(), device->size_bytes, {.from = 40 * k_mib});
  ASSERT_TRUE(rest) << rest.error().describe();
  EXPECT_EQ(rest->bytes_read, 8 * k_mib);
  EXPECT_TRUE(rest->complete());
  device->fd.reset();
  EXPECT_EQ(slurp(image_), before) << "the device was written";
}

TEST_F(PrewarmReaderE2e, TheBackingFileIsRefusedAsNotABlockDevice) {
  auto d = open_direct_device(image_.string());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind, ErrorKind::Refused);
}

}  // namespace
}  // namespace platform
