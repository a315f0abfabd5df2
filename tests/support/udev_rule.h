#pragma once
// udevd for e2e tests, and a test's own rule under /run/udev/rules.d that makes loop devices
// backed by "<image_dir>/vol*.img" look like EBS NVMe volumes: ID_SERIAL_SHORT = the image's
// name ("vol0123…"), and the by-id link nvme-Amazon_Elastic_Block_Store_vol0123….
#include <filesystem>
#include <string>

namespace testsupport {

// Starts /lib/systemd/systemd-udevd --daemon unless a udevd answers `udevadm control --ping`
// (a socket file left by a udevd that died does not). A udevd it started is shared by the
// tests that follow and stopped by scripts/test when they are over (scripts/udevd-scope);
// one it did not start is never touched.
void ensure_udevd();

// `udevadm settle`: every queued event processed.
void udev_settle();

class EbsUdevRule {
 public:
  explicit EbsUdevRule(const std::filesystem::path& image_dir);
  ~EbsUdevRule();
  EbsUdevRule(const EbsUdevRule&) = delete;
  EbsUdevRule& operator=(const EbsUdevRule&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace testsupport
