#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "platform/freeze_state.h"
#include "platform/run_dir.h"
#include "tests/support/temp_dir.h"

TEST(PlatformFreezeState, WrittenBeforeFreezingAndReadBack) {
  testsupport::TempDir dir;
  const std::string state_dir = (dir.path() / "run" / "ebsnap").string();
  auto path = platform::write_freeze_state(state_dir, {"/mnt/a", "/mnt/b"});
  ASSERT_TRUE(path.has_value()) << path.error().describe();
  auto records = platform::read_freeze_states(state_dir);
  ASSERT_TRUE(records.has_value());
  ASSERT_EQ(records->size(), 1U);
  EXPECT_EQ((*records)[0].path, *path);
  EXPECT_EQ((*records)[0].agent_pid, ::getpid());
  EXPECT_EQ((*records)[0].mount_points, (std::vector<std::string>{"/mnt/a", "/mnt/b"}));
}

TEST(PlatformFreezeState, ThawAllTreatsVanishedMountPointsAsNotFrozenAndRemovesTheFile) {
  testsupport::TempDir dir;
  const std::string state_dir = dir.path().string();
  // Paths that are not mount points (any more): never FITHAW'd, since that would thaw the
  // filesystem holding them.
  const std::string plain = (dir.path() / "plain").string();
  std::filesystem::create_directory(plain);
  auto path = platform::write_freeze_state(state_dir, {plain, (dir.path() / "gone").string()});
  ASSERT_TRUE(path.has_value());
  auto reports = platform::thaw_all(state_dir);
  ASSERT_TRUE(reports.has_value()) << reports.error().describe();
  ASSERT_EQ(reports->size(), 2U);
  for (const auto& r : *reports) EXPECT_EQ(r.outcome, platform::ThawOutcome::NotFrozen) << r.mount_point;
  EXPECT_FALSE(std::filesystem::exists(*path));
}

TEST(PlatformFreezeState, NoStateDirMeansNothingToThaw) {
  auto reports = platform::thaw_all("/nonexistent/ebsnap-state");
  ASSERT_TRUE(reports.has_value());
  EXPECT_TRUE(reports->empty());
}

// Issue 11: the run directory is ours alone (platform/run_dir.h), and no state file in it is
// reached through a symlink.
namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST(PlatformFreezeState, AMissingStateDirIsMadeMode0700WhateverTheUmask) {
  testsupport::TempDir dir;
  const auto state_dir = dir.path() / "run" / "ebsnap";
  const mode_t old = ::umask(0);
  auto path = platform::write_freeze_state(state_dir.string(), {"/mnt/a"});
  ::umask(old);
  ASSERT_TRUE(path) << path.error().describe();
  struct stat st {};
  ASSERT_EQ(::lstat(state_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700U);
  ASSERT_EQ(::lstat((dir.path() / "run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755U);
}

TEST(PlatformFreezeState, AStateDirThatIsASymlinkIsRefused) {
  testsupport::TempDir dir;
  const auto elsewhere = dir.path() / "elsewhere";
  ASSERT_TRUE(std::filesystem::create_directory(elsewhere));
  ::chmod(elsewhere.c_str(), 0700);
  const auto state_dir = dir.path() / "run";
  std::filesystem::create_directory_symlink(elsewhere, state_dir);
  auto path = platform::write_freeze_state(state_dir.string(), {"/mnt/a"});
  ASSERT_FALSE(path);
  EXPECT_EQ(path.error().kind, platform::ErrorKind::Refused);
  EXPECT_EQ(path.error().message, "run directory " + state_dir.string() +
                                      ": is a symlink (it must be a directory of uid " +
                                      std::to_string(::geteuid()) + ", mode 0700)");
  EXPECT_TRUE(std::filesystem::is_empty(elsewhere));
  auto read = platform::read_freeze_states(state_dir.string());
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().kind, platform::ErrorKind::Refused);
}

TEST(PlatformFreezeState, AStateDirOfAnotherModeIsRefused) {
  testsupport::TempDir dir;
  const auto state_dir = dir.path() / "run";
  ASSERT_EQ(::mkdir(state_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(state_dir.c_str(), 0755), 0);
  auto path = platform::write_freeze_state(state_dir.string(), {"/mnt/a"});
  ASSERT_FALSE(path);
  EXPECT_EQ(path.error().kind, platform::ErrorKind::Refused);
  EXPECT_NE(path.error().message.find("has mode 0755"), std::string::npos) << path.error().message;
  EXPECT_TRUE(std::filesystem::is_empty(state_dir));
}

TEST(PlatformFreezeState, AStateDirBelowADirectoryOthersCanWriteIsRefused) {
  testsupport::TempDir dir;
  const auto open = dir.path() / "open";
  ASSERT_EQ(::mkdir(open.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(open.c_str(), 0777), 0);  // not sticky: anyone may rename "run" away
  auto path = platform::write_freeze_state((open / "run").string(), {"/mnt/a"});
  ASSERT_FALSE(path);
  EXPECT_EQ(path.error().kind, platform::ErrorKind::Refused);
  EXPECT_NE(path.error().message.find("directory " + open.string() + " is writable by group or others"),
            std::string::npos)
      << path.error().message;
}

TEST(PlatformFreezeState, AStateFileThatIsASymlinkIsNotFollowed) {
  testsupport::TempDir dir;
  // Whatever it points at would be thawed by `thaw --all` if it were read.
  const auto target = dir.path() / "target";
  std::ofstream(target) << "ebsnap-freeze-state 1\npid 1\n/mnt/victim\n";
  const auto state_dir = dir.path() / "run";
  ASSERT_TRUE(platform::write_freeze_state(state_dir.string(), {"/mnt/a"}));
  std::filesystem::create_symlink(target, state_dir / "freeze-1-0.state");
  auto records = platform::read_freeze_states(state_dir.string());
  ASSERT_TRUE(records) << records.error().describe();
  ASSERT_EQ(records->size(), 1U);
  EXPECT_EQ((*records)[0].mount_points, std::vector<std::string>{"/mnt/a"});
  EXPECT_EQ(slurp(target), "ebsnap-freeze-state 1\npid 1\n/mnt/victim\n");
}

// A temporary file left by a run that died (here even a symlink to a file of value): replaced,
// never written through.
TEST(PlatformFreezeState, AStaleTemporaryFileIsReplacedNotWrittenThrough) {
  testsupport::TempDir dir;
  const auto target = dir.path() / "target";
  std::ofstream(target) << "precious";
  const auto state_dir = dir.path() / "run";
  ASSERT_TRUE(platform::check_run_directory(state_dir, true));
  const auto file = state_dir / "record";
  std::filesystem::create_symlink(target, state_dir / "record.tmp");
  ASSERT_TRUE(platform::write_state_file(file, "new\n", true));
  EXPECT_EQ(slurp(file), "new\n");
  EXPECT_EQ(slurp(target), "precious");
  EXPECT_FALSE(std::filesystem::exists(state_dir / "record.tmp"));
  struct stat st {};
  ASSERT_EQ(::lstat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600U);
}

// Needs root, to give the directory away (suites named *AsRoot are labelled e2e).
TEST(PlatformFreezeStateAsRoot, AStateDirOwnedByAnotherUserIsRefused) {
  ASSERT_EQ(::geteuid(), 0U) << "run as root (label e2e)";
  testsupport::TempDir dir;
  const auto state_dir = dir.path() / "run";
  ASSERT_EQ(::mkdir(state_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chown(state_dir.c_str(), 1000, 1000), 0);
  auto path = platform::write_freeze_state(state_dir.string(), {"/mnt/a"});
  ASSERT_FALSE(path);
  EXPECT_EQ(path.error().kind, platform::ErrorKind::Refused);
  EXPECT_NE(path.error().message.find("is owned by uid 1000"), std::string::npos) << path.error().message;
  EXPECT_TRUE(std::filesystem::is_empty(state_dir));
}

TEST(PlatformFreezeState, PidThatIsNotAPositiveIntIsNoPid) {
  // std::atoi made "pid -1" a -1 (kill(-1, 0) asks about every process) and an overflow
  // undefined; both are no owner (0) now, like a missing pid line.
  const auto parse_pid = [](std::string_view line) {
    auto r = platform::parse_freeze_state("ebsnap-freeze-state 1\n" + std::string(line) + "\n/mnt/a\n");
    EXPECT_TRUE(r.has_value()) << line;
    return r ? r->agent_pid : -99;
  };
  EXPECT_EQ(parse_pid("pid 4242"), 4242);
  EXPECT_EQ(parse_pid("pid -1"), 0);
  EXPECT_EQ(parse_pid("pid 0"), 0);
  EXPECT_EQ(parse_pid("pid 99999999999999999999"), 0);
  EXPECT_EQ(parse_pid("pid 2147483648"), 0);
  EXPECT_EQ(parse_pid("pid 12abc"), 0);
  EXPECT_EQ(parse_pid("pid "), 0);
}

TEST(PlatformFreezeState, BytesWithoutTheMagicLineAreNoRecord) {
  EXPECT_FALSE(platform::parse_freeze_state("").has_value());
  EXPECT_FALSE(platform::parse_freeze_state("pid 1\n/mnt/a\n").has_value());
  auto r = platform::parse_freeze_state("ebsnap-freeze-state 1\npid 7\n/mnt/a\n\n/mnt/b");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->agent_pid, 7);
  EXPECT_EQ(r->mount_points, (std::vector<std::string>{"/mnt/a", "/mnt/b"}));
}
