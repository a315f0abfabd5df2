// ebsnap copy (issue 14): the planner (agent/commands/copy_decide.h), the copies' tags, restore
// points and prune in a copy's region (ordered by the source's time; half-copied runs), and the
// act against two in-process regions (tests/unit/agent_restore_fixture.h's FakeEc2 at home, a
// second FakeEc2 as the destination): oldest first, one copy per source however it is rerun,
// lost answers, EC2's copy limit, intents left by a killed run, prune_after_copy.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "agent/commands/copy.h"
#include "agent/commands/copy_decide.h"
#include "agent/commands/prune.h"
#include "agent/commands/prune_decide.h"
#include "agent/core/restore_points.h"
#include "agent/core/tags.h"
#include "platform/run_dir.h"
#include "tests/unit/agent_restore_fixture.h"

namespace agent {
namespace {

using namespace std::chrono_literals;
using testing::FakeInstance;

constexpr std::string_view k_home = "us-east-1";
constexpr std::string_view k_dr = "us-west-2";

// Every region but the home one is a FakeEc2 of its own.
class FakeRegions final : public Ec2Regions {
 public:
  explicit FakeRegions(ec2::FakeEc2& home) : home_(home) {}
  void add(const std::string& region, ec2::FakeEc2& fake) { regions_[region] = &fake; }
  ec2::Result<ec2::Ec2Api*> in(const std::string& region) override {
    if (region == k_home) return &home_;
    const auto it = regions_.find(region);
    if (it == regions_.end()) return ec2::fail(ec2::ErrorKind::Other, "no fake for " + region);
    return it->second;
  }

 private:
  ec2::FakeEc2& home_;
  std::map<std::string, ec2::FakeEc2*> regions_;
};

class CopyTest : public ::testing::Test {
 protected:
  CopyTest() : dr_(ec2::FakeEc2Options{.region = std::string(k_dr), .first_id = 0x900000}), regions_(f_.ec2) {
    f_.add_group("db", {f_.volume("/dev/sdf", "/data/a"), f_.volume("/dev/sdg", "/data/b")});
    f_.config.groups[0].copy_to = {CopyDestination{.region = std::string(k_dr)}};
    dr_.add_source_region(std::string(k_home), f_.ec2);
    regions_.add(std::string(k_dr), dr_);
    f_.services.regions = &regions_;
  }

  // A completed run of group db over both mount points, taken `age` ago: its snapshot ids.
  std::vector<std::string> add_run(const std::string& run_id, std::chrono::seconds age,
                                   ec2::SnapshotState state = ec2::SnapshotState::Completed) {
    std::vector<std::string> ids;
    for (const std::string mount_point : {"/data/a", "/data/b"}) {
      ec2::Snapshot s{.state = state, .start_time = f_.clock.now() - age, .volume_size_gib = 10};
      for (const auto& fv : f_.filters) s.tags.push_back({fv.key, fv.value});
      s.tags.push_back({std::string(k_tag_group), "db"});
      s.tags.push_back({std::string(k_tag_mount_point), mount_point});
      s.tags.push_back({std::string(k_tag_run_id), run_id});
      s.tags.push_back({std::string(k_tag_consistency), "frozen"});
      ids.push_back(f_.ec2.add_snapshot(s).value);
    }
    return ids;
  }

  // The intent a killed copy left for `source`, written now: its directory.
  std::filesystem::path write_intent(const std::string& source) {
    const auto& run_dir = f_.services.options.run_dir;
    const auto dir = run_dir / "copy" / std::string(k_dr);
    for (const auto& d : {run_dir, run_dir / "copy", dir}) EXPECT_TRUE(platform::check_run_directory(d, true));
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(f_.clock.now().time_since_epoch()).count();
    EXPECT_TRUE(platform::write_state_file(dir / source, std::to_string(ms) + "\n", false));
    return dir;
  }

  RunReport copy(CopyOptions options = {}) {
    auto c = f_.context();
    return agent::copy(c, options);
  }

  // The destination's copies, by the source snapshot they copy.
  [[nodiscard]] std::multimap<std::string, ec2::Snapshot> copies() const {
    std::multimap<std::string, ec2::Snapshot> out;
    for (const auto& s : dr_.snapshots()) {
      if (auto source = ec2::find_tag(s.tags, k_tag_source_snapshot)) out.emplace(*source, s);
    }
    return out;
  }

  [[nodiscard]] std::vector<std::string> copied_sources_in_call_order() const {
    std::vector<std::string> out;
    for (const auto& r : dr_.copy_requests()) out.push_back(r.source_snapshot_id.value);
    return out;
  }

  FakeInstance f_;
  ec2::FakeEc2 dr_;
  FakeRegions regions_;
};

TEST_F(CopyTest, CopiesEveryCompleteRunOldestFirstEachLineageInOrderThenNothingMore) {
  const auto r1 = add_run("run-1", 3h);
  const auto r2 = add_run("run-2", 2h);
  const auto r3 = add_run("run-3", 1h);

  auto r = copy();
  ASSERT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(r.copy.size(), 1U);
  EXPECT_EQ(r.copy[0].region, k_dr);
  EXPECT_EQ(r.copy[0].source_region, k_home);
  ASSERT_EQ(r.copy[0].runs.size(), 3U);
  for (const auto& run : r.copy[0].runs) EXPECT_EQ(run.state, "copied") << run.run_id;
  EXPECT_EQ(r.copy[0].copies_started, 6);

  // One copy per source, all completed.
  const auto made = copies();
  EXPECT_EQ(made.size(), 6U);
  for (const auto* run : {&r1, &r2, &r3}) {
    for (const auto& id : *run) {
      ASSERT_EQ(made.count(id), 1U) << id;
      EXPECT_EQ(made.find(id)->second.state, ec2::SnapshotState::Completed);
    }
  }
  // Each lineage's copies in run order: run-1's before run-2's before run-3's.
  const auto order = copied_sources_in_call_order();
  const auto pos = [&](const std::string& id) { return std::ranges::find(order, id) - order.begin(); };
  for (std::size_t mp = 0; mp < 2; ++mp) {
    EXPECT_LT(pos(r1[mp]), pos(r2[mp]));
    EXPECT_LT(pos(r2[mp]), pos(r3[mp]));
  }

  // Again: everything is there; no call, no copy.
  auto again = copy();
  ASSERT_TRUE(again.ok()) << render_text(again);
  EXPECT_EQ(again.copy[0].already_copied, 3);
  EXPECT_TRUE(again.copy[0].runs.empty());
  EXPECT_EQ(dr_.call_count("CopySnapshot"), 6);
}

TEST_F(CopyTest, TheCopiesCarryTheLineageRunAndSourceTagsButNotExpiresOrKeep) {
  const auto r1 = add_run("run-1", 3h);
  auto source = f_.ec2.snapshot(ec2::SnapshotId{r1[0]}).value();
  ASSERT_TRUE(f_.ec2.create_tags({.resource_ids = {r1[0]},
                                  .tags = {{std::string(k_tag_expires), "2030-01-01T00:00:00Z"},
                                           {std::string(k_tag_keep), "yes"}}}));
  auto r = copy();
  ASSERT_TRUE(r.ok()) << render_text(r);
  const auto made = copies();
  ASSERT_EQ(made.count(r1[0]), 1U);
  const auto& tags = made.find(r1[0])->second.tags;
  EXPECT_EQ(ec2::find_tag(tags, k_tag_group), "db");
  EXPECT_EQ(ec2::find_tag(tags, k_tag_mount_point), "/data/a");
  EXPECT_EQ(ec2::find_tag(tags, "role"), "db");
  EXPECT_EQ(ec2::find_tag(tags, k_tag_run_id), "run-1");
  EXPECT_EQ(ec2::find_tag(tags, k_tag_consistency), "frozen");
  EXPECT_EQ(ec2::find_tag(tags, k_tag_source_snapshot), r1[0]);
  EXPECT_EQ(ec2::find_tag(tags, k_tag_source_region), k_home);
  EXPECT_EQ(ec2::find_tag(tags, k_tag_source_time), ec2::format_iso8601(*source.start_time));
  EXPECT_EQ(ec2::find_tag(tags, k_tag_run_size), "2");
  EXPECT_FALSE(ec2::find_tag(tags, k_tag_expires));
  EXPECT_FALSE(ec2::find_tag(tags, k_tag_keep));
  // Each call names the source region (the PresignedUrl is the client's: ec2/presign.h).
  for (const auto& request : dr_.copy_requests()) EXPECT_EQ(request.source_region, k_home);
}

TEST_F(CopyTest, PendingAndIncompleteRunsAreNotCopied) {
  add_run("run-1", 3h);
  const auto broken = add_run("run-2", 2h);
  ASSERT_TRUE(f_.ec2.delete_snapshot({.snapshot_id = ec2::SnapshotId{broken[1]}}));  // /data/b missing
  f_.ec2.settle();
  add_run("run-3", 1h, ec2::SnapshotState::Pending);

  auto r = copy(CopyOptions{});
  ASSERT_EQ(r.copy.size(), 1U);
  std::set<std::string> copied_runs;
  for (const auto& run : r.copy[0].runs) copied_runs.insert(run.run_id);
  EXPECT_EQ(copied_runs, std::set<std::string>{"run-1"});
  std::map<std::string, std::string> skipped;
  for (const auto& s : r.copy[0].skipped) skipped[s.run_id] = s.reason;
  EXPECT_TRUE(skipped.contains("run-2")) << render_text(r);
  EXPECT_NE(skipped["run-2"].find("/data/b"), std::string::npos) << skipped["run-2"];
  EXPECT_NE(skipped["run-3"].find("pending"), std::string::npos) << skipped["run-3"];
}

TEST_F(CopyTest, DryRunPrintsThePlanAndCopiesNothing) {
  add_run("run-1", 2h);
  f_.services.options.dry_run = true;
  auto r = copy();
  ASSERT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(r.copy[0].runs.size(), 1U);
  EXPECT_EQ(r.copy[0].runs[0].state, "planned");
  EXPECT_EQ(dr_.call_count("CopySnapshot"), 0);
}

TEST_F(CopyTest, ALostAnswerIsFoundByItsTagAndNeverCopiedTwice) {
  const auto r1 = add_run("run-1", 2h);
  dr_.lose_next_response("CopySnapshot");
  auto r = copy();
  ASSERT_TRUE(r.ok()) << render_text(r);
  const auto made = copies();
  EXPECT_EQ(made.size(), 2U);
  for (const auto& id : r1) EXPECT_EQ(made.count(id), 1U) << id;
  EXPECT_EQ(dr_.call_count("CopySnapshot"), 2);
  // The lost one's copy id made it into the report.
  for (const auto& s : r.copy[0].runs[0].snapshots) EXPECT_TRUE(s.snapshot_id) << s.source_snapshot_id;
}

TEST_F(CopyTest, EC2sCopyLimitAndThrottlingAreWaitedOutNotGivenUp) {
  add_run("run-1", 2h);
  add_run("run-2", 1h);
  dr_.fail_next("CopySnapshot", ec2::Error{.message = "20 copies", .aws_code = "ResourceLimitExceeded"}, 3);
  auto r = copy();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(r.copy[0].limit_exceeded, 3);
  EXPECT_EQ(copies().size(), 4U);
  for (const auto& run : r.copy[0].runs) EXPECT_EQ(run.state, "copied");
}

TEST_F(CopyTest, ThrottlingIsWaitedOutNotGivenUp) {
  add_run("run-1", 2h);
  dr_.fail_next("CopySnapshot", ec2::Error{.message = "slow down", .aws_code = "RequestLimitExceeded"}, 5);
  auto r = copy();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(r.copy[0].throttled, 5);
  EXPECT_EQ(copies().size(), 2U);
}

TEST_F(CopyTest, NeverMoreInFlightThanTheBound) {
  f_.config.copies_in_flight = 1;
  add_run("run-1", 2h);
  int most = 0;
  dr_.on_call([&](std::string_view action) {
    if (action != "CopySnapshot") return;
    int pending = 0;
    for (const auto& s : dr_.snapshots()) pending += s.state == ec2::SnapshotState::Pending ? 1 : 0;
    most = std::max(most, pending + 1);
  });
  auto r = copy();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(copies().size(), 2U);
  EXPECT_EQ(most, 1);
}

TEST_F(CopyTest, AnIntentOfAKilledRunIsWaitedOnThenVoid) {
  const auto r1 = add_run("run-1", 2h);
  // A killed run wrote its intent for r1[0] just now and the call never reached EC2.
  const auto dir = write_intent(r1[0]);
  const auto started = f_.clock.monotonic();
  auto r = copy();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_GE(f_.clock.monotonic() - started, k_copy_settle);  // waited for the killed run's copy
  EXPECT_EQ(copies().size(), 2U);                            // then made it, once
  EXPECT_FALSE(std::filesystem::exists(dir / r1[0]));
}

TEST_F(CopyTest, AnIntentWhoseCopyAppearsIsAdoptedNotCopiedAgain) {
  const auto r1 = add_run("run-1", 2h);
  const auto dir = write_intent(r1[0]);
  // The killed run's request arrives while the rerun waits (after its first look): the copy
  // appears, tagged at creation.
  int describes = 0;
  dr_.on_call([&](std::string_view action) {
    if (action != "DescribeSnapshots" || ++describes != 2) return;
    auto source = f_.ec2.snapshot(ec2::SnapshotId{r1[0]}).value();
    ec2::Snapshot copy = source;
    copy.id = {};
    copy.state = ec2::SnapshotState::Pending;
    copy.tags.push_back({std::string(k_tag_source_snapshot), r1[0]});
    dr_.add_snapshot(copy);
  });
  auto r = copy();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(copies().count(r1[0]), 1U);
  EXPECT_EQ(dr_.call_count("CopySnapshot"), 1);  // only r1[1]
  EXPECT_FALSE(std::filesystem::exists(dir / r1[0]));
}

// The kill matrix (issue 16) found it: a run killed with its last CopySnapshot in flight left
// that source's intent. When the copy lands and completes before the rerun plans, the run is
// whole there and never queued, so its intent was never read, nor removed: it stayed for ever.
// Intents of sources the destination holds a copy of are removed after planning (not by a dry run).
TEST_F(CopyTest, AnIntentWhoseCopyLandedBeforeTheRerunPlannedIsRemoved) {
  const auto r1 = add_run("run-1", 2h);
  for (const auto& id : r1) {
    auto copy = f_.ec2.snapshot(ec2::SnapshotId{id}).value();
    copy.id = {};
    copy.tags.push_back({std::string(k_tag_source_snapshot), id});
    dr_.add_snapshot(copy);  // completed, as the killed run's last copy landed meanwhile
  }
  const auto dir = write_intent(r1[1]);
  const auto other = write_intent("snap-0000000000000beef") / "snap-0000000000000beef";  // no copy of it there

  f_.services.options.dry_run = true;
  ASSERT_TRUE(copy().ok());
  EXPECT_TRUE(std::filesystem::exists(dir / r1[1])) << "a dry run changes nothing";
  f_.services.options.dry_run = false;

  auto r = copy();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(dr_.call_count("CopySnapshot"), 0);
  EXPECT_FALSE(std::filesystem::exists(dir / r1[1]));
  EXPECT_TRUE(std::filesystem::exists(other)) << "an intent whose copy is not there is not spent";
}

TEST_F(CopyTest, AFailedCopyFailsItsRunAndStopsItsLineageOnly) {
  const auto r1 = add_run("run-1", 2h);
  add_run("run-2", 1h);
  // run-1's copy of /data/a exists, in state error.
  auto source = f_.ec2.snapshot(ec2::SnapshotId{r1[0]}).value();
  source.id = {};
  source.state = ec2::SnapshotState::Error;
  source.tags.push_back({std::string(k_tag_source_snapshot), r1[0]});
  dr_.add_snapshot(source);

  auto r = copy();
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.copy[0].runs.size(), 2U);
  EXPECT_EQ(r.copy[0].runs[0].state, "failed");
  EXPECT_EQ(r.copy[0].runs[1].state, "not-attempted");
  // /data/b's lineage went on: both its copies were made.
  EXPECT_EQ(dr_.call_count("CopySnapshot"), 2);
  EXPECT_NE(r.groups[0].error.value_or("").find("delete it and copy again"), std::string::npos) << render_text(r);
}

TEST_F(CopyTest, IAMRefusingStopsTheDestinationWithOneLine) {
  add_run("run-1", 2h);
  dr_.deny("CopySnapshot");
  auto r = copy();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(copies().size(), 0U);
  ASSERT_TRUE(r.copy[0].error);
  EXPECT_NE(r.copy[0].error->find("CopySnapshot failed"), std::string::npos);
}

TEST_F(CopyTest, EncryptionAndCompletionDurationAreSentAsConfigured) {
  f_.config.groups[0].copy_to[0].kms_key_id = "alias/dr";
  f_.config.groups[0].copy_to[0].completion_minutes = 120;
  add_run("run-1", 2h);
  auto r = copy();
  ASSERT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(dr_.copy_requests().size(), 2U);
  for (const auto& request : dr_.copy_requests()) {
    EXPECT_EQ(request.encrypted, true);
    EXPECT_EQ(request.kms_key_id, "alias/dr");
    EXPECT_EQ(request.completion_duration_minutes, 120);
  }
}

TEST_F(CopyTest, PruneAfterCopyAppliesTheCopyToRetentionThereAndKeepsTheNewest) {
  auto& d = f_.config.groups[0].copy_to[0];
  d.retention = RetentionPolicy{.keep_last = 1, .min_age = 1h};
  d.prune_after_copy = true;
  f_.config.groups[0].retention = RetentionPolicy{.keep_last = 100, .min_age = 1h};  // home's: not used there
  add_run("run-1", 30h);
  add_run("run-2", 20h);
  const auto r3 = add_run("run-3", 10h);
  auto r = copy(CopyOptions{.prune = [](const RunContext& run, const GroupConfig& group, RunReport& report) {
    prune_group(run, group, {}, report);
  }});
  ASSERT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(r.prune.size(), 1U);
  dr_.settle();
  // The destination keeps the newest run only (its copies ordered by their source's time).
  const auto left = copies();
  ASSERT_EQ(left.size(), 2U) << render_text(r);
  for (const auto& id : r3) EXPECT_EQ(left.count(id), 1U);
  // Home is untouched.
  EXPECT_EQ(f_.ec2.snapshots().size(), 6U);
}

// snapshot's copy_after_snapshot: the run just taken is pending; it is waited for, then copied.
TEST_F(CopyTest, CopyAfterSnapshotWaitsForTheNewRunThenCopiesIt) {
  f_.config.groups[0].copy_after_snapshot = true;
  const auto taken = add_run("run-1", 0s, ec2::SnapshotState::Pending);
  auto c = f_.context();
  auto report = new_report("snapshot", c);
  copy_after_snapshot(c, {}, report);
  ASSERT_TRUE(report.ok()) << render_text(report);
  ASSERT_EQ(report.copy.size(), 1U);
  const auto made = copies();
  for (const auto& id : taken) EXPECT_EQ(made.count(id), 1U) << id;

  // Not after a failed run, not without copy_after_snapshot, not under --dry-run.
  const auto next = add_run("run-2", 0s);
  auto failed = new_report("snapshot", c);
  failed.group("db").error = "CreateSnapshots failed";
  copy_after_snapshot(c, {}, failed);
  EXPECT_TRUE(failed.copy.empty());
  f_.config.groups[0].copy_after_snapshot = false;
  auto off = new_report("snapshot", c);
  copy_after_snapshot(c, {}, off);
  EXPECT_TRUE(off.copy.empty());
  EXPECT_EQ(copies().count(next[0]), 0U);
}

std::set<std::string> not_kept_by(const std::vector<ec2::Snapshot>& there, std::string_view group,
                                  const FilterValues& filters, const RetentionPolicy& retention,
                                  ec2::TimePoint now) {
  return runs_not_kept(
      {.snapshots = there, .owner = {.group = group, .filters = filters}, .policy = retention, .now = now});
}

// The command line's options: prune_after_copy's prune and the copy_to retention's planner.
CopyOptions with_retention() {
  CopyOptions options{.retention = not_kept_by};
  options.prune = [](const RunContext& run, const GroupConfig& group, RunReport& report) {
    prune_group(run, group, {}, report);
  };
  return options;
}

// Home keeps more than the destination (its retention is its own): a run the destination's prune
// deleted is still complete at home. Copied again, the next prune deletes it again, at every copy.
TEST_F(CopyTest, ARunTheDestinationsRetentionWouldDeleteIsNeverCopied) {
  auto& d = f_.config.groups[0].copy_to[0];
  d.retention = RetentionPolicy{.keep_last = 1, .min_age = 1h};
  d.prune_after_copy = true;
  const auto r1 = add_run("run-1", 30h);
  add_run("run-2", 20h);
  const auto r3 = add_run("run-3", 10h);
  auto first = copy(with_retention());
  ASSERT_TRUE(first.ok()) << render_text(first);
  ASSERT_EQ(first.copy[0].runs.size(), 1U) << render_text(first);
  EXPECT_EQ(first.copy[0].runs[0].run_id, "run-3");
  ASSERT_EQ(first.copy[0].skipped.size(), 2U);
  EXPECT_EQ(first.copy[0].skipped[0].run_id, "run-1");  // oldest first
  EXPECT_NE(first.copy[0].skipped[0].reason.find("retention"), std::string::npos)
      << first.copy[0].skipped[0].reason;
  dr_.settle();
  for (int i = 0; i < 2; ++i) {
    auto again = copy(with_retention());
    ASSERT_TRUE(again.ok()) << render_text(again);
    EXPECT_TRUE(again.copy[0].runs.empty()) << render_text(again);
    EXPECT_EQ(again.copy[0].already_copied, 1);
  }
  EXPECT_EQ(dr_.call_count("CopySnapshot"), 2);  // run-3's, once
  const auto left = copies();
  ASSERT_EQ(left.size(), 2U);
  for (const auto& id : r3) EXPECT_EQ(left.count(id), 1U);

  // A run partly there is finished all the same (prune keeps a half-copied run until it is).
  auto source = f_.ec2.snapshot(ec2::SnapshotId{r1[0]}).value();
  source.id = {};
  source.tags = copy_tags("db", {.run_id = "run-1", .consistency = "frozen", .copies = {{}, {}}},
                          f_.ec2.snapshot(ec2::SnapshotId{r1[0]}).value(), k_home);
  dr_.add_snapshot(source);
  auto finish = copy(CopyOptions{.retention = not_kept_by});
  ASSERT_TRUE(finish.ok()) << render_text(finish);
  ASSERT_EQ(finish.copy[0].runs.size(), 1U) << render_text(finish);
  EXPECT_EQ(finish.copy[0].runs[0].run_id, "run-1");
  EXPECT_EQ(copies().count(r1[1]), 1U);
}

// An older run that was pending when newer ones were copied is copied later when the
// destination's retention keeps it.
TEST_F(CopyTest, AnOlderRunTheDestinationsRetentionKeepsIsCopiedAfterNewerOnes) {
  f_.config.groups[0].copy_to[0].retention = RetentionPolicy{.keep_last = 2, .min_age = 1h};
  add_run("run-1", 30h);
  const auto r2 = add_run("run-2", 20h, ec2::SnapshotState::Pending);
  add_run("run-3", 10h);
  auto first = copy(with_retention());
  ASSERT_TRUE(first.ok()) << render_text(first);
  ASSERT_EQ(first.copy[0].runs.size(), 2U) << render_text(first);  // run-1 and run-3: the two newest there
  f_.ec2.settle();
  auto later = copy(with_retention());
  ASSERT_TRUE(later.ok()) << render_text(later);
  ASSERT_EQ(later.copy[0].runs.size(), 1U) << render_text(later);
  EXPECT_EQ(later.copy[0].runs[0].run_id, "run-2");
  for (const auto& id : r2) EXPECT_EQ(copies().count(id), 1U);
}

TEST_F(CopyTest, DestinationsComeFromCopyToOrToRegionAndNeverTheRunsRegion) {
  auto& g = f_.config.groups[0];
  EXPECT_EQ(copy_destinations(g, k_home, std::nullopt).value().size(), 1U);
  EXPECT_EQ(copy_destinations(g, k_home, std::string("eu-west-1")).value()[0].region, "eu-west-1");
  // After a fail-over the same configuration runs in the destination: nothing to copy there.
  EXPECT_TRUE(copy_destinations(g, k_dr, std::nullopt).value().empty());
  const auto same = copy_destinations(g, k_dr, std::string(k_dr));
  ASSERT_FALSE(same);
  EXPECT_NE(same.error().find("the region this run is in"), std::string::npos);
  g.volumes[0].encrypted = true;
  const auto keyless = copy_destinations(g, k_home, std::string("eu-west-1"));
  ASSERT_FALSE(keyless);
  EXPECT_NE(keyless.error().find("kms_key_id"), std::string::npos);
  g.copy_to.clear();
  EXPECT_FALSE(copy_destinations(g, k_home, std::nullopt));
}

// --- the planner, restore points and prune in a copy's region ---

ec2::Snapshot snap(std::string id, std::string mount_point, std::string run, ec2::TimePoint start,
                       std::vector<ec2::Tag> extra = {}) {
  ec2::Snapshot s{.id = ec2::SnapshotId{std::move(id)}, .state = ec2::SnapshotState::Completed, .start_time = start};
  s.tags = {{"role", "db"},
            {std::string(k_tag_group), "db"},
            {std::string(k_tag_mount_point), std::move(mount_point)},
            {std::string(k_tag_run_id), std::move(run)}};
  for (auto& t : extra) s.tags.push_back(std::move(t));
  return s;
}

std::vector<ec2::Tag> copy_of(const std::string& source, ec2::TimePoint source_time, int run_size = 1) {
  return {{std::string(k_tag_source_snapshot), source},
          {std::string(k_tag_source_region), std::string(k_home)},
          {std::string(k_tag_source_time), ec2::format_iso8601(source_time)},
          {std::string(k_tag_run_size), std::to_string(run_size)}};
}

const FilterValues k_filters{{"role", "db"}};
const std::vector<std::string> k_one{"/a"};
const ec2::TimePoint k_t0 = ec2::TimePoint{} + std::chrono::hours(24 * 365 * 56);

TEST(CopyRestorePoints, ACopysTimeIsItsSourcesSoABacklogCopiedNewestFirstRestoresTheNewest) {
  // Copied in one second, newest source first: StartTimes say the opposite of the sources.
  const std::vector<ec2::Snapshot> there = {
      snap("snap-c3", "/a", "run-3", k_t0 + 1s, copy_of("snap-3", k_t0 - 1h)),
      snap("snap-c2", "/a", "run-2", k_t0 + 1s + 100ms, copy_of("snap-2", k_t0 - 2h)),
      snap("snap-c1", "/a", "run-1", k_t0 + 1s + 200ms, copy_of("snap-1", k_t0 - 3h)),
  };
  const auto h = restore_points({.snapshots = there, .group = "db", .filters = k_filters, .mount_points = k_one});
  ASSERT_EQ(h.points.size(), 3U);
  EXPECT_EQ(h.points[0].run_id, "run-3");
  EXPECT_EQ(h.points[0].time, k_t0 - 1h);
  const auto as_of = choose_restore_point(h, {.as_of = k_t0 - 90min});
  ASSERT_TRUE(as_of.point);
  EXPECT_EQ(h.points[*as_of.point].run_id, "run-2");
}

TEST(CopyRestorePoints, AHalfCopiedRunIsNoRestorePointEvenForAMountPointThatJoinedLater) {
  // run-1 of a two-volume group: only /a's copy is there yet; /b has no history there at all.
  const std::vector<std::string> two{"/a", "/b"};
  const std::vector<ec2::Snapshot> there = {
      snap("snap-c1", "/a", "run-1", k_t0, copy_of("snap-1", k_t0 - 1h, 2)),
  };
  const auto h = restore_points({.snapshots = there, .group = "db", .filters = k_filters, .mount_points = two});
  ASSERT_EQ(h.points.size(), 1U);
  EXPECT_FALSE(h.points[0].complete());
  EXPECT_NE(h.points[0].problem().find("half-copied: 1 of its 2"), std::string::npos) << h.points[0].problem();
  const auto choice = choose_restore_point(h, {});
  EXPECT_FALSE(choice.point);
  EXPECT_TRUE(choice.refusal);
}

TEST(CopyPrunePlan, AHalfCopiedRunIsKeptAndRunsAreAgedByTheirSourcesTime) {
  const std::vector<ec2::Snapshot> there = {
      // run-1: complete copy of a 30 h old source, copied just now.
      snap("snap-c1", "/a", "run-1", k_t0, copy_of("snap-1", k_t0 - 30h)),
      // run-2: complete, 20 h old source.
      snap("snap-c2", "/a", "run-2", k_t0, copy_of("snap-2", k_t0 - 20h)),
      // run-3: half-copied (its source run had two snapshots), the newest.
      snap("snap-c3", "/a", "run-3", k_t0, copy_of("snap-3", k_t0 - 10h, 2)),
  };
  const RetentionPolicy policy{.keep_last = 1, .min_age = 1h};
  const auto plan = plan_prune({.snapshots = there, .owner = {.group = "db", .filters = k_filters}, .policy = policy,
                                .now = k_t0});
  std::map<std::string, const PlannedRun*> runs;
  for (const auto& r : plan.runs) runs[r.run_id] = &r;
  ASSERT_EQ(runs.size(), 3U);
  EXPECT_EQ(runs["run-1"]->time, k_t0 - 30h);
  EXPECT_EQ(runs["run-3"]->verdict, RunVerdict::Keep);
  EXPECT_TRUE(runs["run-3"]->reasons.has(PruneReason::HalfCopied));
  // keep_last counts complete runs only: run-2 is the one kept, run-1 goes (not min_age: its
  // source is 30 h old although the copy was made now).
  EXPECT_EQ(runs["run-2"]->verdict, RunVerdict::Keep);
  EXPECT_EQ(runs["run-1"]->verdict, RunVerdict::Delete);
}

TEST(CopyPlan, CopiesFromTheDestinationAreNotCopiedBackAndExistingCopiesAreFollowed) {
  const std::vector<ec2::Snapshot> here = {
      snap("snap-1", "/a", "run-1", k_t0 - 3h),
      snap("snap-2", "/a", "run-2", k_t0 - 2h, copy_of("snap-x", k_t0 - 2h)),  // a copy from us-east-1
      snap("snap-3", "/a", "run-3", k_t0 - 1h),
      snap("snap-4", "/a", "run-4", k_t0 - 30min),
  };
  auto pending = snap("snap-c3", "/a", "run-3", k_t0, copy_of("snap-3", k_t0 - 1h));
  pending.state = ec2::SnapshotState::Pending;
  const std::vector<ec2::Snapshot> there = {snap("snap-c1", "/a", "run-1", k_t0, copy_of("snap-1", k_t0 - 3h)),
                                            pending};
  const auto plan = plan_copy({.source = here,
                               .destination = there,
                               .group = "db",
                               .filters = k_filters,
                               .mount_points = k_one,
                               .destination_region = k_home});
  EXPECT_EQ(plan.already_copied, 1U);
  ASSERT_EQ(plan.runs.size(), 2U);
  EXPECT_EQ(plan.runs[0].run_id, "run-3");
  EXPECT_EQ(plan.runs[0].copies[0].step, CopyStep::InFlight);
  EXPECT_EQ(plan.runs[1].run_id, "run-4");
  EXPECT_EQ(plan.runs[1].copies[0].step, CopyStep::ToCopy);
  ASSERT_EQ(plan.skipped.size(), 1U);
  EXPECT_EQ(plan.skipped[0].run_id, "run-2");
}

}  // namespace
}  // namespace agent
