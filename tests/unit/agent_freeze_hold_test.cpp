// freeze GROUP --hold / thaw GROUP (agent/commands/freeze.h): the hold record, the command line,
// and thaw GROUP of a hold whose guardian left no report, on the fakes. The hold itself (a real
// guardian over real freezes) is in tests/e2e/agent_freeze_hold_test.cpp.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/cli/cli.h"
#include "agent/commands/freeze.h"
#include "agent/core/snapshot_record.h"
#include "platform/freeze_state.h"
#include "platform/run_dir.h"
#include "tests/unit/agent_snapshot_fixture.h"

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

// The fuzzer found it (bench/fuzz run_records, 10 million executions): a version that is not a
// number threw out of parse_hold_record (nlohmann's value() throws on a key of another type), so
// `ebsnap thaw` or the next freeze --hold of the group died of a damaged record instead of
// refusing it in one line.
TEST(HoldRecord, AVersionOfAnotherTypeIsRefusedNotThrown) {
  for (const auto* version : {R"("solr")", "null", "[1]", "{}", "1.5", "true"}) {
    const auto text = std::string(R"({"version": )") + version + R"(, "group": "pg", "guardian_pid": 1,
      "guardian_start": 1, "mount_points": ["/a"], "bound_ms": 1, "frozen_at_ms": 1, "freeze_offset_ms": 0})";
    std::optional<HoldRecord> parsed;
    EXPECT_NO_THROW(parsed = parse_hold_record(text)) << version;
    EXPECT_FALSE(parsed) << version;
  }
  EXPECT_FALSE(parse_hold_record(R"({"group": "pg"})"));
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

using testing::SnapshotMachine;

// A child that writes a freeze state file naming itself over `recorded` (none when empty), as a
// guardian does before the first FIFREEZE, then waits for SIGKILL; its pid, once the file is there.
pid_t start_guardian(const SnapshotMachine& m, const std::vector<std::string>& recorded) {
  int ready[2];
  if (::pipe(ready) != 0) return -1;
  const pid_t child = ::fork();
  if (child == 0) {
    const bool ok = recorded.empty() || platform::write_freeze_state(m.run_dir.path().string(), recorded).has_value();
    if (::write(ready[1], ok ? "y" : "n", 1) != 1 || !ok) ::_exit(1);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char c = 0;
  const bool ok = ::read(ready[0], &c, 1) == 1 && c == 'y';
  ::close(ready[0]);
  if (!ok) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    return -1;
  }
  return child;
}

// A guardian killed (and reaped): its freeze state file, if any, stays.
void kill_guardian(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// `freeze solr --hold` as it leaves things: the hold record of `guardian`, over /mnt/a and /mnt/b.
void record_hold(const SnapshotMachine& m, pid_t guardian) {
  const HoldRecord r{.group = "solr",
                     .guardian_pid = guardian,
                     .guardian_start = process_start_time(guardian),
                     .mount_points = {"/mnt/a", "/mnt/b"},
                     .bound_ms = 60'000,
                     .frozen_at = m.clock.now(),
                     .freeze_offset_ms = 3};
  ASSERT_TRUE(platform::write_state_file(hold_record_path(m.run_dir.path(), "solr"), serialize_hold_record(r), false));
}

RunReport thaw_group(SnapshotMachine& m) {
  auto s = m.services();
  return thaw_hold(RunContext{.services = s, .config = m.config, .filters = m.filters, .instance = m.instance,
                              .groups = {m.config.find_group("solr")}});
}

const VolumeReport& volume(const RunReport& r, const std::string& mount_point) {
  for (const auto& v : r.groups.at(0).volumes) {
    if (v.mount_point == mount_point) return v;
  }
  throw std::runtime_error("no result for " + mount_point);
}

std::size_t freeze_state_files(const SnapshotMachine& m) {
  auto states = platform::read_freeze_states(m.run_dir.path().string());
  return states ? states->size() : 0;
}

// Issue 15 (safety): thaw GROUP of a hold whose guardian was gone without a report FITHAWed every
// filesystem of the hold record. The guardian was killed, `ebsnap thaw --all` thawed what it left
// frozen (and settled its freeze state file), then an operator froze /mnt/a with fsfreeze: DLM's
// post-script thawed the operator's freeze. Only a freeze that a dead ebsnap recorded is ours.
TEST(ThawGroup, AFreezeByAnotherProcessIsLeftFrozenWhenTheGuardianLeftNoReport) {
  SnapshotMachine m;
  const pid_t guardian = start_guardian(m, {});
  ASSERT_GT(guardian, 0);
  record_hold(m, guardian);
  kill_guardian(guardian);
  ASSERT_TRUE(m.freeze_ops.freeze("/mnt/a"));  // the operator's fsfreeze

  const auto r = thaw_group(m);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(m.freeze_ops.frozen().contains("/mnt/a")) << "another process's freeze was thawed";
  EXPECT_EQ(m.log.index("thaw /mnt/a"), -1) << m.log.dump();
  EXPECT_EQ(m.log.index("thaw /mnt/b"), -1) << m.log.dump();
  const auto& a = volume(r, "/mnt/a");
  EXPECT_EQ(a.outcome, Outcome::Failed);
  EXPECT_EQ(a.reason, "/mnt/a is not recorded frozen by an ebsnap that died: not thawed (a freeze by another "
                      "process, if any, is not ours to end)");
  EXPECT_TRUE(a.steps.empty());
  EXPECT_NE(r.groups[0].error.value_or("").find("gone without a report"), std::string::npos) << render_text(r);
  EXPECT_FALSE(std::filesystem::exists(hold_record_path(m.run_dir.path(), "solr")));
}

// The guardian killed while holding: the kernel keeps its freeze and its freeze state file names
// it. Both are thawed, each says so, and the state file is settled.
TEST(ThawGroup, AKilledGuardiansFreezeIsThawedAndItsStateFileSettled) {
  SnapshotMachine m;
  const pid_t guardian = start_guardian(m, {"/mnt/a", "/mnt/b"});
  ASSERT_GT(guardian, 0);
  record_hold(m, guardian);
  ASSERT_TRUE(m.freeze_ops.freeze("/mnt/a"));
  ASSERT_TRUE(m.freeze_ops.freeze("/mnt/b"));
  kill_guardian(guardian);

  const auto r = thaw_group(m);
  EXPECT_FALSE(r.ok()) << "the freeze's end is unknown";
  EXPECT_TRUE(m.freeze_ops.frozen().empty());
  for (const std::string mp : {"/mnt/a", "/mnt/b"}) {
    const auto& v = volume(r, mp);
    EXPECT_EQ(v.outcome, Outcome::Failed);
    EXPECT_EQ(v.reason, mp + " was left frozen by ebsnap pid " + std::to_string(guardian) + ", which died: thawed it");
    EXPECT_EQ(v.steps, std::vector<std::string>{"thaw " + mp});
  }
  EXPECT_EQ(freeze_state_files(m), 0U);
}

// A guardian alive but not answering (its socket gone) still holds the freeze, and thaws it by
// itself at its bound: its freeze is not ours to end, nor its freeze state file to remove.
TEST(ThawGroup, AGuardianAliveButNotAnsweringKeepsItsFreeze) {
  SnapshotMachine m;
  const pid_t guardian = start_guardian(m, {"/mnt/a", "/mnt/b"});
  ASSERT_GT(guardian, 0);
  record_hold(m, guardian);
  ASSERT_TRUE(m.freeze_ops.freeze("/mnt/a"));
  ASSERT_TRUE(m.freeze_ops.freeze("/mnt/b"));

  const auto r = thaw_group(m);
  kill_guardian(guardian);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(m.freeze_ops.frozen(), (std::set<std::string>{"/mnt/a", "/mnt/b"}));
  EXPECT_EQ(volume(r, "/mnt/a").reason,
            "/mnt/a is frozen by ebsnap pid " + std::to_string(guardian) + ", still running: left frozen");
  EXPECT_NE(r.groups[0].error.value_or("").find("did not answer"), std::string::npos) << render_text(r);
  EXPECT_EQ(freeze_state_files(m), 1U);
}

}  // namespace
}  // namespace agent
