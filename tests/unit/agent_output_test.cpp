#include <gtest/gtest.h>

#include <map>

#include "agent/report/report.h"
#include "agent/version.h"

namespace agent {
namespace {

using Json = nlohmann::ordered_json;

RunReport snapshot_report() {
  RunReport r{.command = "snapshot", .started_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'795'000'000'123)),
              .duration_ms = 812};
  r.groups.push_back(GroupReport{
      .name = "solr",
      .volumes = {VolumeReport{.mount_point = "/mnt/solr", .device = "/dev/sdf", .volume_id = "vol-1",
                               .snapshot_id = "snap-1", .outcome = Outcome::Snapshotted, .freeze_ms = 38,
                               .consistency = "frozen"},
                  VolumeReport{.mount_point = "/mnt/logs", .device = "/dev/sdg", .volume_id = "vol-2",
                               .snapshot_id = "snap-2", .outcome = Outcome::Snapshotted, .freeze_ms = 40,
                               .consistency = "frozen"}},
      .freeze_window_ms = 41});
  return r;
}

TEST(Output, JsonSchemaOneHasEveryKeyAlways) {
  const auto doc = to_json(snapshot_report());
  EXPECT_EQ(doc["schema"], 1);
  EXPECT_EQ(doc["ebsnap_version"], k_version);
  EXPECT_EQ(doc["command"], "snapshot");
  EXPECT_EQ(doc["ok"], true);
  EXPECT_TRUE(doc["error"].is_null());
  EXPECT_EQ(doc["started_at"], "2026-11-18T11:06:40.123Z");
  EXPECT_EQ(doc["duration_ms"], 812);
  EXPECT_EQ(doc["groups"][0]["freeze_window_ms"], 41);
  const auto& v = doc["groups"][0]["volumes"][0];
  for (const auto* key : {"mount_point", "device", "volume_id", "snapshot_id", "outcome", "reason", "freeze_ms",
                          "consistency", "duration_ms", "state", "size_gib", "latest_snapshot_id",
                          "latest_snapshot_time", "attached_as", "devnode", "filesystem", "formatted", "plan",
                          "warnings", "steps", "left_alone", "latest_snapshot_age_s", "prewarm_state",
                          "prewarm_percent", "prewarm_offset_bytes", "prewarm_from_bytes",
                          "prewarm_bytes_read", "prewarm_mibps", "delete_on_termination"}) {
    EXPECT_TRUE(v.contains(key)) << key;
  }
  EXPECT_EQ(v["outcome"], "snapshotted");
  EXPECT_EQ(v["freeze_ms"], 38);
  EXPECT_TRUE(v["state"].is_null());
  EXPECT_TRUE(v["formatted"].is_null());
  EXPECT_EQ(v["plan"], Json::array());
  EXPECT_EQ(v.value("left_alone", Json()), Json::array());
  EXPECT_TRUE(doc["thaw"].is_array());
  EXPECT_TRUE(doc["checks"].is_array());
  EXPECT_TRUE(doc["missing_actions"].is_array());
  EXPECT_EQ(doc["reconciled"], Json::array());
  EXPECT_EQ(doc["gc"], Json::array());
  EXPECT_EQ(doc["ec2_requests"], Json::object());
}

TEST(Output, Ec2RequestsAreCountedByAction) {
  auto r = snapshot_report();
  r.ec2_requests["CreateSnapshots"] = Ec2Requests{.requests = 2, .throttled = 1};
  EXPECT_EQ(to_json(r)["ec2_requests"], Json::parse(R"({"CreateSnapshots": {"requests": 2, "throttled": 1}})"));
}

TEST(Output, AReconciledRunIsShownAndNotFatal) {
  auto r = snapshot_report();
  r.reconciled.push_back(ReconcileReport{.run_id = "run-1", .group = "solr", .found = {"snap-a", "snap-b"},
                                         .retagged = {"snap-a"}, .record_removed = false,
                                         .error = "CreateTags: throttled", .note = "looking again on the next run"});
  EXPECT_TRUE(r.ok());
  const auto text = render_text(r);
  EXPECT_NE(text.find("interrupted run run-1 of group solr: 2 snapshot(s) found, 1 retagged watchdog-thawed, "
                      "record kept (looking again on the next run); error: CreateTags: throttled\n"),
            std::string::npos)
      << text;
  const auto doc = to_json(r);
  EXPECT_EQ(doc["reconciled"][0]["found"], (Json{"snap-a", "snap-b"}));
  EXPECT_EQ(doc["reconciled"][0]["deleted"], Json::array());
  EXPECT_EQ(doc["reconciled"][0]["error"], "CreateTags: throttled");
}

TEST(Output, RenderJsonIsOneDocument) {
  const auto text = render_json(snapshot_report());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(Json::parse(text), to_json(snapshot_report()));
}

TEST(Output, OkFollowsFailuresEverywhere) {
  auto r = snapshot_report();
  EXPECT_TRUE(r.ok());
  r.groups[0].volumes[1].outcome = Outcome::Failed;
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.groups[0].ok());
  EXPECT_EQ(to_json(r)["groups"][0]["ok"], false);

  r = snapshot_report();
  r.groups[0].error = "hook pre_snapshots /x: exited with status 1";
  EXPECT_FALSE(r.ok());

  RunReport check{.command = "check"};
  check.checks.push_back(CheckReport{.name = "imds", .ok = true, .detail = "IMDSv2"});
  EXPECT_TRUE(check.ok());
  check.missing_actions.push_back("ec2:CreateSnapshots");
  EXPECT_FALSE(check.ok());

  RunReport thaw{.command = "thaw"};
  thaw.thaw.push_back(ThawReport{.mount_point = "/mnt/a", .outcome = platform::ThawOutcome::NotFrozen});
  EXPECT_TRUE(thaw.ok());
  thaw.thaw.push_back(ThawReport{.mount_point = "/mnt/b", .outcome = platform::ThawOutcome::Failed, .reason = "EPERM"});
  EXPECT_FALSE(thaw.ok());
  EXPECT_EQ(to_json(thaw)["thaw"][1]["outcome"], "failed");
}

TEST(Output, OutcomeNamesAreTheSchemaStrings) {
  EXPECT_EQ(to_string(Outcome::AlreadyMounted), "already-mounted");
  EXPECT_EQ(to_string(Outcome::Restored), "restored");
  EXPECT_EQ(to_string(Outcome::Created), "created");
  EXPECT_EQ(to_string(Outcome::Failed), "failed");
  EXPECT_EQ(to_string(Outcome::Prewarmed), "prewarmed");
  EXPECT_EQ(to_string(Outcome::Interrupted), "interrupted");
  EXPECT_EQ(to_string(platform::ThawOutcome::NotFrozen), "not-frozen");
}

TEST(Output, TextShowsFreezeWindowAndEachVolume) {
  const auto text = render_text(snapshot_report());
  EXPECT_NE(text.find("snapshot solr: ok, freeze window 41 ms"), std::string::npos) << text;
  EXPECT_NE(text.find("/mnt/solr"), std::string::npos);
  EXPECT_NE(text.find("snapshotted snap-1 (frozen, 38 ms)"), std::string::npos) << text;
}

TEST(Output, TextShowsFailureReasons) {
  RunReport r{.command = "mount"};
  r.groups.push_back(GroupReport{
      .name = "pg",
      .volumes = {VolumeReport{.mount_point = "/mnt/pg", .device = "/dev/sdg", .snapshot_id = "snap-9",
                               .outcome = Outcome::Restored},
                  VolumeReport{.mount_point = "/mnt/wal", .device = "/dev/sdh", .outcome = Outcome::Failed,
                               .reason = "device did not appear"}}});
  const auto text = render_text(r);
  EXPECT_NE(text.find("mount pg: FAILED"), std::string::npos) << text;
  EXPECT_NE(text.find("restored from snap-9"), std::string::npos) << text;
  EXPECT_NE(text.find("failed: device did not appear"), std::string::npos) << text;
}

TEST(Output, DryRunPlanAndWarningsAreShown) {
  RunReport r{.command = "mount", .dry_run = true};
  r.groups.push_back(GroupReport{
      .name = "pg",
      .volumes = {VolumeReport{.mount_point = "/mnt/pg", .device = "/dev/sdg", .outcome = Outcome::Planned,
                               .plan = {"create a gp3 volume of 20 GiB", "mkfs.xfs"},
                               .warnings = {"snapshot snap-1 is in state error; skipped"}}}});
  const auto text = render_text(r);
  EXPECT_NE(text.find("dry run: nothing was changed"), std::string::npos) << text;
  EXPECT_NE(text.find("/mnt/pg: would mkfs.xfs"), std::string::npos) << text;
  EXPECT_NE(text.find("/mnt/pg: warning: snapshot snap-1 is in state error; skipped"), std::string::npos) << text;
  EXPECT_EQ(to_json(r)["groups"][0]["volumes"][0]["plan"][1], "mkfs.xfs");
  EXPECT_EQ(to_string(Outcome::NotAttached), "not-attached");
}

TEST(Output, CheckPrintsMissingActionsAsAPolicy) {
  RunReport r{.command = "check"};
  r.checks.push_back(CheckReport{.name = "iam", .ok = false, .detail = "2 actions denied"});
  r.missing_actions = {"ec2:CreateSnapshots", "ec2:DeleteVolume"};
  const auto text = render_text(r);
  EXPECT_NE(text.find("[FAIL] iam: 2 actions denied"), std::string::npos) << text;
  const auto policy_start = text.find('{');
  ASSERT_NE(policy_start, std::string::npos);
  const auto policy = Json::parse(text.substr(policy_start));
  // The policy's own statements (agent/report/iam_policy.h): CreateSnapshots on the volumes and
  // instance, its snapshots tagged at creation, CreateTags for that CreateAction; DeleteVolume only
  // on volumes tagged ebsnap:group.
  std::map<std::string, Json> by_sid;
  for (const auto& st : policy["Statement"]) by_sid[st["Sid"].get<std::string>()] = st;
  ASSERT_EQ(by_sid.size(), 4U) << policy.dump(2);
  EXPECT_EQ(by_sid["EbsnapSnapshotVolumes"]["Action"], "ec2:CreateSnapshots");
  EXPECT_EQ(by_sid["EbsnapCreateTaggedSnapshots"]["Condition"]["Null"]["aws:RequestTag/ebsnap:group"], "false");
  EXPECT_EQ(by_sid["EbsnapTagOnCreate"]["Condition"]["StringEquals"]["ec2:CreateAction"], (Json{"CreateSnapshots"}));
  EXPECT_EQ(by_sid["EbsnapAttachDetachAndDeleteOwnVolumes"]["Action"], "ec2:DeleteVolume");
  EXPECT_EQ(by_sid["EbsnapAttachDetachAndDeleteOwnVolumes"]["Condition"]["Null"]["aws:ResourceTag/ebsnap:group"], "false");
}

TEST(Output, CheckEntriesCarryVerdictAndTaggedResource) {
  RunReport r{.command = "check"};
  r.checks.push_back(CheckReport{.name = "imds", .ok = true, .detail = "IMDSv2"});
  r.checks.push_back(CheckReport{.name = "ec2:DeleteVolume", .ok = true, .detail = "allowed",
                                 .verdict = "allowed", .tagged_resource = "vol-1"});
  const auto doc = to_json(r);
  EXPECT_EQ(doc["checks"][0]["name"], "imds");
  EXPECT_TRUE(doc["checks"][0]["verdict"].is_null());
  EXPECT_TRUE(doc["checks"][0]["tagged_resource"].is_null());
  EXPECT_EQ(doc["checks"][1]["verdict"], "allowed");
  EXPECT_EQ(doc["checks"][1]["tagged_resource"], "vol-1");
}

// Issue 13: list's INITIALIZED column, for each thing EC2 may say of a volume's initialization.
TEST(Output, ListSaysHowFarEachVolumeIsInitialized) {
  const auto row = [](VolumeReport v) {
    v.mount_point = "/mnt/solr";
    v.device = "/dev/sdf";
    v.outcome = Outcome::Listed;
    RunReport r{.command = "list"};
    r.groups.push_back(GroupReport{.name = "solr", .volumes = {v}});
    const auto text = render_text(r);
    const auto line = text.substr(text.find('\n') + 1);
    return line.substr(0, line.find('\n'));
  };
  // INITIALIZED (padded to its header), then PREWARM ("-": no pre-warm recorded).
  const auto shows = [&](VolumeReport v, const std::string& cell) {
    const auto line = row(std::move(v));
    EXPECT_TRUE(line.contains("  " + cell + "  ") && line.ends_with("  -")) << line;
  };
  shows({.initialization_progress = 42, .initialization_eta_s = 750}, "42%, 12m left");
  // At the default rate EC2 gives no estimate.
  shows({.initialization_progress = 37}, "37%");
  shows({.initialization_progress = 100, .initialization_eta_s = 0}, "100%");
  shows({.fast_restored = true}, "fast restore");
  shows({.initialization_progress = 10, .fast_restored = false}, "10%");
}

TEST(Output, ListIsATable) {
  RunReport r{.command = "list"};
  r.groups.push_back(GroupReport{
      .name = "solr",
      .volumes = {VolumeReport{.mount_point = "/mnt/solr", .device = "/dev/sdf", .volume_id = "vol-1",
                               .outcome = Outcome::Listed, .state = "mounted", .size_gib = 20,
                               .latest_snapshot_id = "snap-1", .latest_snapshot_time = "2026-11-23T10:00:00Z"}}});
  const auto text = render_text(r);
  EXPECT_EQ(text.rfind("GROUP  MOUNT POINT  DEVICE    VOLUME  STATE    SIZE    LATEST SNAPSHOT  TAKEN", 0), 0u) << text;
  EXPECT_NE(text.find("solr   /mnt/solr    /dev/sdf  vol-1   mounted  20 GiB  snap-1           2026-11-23T10:00:00Z"),
            std::string::npos)
      << text;
}

// Issue 17: list's ON TERMINATION column (the last one) and its JSON key.
TEST(Output, ListSaysWhatEc2DoesWithEachVolumeAtTermination) {
  RunReport r{.command = "list"};
  const auto volume = [](std::string mp, std::optional<bool> flag) {
    VolumeReport v{.mount_point = std::move(mp), .device = "/dev/sdf", .outcome = Outcome::Listed};
    v.delete_on_termination = flag;
    return v;
  };
  r.groups.push_back(GroupReport{.name = "solr",
                                 .volumes = {volume("/mnt/a", true), volume("/mnt/b", false), volume("/mnt/c", {})}});
  const auto text = render_text(r);
  std::vector<std::string> lines;
  for (std::size_t at = 0, end; (end = text.find('\n', at)) != std::string::npos; at = end + 1) {
    lines.push_back(text.substr(at, end - at));
  }
  ASSERT_EQ(lines.size(), 4u) << text;
  EXPECT_TRUE(lines[0].ends_with("  PREWARM  ON TERMINATION")) << text;
  EXPECT_TRUE(lines[1].ends_with("  -        delete")) << text;
  EXPECT_TRUE(lines[2].ends_with("  -        keep")) << text;
  EXPECT_TRUE(lines[3].ends_with("  -        -")) << text;
  const auto j = to_json(r)["groups"][0]["volumes"];
  EXPECT_EQ(j[0]["delete_on_termination"], true);
  EXPECT_EQ(j[1]["delete_on_termination"], false);
  EXPECT_TRUE(j[2]["delete_on_termination"].is_null());
}

TEST(Output, ListShowsPrewarmProgressAndAnInterruptedPrewarmIsNoFailure) {
  RunReport r{.command = "list"};
  VolumeReport partial{
      .mount_point = "/mnt/a", .device = "/dev/sdf", .volume_id = "vol-1", .outcome = Outcome::Listed};
  partial.prewarm_state = "partial";
  partial.prewarm_percent = 45;
  VolumeReport done{
      .mount_point = "/mnt/b", .device = "/dev/sdg", .volume_id = "vol-2", .outcome = Outcome::Listed};
  done.prewarm_state = "done";
  done.prewarm_percent = 100;
  r.groups.push_back(GroupReport{.name = "solr", .volumes = {partial, done}});
  const auto text = render_text(r);
  EXPECT_NE(text.find("PREWARM"), std::string::npos) << text;
  EXPECT_NE(text.find("  45%  "), std::string::npos) << text;
  EXPECT_NE(text.find("  done  "), std::string::npos) << text;
  EXPECT_EQ(to_json(r)["groups"][0]["volumes"][0]["prewarm_percent"], 45);

  RunReport stopped{.command = "prewarm"};
  stopped.groups.push_back(GroupReport{
      .name = "solr",
      .volumes = {
          VolumeReport{.mount_point = "/mnt/a", .device = "/dev/sdf", .outcome = Outcome::Interrupted}}});
  EXPECT_TRUE(stopped.ok());
}

}  // namespace
}  // namespace agent
