#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "agent/commands/thaw.h"
#include "platform/freeze_state.h"
#include "tests/unit/agent_snapshot_fixture.h"

namespace agent {
namespace {

struct ThawMachine {
  testing::EventLog log;
  testsupport::TempDir run_dir;
  std::map<std::string, platform::Result<platform::ThawOutcome>> answers;

  ThawFunction thawer() {
    return [this](const std::string& mp) -> platform::Result<platform::ThawOutcome> {
      log.add("thaw " + mp);
      auto it = answers.find(mp);
      if (it == answers.end()) return platform::ThawOutcome::NotFrozen;
      return it->second;
    };
  }
  std::size_t state_files() const {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(run_dir.path())) {
      if (e.path().filename().string().starts_with("freeze-")) ++n;
    }
    return n;
  }
};

TEST(Thaw, AllThawsEveryRecordedMountPointInReverseAndRemovesSettledFiles) {
  ThawMachine m;
  ASSERT_TRUE(platform::write_freeze_state(m.run_dir.path().string(), {"/mnt/a", "/mnt/b"}));
  ASSERT_TRUE(platform::write_freeze_state(m.run_dir.path().string(), {"/mnt/c"}));
  m.answers.emplace("/mnt/a", platform::ThawOutcome::Thawed);
  m.answers.emplace("/mnt/c", platform::ThawOutcome::Thawed);
  auto r = thaw({.all = true, .run_dir = m.run_dir.path(), .thaw = m.thawer()});
  EXPECT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(r.thaw.size(), 3U);
  EXPECT_LT(m.log.index("thaw /mnt/b"), m.log.index("thaw /mnt/a")) << "reverse order within a set";
  std::map<std::string, platform::ThawOutcome> by_mount;
  for (const auto& e : r.thaw) by_mount[e.mount_point] = e.outcome.value();
  EXPECT_EQ(by_mount["/mnt/a"], platform::ThawOutcome::Thawed);
  EXPECT_EQ(by_mount["/mnt/b"], platform::ThawOutcome::NotFrozen);
  EXPECT_EQ(by_mount["/mnt/c"], platform::ThawOutcome::Thawed);
  EXPECT_EQ(m.state_files(), 0U);
  EXPECT_TRUE(r.reconciled.empty()) << "no EC2 given: the hatch needs none";
  EXPECT_EQ(to_json(r)["thaw"].size(), 3U);
}

TEST(Thaw, AFailedThawKeepsItsStateFileAndFails) {
  ThawMachine m;
  ASSERT_TRUE(platform::write_freeze_state(m.run_dir.path().string(), {"/mnt/a"}));
  m.answers.emplace("/mnt/a", platform::fail(platform::ErrorKind::System, "FITHAW /mnt/a: Input/output error", 5));
  auto r = thaw({.all = true, .run_dir = m.run_dir.path(), .thaw = m.thawer()});
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.thaw.size(), 1U);
  EXPECT_EQ(r.thaw[0].outcome, platform::ThawOutcome::Failed);
  EXPECT_NE(r.thaw[0].reason.value_or("").find("Input/output error"), std::string::npos);
  EXPECT_EQ(m.state_files(), 1U) << "kept so that a later thaw --all tries again";
}

TEST(Thaw, ExplicitMountPointsAreThawedAndStateFilesLeftAlone) {
  ThawMachine m;
  ASSERT_TRUE(platform::write_freeze_state(m.run_dir.path().string(), {"/mnt/a"}));
  m.answers.emplace("/mnt/x", platform::ThawOutcome::Thawed);
  auto r = thaw({.mount_points = {"/mnt/x"}, .run_dir = m.run_dir.path(), .thaw = m.thawer()});
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.thaw.size(), 1U);
  EXPECT_EQ(r.thaw[0].outcome, platform::ThawOutcome::Thawed);
  EXPECT_EQ(m.state_files(), 1U);
}

TEST(Thaw, NothingToDoIsAnError) {
  ThawMachine m;
  auto r = thaw({.run_dir = m.run_dir.path(), .thaw = m.thawer()});
  EXPECT_FALSE(r.ok());
}

TEST(Thaw, NoStateFilesMeansNothingWasFrozen) {
  ThawMachine m;
  auto r = thaw({.all = true, .run_dir = m.run_dir.path() / "absent", .thaw = m.thawer()});
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.thaw.empty());
  EXPECT_NE(render_text(r).find("nothing was frozen"), std::string::npos);
}

// --all --dry-run reads the state files and lists what would be thawed; it thaws nothing and
// removes no file. (It used to look only at the mount points named on the command line.)
TEST(Thaw, AllDryRunListsTheRecordedMountPointsAndThawsNothing) {
  ThawMachine m;
  ASSERT_TRUE(platform::write_freeze_state(m.run_dir.path().string(), {"/mnt/a", "/mnt/b"}));
  ASSERT_TRUE(platform::write_freeze_state(m.run_dir.path().string(), {"/mnt/b", "/mnt/c"}));
  auto r = thaw({.all = true, .dry_run = true, .run_dir = m.run_dir.path(), .thaw = m.thawer()});
  EXPECT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(r.dry_run);
  std::vector<std::string> listed;
  for (const auto& t : r.thaw) {
    listed.push_back(t.mount_point);
    EXPECT_FALSE(t.outcome.has_value()) << t.mount_point;
    EXPECT_NE(t.reason.value_or("").find("freeze-"), std::string::npos) << t.reason.value_or("");
  }
  EXPECT_EQ(listed.size(), 3U) << "each mount point once";
  EXPECT_TRUE(std::ranges::find(listed, "/mnt/a") != listed.end());
  EXPECT_TRUE(std::ranges::find(listed, "/mnt/c") != listed.end());
  EXPECT_EQ(m.log.index("thaw", true), -1) << "nothing thawed: " << m.log.dump();
  EXPECT_EQ(m.state_files(), 2U);
  const auto text = render_text(r);
  EXPECT_EQ(text.find("nothing was frozen"), std::string::npos) << text;
  EXPECT_NE(text.find("/mnt/b: planned"), std::string::npos) << text;
  EXPECT_EQ(to_json(r)["thaw"][0]["outcome"], "planned");
}

TEST(Thaw, PlanListsNamedMountPointsFirstThenEachFileInReverseOnce) {
  const std::vector<platform::FreezeStateRecord> records = {
      {.path = "/run/ebsnap/freeze-1-0.state", .agent_pid = 1, .mount_points = {"/mnt/a", "/mnt/b"}},
      {.path = "/run/ebsnap/freeze-2-0.state", .agent_pid = 2, .mount_points = {"/mnt/x", "/mnt/c"}}};
  const auto plan = plan_thaw({"/mnt/x"}, true, records);
  EXPECT_FALSE(plan.error);
  std::vector<std::string> order;
  for (const auto& t : plan.targets) order.push_back(t.mount_point);
  EXPECT_EQ(order, (std::vector<std::string>{"/mnt/x", "/mnt/b", "/mnt/a", "/mnt/c"}));
  EXPECT_FALSE(plan.targets[0].state_file);
  EXPECT_EQ(plan.targets[1].state_file, "/run/ebsnap/freeze-1-0.state");
  EXPECT_TRUE(plan_thaw({}, false, records).error);
  EXPECT_TRUE(plan_thaw({}, true, {}).targets.empty());
}

TEST(Thaw, AMountPointInTwoFilesWhoseThawFailedKeepsBothFiles) {
  ThawMachine m;
  ASSERT_TRUE(platform::write_freeze_state(m.run_dir.path().string(), {"/mnt/a"}));
  ASSERT_TRUE(platform::write_freeze_state(m.run_dir.path().string(), {"/mnt/a"}));
  m.answers.emplace("/mnt/a", platform::fail(platform::ErrorKind::System, "FITHAW /mnt/a: Input/output error", 5));
  auto r = thaw({.all = true, .run_dir = m.run_dir.path(), .thaw = m.thawer()});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.thaw.size(), 1U);
  EXPECT_EQ(m.state_files(), 2U);
}

TEST(Thaw, ReconcilesDeadSnapshotRunsOnlyAfterThawing) {
  testing::SnapshotMachine s;
  ThawMachine m;
  ASSERT_TRUE(platform::write_freeze_state(s.run_dir.path().string(), {"/mnt/a"}));
  m.answers.emplace("/mnt/a", platform::ThawOutcome::Thawed);
  // A dead run's record and the snapshot EC2 made for it, tagged "frozen" at creation.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  const auto& g = s.config.groups.front();
  RunRecord record{.run_id = "dead", .group = "solr", .instance_id = s.instance.instance_id.value, .pid = child,
                   .pid_start = 1, .started_at = s.clock.now(), .in_flight_until = s.clock.now()};
  record.volumes.push_back({.volume_id = s.volume_of["/mnt/a"], .mount_point = "/mnt/a",
                            .intended = Consistency::Frozen, .verdict = {},
                            .tags = snapshot_tags(g, s.filters, {"solr", "/mnt/a", "/dev/sdf"}, s.instance.instance_id,
                                                  s.volume_of["/mnt/a"], Consistency::Frozen, "dead")});
  ASSERT_TRUE(write_run_record(s.run_dir.path(), record));
  ec2::Snapshot snap{.volume_id = s.volume_of["/mnt/a"], .state = ec2::SnapshotState::Pending};
  snap.tags = record.volumes[0].tags;
  const auto id = s.ec2.add_snapshot(snap);
  s.ec2.on_call([&](std::string_view action) { m.log.add("ec2 " + std::string(action)); });

  auto r = thaw({.all = true, .run_dir = s.run_dir.path(), .thaw = m.thawer(), .ec2 = &s.api, .clock = &s.clock});
  EXPECT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(r.reconciled.size(), 1U);
  EXPECT_TRUE(r.reconciled[0].record_removed);
  EXPECT_LT(m.log.index("thaw /mnt/a"), m.log.index("ec2 DescribeSnapshots")) << m.log.dump();
  EXPECT_EQ(ec2::find_tag(s.ec2.snapshot(id)->tags, k_tag_consistency), "watchdog-thawed");
}

}  // namespace
}  // namespace agent
