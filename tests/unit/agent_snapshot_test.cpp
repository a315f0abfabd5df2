#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "agent/commands/snapshot.h"
#include "agent/core/snapshot_record.h"
#include "platform/freeze_state.h"
#include "ec2/testing/manual_clock.h"
#include "tests/unit/agent_snapshot_fixture.h"

namespace agent {
namespace {

using testing::SnapshotMachine;

const VolumeReport& volume(const RunReport& r, const std::string& mount_point) {
  for (const auto& g : r.groups) {
    for (const auto& v : g.volumes) {
      if (v.mount_point == mount_point) return v;
    }
  }
  throw std::runtime_error("no result for " + mount_point);
}

// The snapshot a volume's report names, as EC2 has it now.
std::optional<ec2::Snapshot> snapshot_of(const SnapshotMachine& m, const VolumeReport& v) {
  if (!v.snapshot_id) return std::nullopt;
  return m.ec2.snapshot(ec2::SnapshotId{*v.snapshot_id});
}

std::optional<std::string> tag(const std::optional<ec2::Snapshot>& s, std::string_view key) {
  if (!s) return std::nullopt;
  return ec2::find_tag(s->tags, key);
}

std::vector<std::filesystem::path> run_records(const SnapshotMachine& m) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(m.run_dir.path())) {
    if (e.path().filename().string().starts_with("snapshot-")) out.push_back(e.path());
  }
  return out;
}

TEST(Snapshot, OrderHooksSyncGuardianFreezeOneCallThawPostHooks) {
  SnapshotMachine m;
  auto r = m.snapshot();
  ASSERT_TRUE(r.ok()) << render_text(r) << m.log.dump();
  const auto& log = m.log;
  const int pre_group = log.index("hook pre_snapshots");
  const int pre_a = log.index("hook pre_snapshot /mnt/a");
  const int sync_a = log.index("syncfs /mnt/a");
  const int sync_b = log.index("syncfs /mnt/b");
  const int guardian = log.index("guardian start", true);
  const int freeze_a = log.index("freeze /mnt/a");
  const int freeze_b = log.index("freeze /mnt/b");
  const int call = log.index("ec2 CreateSnapshots");
  const int thaw_a = log.index("thaw /mnt/a");
  const int thaw_b = log.index("thaw /mnt/b");
  const int finish = log.index("guardian finish");
  const int post = log.index("hook post_snapshots");
  ASSERT_GE(pre_group, 0) << log.dump();
  EXPECT_LT(pre_group, pre_a);
  EXPECT_LT(pre_a, sync_a);
  // syncfs outside the window: every syncfs before the guardian and the first freeze.
  EXPECT_LT(std::max(sync_a, sync_b), guardian) << log.dump();
  EXPECT_LT(guardian, std::min(freeze_a, freeze_b)) << log.dump();
  EXPECT_LT(std::max(freeze_a, freeze_b), call) << log.dump();
  // Thaw right after the response: nothing in between but the thaws (reverse order).
  EXPECT_EQ(thaw_b, call + 1) << log.dump();
  EXPECT_EQ(thaw_a, call + 2) << log.dump();
  EXPECT_LT(thaw_a, finish);
  EXPECT_LT(finish, post);
  EXPECT_EQ(m.ec2.call_count("CreateSnapshots"), 1);
  EXPECT_EQ(m.ec2.call_count("CreateSnapshot"), 0);
  EXPECT_EQ(m.guardians.bound, std::chrono::milliseconds(7000));
  // Nothing tagged by CreateTags while frozen.
  const int first_tags = log.index("ec2 CreateTags");
  if (first_tags >= 0) {
    EXPECT_GT(first_tags, thaw_a);
  }
  EXPECT_TRUE(m.freeze_ops.frozen().empty());
  EXPECT_TRUE(run_records(m).empty()) << "the run record is removed once the tags are final";

  for (const auto* mp : {"/mnt/a", "/mnt/b"}) {
    const auto& v = volume(r, mp);
    EXPECT_EQ(v.outcome, Outcome::Snapshotted);
    EXPECT_EQ(v.consistency, "frozen");
    ASSERT_TRUE(v.freeze_ms.has_value());
    ASSERT_TRUE(v.snapshot_id.has_value());
    auto snap = snapshot_of(m, v);
    EXPECT_EQ(snap->volume_id, m.volume_of[mp]);
    EXPECT_EQ(tag(snap, k_tag_mount_point), mp);
    EXPECT_EQ(tag(snap, k_tag_volume_id), m.volume_of[mp].value);
    EXPECT_EQ(tag(snap, k_tag_consistency), "frozen");
    EXPECT_EQ(tag(snap, k_tag_run_id), "run-1");
    EXPECT_EQ(tag(snap, "role"), "search");
    EXPECT_EQ(tag(snap, "team"), "search");
    EXPECT_EQ(tag(snap, k_tag_name), std::string("ebsnap solr ") + mp);
  }
  ASSERT_TRUE(r.groups[0].freeze_window_ms.has_value());
  EXPECT_GE(*r.groups[0].freeze_window_ms, *volume(r, "/mnt/a").freeze_ms);
  const auto json = to_json(r);
  EXPECT_TRUE(json["groups"][0]["freeze_window_ms"].is_number());
  EXPECT_TRUE(json["groups"][0]["volumes"][0]["freeze_ms"].is_number());
  // Issue 17: nothing stays open on the mount points once the window is closed (a shutdown
  // unmounts next in the same process; a watch runs on).
  EXPECT_GT(log.index("release of the freeze ops"), log.last_index("guardian finish")) << log.dump();
}

TEST(Snapshot, CreateSnapshotsExcludesBootAndEveryOtherAttachedVolume) {
  SnapshotMachine m;
  auto r = m.snapshot();
  ASSERT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(m.api.create_snapshots_calls.size(), 1U);
  const auto& o = m.api.create_snapshots_calls.front();
  EXPECT_EQ(o.instance_id, m.instance.instance_id);
  EXPECT_TRUE(o.instance_specification.exclude_boot_volume);
  EXPECT_EQ(o.instance_specification.exclude_data_volume_ids, std::vector<ec2::VolumeId>{m.foreign});
  EXPECT_EQ(o.copy_tags_from_source, "volume");
  // Only common tags in the specification: per-volume ones would be wrong on the other snapshot.
  ASSERT_EQ(o.tag_specifications.size(), 1U);
  const auto& spec = o.tag_specifications.front().tags;
  EXPECT_FALSE(ec2::find_tag(spec, k_tag_mount_point));
  EXPECT_FALSE(ec2::find_tag(spec, k_tag_volume_id));
  EXPECT_EQ(ec2::find_tag(spec, k_tag_consistency), "frozen");
  EXPECT_EQ(ec2::find_tag(spec, k_tag_run_id), "run-1");
  // EC2 made exactly the group's two snapshots.
  EXPECT_EQ(m.ec2.snapshots().size(), 2U);
}

TEST(Snapshot, FailingCallThawsFirstThenReports) {
  SnapshotMachine m;
  m.ec2.fail_next("CreateSnapshots", ec2::Error{.message = "An internal error has occurred.",
                                                .aws_code = "InternalError", .http_status = 500});
  auto r = m.snapshot();
  EXPECT_FALSE(r.ok());
  const int call = m.log.index("ec2 CreateSnapshots");
  EXPECT_EQ(m.log.index("thaw /mnt/b"), call + 1) << m.log.dump();
  EXPECT_EQ(m.log.index("thaw /mnt/a"), call + 2) << m.log.dump();
  EXPECT_TRUE(m.freeze_ops.frozen().empty());
  EXPECT_EQ(m.ec2.call_count("CreateSnapshots"), 1) << "never resent inside the window by us";
  EXPECT_EQ(volume(r, "/mnt/a").outcome, Outcome::Failed);
  EXPECT_NE(volume(r, "/mnt/a").reason.value_or("").find("InternalError"), std::string::npos) << volume(r, "/mnt/a").reason.value_or("");
  EXPECT_GE(m.log.index("hook on_failure"), 0);
  EXPECT_GT(m.log.index("hook post_snapshots"), m.log.index("thaw /mnt/a"));
  EXPECT_TRUE(run_records(m).empty()) << "a definite failure created nothing: no record to keep";
}

TEST(Snapshot, RateExceededIsReportedClearlyAndNotRetried) {
  SnapshotMachine m;
  m.ec2.fail_next("CreateSnapshots",
                  ec2::Error{.message = "The maximum per volume CreateSnapshot request rate has been exceeded.",
                             .aws_code = "SnapshotCreationPerVolumeRateExceeded", .http_status = 400});
  auto r = m.snapshot();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(m.ec2.call_count("CreateSnapshots"), 1);
  const auto reason = volume(r, "/mnt/b").reason.value_or("");
  EXPECT_NE(reason.find("SnapshotCreationPerVolumeRateExceeded"), std::string::npos) << reason;
  EXPECT_NE(reason.find("not retried while frozen"), std::string::npos) << reason;
  EXPECT_TRUE(m.freeze_ops.frozen().empty());
}

TEST(Snapshot, LostResponseIsReconciledByRunTagAfterTheThaw) {
  SnapshotMachine m;
  m.ec2.lose_next_response("CreateSnapshots");
  auto r = m.snapshot();
  ASSERT_TRUE(r.ok()) << render_text(r) << m.log.dump();
  EXPECT_EQ(m.ec2.call_count("CreateSnapshots"), 1) << "a lost answer is reconciled, never resent";
  const int call = m.log.index("ec2 CreateSnapshots");
  EXPECT_EQ(m.log.index("thaw /mnt/b"), call + 1) << m.log.dump();
  EXPECT_GT(m.log.last_index("ec2 DescribeSnapshots"), m.log.index("thaw /mnt/a")) << m.log.dump();
  EXPECT_EQ(m.ec2.snapshots().size(), 2U);
  for (const auto* mp : {"/mnt/a", "/mnt/b"}) {
    const auto& v = volume(r, mp);
    EXPECT_EQ(v.outcome, Outcome::Snapshotted);
    ASSERT_TRUE(v.snapshot_id);
    EXPECT_EQ(snapshot_of(m, v)->volume_id, m.volume_of[mp]);
    // Not proven to be taken while frozen: say so.
    EXPECT_EQ(v.consistency, "watchdog-thawed");
    EXPECT_EQ(tag(snapshot_of(m, v), k_tag_consistency), "watchdog-thawed");
  }
  EXPECT_TRUE(run_records(m).empty());
}

// Whoever may CreateTags can copy the run's tag onto any snapshot: the search after a lost
// answer takes only what the run provably made, and deletes nothing.
TEST(Snapshot, LostResponseTakesOnlyWhatTheRunTagCannotHaveBeenCopiedOnto) {
  SnapshotMachine m;
  const auto tagged = [&](ec2::VolumeId volume) {
    ec2::Snapshot s{.volume_id = std::move(volume)};
    s.tags = {{std::string(k_tag_run_id), "run-1"}, {std::string(k_tag_group), "solr"}};
    return m.ec2.add_snapshot(s);
  };
  const auto stray = tagged(m.foreign);                  // not a volume of the run
  m.clock.advance(std::chrono::hours(1));
  m.ec2.lose_next_response("CreateSnapshots");
  auto r = m.snapshot();
  ASSERT_TRUE(r.ok()) << render_text(r) << m.log.dump();
  EXPECT_EQ(m.ec2.call_count("DeleteSnapshot"), 0);
  ASSERT_EQ(m.ec2.snapshots().size(), 3U) << "the stray is still there";
  for (const auto& s : m.ec2.snapshots()) {
    if (s.id != stray) continue;
    EXPECT_FALSE(ec2::find_tag(s.tags, k_tag_consistency)) << "not retagged either";
  }
}

TEST(Snapshot, LostResponseWithNothingVisibleKeepsTheRecordForALaterRun) {
  SnapshotMachine m;
  // The connection drops and EC2 did not apply it (yet): nothing to find.
  m.ec2.fail_next("CreateSnapshots", ec2::Error{.kind = ec2::ErrorKind::Network, .message = "reset",
                                                .maybe_applied = true});
  auto r = m.snapshot();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(m.freeze_ops.frozen().empty());
  EXPECT_NE(volume(r, "/mnt/a").reason.value_or("").find("later ebsnap run reconciles"), std::string::npos) << volume(r, "/mnt/a").reason.value_or("");
  EXPECT_EQ(run_records(m).size(), 1U);
}

TEST(Snapshot, GuardianTimeoutBeforeTheResponseRetagsWatchdogThawedAfterTheThaw) {
  SnapshotMachine m;
  m.on_ec2_call = [&](std::string_view action) {
    if (action == "CreateSnapshots") m.guardians.time_out();  // the bound passes while the call is in flight
  };
  auto r = m.snapshot();
  ASSERT_TRUE(r.ok()) << render_text(r) << m.log.dump();
  EXPECT_EQ(r.groups[0].guardian_trigger, "timeout");
  const int last_thaw = std::max(m.log.index("thaw /mnt/a"), m.log.index("thaw /mnt/b"));
  const int retag = m.log.index("ec2 CreateTags");
  ASSERT_GE(retag, 0) << m.log.dump();
  EXPECT_GT(retag, last_thaw) << m.log.dump();
  for (const auto* mp : {"/mnt/a", "/mnt/b"}) {
    const auto& v = volume(r, mp);
    EXPECT_EQ(v.consistency, "watchdog-thawed");
    EXPECT_EQ(tag(snapshot_of(m, v), k_tag_consistency), "watchdog-thawed");
  }
  EXPECT_TRUE(run_records(m).empty());
}

// The guardian's bound passed before the call was made: the filesystems are thawed already, so
// no snapshot is made of them at all, let alone tagged "frozen".
TEST(Snapshot, BoundPassedBeforeTheCallThawsAndFailsAtOnce) {
  SnapshotMachine m;
  m.guardians.bound_passes_while_freezing = true;
  auto r = m.snapshot();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(m.ec2.call_count("CreateSnapshots"), 0) << m.log.dump();
  EXPECT_TRUE(m.ec2.snapshots().empty());
  EXPECT_TRUE(m.freeze_ops.frozen().empty());
  for (const auto* mp : {"/mnt/a", "/mnt/b"}) {
    EXPECT_EQ(volume(r, mp).outcome, Outcome::Failed);
    EXPECT_NE(volume(r, mp).reason.value_or("").find("passed before CreateSnapshots was sent"), std::string::npos)
        << volume(r, mp).reason.value_or("");
  }
  EXPECT_TRUE(run_records(m).empty());
}

TEST(Snapshot, RootIsSnapshottedUnfrozenAndTaggedSo) {
  SnapshotMachine m;
  GroupConfig g{.name = "system"};
  g.volumes.push_back({.device = "/dev/xvda", .mount_point = "/", .size_gib = 8});
  g.volumes.push_back({.device = "/dev/sdf", .mount_point = "/mnt/a", .size_gib = 10});
  m.config.groups.push_back(g);
  m.ec2.create_tags({.resource_ids = {m.root_volume.value}, .tags = {{std::string(k_tag_mount_point), "/"}}}).value();
  auto r = m.snapshot({"system"});
  ASSERT_TRUE(r.ok()) << render_text(r) << m.log.dump();
  EXPECT_EQ(m.log.index("freeze /"), -1) << "/ is never frozen";
  EXPECT_GE(m.log.index("freeze /mnt/a"), 0);
  EXPECT_EQ(m.log.index("guardian start /mnt/a"), m.log.index("guardian start", true));
  const auto& root = volume(r, "/");
  EXPECT_EQ(root.consistency, "unfrozen");
  EXPECT_FALSE(root.freeze_ms);
  EXPECT_EQ(tag(snapshot_of(m, root), k_tag_consistency), "unfrozen");
  EXPECT_EQ(snapshot_of(m, root)->volume_id, m.root_volume);
  const auto& a = volume(r, "/mnt/a");
  EXPECT_EQ(a.consistency, "frozen");
  EXPECT_EQ(tag(snapshot_of(m, a), k_tag_consistency), "frozen");
}

TEST(Snapshot, FreezeFalseGroupIsNeverFrozen) {
  SnapshotMachine m;
  m.config.groups.front().freeze = false;
  auto r = m.snapshot();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(m.log.index("guardian start", true), -1);
  EXPECT_EQ(m.log.index("freeze", true), -1);
  EXPECT_EQ(m.ec2.call_count("CreateSnapshots"), 1);
  EXPECT_EQ(volume(r, "/mnt/a").consistency, "unfrozen");
  EXPECT_EQ(tag(snapshot_of(m, volume(r, "/mnt/b")), k_tag_consistency), "unfrozen");
}

TEST(Snapshot, PreHookFailureStopsTheGroupWithNothingFrozen) {
  SnapshotMachine m;
  m.failing_hooks[HookPhase::PreSnapshot] = "exited with status 3";
  auto r = m.snapshot();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(m.log.index("syncfs", true), -1);
  EXPECT_EQ(m.log.index("guardian start", true), -1);
  EXPECT_EQ(m.log.index("freeze", true), -1);
  EXPECT_EQ(m.ec2.call_count("CreateSnapshots") + m.ec2.call_count("CreateSnapshot"), 0);
  EXPECT_EQ(volume(r, "/mnt/a").outcome, Outcome::Skipped);
  EXPECT_NE(r.groups[0].error->find("exited with status 3"), std::string::npos);
  EXPECT_GE(m.log.index("hook post_snapshots"), 0) << "post hooks always run";
  EXPECT_GE(m.log.index("hook on_failure"), 0);
}

TEST(Snapshot, GuardianThatCannotStartMeansNoFreeze) {
  SnapshotMachine m;
  m.guardians.fail_start = true;
  auto r = m.snapshot();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(m.log.index("freeze", true), -1);
  EXPECT_EQ(m.ec2.call_count("CreateSnapshots"), 0);
  EXPECT_TRUE(run_records(m).empty());
}

TEST(Snapshot, VolumeNotMountedFailsAloneAndTheOtherIsSnapshotted) {
  SnapshotMachine m;
  (void)m.mounter.unmount("/mnt/b");
  auto r = m.snapshot();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(volume(r, "/mnt/b").outcome, Outcome::Failed);
  EXPECT_NE(volume(r, "/mnt/b").reason.value_or("").find("not mounted"), std::string::npos);
  EXPECT_EQ(volume(r, "/mnt/a").outcome, Outcome::Snapshotted);
  EXPECT_EQ(m.log.index("freeze /mnt/b"), -1);
}

TEST(Snapshot, DryRunPlansWithoutHooksFreezeOrSnapshots) {
  SnapshotMachine m;
  auto r = m.snapshot({"solr"}, /*dry_run=*/true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(volume(r, "/mnt/a").outcome, Outcome::Planned);
  EXPECT_EQ(m.log.index("hook", true), -1);
  EXPECT_EQ(m.log.index("freeze", true), -1);
  EXPECT_TRUE(m.ec2.snapshots().empty());
  ASSERT_EQ(m.api.create_snapshots_calls.size(), 1U);
  EXPECT_TRUE(m.api.create_snapshots_calls.front().dry_run);
}

TEST(Snapshot, DryRunPlanIsWhatTheRealRunDoes) {
  SnapshotMachine m;
  m.config.groups.front().volumes.push_back({.device = "/dev/xvda", .mount_point = "/", .size_gib = 8});
  m.ec2.create_tags({.resource_ids = {m.root_volume.value}, .tags = {{std::string(k_tag_mount_point), "/"}}}).value();
  const auto planned = m.snapshot({"solr"}, /*dry_run=*/true);
  ASSERT_TRUE(planned.ok()) << render_text(planned);
  const auto done = m.snapshot();
  ASSERT_TRUE(done.ok()) << render_text(done) << m.log.dump();
  for (const auto* mp : {"/mnt/a", "/mnt/b", "/"}) {
    EXPECT_FALSE(volume(planned, mp).plan.empty()) << mp;
    EXPECT_EQ(volume(planned, mp).plan, volume(done, mp).steps) << mp;
  }
  EXPECT_EQ(volume(done, "/mnt/a").steps,
            (std::vector<std::string>{"freeze /mnt/a", "CreateSnapshots", "thaw /mnt/a"}));
  EXPECT_EQ(volume(done, "/").steps, std::vector<std::string>{"CreateSnapshot " + m.root_volume.value});
  EXPECT_EQ(planned.groups[0].ec2_calls, done.groups[0].ec2_calls);
}

// The one hook protocol: a post-hook that fails fails the run (as for mount and unmount), once
// the snapshots exist; on_failure is for the snapshot's own failure, so it does not run.
TEST(Snapshot, FailingPostHookFailsTheRunButKeepsTheSnapshots) {
  SnapshotMachine m;
  m.failing_hooks[HookPhase::PostSnapshots] = "exited with status 4";
  auto r = m.snapshot();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(volume(r, "/mnt/a").outcome, Outcome::Snapshotted);
  ASSERT_TRUE(r.groups[0].error);
  EXPECT_NE(r.groups[0].error->find("post_snapshots"), std::string::npos) << *r.groups[0].error;
  EXPECT_EQ(m.log.index("hook on_failure"), -1) << m.log.dump();
  EXPECT_EQ(m.ec2.snapshots().size(), 2U);
}

// Issue 15: on_success runs once for a group that ended ok, last (after its post-hooks and its
// prune), with the report on its stdin exactly as --json prints it at that point.
TEST(SnapshotOnSuccess, RunsLastWithTheReportOnItsStdin) {
  SnapshotMachine m;
  m.config.groups.front().retention = RetentionPolicy{.prune_after_snapshot = true};
  auto r = m.snapshot({"solr"}, false, [&m](const RunContext&, const GroupConfig& g, RunReport& report) {
    m.log.add("prune " + g.name);
    report.prune.push_back(PruneReport{.group = g.name});
  });
  ASSERT_TRUE(r.ok()) << render_text(r) << m.log.dump();
  EXPECT_GT(m.log.index("hook on_success"), m.log.index("prune solr")) << m.log.dump();
  EXPECT_GT(m.log.index("prune solr"), m.log.index("hook post_snapshots")) << m.log.dump();
  const auto calls = m.hooks.calls_of(HookPhase::OnSuccess);
  ASSERT_EQ(calls.size(), 1U);
  EXPECT_EQ(calls[0].context.group, "solr");
  EXPECT_EQ(calls[0].context.ok, true);
  ASSERT_TRUE(calls[0].context.report_json);
  const auto seen = nlohmann::ordered_json::parse(*calls[0].context.report_json);
  EXPECT_EQ(seen, to_json(r));
  EXPECT_EQ(seen["command"], "snapshot");
  EXPECT_EQ(seen["groups"][0]["volumes"][0]["snapshot_id"], *volume(r, "/mnt/a").snapshot_id);
  EXPECT_EQ(seen["prune"][0]["group"], "solr");
}

TEST(SnapshotOnSuccess, RunsForTheGroupThatEndedOkOnlyAndNeverUnderDryRun) {
  SnapshotMachine m;
  GroupConfig ghost{.name = "ghost"};
  ghost.volumes.push_back({.device = "/dev/sdi", .mount_point = "/mnt/c", .size_gib = 10});  // no volume of ours
  m.config.groups.push_back(ghost);
  const auto planned = m.snapshot({"solr"}, true);
  ASSERT_TRUE(planned.ok()) << render_text(planned);
  EXPECT_TRUE(m.hooks.calls_of(HookPhase::OnSuccess).empty()) << "--dry-run runs no hook";
  auto r = m.snapshot({"solr", "ghost"});
  ASSERT_EQ(volume(r, "/mnt/c").outcome, Outcome::Failed) << render_text(r);
  ASSERT_EQ(volume(r, "/mnt/a").outcome, Outcome::Snapshotted) << render_text(r);
  const auto calls = m.hooks.calls_of(HookPhase::OnSuccess);
  ASSERT_EQ(calls.size(), 1U);
  EXPECT_EQ(calls[0].context.group, "solr");
  EXPECT_EQ(m.hooks.calls_of(HookPhase::OnFailure).size(), 1U);
  EXPECT_EQ(m.hooks.calls_of(HookPhase::OnFailure)[0].context.group, "ghost");
}

// A failing on_success is the group's warning: the snapshots were taken, the run is ok.
TEST(SnapshotOnSuccess, AFailingHookIsAWarningNotAFailure) {
  SnapshotMachine m;
  m.failing_hooks[HookPhase::OnSuccess] = "exited with status 1";
  auto r = m.snapshot();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(r.groups[0].warnings, std::vector<std::string>{"hook on_success /etc/ebsnap/hooks/x: exited with status 1"});
  EXPECT_EQ(to_json(r)["groups"][0]["warnings"][0], r.groups[0].warnings[0]);
  EXPECT_NE(render_text(r).find("warning: hook on_success"), std::string::npos) << render_text(r);
}

// Issue 11: FIFREEZE said EBUSY (someone else's freeze). The volume used to be snapshotted and
// tagged "frozen" although this run froze nothing; now it is not snapshotted, and another
// tool's freeze is left alone.
TEST(Snapshot, AFilesystemFrozenByAnotherToolIsLeftAloneAndNotSnapshotted) {
  SnapshotMachine m;
  ASSERT_TRUE(m.freeze_ops.freeze("/mnt/a"));  // another tool's freeze
  auto r = m.snapshot();
  EXPECT_FALSE(r.ok());
  const auto& a = volume(r, "/mnt/a");
  EXPECT_EQ(a.outcome, Outcome::Failed);
  EXPECT_NE(a.reason.value_or("").find("frozen by another process (not ebsnap): left frozen"), std::string::npos)
      << a.reason.value_or("");
  EXPECT_FALSE(a.snapshot_id);
  EXPECT_TRUE(m.freeze_ops.frozen().contains("/mnt/a")) << "never thawed by us";
  EXPECT_GE(m.log.index("guardian exclude /mnt/a"), 0) << m.log.dump();
  const auto& b = volume(r, "/mnt/b");
  EXPECT_EQ(b.outcome, Outcome::Snapshotted);
  EXPECT_EQ(b.consistency, "frozen");
  for (const auto& s : m.ec2.snapshots()) EXPECT_NE(s.volume_id, m.volume_of["/mnt/a"]) << "no snapshot of /mnt/a";
}

// An ebsnap and its guardian killed together (an OOM kill of the unit) leave a filesystem frozen
// for good: the next run thaws it, says so, and does not pretend to have frozen it.
TEST(Snapshot, AFreezeLeftByADeadEbsnapIsThawedAndTheVolumeFails) {
  SnapshotMachine m;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(platform::write_freeze_state(m.run_dir.path().string(), {"/mnt/a"}) ? 0 : 1);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_TRUE(m.freeze_ops.freeze("/mnt/a"));  // what the dead run left
  auto r = m.snapshot();
  EXPECT_FALSE(r.ok());
  const auto& a = volume(r, "/mnt/a");
  EXPECT_EQ(a.outcome, Outcome::Failed);
  EXPECT_NE(a.reason.value_or("").find("left frozen by ebsnap pid " + std::to_string(child) + ", which died: thawed it"),
            std::string::npos)
      << a.reason.value_or("");
  EXPECT_TRUE(m.freeze_ops.frozen().empty()) << "thawed";
  EXPECT_EQ(volume(r, "/mnt/b").outcome, Outcome::Snapshotted);
}

// A run SIGKILLed with the call in flight: EC2 created the snapshots tagged "frozen" from
// creation; the guardian thawed at once. The next run finds the record and retags them.
RunRecord dead_run_record(SnapshotMachine& m, const std::string& run_id) {
  // A pid that is surely gone: a child we reaped.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  RunRecord record{.run_id = run_id, .group = "solr", .instance_id = m.instance.instance_id.value,
                   .pid = child, .pid_start = 12345, .started_at = m.clock.now(),
                   .in_flight_until = m.clock.now() + std::chrono::minutes(5)};
  const auto& g = m.config.groups.front();
  for (const auto& vc : g.volumes) {
    record.volumes.push_back({.volume_id = m.volume_of[vc.mount_point], .mount_point = vc.mount_point,
                              .intended = Consistency::Frozen, .verdict = {},
                              .tags = snapshot_tags(g, m.filters, {g.name, vc.mount_point, vc.device},
                                                    m.instance.instance_id, m.volume_of[vc.mount_point],
                                                    Consistency::Frozen, run_id)});
  }
  EXPECT_TRUE(write_run_record(m.run_dir.path(), record));
  return record;
}

TEST(Snapshot, NextRunRetagsTheSnapshotsOfARunThatDied) {
  SnapshotMachine m;
  auto record = dead_run_record(m, "dead-run");
  // What EC2 made of the dead run's CreateSnapshots (tags as at creation: "frozen").
  for (const auto& v : record.volumes) {
    ec2::Snapshot s{.volume_id = v.volume_id, .state = ec2::SnapshotState::Pending};
    s.tags = v.tags;
    (void)m.ec2.add_snapshot(s);
  }
  auto r = m.snapshot();
  ASSERT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(r.reconciled.size(), 1U);
  EXPECT_EQ(r.reconciled[0].run_id, "dead-run");
  EXPECT_EQ(r.reconciled[0].retagged.size(), 2U);
  EXPECT_TRUE(r.reconciled[0].record_removed);
  // The report says so, in both renderings.
  const auto& report = r;
  EXPECT_NE(render_text(report).find("interrupted run dead-run of group"), std::string::npos) << render_text(report);
  EXPECT_NE(render_text(report).find("2 retagged watchdog-thawed, record removed"), std::string::npos);
  const auto doc = to_json(report);
  ASSERT_EQ(doc["reconciled"].size(), 1U);
  EXPECT_EQ(doc["reconciled"][0]["run_id"], "dead-run");
  EXPECT_EQ(doc["reconciled"][0]["retagged"].size(), 2U);
  EXPECT_EQ(doc["reconciled"][0]["record_removed"], true);
  EXPECT_TRUE(doc["reconciled"][0]["error"].is_null());
  int dead = 0;
  for (const auto& s : m.ec2.snapshots()) {
    if (ec2::find_tag(s.tags, k_tag_run_id) == "dead-run") {
      ++dead;
      EXPECT_EQ(ec2::find_tag(s.tags, k_tag_consistency), "watchdog-thawed");
    } else {
      EXPECT_EQ(ec2::find_tag(s.tags, k_tag_consistency), "frozen");
    }
  }
  EXPECT_EQ(dead, 2);
  // The reconciliation happened before this run froze anything.
  EXPECT_LT(m.log.index("ec2 CreateTags"), m.log.index("freeze", true)) << m.log.dump();
  EXPECT_TRUE(run_records(m).empty());
}

// The reconciliation deletes or retags only what it can prove the dead run made: the run id, a
// volume of its record, and a start inside the run. A copied tag proves nothing.
TEST(Snapshot, ReconcileLeavesAloneWhatTheRunTagCannotProve) {
  SnapshotMachine m;
  const auto earlier = m.clock.now() - std::chrono::hours(3);
  auto record = dead_run_record(m, "dead-run");
  std::vector<ec2::SnapshotId> real;
  for (const auto& v : record.volumes) {
    ec2::Snapshot s{.volume_id = v.volume_id, .state = ec2::SnapshotState::Pending};
    s.tags = v.tags;
    real.push_back(m.ec2.add_snapshot(s));
  }
  ec2::Snapshot other_volume{.volume_id = m.foreign};           // volume not in the record
  other_volume.tags = record.volumes.front().tags;
  const auto stray = m.ec2.add_snapshot(other_volume);
  ec2::Snapshot before_run{.volume_id = record.volumes.front().volume_id, .start_time = earlier};
  before_run.tags = record.volumes.front().tags;                 // started hours before the run
  const auto old = m.ec2.add_snapshot(before_run);

  auto r = reconcile_interrupted_snapshots(m.api, m.clock, m.run_dir.path());
  ASSERT_EQ(r.size(), 1U);
  EXPECT_EQ(r[0].found.size(), 2U);
  EXPECT_EQ(r[0].retagged.size(), 2U);
  EXPECT_TRUE(r[0].deleted.empty());
  EXPECT_EQ(r[0].left_alone, (std::vector<std::string>{stray.value, old.value}));
  EXPECT_TRUE(r[0].record_removed);
  EXPECT_EQ(m.ec2.call_count("DeleteSnapshot"), 0);
  for (const auto& s : m.ec2.snapshots()) {
    const bool ours = std::ranges::find(real, s.id) != real.end();
    EXPECT_EQ(tag(s, k_tag_consistency), ours ? "watchdog-thawed" : "frozen") << s.id.value;
  }
  RunReport report{.command = "snapshot"};
  report.reconciled = r;
  EXPECT_NE(render_text(report).find("2 left alone (tagged with the run id but not provably its own: " + stray.value),
            std::string::npos)
      << render_text(report);
  EXPECT_EQ(to_json(report)["reconciled"][0]["left_alone"].size(), 2U);
}

TEST(Snapshot, DeadRunWithNothingVisibleKeepsItsRecordUntilNoCallCanBeInFlight) {
  SnapshotMachine m;
  (void)dead_run_record(m, "dead-run");
  auto first = reconcile_interrupted_snapshots(m.api, m.clock, m.run_dir.path());
  ASSERT_EQ(first.size(), 1U);
  EXPECT_FALSE(first[0].record_removed);
  EXPECT_EQ(run_records(m).size(), 1U);
  m.clock.advance(std::chrono::minutes(6));
  auto second = reconcile_interrupted_snapshots(m.api, m.clock, m.run_dir.path());
  ASSERT_EQ(second.size(), 1U);
  EXPECT_TRUE(second[0].record_removed);
  EXPECT_TRUE(run_records(m).empty());
}

TEST(Snapshot, RecordOfALiveRunIsLeftAlone) {
  SnapshotMachine m;
  auto record = dead_run_record(m, "live-run");
  record.pid = static_cast<int>(::getppid());
  record.pid_start = process_start_time(record.pid);
  ASSERT_TRUE(write_run_record(m.run_dir.path(), record));
  EXPECT_TRUE(record_owner_alive(record));
  auto r = reconcile_interrupted_snapshots(m.api, m.clock, m.run_dir.path());
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(m.ec2.call_count("DescribeSnapshots"), 0);
}

TEST(Snapshot, RunIdsAreDistinctAndTimestamped) {
  ec2::ManualClock clock;
  ec2::SequenceRandom random{{0.01, 0.5, 0.99, 0.25, 0.7}};
  const auto a = make_run_id(clock, random);
  const auto b = make_run_id(clock, random);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), std::string("20270115T080000.000-0123abcd").size()) << a;
  // Issue 17: ids sort as they were made, to the millisecond (StartTime has whole seconds).
  clock.advance(std::chrono::milliseconds(7));
  const auto c = make_run_id(clock, random);
  EXPECT_EQ(c.substr(0, 19), a.substr(0, 15) + ".007") << a << " " << c;
  EXPECT_LT(a.substr(0, 19), c.substr(0, 19));
  EXPECT_LT(std::string("20270115T080000-ffffffff"), c) << "an id made before the milliseconds sorts first";
}

}  // namespace
}  // namespace agent
