#include "tests/support/udev_rule.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "tests/support/shell.h"

namespace testsupport {

namespace {

// A udevd answers on its control socket; a socket file left by one that died does not.
bool udevd_answers() { return shell("udevadm control --ping --timeout=2").exit_code == 0; }

}  // namespace

void ensure_udevd() {
  if (udevd_answers()) return;
  shell_ok("/lib/systemd/systemd-udevd --daemon");
  for (int i = 0; i < 100 && !udevd_answers(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!udevd_answers()) throw std::runtime_error("udevd did not start");
}

void udev_settle() {
  (void)shell("udevadm settle --timeout=30");
}

EbsUdevRule::EbsUdevRule(const std::filesystem::path& image_dir) {
  std::filesystem::create_directories("/run/udev/rules.d");
  path_ = "/run/udev/rules.d/61-ebsnap-test-" + std::to_string(::getpid()) + "-" +
          image_dir.filename().string() + ".rules";
  std::ofstream out(path_);
  out << "# ebsnap platform e2e test rule; removed by the test\n"
      << "SUBSYSTEM==\"block\", KERNEL==\"loop*\", ACTION==\"add|change\", "
      << "ATTR{loop/backing_file}==\"" << image_dir.string() << "/vol*.img\", "
      << "PROGRAM=\"/usr/bin/basename -s .img $attr{loop/backing_file}\", "
      << "ENV{ID_SERIAL_SHORT}=\"%c\", ENV{ID_SERIAL}=\"Amazon Elastic Block Store_%c\", "
      << "SYMLINK+=\"disk/by-id/nvme-Amazon_Elastic_Block_Store_%c\"\n";
  out.close();
  const auto reload = out ? shell("udevadm control --reload") : ShellResult{};
  if (!out || reload.exit_code != 0) {
    // A constructor that throws gets no destructor: the rule must not outlive the test.
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    throw std::runtime_error(!out ? "cannot write " + path_.string() : "udevadm control --reload: " + reload.output);
  }
}

namespace {

void install_rule(const std::filesystem::path& path, const std::string& rule) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path);
  out << rule;
  out.close();
  const auto reload = out ? shell("udevadm control --reload") : ShellResult{};
  if (!out || reload.exit_code != 0) {
    // A constructor that throws gets no destructor: the rule must not outlive the test.
    std::error_code ec;
    std::filesystem::remove(path, ec);
    throw std::runtime_error(!out ? "cannot write " + path.string() : "udevadm control --reload: " + reload.output);
  }
}

}  // namespace

XenUdevRule::XenUdevRule(const std::filesystem::path& image_dir) {
  const std::string tag = std::to_string(::getpid()) + "-" + image_dir.filename().string();
  path_ = "/run/udev/rules.d/61-ebsnap-test-xen-" + tag + ".rules";
  link_dir_ = "ebsnap-test-xen-" + tag;
  install_rule(path_, "# ebsnap e2e test rule (Xen naming); removed by the test\n"
                      "SUBSYSTEM==\"block\", KERNEL==\"loop*\", ACTION==\"add|change\", "
                      "ATTR{loop/backing_file}==\"" + image_dir.string() + "/*/xvd*.img\", "
                      "PROGRAM=\"/usr/bin/basename -s .img $attr{loop/backing_file}\", "
                      "SYMLINK+=\"" + link_dir_ + "/%c\"\n");
}

XenUdevRule::~XenUdevRule() {
  std::error_code ec;
  std::filesystem::remove(path_, ec);
  (void)shell("udevadm control --reload");
}

EbsUdevRule::~EbsUdevRule() {
  std::error_code ec;
  std::filesystem::remove(path_, ec);
  (void)shell("udevadm control --reload");
}

}  // namespace testsupport
