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

// A rule that names loop devices as a Xen guest sees an EBS volume: no serial, and a link
// /dev/<link_dir>/xvdX for one backed by "<image_dir>/<anything>/xvdX.img" (udev cannot rename a
// block device; the sandbox's "xen" naming does the same). Removed with the object.
class XenUdevRule {
 public:
  explicit XenUdevRule(const std::filesystem::path& image_dir);
  ~XenUdevRule();
  XenUdevRule(const XenUdevRule&) = delete;
  XenUdevRule& operator=(const XenUdevRule&) = delete;

  // "/dev/<link_dir>/xvdq": where the loop device backed by <image_dir>/*/xvdq.img is linked.
  [[nodiscard]] std::string link(const std::string& name) const { return "/dev/" + link_dir_ + "/" + name; }

 private:
  std::filesystem::path path_;
  std::string link_dir_;
};

}  // namespace testsupport
