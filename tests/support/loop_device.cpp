#include "tests/support/loop_device.h"

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>

#include "tests/support/shell.h"

namespace testsupport {

void make_sparse_image(const std::filesystem::path& image, std::uint64_t size_mib) {
  const int fd = ::open(image.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("create " + image.string());
  const int rc = ::ftruncate(fd, static_cast<off_t>(size_mib * 1024 * 1024));
  ::close(fd);
  if (rc != 0) throw std::runtime_error("truncate " + image.string());
}

LoopDevice::LoopDevice(std::filesystem::path image, std::uint64_t size_mib) : image_(std::move(image)) {
  if (!std::filesystem::exists(image_)) make_sparse_image(image_, size_mib);
  std::string out = shell_ok("losetup --find --show '" + image_.string() + "'");
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  devnode_ = out;
}

LoopDevice::~LoopDevice() {
  detach();
}

void LoopDevice::detach() {
  if (devnode_.empty()) return;
  // Only our own device, and only if it is still backed by our image.
  (void)shell("losetup -d '" + devnode_ + "'");
  devnode_.clear();
}

}  // namespace testsupport
