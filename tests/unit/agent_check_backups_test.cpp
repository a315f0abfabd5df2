// ebsnap check-backups: the pure decide step over synthetic snapshots, and the run against fakes.
#include <gtest/gtest.h>

#include "agent/commands/check_backups.h"
#include "agent/core/tags.h"
#include "tests/unit/agent_restore_fixture.h"

namespace agent {
namespace {

using namespace std::chrono_literals;

const ec2::TimePoint k_now = std::chrono::sys_days{std::chrono::December / 5 / 2026} + 13h;
const FilterValues k_filters{{"role", "search"}, {"cluster", "c1"}};
const CheckBackupsOptions k_26h{.max_age = 26h, .max_age_text = "26h"};

GroupConfig group(std::string name, std::vector<std::string> mount_points, bool freeze = true) {
  GroupConfig g{.name = std::move(name), .freeze = freeze};
  char device = 'f';
  for (auto& mp : mount_points) {
    g.volumes.push_back(VolumeConfig{.device = std::string("/dev/sd") + device++, .mount_point = std::move(mp), .size_gib = 1});
  }
  return g;
}

// A snapshot as ebsnap tags it: lineage, group, run id, consistency.
ec2::Snapshot snap(std::string id, const std::string& group, const std::string& mount_point, std::chrono::system_clock::duration age,
                   ec2::SnapshotState state = ec2::SnapshotState::Completed, std::string consistency = "frozen") {
  ec2::Snapshot s{.id = ec2::SnapshotId{std::move(id)}, .state = state, .start_time = k_now - age};
  for (const auto& f : k_filters) s.tags.push_back({f.key, f.value});
  s.tags.push_back({std::string(k_tag_mount_point), mount_point});
  s.tags.push_back({std::string(k_tag_group), group});
  s.tags.push_back({std::string(k_tag_run_id), "run-" + s.id.value});
  if (!consistency.empty()) s.tags.push_back({std::string(k_tag_consistency), std::move(consistency)});
  return s;
}

BackupCheck decide_one(const std::vector<ec2::Snapshot>& snapshots, const GroupConfig& g,
                       const CheckBackupsOptions& options = k_26h) {
  auto out = decide_backups(snapshots, k_filters, {&g}, k_now, options);
  if (out.size() != 1) throw std::runtime_error("expected one verdict");
  return out.front();
}

TEST(CheckBackupsDecide, FreshWhenTheNewestCompletedIsYoungEnoughAndFrozen) {
  const auto g = group("solr", {"/mnt/solr"});
  const auto c = decide_one({snap("snap-old", "solr", "/mnt/solr", 30h), snap("snap-new", "solr", "/mnt/solr", 3h + 12min)}, g);
  EXPECT_EQ(c.verdict, BackupVerdict::Fresh);
  ASSERT_TRUE(c.newest);
  EXPECT_EQ(c.newest->id.value, "snap-new");
  EXPECT_EQ(c.age, std::chrono::seconds(3h + 12min));
  EXPECT_TRUE(c.problems.empty());
}

TEST(CheckBackupsDecide, MissingWhenNoCompletedSnapshot) {
  const auto g = group("solr", {"/mnt/solr"});
  const auto c = decide_one({snap("snap-p", "solr", "/mnt/solr", 1h, ec2::SnapshotState::Pending)}, g);
  EXPECT_EQ(c.verdict, BackupVerdict::Missing);
  EXPECT_FALSE(c.newest);
  EXPECT_EQ(c.problems, (std::vector<std::string>{"no completed snapshot"}));
  EXPECT_EQ(decide_one({}, g).verdict, BackupVerdict::Missing);
}

TEST(CheckBackupsDecide, StaleWhenOlderThanMaxAge) {
  const auto g = group("solr", {"/mnt/solr"});
  const auto c = decide_one({snap("snap-1", "solr", "/mnt/solr", 26h + 1s)}, g);
  EXPECT_EQ(c.verdict, BackupVerdict::Stale);
  EXPECT_EQ(c.problems, (std::vector<std::string>{"older than --max-age 26h"}));
}

TEST(CheckBackupsDecide, ExactlyAtTheBoundIsFresh) {
  const auto g = group("solr", {"/mnt/solr"});
  EXPECT_EQ(decide_one({snap("snap-1", "solr", "/mnt/solr", 26h)}, g).verdict, BackupVerdict::Fresh);
  EXPECT_EQ(decide_one({snap("snap-1", "solr", "/mnt/solr", 26h + 1ms)}, g).verdict, BackupVerdict::Stale);
}

TEST(CheckBackupsDecide, ANewerPendingSnapshotDoesNotCountButIsNoted) {
  const auto g = group("solr", {"/mnt/solr"});
  const auto c = decide_one({snap("snap-done", "solr", "/mnt/solr", 27h),
                             snap("snap-pending", "solr", "/mnt/solr", 1h, ec2::SnapshotState::Pending)},
                            g);
  EXPECT_EQ(c.verdict, BackupVerdict::Stale);
  EXPECT_EQ(c.newest->id.value, "snap-done");
  EXPECT_EQ(c.notes, (std::vector<std::string>{"newer snapshot snap-pending is pending"}));
}

TEST(CheckBackupsDecide, ErrorSnapshotsAreIgnored) {
  const auto g = group("solr", {"/mnt/solr"});
  const auto c = decide_one({snap("snap-done", "solr", "/mnt/solr", 2h),
                             snap("snap-err", "solr", "/mnt/solr", 1h, ec2::SnapshotState::Error)},
                            g);
  EXPECT_EQ(c.verdict, BackupVerdict::Fresh);
  EXPECT_EQ(c.newest->id.value, "snap-done");
  EXPECT_EQ(c.notes, (std::vector<std::string>{"newer snapshot snap-err is error"}));
  EXPECT_EQ(decide_one({snap("snap-err", "solr", "/mnt/solr", 1h, ec2::SnapshotState::Error)}, g).verdict,
            BackupVerdict::Missing);
}

TEST(CheckBackupsDecide, UnfrozenIsAProblemWhereTheGroupFreezes) {
  const auto g = group("solr", {"/mnt/solr"});
  for (const char* consistency : {"unfrozen", "watchdog-thawed", ""}) {
    const auto c = decide_one({snap("snap-1", "solr", "/mnt/solr", 1h, ec2::SnapshotState::Completed, consistency)}, g);
    EXPECT_EQ(c.verdict, BackupVerdict::NotFrozen) << consistency;
    ASSERT_EQ(c.problems.size(), 1U) << consistency;
    EXPECT_NE(c.problems[0].find("group solr freezes /mnt/solr"), std::string::npos) << c.problems[0];
  }
  // Stale and unfrozen: stale is the verdict, both are said.
  const auto both = decide_one({snap("snap-1", "solr", "/mnt/solr", 30h, ec2::SnapshotState::Completed, "unfrozen")}, g);
  EXPECT_EQ(both.verdict, BackupVerdict::Stale);
  EXPECT_EQ(both.problems.size(), 2U);
}

TEST(CheckBackupsDecide, UnfrozenIsFineWhereTheConfigDoesNotFreeze) {
  const auto no_freeze = group("logs", {"/mnt/logs"}, /*freeze=*/false);
  EXPECT_EQ(decide_one({snap("snap-1", "logs", "/mnt/logs", 1h, ec2::SnapshotState::Completed, "unfrozen")}, no_freeze).verdict,
            BackupVerdict::Fresh);
  const auto boot = group("sys", {"/boot"});
  EXPECT_EQ(decide_one({snap("snap-1", "sys", "/boot", 1h, ec2::SnapshotState::Completed, "unfrozen")}, boot).verdict,
            BackupVerdict::Fresh);
  EXPECT_FALSE(expects_frozen(no_freeze, no_freeze.volumes[0]));
  EXPECT_FALSE(expects_frozen(boot, boot.volumes[0]));
  EXPECT_TRUE(expects_frozen(group("solr", {"/mnt/solr"}), group("solr", {"/mnt/solr"}).volumes[0]));
}

TEST(CheckBackupsDecide, AnotherGroupsSnapshotOfTheSameMountPointDoesNotCount) {
  const auto solr = group("solr", {"/mnt/data"});
  const auto pg = group("pg", {"/mnt/data"});
  const std::vector<ec2::Snapshot> snapshots{snap("snap-pg", "pg", "/mnt/data", 1h), snap("snap-solr", "solr", "/mnt/data", 40h)};
  const auto out = decide_backups(snapshots, k_filters, {&solr, &pg}, k_now, k_26h);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].group->name, "solr");
  EXPECT_EQ(out[0].verdict, BackupVerdict::Stale);
  EXPECT_EQ(out[0].newest->id.value, "snap-solr");
  EXPECT_EQ(out[1].group->name, "pg");
  EXPECT_EQ(out[1].verdict, BackupVerdict::Fresh);
  EXPECT_EQ(out[1].newest->id.value, "snap-pg");
}

TEST(CheckBackupsDecide, SnapshotsWithoutRunIdOrOutsideTheLineageAreIgnored) {
  const auto g = group("solr", {"/mnt/solr"});
  auto foreign = snap("snap-foreign", "solr", "/mnt/solr", 1h);
  std::erase_if(foreign.tags, [](const ec2::Tag& t) { return t.key == k_tag_run_id; });
  auto other_cluster = snap("snap-other", "solr", "/mnt/solr", 1h);
  for (auto& t : other_cluster.tags) {
    if (t.key == "cluster") t.value = "c2";
  }
  const auto c = decide_one({foreign, other_cluster, snap("snap-ours", "solr", "/mnt/solr", 30h)}, g);
  EXPECT_EQ(c.verdict, BackupVerdict::Stale);
  EXPECT_EQ(c.newest->id.value, "snap-ours");
  EXPECT_EQ(decide_one({foreign}, g).verdict, BackupVerdict::Missing);
}

TEST(CheckBackupsDecide, EveryVolumeOfEveryGroupInOrder) {
  const auto a = group("a", {"/mnt/a1", "/mnt/a2"});
  const auto b = group("b", {"/mnt/b"});
  const auto out = decide_backups({snap("snap-a2", "a", "/mnt/a2", 1h)}, k_filters, {&b, &a}, k_now, k_26h);
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[0].volume->mount_point, "/mnt/b");
  EXPECT_EQ(out[1].volume->mount_point, "/mnt/a1");
  EXPECT_EQ(out[1].verdict, BackupVerdict::Missing);
  EXPECT_EQ(out[2].volume->mount_point, "/mnt/a2");
  EXPECT_EQ(out[2].verdict, BackupVerdict::Fresh);
}

TEST(CheckBackupsDecide, AgesForPeople) {
  EXPECT_EQ(format_age(45s), "45s");
  EXPECT_EQ(format_age(12min + 5s), "12m");
  EXPECT_EQ(format_age(3h + 12min + 59s), "3h12m");
  EXPECT_EQ(format_age(50h), "2d2h");
  EXPECT_EQ(format_age(-5s), "0s");
}

// The run against fakes: one DescribeSnapshots, the clock from Services, the report and its text.
class CheckBackupsRun : public ::testing::Test {
 protected:
  void add(const std::string& group, const std::string& mount_point, std::chrono::system_clock::duration age,
           ec2::SnapshotState state = ec2::SnapshotState::Completed, const std::string& consistency = "frozen") {
    ec2::Snapshot s;
    s.state = state;
    s.start_time = f.clock.now() - age;
    s.volume_id = ec2::VolumeId{"vol-0000000000000000f"};
    for (const auto& fv : f.filters) s.tags.push_back({fv.key, fv.value});
    s.tags.push_back({std::string(k_tag_mount_point), mount_point});
    s.tags.push_back({std::string(k_tag_group), group});
    s.tags.push_back({std::string(k_tag_run_id), "run-1"});
    s.tags.push_back({std::string(k_tag_consistency), consistency});
    ids.push_back(f.ec2.add_snapshot(s).value);
  }

  testing::FakeInstance f;
  std::vector<std::string> ids;
};

TEST_F(CheckBackupsRun, OneDescribeAndOneLinePerMountPoint) {
  f.add_group("db", {f.volume("/dev/sdf", "/data/a"), f.volume("/dev/sdg", "/data/b")});
  f.add_group("web", {f.volume("/dev/sdh", "/data/c")});
  add("db", "/data/a", 3h + 12min);
  add("db", "/data/b", 30h);
  const auto before = f.ec2.call_count("DescribeSnapshots");

  auto r = check_backups(f.context(), k_26h);
  EXPECT_EQ(f.ec2.call_count("DescribeSnapshots") - before, 1);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.command, "check-backups");
  ASSERT_EQ(r.groups.size(), 2U);
  ASSERT_EQ(r.groups[0].volumes.size(), 2U);
  const auto& a = r.groups[0].volumes[0];
  EXPECT_EQ(a.outcome, Outcome::Fresh);
  EXPECT_EQ(a.latest_snapshot_id, ids[0]);
  EXPECT_EQ(a.latest_snapshot_age_s, (3h + 12min) / 1s);
  EXPECT_EQ(a.consistency, "frozen");
  EXPECT_EQ(r.groups[0].volumes[1].outcome, Outcome::Stale);
  EXPECT_EQ(r.groups[1].volumes[0].outcome, Outcome::Missing);

  const auto text = render_text(r);
  EXPECT_NE(text.find("[ok]   db /data/a newest completed " + ids[0] + " " + *a.latest_snapshot_time +
                      " (3h12m old) frozen\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("[FAIL] db /data/b newest completed " + ids[1]), std::string::npos) << text;
  EXPECT_NE(text.find("(1d6h old) frozen: older than --max-age 26h\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[FAIL] web /data/c no completed snapshot\n"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;

  const auto j = to_json(r);
  EXPECT_EQ(j["command"], "check-backups");
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["groups"][0]["volumes"][0]["outcome"], "fresh");
  EXPECT_EQ(j["groups"][0]["volumes"][0]["latest_snapshot_age_s"], 11520);
  EXPECT_EQ(j["groups"][0]["volumes"][1]["outcome"], "stale");
  EXPECT_EQ(j["groups"][1]["volumes"][0]["outcome"], "missing");
  EXPECT_TRUE(j["groups"][1]["volumes"][0]["latest_snapshot_age_s"].is_null());
}

TEST_F(CheckBackupsRun, OkWhenEveryMountPointIsFresh) {
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  add("db", "/data/a", 1h);
  auto r = check_backups(f.context(), k_26h);
  EXPECT_TRUE(r.ok()) << render_text(r);
  // The clock is the Services' clock: time passes, the same snapshot goes stale.
  f.clock.advance(25h + 1s);
  r = check_backups(f.context(), k_26h);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.groups[0].volumes[0].outcome, Outcome::Stale);
}

TEST_F(CheckBackupsRun, UnfrozenSnapshotOfAFreezingGroupFails) {
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  add("db", "/data/a", 1h, ec2::SnapshotState::Completed, "unfrozen");
  auto r = check_backups(f.context(), k_26h);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.groups[0].volumes[0].outcome, Outcome::NotFrozen);
  EXPECT_NE(render_text(r).find("[FAIL] db /data/a newest completed"), std::string::npos) << render_text(r);
}

TEST_F(CheckBackupsRun, FailingDescribeIsOneClearLine) {
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  f.ec2.fail_next("DescribeSnapshots", ec2::Error{.kind = ec2::ErrorKind::Unauthorized, .message = "denied"});
  auto r = check_backups(f.context(), k_26h);
  EXPECT_FALSE(r.ok());
  const auto text = render_text(r);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_TRUE(text.starts_with("check-backups: error: DescribeSnapshots failed: ")) << text;
}

}  // namespace
}  // namespace agent
