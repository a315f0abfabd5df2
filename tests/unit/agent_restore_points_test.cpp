// agent/core/restore_points.h: which snapshots form a restore point, and which point a restore takes.
#include <gtest/gtest.h>

#include <algorithm>

#include "agent/core/restore_points.h"
#include "agent/core/tags.h"

namespace agent {
namespace {

using ec2::SnapshotState;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const FilterValues k_filters{{"role", "db"}, {"environment", "prod"}};
const std::vector<std::string> k_mounts{"/mnt/pg", "/mnt/wal"};
const ec2::TimePoint k_t0 = ec2::TimePoint(std::chrono::sys_days(std::chrono::year(2026) / 12 / 3));

struct Snap {
  std::string id;
  std::string mount_point;
  std::string run;  // "": no ebsnap:run-id
  seconds at{0};    // after k_t0
  SnapshotState state = SnapshotState::Completed;
  std::string group = "pg";  // "": no ebsnap:group
  std::string consistency = "frozen";
  FilterValues filters = k_filters;
};

ec2::Snapshot make(const Snap& in) {
  ec2::Snapshot s;
  s.id = ec2::SnapshotId{in.id};
  s.state = in.state;
  s.start_time = k_t0 + in.at;
  s.volume_size_gib = 10;
  for (const auto& f : in.filters) s.tags.push_back({f.key, f.value});
  s.tags.push_back({std::string(k_tag_mount_point), in.mount_point});
  if (!in.group.empty()) s.tags.push_back({std::string(k_tag_group), in.group});
  if (!in.run.empty()) s.tags.push_back({std::string(k_tag_run_id), in.run});
  if (!in.consistency.empty()) s.tags.push_back({std::string(k_tag_consistency), in.consistency});
  return s;
}

// Two volumes per run, an hour apart: run r1 at 0h, r2 at 1h, r3 at 2h.
std::vector<ec2::Snapshot> three_runs() {
  std::vector<ec2::Snapshot> out;
  for (int r = 1; r <= 3; ++r) {
    const auto run = "r" + std::to_string(r);
    out.push_back(make({.id = "snap-pg-" + run, .mount_point = "/mnt/pg", .run = run, .at = hours(r - 1)}));
    out.push_back(make(
        {.id = "snap-wal-" + run, .mount_point = "/mnt/wal", .run = run, .at = hours(r - 1) + seconds(1)}));
  }
  return out;
}

GroupHistory history_of(const std::vector<ec2::Snapshot>& snapshots, std::string_view group = "pg",
                        const std::vector<std::string>& mounts = k_mounts) {
  return restore_points(
      {.snapshots = snapshots, .group = group, .filters = k_filters, .mount_points = mounts});
}

ec2::Snapshot& find(std::vector<ec2::Snapshot>& all, std::string_view id) {
  return *std::ranges::find(all, id, [](const ec2::Snapshot& s) { return s.id.value; });
}

std::string chosen_run(const GroupHistory& h, const PointChoice& c) {
  return c.point ? h.points[*c.point].run_id : "-";
}

TEST(RestorePoints, TheNewestCompleteRunIsChosenWhole) {
  const auto all = three_runs();
  const auto h = history_of(all);
  ASSERT_EQ(h.points.size(), 3U);
  EXPECT_EQ(h.points[0].run_id, "r3");
  EXPECT_EQ(h.points[0].time, k_t0 + hours(2));
  EXPECT_EQ(h.points[0].consistency, "frozen");
  EXPECT_EQ(h.points[0].size_gib(), 20);
  const auto c = choose_restore_point(h, {});
  EXPECT_EQ(chosen_run(h, c), "r3");
  EXPECT_TRUE(c.skipped.empty());
  EXPECT_FALSE(c.refusal);
  EXPECT_EQ(h.points[0].member("/mnt/pg")->snapshot->id.value, "snap-pg-r3");
  EXPECT_EQ(h.points[0].member("/mnt/wal")->snapshot->id.value, "snap-wal-r3");
}

// Issue 17: a shutdown's run one second or less after the timer's has the same StartTime (EC2 gives
// whole seconds): the later run id (milliseconds) is the newer point, whatever its random part.
TEST(RestorePoints, TwoRunsInOneSecondAreOrderedByTheirIds) {
  std::vector<ec2::Snapshot> all;
  for (const char* run : {"20261203T000000.900-00000000", "20261203T000000.100-ffffffff"}) {
    for (const auto& mp : k_mounts) {
      all.push_back(make({.id = std::string("snap-") + run + mp, .mount_point = mp, .run = run, .at = seconds(0)}));
    }
  }
  const auto h = history_of(all);
  ASSERT_EQ(h.points.size(), 2U);
  EXPECT_EQ(h.points[0].run_id, "20261203T000000.900-00000000");
  EXPECT_EQ(chosen_run(h, choose_restore_point(h, {})), "20261203T000000.900-00000000");
}

TEST(RestorePoints, ANewestRunWithOneMemberInErrorIsSkippedForThePreviousOneOnBothVolumes) {
  auto all = three_runs();
  find(all, "snap-wal-r3").state = SnapshotState::Error;
  const auto h = history_of(all);
  const auto c = choose_restore_point(h, {});
  EXPECT_EQ(chosen_run(h, c), "r2") << "never r3's pg with r2's wal";
  ASSERT_EQ(c.skipped.size(), 1U);
  EXPECT_EQ(c.skipped[0].run_id, "r3");
  EXPECT_EQ(c.skipped[0].reason, "/mnt/wal: snap-wal-r3 in state error");
  EXPECT_FALSE(h.points[0].complete());
}

TEST(RestorePoints, ANewestRunMissingAMemberIsIncomplete) {
  auto all = three_runs();
  std::erase_if(all, [](const ec2::Snapshot& s) { return s.id.value == "snap-pg-r3"; });
  const auto h = history_of(all);
  const auto c = choose_restore_point(h, {});
  EXPECT_EQ(chosen_run(h, c), "r2");
  ASSERT_EQ(c.skipped.size(), 1U);
  EXPECT_EQ(c.skipped[0].reason, "/mnt/pg: no snapshot");
}

TEST(RestorePoints, APendingMemberKeepsTheRunForTheRestoreToWaitFor) {
  auto all = three_runs();
  find(all, "snap-pg-r3").state = SnapshotState::Pending;
  const auto h = history_of(all);
  const auto c = choose_restore_point(h, {});
  EXPECT_EQ(chosen_run(h, c), "r3");
  EXPECT_TRUE(h.points[0].has_pending());
  EXPECT_EQ(h.points[0].member("/mnt/pg")->state, MemberState::Pending);
  EXPECT_EQ(h.points[0].member("/mnt/wal")->state, MemberState::Completed);
}

TEST(RestorePoints, AMountPointAddedLaterStartsEmptyInOlderRuns) {
  auto all = three_runs();
  // /mnt/logs joined the group with r3; r3 is broken on /mnt/pg.
  all.push_back(
      make({.id = "snap-logs-r3", .mount_point = "/mnt/logs", .run = "r3", .at = hours(2) + seconds(2)}));
  find(all, "snap-pg-r3").state = SnapshotState::Error;
  const std::vector<std::string> mounts{"/mnt/pg", "/mnt/wal", "/mnt/logs"};
  const auto h = history_of(all, "pg", mounts);
  const auto c = choose_restore_point(h, {});
  ASSERT_EQ(chosen_run(h, c), "r2");
  const auto& r2 = h.points[*c.point];
  EXPECT_TRUE(r2.complete());
  EXPECT_EQ(r2.member("/mnt/logs")->state, MemberState::NotYet);
  EXPECT_EQ(r2.member("/mnt/logs")->snapshot, nullptr);
  // In r3 itself, a mount point with no history before it would be missing only if it had one.
  EXPECT_EQ(h.points[0].member("/mnt/logs")->state, MemberState::Completed);
}

TEST(RestorePoints, SnapshotsWithoutRunIdsAreGroupedByStartTime) {
  std::vector<ec2::Snapshot> all{
      // One point: 4 s apart, within the 10 s window.
      make({.id = "snap-a1", .mount_point = "/mnt/pg", .at = seconds(0), .group = "", .consistency = ""}),
      make({.id = "snap-a2", .mount_point = "/mnt/wal", .at = seconds(4), .group = "", .consistency = ""}),
      // 30 s later: another point.
      make({.id = "snap-b1", .mount_point = "/mnt/pg", .at = seconds(34), .group = "", .consistency = ""}),
      make({.id = "snap-b2", .mount_point = "/mnt/wal", .at = seconds(40), .group = "", .consistency = ""}),
      // Within the window but a second snapshot of /mnt/pg: a point of its own.
      make({.id = "snap-c1", .mount_point = "/mnt/pg", .at = seconds(41), .group = "", .consistency = ""}),
  };
  std::ranges::reverse(all);  // the answer's order does not matter
  const auto h = history_of(all);
  ASSERT_EQ(h.points.size(), 3U);
  EXPECT_EQ(h.points[2].run_id, "untagged-20261203T000000Z");
  EXPECT_FALSE(h.points[2].tagged);
  EXPECT_FALSE(h.points[2].consistency);
  EXPECT_EQ(h.points[2].member("/mnt/pg")->snapshot->id.value, "snap-a1");
  EXPECT_EQ(h.points[2].member("/mnt/wal")->snapshot->id.value, "snap-a2");
  EXPECT_EQ(h.points[1].member("/mnt/wal")->snapshot->id.value, "snap-b2");
  EXPECT_EQ(h.points[0].run_id, "untagged-20261203T000041Z");
  EXPECT_EQ(h.points[0].member("/mnt/wal")->state, MemberState::Missing);
  const auto c = choose_restore_point(h, {});
  EXPECT_EQ(chosen_run(h, c), "untagged-20261203T000034Z");
  // The window is the config's.
  const auto narrow = restore_points({.snapshots = all,
                                      .group = "pg",
                                      .filters = k_filters,
                                      .mount_points = k_mounts,
                                      .untagged_window = seconds(3)});
  // 3 s: a1 and a2 apart, b1 alone, b2 and c1 (1 s apart, different mount points) together.
  EXPECT_EQ(narrow.points.size(), 4U);
}

TEST(RestorePoints, TwoGroupsAreNeverMixed) {
  auto all = three_runs();
  // The other group's run is newer and shares a mount point name and the run id.
  all.push_back(
      make({.id = "snap-other", .mount_point = "/mnt/wal", .run = "r4", .at = hours(3), .group = "other"}));
  all.push_back(
      make({.id = "snap-other3", .mount_point = "/mnt/wal", .run = "r3", .at = hours(2), .group = "other"}));
  const auto h = history_of(all);
  ASSERT_EQ(h.points.size(), 3U);
  EXPECT_EQ(h.points[0].member("/mnt/wal")->snapshot->id.value, "snap-wal-r3");
  ASSERT_EQ(h.foreign.size(), 1U);
  EXPECT_EQ(h.foreign[0].mount_point, "/mnt/wal");
  EXPECT_EQ(h.foreign[0].group, "other");
  EXPECT_EQ(h.foreign[0].count, 2U);
  // An untagged snapshot next to our run never joins it.
  all.push_back(
      make({.id = "snap-untagged", .mount_point = "/mnt/pg", .at = hours(2) + seconds(1), .group = ""}));
  const auto h2 = history_of(all);
  EXPECT_EQ(h2.points.size(), 4U);
  EXPECT_EQ(h2.points[0].run_id, "untagged-20261203T020001Z");
  EXPECT_EQ(h2.points[1].member("/mnt/pg")->snapshot->id.value, "snap-pg-r3");
}

TEST(RestorePoints, AnotherLineageIsNotRead) {
  auto all = three_runs();
  all.push_back(make({.id = "snap-dev",
                      .mount_point = "/mnt/pg",
                      .run = "r9",
                      .at = hours(5),
                      .filters = {{"role", "db"}, {"environment", "dev"}}}));
  const auto h = history_of(all);
  EXPECT_EQ(h.points.size(), 3U);
  EXPECT_EQ(h.points[0].run_id, "r3");
}

TEST(RestorePoints, AsOfTakesTheNewestCompleteRunAtOrBeforeTheTime) {
  auto all = three_runs();
  const auto h = history_of(all);
  EXPECT_EQ(chosen_run(h, choose_restore_point(h, {.as_of = k_t0 + minutes(30)})), "r1");
  EXPECT_EQ(chosen_run(h, choose_restore_point(h, {.as_of = k_t0 + hours(1)})), "r2") << "at the time itself";
  find(all, "snap-pg-r2").state = SnapshotState::Error;
  const auto broken = history_of(all);
  const auto c = choose_restore_point(broken, {.as_of = k_t0 + minutes(90)});
  EXPECT_EQ(chosen_run(broken, c), "r1");
  ASSERT_EQ(c.skipped.size(), 1U);
  EXPECT_EQ(c.skipped[0].run_id, "r2");
  const auto before = choose_restore_point(h, {.as_of = k_t0 - hours(1)});
  EXPECT_FALSE(before.point);
  ASSERT_TRUE(before.refusal);
  EXPECT_TRUE(before.refusal->contains("no complete restore point at or before 2026-12-02T23:00:00Z"))
      << *before.refusal;
}

TEST(RestorePoints, RunIdChoosesThatRunOrRefuses) {
  auto all = three_runs();
  find(all, "snap-wal-r3").state = SnapshotState::Error;
  const auto h = history_of(all);
  EXPECT_EQ(chosen_run(h, choose_restore_point(h, {.run_id = "r1"})), "r1");
  const auto incomplete = choose_restore_point(h, {.run_id = "r3"});
  ASSERT_TRUE(incomplete.refusal);
  EXPECT_EQ(*incomplete.refusal,
            "restore point r3 of group pg is incomplete: /mnt/wal: snap-wal-r3 in state error");
  const auto unknown = choose_restore_point(h, {.run_id = "r7"});
  ASSERT_TRUE(unknown.refusal);
  EXPECT_EQ(*unknown.refusal, "group pg has no restore point r7");
}

TEST(RestorePoints, NoHistoryIsAFirstBootAndOnlyBrokenHistoryIsRefused) {
  const std::vector<ec2::Snapshot> none;
  const auto empty = choose_restore_point(history_of(none), {});
  EXPECT_FALSE(empty.point);
  EXPECT_FALSE(empty.refusal);
  const std::vector<ec2::Snapshot> broken{
      make({.id = "snap-1", .mount_point = "/mnt/pg", .run = "r1", .state = SnapshotState::Error}),
      make({.id = "snap-2", .mount_point = "/mnt/wal", .run = "r1", .at = seconds(1)})};
  const auto h = history_of(broken);
  const auto c = choose_restore_point(h, {});
  EXPECT_FALSE(c.point);
  ASSERT_TRUE(c.refusal);
  EXPECT_TRUE(c.refusal->contains("no complete restore point")) << *c.refusal;
}

TEST(RestorePoints, TwoSnapshotsOfOneMountPointInOneRunTakeTheUsableOne) {
  auto all = three_runs();
  all.push_back(make({.id = "snap-pg-r3-retry",
                      .mount_point = "/mnt/pg",
                      .run = "r3",
                      .at = hours(2) + seconds(5),
                      .state = SnapshotState::Error}));
  const auto h = history_of(all);
  EXPECT_EQ(h.points[0].member("/mnt/pg")->snapshot->id.value, "snap-pg-r3");
  EXPECT_TRUE(h.points[0].complete());
}

TEST(RestorePoints, ConsistencyIsTheWeakestOfTheMembers) {
  auto all = three_runs();
  find(all, "snap-wal-r3").tags.back().value = "watchdog-thawed";
  find(all, "snap-pg-r2").tags.back().value = "unfrozen";
  const auto h = history_of(all);
  EXPECT_EQ(h.points[0].consistency, "watchdog-thawed");
  EXPECT_EQ(h.points[1].consistency, "unfrozen");
  EXPECT_EQ(h.points[2].consistency, "frozen");
}

// Data Lifecycle Manager's snapshots (etc/ssm/ebsnap-dlm-scripts.yaml, a policy with CopyTags):
// the volume's lineage tags, DLM's own, no ebsnap:run-id or ebsnap:consistency.
ec2::Snapshot dlm_snapshot(const std::string& id, const std::string& mount_point, seconds at, const std::string& pre,
                           const std::string& post) {
  auto s = make({.id = id, .mount_point = mount_point, .at = at, .consistency = ""});
  s.tags.push_back({std::string(k_tag_device), "/dev/sdf"});
  s.tags.push_back({"ebsnap:attempt", "a1b2"});  // the volume's, copied
  s.tags.push_back({"aws:dlm:lifecycle-policy-id", "policy-0123456789abcdef0"});
  s.tags.push_back({"dlm:managed", "true"});
  if (!pre.empty()) s.tags.push_back({std::string(k_tag_dlm_pre_script), pre});
  if (!post.empty()) s.tags.push_back({std::string(k_tag_dlm_post_script), post});
  return s;
}

TEST(RestorePoints, DlmSnapshotsOfTheLineageAreRestorePointsWithTheirScriptsConsistency) {
  auto all = three_runs();
  // One CreateSnapshots of DLM after ebsnap's runs: one point, both volumes, frozen by ebsnap's hold.
  all.push_back(dlm_snapshot("snap-dlm-pg", "/mnt/pg", hours(5), "SUCCESS", "SUCCESS"));
  all.push_back(dlm_snapshot("snap-dlm-wal", "/mnt/wal", hours(5), "SUCCESS", "SUCCESS"));
  auto h = history_of(all);
  ASSERT_EQ(h.points.size(), 4U);
  EXPECT_FALSE(h.points[0].tagged);
  EXPECT_TRUE(h.points[0].complete()) << h.points[0].problem();
  EXPECT_EQ(h.points[0].consistency, "frozen");
  const auto c = choose_restore_point(h, {});
  EXPECT_EQ(chosen_run(h, c), h.points[0].run_id);
  EXPECT_EQ(h.points[0].member("/mnt/pg")->snapshot->id.value, "snap-dlm-pg");

  // The post-script failed (the hold had ended at its bound): not proven frozen.
  all = three_runs();
  all.push_back(dlm_snapshot("snap-dlm-pg", "/mnt/pg", hours(5), "SUCCESS", "FAILED"));
  all.push_back(dlm_snapshot("snap-dlm-wal", "/mnt/wal", hours(5), "SUCCESS", "SUCCESS"));
  h = history_of(all);
  EXPECT_EQ(h.points[0].consistency, "watchdog-thawed");
  // The pre-script failed: DLM took a crash-consistent snapshot.
  all = three_runs();
  all.push_back(dlm_snapshot("snap-dlm-pg", "/mnt/pg", hours(5), "FAILED", ""));
  all.push_back(dlm_snapshot("snap-dlm-wal", "/mnt/wal", hours(5), "FAILED", ""));
  h = history_of(all);
  EXPECT_EQ(h.points[0].consistency, "unfrozen");
  // No script ran: consistency unknown, still a restore point.
  all = three_runs();
  all.push_back(dlm_snapshot("snap-dlm-pg", "/mnt/pg", hours(5), "", ""));
  all.push_back(dlm_snapshot("snap-dlm-wal", "/mnt/wal", hours(5), "", ""));
  h = history_of(all);
  EXPECT_FALSE(h.points[0].consistency);
  EXPECT_TRUE(h.points[0].complete());
}

TEST(RestorePoints, ASingleVolumeGroupRestoresEachDlmSnapshotAsItsOwnPoint) {
  const std::vector<std::string> one{"/mnt/pg"};
  std::vector<ec2::Snapshot> all = {dlm_snapshot("snap-a", "/mnt/pg", hours(0), "SUCCESS", "SUCCESS"),
                                    dlm_snapshot("snap-b", "/mnt/pg", hours(12), "SUCCESS", "SUCCESS")};
  const auto h = history_of(all, "pg", one);
  ASSERT_EQ(h.points.size(), 2U);
  EXPECT_EQ(h.points[0].member("/mnt/pg")->snapshot->id.value, "snap-b");
  EXPECT_TRUE(h.points[0].complete());
  // Another lineage's DLM snapshot (another environment's filter value) is not read.
  auto other = dlm_snapshot("snap-c", "/mnt/pg", hours(13), "SUCCESS", "SUCCESS");
  for (auto& t : other.tags) {
    if (t.key == "environment") t.value = "staging";
  }
  all.push_back(other);
  EXPECT_EQ(history_of(all, "pg", one).points.size(), 2U);
}

TEST(PointInTime, IsoWithAZoneOrRelative) {
  const auto now = k_t0 + hours(12);
  EXPECT_EQ(parse_point_in_time("2026-12-03T14:00:00Z", now), k_t0 + hours(14));
  EXPECT_EQ(parse_point_in_time("2026-12-03T14:00Z", now), k_t0 + hours(14));
  EXPECT_EQ(parse_point_in_time("2026-12-03T15:30:00+01:00", now), k_t0 + hours(14) + minutes(30));
  EXPECT_EQ(parse_point_in_time("2026-12-03T09:00:00-0500", now), k_t0 + hours(14));
  EXPECT_EQ(parse_point_in_time("2026-12-03T14:00:00.500Z", now),
            k_t0 + hours(14) + std::chrono::milliseconds(500));
  EXPECT_EQ(parse_point_in_time("-6h", now), k_t0 + hours(6));
  EXPECT_EQ(parse_point_in_time("-1d12h", now), k_t0 - hours(24));
  for (const auto* bad : {"2026-12-03T14:00:00", "2026-12-03", "yesterday", "-", "-0s", "-6x",
                          "2026-13-03T14:00:00Z", "2026-12-03T14:00:00+25:00", ""}) {
    EXPECT_FALSE(parse_point_in_time(bad, now)) << bad;
  }
  EXPECT_TRUE(parse_point_in_time("2026-12-03T14:00:00", now).error().contains("no time zone"));
}

}  // namespace
}  // namespace agent
