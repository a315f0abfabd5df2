// platform/trusted_path.h: the directories ebsnap mounts onto, and the paths it trusts.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "platform/trusted_path.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;

class TrustedPath : public ::testing::Test {
 protected:
  fs::path mkdir(const std::string& name, fs::perms mode = fs::perms(0755)) {
    const auto p = dir_.path() / name;
    fs::create_directories(p);
    fs::permissions(p, mode);
    return p;
  }
  testsupport::TempDir dir_;
};

TEST_F(TrustedPath, OpensAndCreatesADirectoryReachedWithoutSymlinks) {
  const auto target = (dir_.path() / "mnt" / "data").string();
  auto fd = platform::open_trusted_directory(target, /*create_missing=*/true);
  ASSERT_TRUE(fd) << fd.error().describe();
  struct stat by_fd {};
  struct stat by_path {};
  ASSERT_EQ(::fstat(fd->get(), &by_fd), 0);
  ASSERT_EQ(::stat(target.c_str(), &by_path), 0);
  EXPECT_EQ(by_fd.st_ino, by_path.st_ino);
  EXPECT_EQ(by_path.st_mode & 07777, 0755U) << "not subject to the umask";
  EXPECT_FALSE(platform::open_trusted_directory((dir_.path() / "absent").string(), false));
}

// Issue 11: a service account that owns a directory swaps the mount point for a symlink to
// /etc; the next mount would put its volume over /etc. A symlink anywhere on the path is refused.
TEST_F(TrustedPath, ASymlinkOnThePathIsRefused) {
  const auto victim = mkdir("victim");  // stands in for /etc
  fs::create_directory_symlink(victim, dir_.path() / "link");
  for (const auto& p : {dir_.path() / "link", dir_.path() / "link" / "sub"}) {
    auto fd = platform::open_trusted_directory(p.string(), /*create_missing=*/true);
    ASSERT_FALSE(fd) << p;
    EXPECT_EQ(fd.error().kind, platform::ErrorKind::Refused);
    EXPECT_NE(fd.error().message.find("is a symlink"), std::string::npos) << fd.error().message;
  }
  EXPECT_FALSE(fs::exists(victim / "sub")) << "nothing made through the symlink";
}

TEST_F(TrustedPath, ADirectoryOthersCanWriteIsRefusedUnlessStickyAndTheEntryIsOurs) {
  const auto open_dir = mkdir("open", fs::perms(0777));
  mkdir("open/data");
  auto fd = platform::open_trusted_directory((open_dir / "data").string(), false);
  ASSERT_FALSE(fd);
  EXPECT_NE(fd.error().message.find("writable by group or others (mode 0777)"), std::string::npos)
      << fd.error().message;
  fs::permissions(open_dir, fs::perms(01777));  // sticky, like /tmp
  EXPECT_TRUE(platform::open_trusted_directory((open_dir / "data").string(), false));
  // A file's directories: as given and resolved.
  std::ofstream(open_dir / "data" / "f") << "x";
  EXPECT_FALSE(platform::untrusted_directory_problem((open_dir / "data" / "f").string()));
  fs::permissions(open_dir, fs::perms(0777));
  EXPECT_TRUE(platform::untrusted_directory_problem((open_dir / "data" / "f").string()));
}

// A symlinked directory on the path as given (Debian's /bin → usr/bin) is fine when the
// directory holding it is safe: the first version refused every path through one.
TEST_F(TrustedPath, ASymlinkInASafeDirectoryIsFollowedForFiles) {
  const auto real = mkdir("real");
  std::ofstream(real / "f") << "x";
  fs::create_directory_symlink(real, dir_.path() / "link");
  EXPECT_FALSE(platform::untrusted_directory_problem((dir_.path() / "link" / "f").string()));
  EXPECT_FALSE(platform::untrusted_directory_problem("/bin/sh"));
}

// open_trusted_path: what it returns is the file the path leads to, every directory on the way
// checked, symlinks followed one component at a time.
TEST_F(TrustedPath, OpensAFileThroughSymlinksInSafeDirectories) {
  const auto real = mkdir("real");
  std::ofstream(real / "f") << "x";
  fs::create_directory_symlink(real, dir_.path() / "link");    // absolute
  fs::create_symlink("../real/f", mkdir("sub") / "relative");  // relative, going up
  for (const auto& p : {dir_.path() / "link" / "f", dir_.path() / "sub" / "relative", real / "f"}) {
    auto fd = platform::open_trusted_path(p.string());
    ASSERT_TRUE(fd) << p << ": " << fd.error().describe();
    struct stat by_fd {};
    struct stat by_path {};
    ASSERT_EQ(::fstat(fd->get(), &by_fd), 0);
    ASSERT_EQ(::stat((real / "f").c_str(), &by_path), 0);
    EXPECT_EQ(by_fd.st_ino, by_path.st_ino) << p;
  }
  EXPECT_TRUE(platform::open_trusted_path("/bin/sh")) << "Debian's /bin -> usr/bin, sh -> dash";
}

// Issue 11: whoever can write the directory holding a symlink can point it elsewhere.
TEST_F(TrustedPath, ASymlinkInADirectoryOthersCanWriteIsRefused) {
  const auto real = mkdir("real");
  std::ofstream(real / "f") << "x";
  const auto open_dir = mkdir("open", fs::perms(0775));
  fs::create_symlink(real / "f", open_dir / "link");
  auto fd = platform::open_trusted_path((open_dir / "link").string());
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().kind, platform::ErrorKind::Refused);
  EXPECT_NE(fd.error().message.find("directory " + open_dir.string() +
                                    " is writable by group or others (mode 0775)"),
            std::string::npos)
      << fd.error().message;
}

// A symlink whose target leads through another symlink: that one's directory is neither on the
// path as given nor on the resolved one, and was never checked.
TEST_F(TrustedPath, ASymlinkLeadingThroughAnUnsafeDirectoryIsRefused) {
  const auto real = mkdir("real");
  std::ofstream(real / "f") << "x";
  const auto open_dir = mkdir("open", fs::perms(0777));
  fs::create_directory_symlink(real, open_dir / "hop");
  fs::create_symlink(open_dir / "hop" / "f", dir_.path() / "link");
  auto fd = platform::open_trusted_path((dir_.path() / "link").string());
  ASSERT_FALSE(fd);
  EXPECT_NE(fd.error().message.find("directory " + open_dir.string() + " is writable"), std::string::npos)
      << fd.error().message;
}

TEST_F(TrustedPath, MissingLoopingOrRelativePathsAreErrors) {
  auto missing = platform::open_trusted_path((dir_.path() / "absent").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, platform::ErrorKind::NotFound);
  EXPECT_NE(missing.error().message.find("absent does not exist"), std::string::npos)
      << missing.error().message;
  fs::create_symlink(dir_.path() / "b", dir_.path() / "a");
  fs::create_symlink(dir_.path() / "a", dir_.path() / "b");
  auto loop = platform::open_trusted_path((dir_.path() / "a").string());
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.error().errno_value, ELOOP) << loop.error().describe();
  EXPECT_FALSE(platform::open_trusted_path("relative/f"));
}

class TrustedPathAsRoot : public TrustedPath {
 protected:
  void SetUp() override { ASSERT_EQ(::geteuid(), 0U) << "chown needs root (label e2e)"; }
};

TEST_F(TrustedPathAsRoot, AnAncestorOwnedByAnotherUserIsRefused) {
  const auto theirs = mkdir("theirs");
  mkdir("theirs/data");
  ASSERT_EQ(::chown(theirs.c_str(), 1000, 1000), 0);
  auto fd = platform::open_trusted_directory((theirs / "data").string(), false);
  ASSERT_FALSE(fd);
  EXPECT_NE(fd.error().message.find("directory " + theirs.string() + " is owned by uid 1000"), std::string::npos)
      << fd.error().message;
  EXPECT_TRUE(platform::untrusted_directory_problem((theirs / "data").string()));
}

}  // namespace
