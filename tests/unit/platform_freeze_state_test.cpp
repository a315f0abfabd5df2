#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "platform/freeze_state.h"
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
