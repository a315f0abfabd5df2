// freeze GROUP --hold / thaw GROUP (agent/commands/freeze.h): the hold record and the command
// line. The hold itself (a real guardian over real freezes) is in tests/e2e/agent_freeze_hold_test.cpp.
#include <gtest/gtest.h>

#include <unistd.h>

#include "agent/cli/cli.h"
#include "agent/commands/freeze.h"

namespace agent {
namespace {

using namespace std::chrono_literals;

TEST(HoldRecord, RoundTripsAndRefusesWhatItDidNotWrite) {
  const HoldRecord r{.group = "pg",
                     .guardian_pid = 4242,
                     .guardian_start = 123456789,
                     .mount_points = {"/mnt/pg", "/mnt/wal"},
                     .bound_ms = 60'000,
                     .frozen_at = std::chrono::system_clock::time_point(1'765'000'000'123ms),
                     .freeze_offset_ms = 7};
  const auto parsed = parse_hold_record(serialize_hold_record(r));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->group, "pg");
  EXPECT_EQ(parsed->guardian_pid, 4242);
  EXPECT_EQ(parsed->guardian_start, 123456789ULL);
  EXPECT_EQ(parsed->mount_points, r.mount_points);
  EXPECT_EQ(parsed->bound_ms, 60'000);
  EXPECT_EQ(parsed->frozen_at, r.frozen_at);
  EXPECT_EQ(parsed->freeze_offset_ms, 7);
  EXPECT_FALSE(parse_hold_record("{}"));
  EXPECT_FALSE(parse_hold_record("not json"));
  EXPECT_FALSE(parse_hold_record(R"({"version": 1, "group": "pg", "guardian_pid": 0, "guardian_start": 1,
    "mount_points": ["/a"], "bound_ms": 1, "frozen_at_ms": 1, "freeze_offset_ms": 0})"));
  EXPECT_EQ(hold_socket_path("/run/ebsnap", "pg"), "/run/ebsnap/hold-pg.sock");
}

TEST(HoldRecord, AGuardianIsAliveOnlyWithItsStartTime) {
  HoldRecord r{.group = "pg", .guardian_pid = static_cast<int>(::getpid()), .mount_points = {"/a"}};
  r.guardian_start = 1;  // not ours: a reused pid is not the guardian
  EXPECT_FALSE(hold_guardian_alive(r));
  r.guardian_pid = 0x3ffffff0;  // no such process
  EXPECT_FALSE(hold_guardian_alive(r));
}

std::expected<Invocation, CliStop> parse(std::vector<const char*> words) {
  words.insert(words.begin(), "ebsnap");
  return parse_command_line(words);
}

TEST(FreezeHoldCli, FreezeNeedsHoldOneGroupAndABoundWithinTheGuardians) {
  auto ok = parse({"freeze", "pg", "--hold", "--timeout", "90s"});
  ASSERT_TRUE(ok) << ok.error().err;
  EXPECT_EQ(ok->command, CommandName::Freeze);
  EXPECT_EQ(ok->groups, std::vector<std::string>{"pg"});
  EXPECT_TRUE(ok->hold);
  for (const auto& bad : std::vector<std::vector<const char*>>{{"freeze", "pg"},
                                                               {"freeze", "pg", "wal", "--hold"},
                                                               {"freeze", "pg", "--hold", "--timeout", "121s"},
                                                               {"freeze", "pg", "--hold", "--timeout", "0s"},
                                                               {"freeze", "--hold"}}) {
    auto r = parse(bad);
    ASSERT_FALSE(r) << bad.size();
    EXPECT_EQ(r.error().exit_code, k_exit_usage);
    EXPECT_EQ(std::count(r.error().err.begin(), r.error().err.end(), '\n'), 1) << r.error().err;
  }
}

TEST(FreezeHoldCli, ThawTellsAGroupFromMountPointsByTheLeadingSlash) {
  auto group = parse({"thaw", "pg"});
  ASSERT_TRUE(group) << group.error().err;
  EXPECT_EQ(group->groups, std::vector<std::string>{"pg"});
  EXPECT_TRUE(group->mount_points.empty());
  auto mounts = parse({"thaw", "/mnt/pg", "/mnt/wal"});
  ASSERT_TRUE(mounts) << mounts.error().err;
  EXPECT_TRUE(mounts->groups.empty());
  EXPECT_EQ(mounts->mount_points.size(), 2U);
  EXPECT_TRUE(parse({"thaw", "--all"}));
  EXPECT_FALSE(parse({"thaw", "pg", "/mnt/pg"}));
  EXPECT_FALSE(parse({"thaw", "pg", "wal"}));
  EXPECT_FALSE(parse({"thaw", "pg", "--all"}));
  EXPECT_FALSE(parse({"thaw", "bad name"}));
}

}  // namespace
}  // namespace agent
