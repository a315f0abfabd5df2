#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "platform/fd.h"
#include "platform/udev_block_devices.h"
#include "tests/support/temp_dir.h"

namespace {

// A SOCK_SEQPACKET socket bound at path, listening while the returned Fd lives.
platform::Fd bind_seqpacket(const std::string& path) {
  platform::Fd fd{::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(::listen(fd.get(), 4), 0);
  return fd;
}

}  // namespace

TEST(PlatformUdevControl, ASocketSomeoneListensOnIsAliveAndItsLeftoverFileIsNot) {
  testsupport::TempDir dir;
  const std::string control = (dir.path() / "control").string();
  {
    auto listening = bind_seqpacket(control);
    EXPECT_TRUE(platform::udevd_listening(control));
    EXPECT_TRUE(platform::UdevBlockDevices({.udev_control = control}).udevd_running());
  }
  // What a udevd that was killed leaves behind: the socket file, with nobody listening.
  ASSERT_TRUE(std::filesystem::is_socket(control));
  EXPECT_FALSE(platform::udevd_listening(control));
  EXPECT_FALSE(platform::UdevBlockDevices({.udev_control = control}).udevd_running());
}

TEST(PlatformUdevControl, MissingRegularFileAndOverlongPathsAreNotUdevd) {
  testsupport::TempDir dir;
  EXPECT_FALSE(platform::udevd_listening((dir.path() / "missing").string()));
  const auto regular = dir.path() / "regular";
  std::ofstream(regular) << "not a socket\n";
  EXPECT_FALSE(platform::udevd_listening(regular.string()));
  EXPECT_FALSE(platform::udevd_listening(""));
  EXPECT_FALSE(platform::udevd_listening("/" + std::string(200, 'x')));
}
