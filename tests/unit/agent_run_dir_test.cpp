// Issue 11: the run directory holds what ebsnap acts on as root (restore attempts, run records,
// locks), so a run refuses one that is not its own (a symlink, another mode, another owner) before
// any change, and no file in it is reached through a symlink.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/commands/mount.h"
#include "agent/core/client_tokens.h"
#include "agent/core/detach_record.h"
#include "agent/core/snapshot_record.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/agent_restore_fixture.h"

namespace agent {
namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(RunDir, OneThatIsASymlinkOrOfAnotherModeStopsMountBeforeAnyChange) {
  testing::FakeInstance f;
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  testsupport::TempDir dir;
  const auto real = dir.path() / "real";
  ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
  const auto link = dir.path() / "run";
  std::filesystem::create_directory_symlink(real, link);

  f.services.options.run_dir = link;
  auto r = mount(f.context());
  EXPECT_FALSE(r.ok());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(*r.error, "run directory " + link.string() + ": is a symlink (it must be a directory of uid " +
                          std::to_string(::geteuid()) + ", mode 0700)");
  EXPECT_TRUE(f.ec2.calls().empty()) << "nothing was asked of EC2";
  EXPECT_TRUE(std::filesystem::is_empty(real));

  ASSERT_EQ(::chmod(real.c_str(), 0755), 0);
  f.services.options.run_dir = real;
  r = mount(f.context());
  EXPECT_FALSE(r.ok());
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->find("run directory " + real.string() + ": has mode 0755"), std::string::npos)
      << *r.error;
  EXPECT_TRUE(f.ec2.calls().empty());
  EXPECT_TRUE(std::filesystem::is_empty(real));
}

TEST(RunDir, AMissingOneIsMadeMode0700) {
  testing::FakeInstance f;
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  const mode_t old = ::umask(022);
  auto r = mount(f.context());
  ::umask(old);
  EXPECT_TRUE(r.ok());
  struct stat st {};
  ASSERT_EQ(::lstat(f.services.options.run_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700U);
}

TEST(RunDir, ARestoreAttemptFileThatIsASymlinkIsNotFollowed) {
  testsupport::TempDir dir;
  const auto run_dir = dir.path() / "run";
  ClientTokens tokens(run_dir);
  ASSERT_TRUE(tokens.begin("db", "/data/b"));  // makes the run directory
  // An attempt that is not ours would hand a volume id (and an mkfs redo) to this mount point.
  const auto target = dir.path() / "target";
  std::ofstream(target)
      << "token=ebsnap-0123456789abcdef\ngroup=db\nmount_point=/data/a\nvolume_id=vol-0123456789abcdef0\n";
  std::filesystem::create_symlink(target, tokens.path_for("db", "/data/a"));
  auto loaded = tokens.load("db", "/data/a");
  ASSERT_FALSE(loaded) << "followed the symlink";
  EXPECT_NE(loaded.error().message.find("is a symlink: not followed"), std::string::npos)
      << loaded.error().message;
}

TEST(RunDir, AStaleTemporaryFileIsReplacedNotWrittenThrough) {
  testsupport::TempDir dir;
  const auto run_dir = dir.path() / "run";
  const auto target = dir.path() / "target";
  std::ofstream(target) << "precious";
  ClientTokens tokens(run_dir);
  ASSERT_TRUE(tokens.begin("db", "/data/b"));  // makes the run directory

  // Left by a run that died between create and rename; here even a symlink.
  const auto token_file = tokens.path_for("db", "/data/a");
  std::filesystem::create_symlink(target, token_file.string() + ".tmp");
  auto attempt = tokens.begin("db", "/data/a");
  ASSERT_TRUE(attempt) << attempt.error().message;
  EXPECT_EQ((*tokens.load("db", "/data/a"))->token, attempt->token);

  RunRecord record{.run_id = "20261205T080000-0123abcd", .group = "db", .instance_id = "i-1", .pid = 1};
  const auto record_file = run_dir / "snapshot-20261205T080000-0123abcd-db.run";
  std::filesystem::create_symlink(target, record_file.string() + ".tmp");
  ASSERT_TRUE(write_run_record(run_dir, record));
  EXPECT_EQ(record.path, record_file);
  EXPECT_EQ(read_run_records(run_dir).size(), 1U);

  EXPECT_EQ(slurp(target), "precious");
}

TEST(RunDir, ARunRecordThatIsASymlinkIsNotRead) {
  testsupport::TempDir dir;
  const auto run_dir = dir.path() / "run";
  RunRecord record{.run_id = "20261205T080000-0123abcd", .group = "db", .instance_id = "i-1", .pid = 1};
  ASSERT_TRUE(write_run_record(run_dir, record));
  // A record drives deletions by run tag: one read through a symlink could name any run.
  const auto target = dir.path() / "target";
  std::filesystem::copy_file(record.path, target);
  std::filesystem::remove(record.path);
  std::filesystem::create_symlink(target, record.path);
  EXPECT_TRUE(read_run_records(run_dir).empty());
}

// Issue 11: a detach record lets unmount --delete-volumes delete the volume it names. One reached
// through a symlink could name any volume; one written for another volume's file name likewise.
TEST(RunDir, ADetachRecordThatIsASymlinkOrUnderAnotherNameIsNotRead) {
  testsupport::TempDir dir;
  const auto run_dir = dir.path() / "run";
  DetachRecord record{.volume_id = ec2::VolumeId{"vol-0123456789abcdef0"}, .group = "db", .mount_point = "/data/a",
                      .instance_id = "i-1"};
  ASSERT_TRUE(write_detach_record(run_dir, record));
  EXPECT_EQ(record.path, run_dir / "detach-vol-0123456789abcdef0-db.record");
  DetachRecord of_x_db{.volume_id = ec2::VolumeId{"vol-0123456789abcdef1"}, .group = "x-db",
                       .mount_point = "/data/a", .instance_id = "i-1"};
  ASSERT_TRUE(write_detach_record(run_dir, of_x_db));  // "detach-vol-…-x-db.record" ends like db's
  ASSERT_EQ(read_detach_records(run_dir, "db").size(), 1U);
  ASSERT_EQ(read_detach_records(run_dir, "x-db").size(), 1U);
  EXPECT_EQ(read_detach_records(run_dir, "db")[0].volume_id, record.volume_id);
  std::filesystem::remove(of_x_db.path);
  const auto target = dir.path() / "target";
  std::filesystem::copy_file(record.path, target);
  std::filesystem::remove(record.path);
  std::filesystem::create_symlink(target, record.path);
  EXPECT_TRUE(read_detach_records(run_dir, "db").empty());
  std::filesystem::remove(record.path);
  std::filesystem::copy_file(target, run_dir / "detach-vol-0fedcba9876543210-db.record");
  EXPECT_TRUE(read_detach_records(run_dir, "db").empty());
  // A volume id that is not one never makes a file name.
  DetachRecord odd{.volume_id = ec2::VolumeId{"vol-../../x"}, .group = "db", .mount_point = "/data/a",
                   .instance_id = "i-1"};
  EXPECT_FALSE(write_detach_record(run_dir, odd));
}

}  // namespace
}  // namespace agent
