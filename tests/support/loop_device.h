#pragma once
// A sparse image file attached to a loop device for the test's lifetime (losetup -d at the end).
#include <cstdint>
#include <filesystem>
#include <string>

namespace testsupport {

class LoopDevice {
 public:
  // Creates `image` (sparse, size_mib) unless it exists, and attaches it.
  LoopDevice(std::filesystem::path image, std::uint64_t size_mib = 320);
  ~LoopDevice();
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;

  [[nodiscard]] const std::string& devnode() const { return devnode_; }
  [[nodiscard]] const std::filesystem::path& image() const { return image_; }
  // Detaches now (idempotent).
  void detach();

 private:
  std::filesystem::path image_;
  std::string devnode_;
};

// Creates a sparse image file without attaching it.
void make_sparse_image(const std::filesystem::path& image, std::uint64_t size_mib);

}  // namespace testsupport
