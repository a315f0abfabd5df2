// The decide step of mount and unmount: table tests of the pure functions, and for every decision
// path a dry run whose plan is exactly the steps the real run then carries out.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <utility>

#include "agent/commands/mount.h"
#include "agent/commands/mount_decide.h"
#include "agent/commands/unmount.h"
#include "agent/core/client_tokens.h"
#include "tests/unit/agent_restore_fixture.h"

namespace agent {
namespace {

using testing::FakeInstance;

const ec2::InstanceId k_here{"i-0here"};

ec2::Volume volume(std::string id, std::string attempt = {}, std::optional<ec2::InstanceId> attached_to = {},
                   ec2::VolumeState state = ec2::VolumeState::Available) {
  ec2::Volume v{.id = ec2::VolumeId{std::move(id)}, .size_gib = 10, .state = state};
  if (!attempt.empty()) v.tags.push_back({std::string(k_tag_attempt), attempt});
  v.tags.push_back({std::string(k_tag_instance_id), k_here.value});
  if (attached_to) {
    v.state = ec2::VolumeState::InUse;
    v.attachments.push_back({.volume_id = v.id, .instance_id = *attached_to, .device = "/dev/sdf",
                             .state = ec2::AttachmentState::Attached});
  }
  return v;
}

MountedAt mounted(std::string source, std::optional<ec2::Volume> v = {}) {
  return MountedAt{.source = std::move(source), .fs_type = "ext4", .volume = std::move(v),
                   .why_not = v ? "" : "serial vol0ffff is not ours"};
}

TEST(DecideVolume, Table) {
  const auto ours = volume("vol-1");
  const auto attached = volume("vol-2", "tok-a", k_here);
  const auto made = volume("vol-3", "tok-b");
  const auto creating = volume("vol-4", "tok-c", {}, ec2::VolumeState::Creating);
  const RestoreAttempt attempt_a{.token = "tok-a", .volume_id = "vol-2", .formatted = true};
  const RestoreAttempt attempt_b{.token = "tok-b", .volume_id = "vol-3"};
  const RestoreAttempt attempt_c{.token = "tok-c"};
  const RestoreAttempt sent_not_answered{.token = "tok-x"};
  const RestoreAttempt spent{.token = "tok-y", .volume_id = "vol-gone"};
  struct Row {
    const char* name;
    ObservedVolume observed;
    VolumeAction action;
    std::optional<std::string> volume;
    bool replay = false;
    bool keeps_attempt = false;
  };
  const std::vector<Row> rows = {
      {"nothing anywhere", {.mount_point = "/m"}, VolumeAction::Create},
      {"ours mounted", {.mount_point = "/m", .mounted = mounted("/dev/nvme1n1", ours), .ours = {ours}},
       VolumeAction::AlreadyMounted, "vol-1"},
      {"something else mounted", {.mount_point = "/m", .mounted = mounted("/dev/sda1")}, VolumeAction::Fail},
      {"ours attached, its attempt", {.mount_point = "/m", .ours = {attached}, .attached = attached, .attempt = attempt_a},
       VolumeAction::ReuseAttached, "vol-2", false, true},
      {"ours attached, another attempt",
       {.mount_point = "/m", .ours = {attached}, .attached = attached, .attempt = attempt_b},
       VolumeAction::ReuseAttached, "vol-2"},
      {"attempt's volume available", {.mount_point = "/m", .ours = {made}, .attempt = attempt_b},
       VolumeAction::ReuseAttempt, "vol-3", false, true},
      // Issue 11: a tag alone is no proof (anyone can copy it); the record's volume id is. An
      // attempt whose CreateVolume answer was lost replays its token: EC2 answers with the volume
      // it made for it, if any.
      {"attempt's tag, volume not named by the record", {.mount_point = "/m", .ours = {creating}, .attempt = attempt_c},
       VolumeAction::Create, std::nullopt, true, true},
      {"our tag copied onto a volume the record does not name",
       {.mount_point = "/m", .ours = {volume("vol-9", "tok-b")}, .attempt = attempt_b}, VolumeAction::Create},
      {"attempt sent, never answered", {.mount_point = "/m", .attempt = sent_not_answered}, VolumeAction::Create,
       std::nullopt, true, true},
      {"attempt whose volume is gone", {.mount_point = "/m", .attempt = spent}, VolumeAction::Create},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const auto d = decide_volume(row.observed);
    EXPECT_EQ(d.action, row.action);
    EXPECT_EQ(d.volume ? std::optional{d.volume->id.value} : std::nullopt, row.volume);
    EXPECT_EQ(d.replay_token, row.replay);
    EXPECT_EQ(d.attempt.has_value(), row.keeps_attempt);
    EXPECT_EQ(d.reason.empty(), d.action != VolumeAction::Fail) << d.reason;
  }
}

TEST(DecideFormat, Table) {
  const platform::ProbeResult empty;
  const platform::ProbeResult xfs{.fs_type = "xfs", .uuid = "u"};
  const platform::ProbeResult ext4{.fs_type = "ext4", .uuid = "u"};
  const platform::ProbeResult gpt{.partition_table = "gpt"};
  struct Row {
    const char* name;
    FormatInputs in;
    platform::ProbeResult content;
    FormatAction action;
    std::string fs_type;
  };
  const std::vector<Row> rows = {
      {"new, empty", {.configured = FsType::Xfs}, empty, FormatAction::Mkfs, "xfs"},
      {"new, carries a partition table", {.configured = FsType::Xfs}, gpt, FormatAction::Refuse, ""},
      {"new, carries a filesystem", {.configured = FsType::Xfs}, xfs, FormatAction::Refuse, ""},
      {"from a snapshot", {.from_snapshot = true, .configured = FsType::Xfs}, xfs, FormatAction::UseAsIs, "xfs"},
      {"from a snapshot of another fs", {.from_snapshot = true, .configured = FsType::Xfs}, ext4,
       FormatAction::UseAsIs, "ext4"},
      {"from a snapshot, no filesystem", {.from_snapshot = true, .configured = FsType::Xfs}, empty,
       FormatAction::Refuse, ""},
      {"reused, mkfs interrupted", {.reused = true, .attempt_formatted = false, .configured = FsType::Xfs}, xfs,
       FormatAction::RedoMkfs, "xfs"},
      {"reused, mkfs completed", {.reused = true, .attempt_formatted = true, .configured = FsType::Xfs}, xfs,
       FormatAction::UseAsIs, "xfs"},
      {"reused, attempt unknown, ours", {.reused = true, .configured = FsType::Xfs}, xfs, FormatAction::UseAsIs, "xfs"},
      {"reused, attempt unknown, other fs", {.reused = true, .configured = FsType::Xfs}, ext4, FormatAction::Refuse,
       ""},
      {"reused, never formatted", {.reused = true, .attempt_formatted = false, .configured = FsType::Ext4}, empty,
       FormatAction::Mkfs, "ext4"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const auto d = decide_format(row.in, "/dev/nvme1n1", row.content);
    EXPECT_EQ(d.action, row.action) << d.reason;
    if (row.action != FormatAction::Refuse) {
      EXPECT_EQ(d.fs_type, row.fs_type);
    }
    EXPECT_EQ(d.reason.empty(), d.action != FormatAction::Refuse);
  }
  EXPECT_EQ(predict_format({.from_snapshot = true}).action, FormatAction::UseAsIs);
  EXPECT_EQ(predict_format({.configured = FsType::Xfs}).action, FormatAction::Mkfs);
}

TEST(DecideUnmount, Table) {
  const auto attached = volume("vol-1", "", k_here);
  const auto elsewhere = volume("vol-2", "", ec2::InstanceId{"i-0other"});
  const auto leftover = volume("vol-3");
  auto foreign_leftover = volume("vol-4");
  foreign_leftover.tags = {{std::string(k_tag_instance_id), "i-0other"}};
  // What an unmount --delete-volumes of this instance wrote before detaching vol-3 from /m.
  const DetachRecord of_leftover{.volume_id = leftover.id, .group = "db", .mount_point = "/m",
                                 .instance_id = k_here.value};
  auto of_another_volume = of_leftover;
  of_another_volume.volume_id = ec2::VolumeId{"vol-5"};
  auto of_another_mount_point = of_leftover;
  of_another_mount_point.mount_point = "/n";
  auto of_another_instance = of_leftover;
  of_another_instance.instance_id = "i-0other";
  const std::vector<ec2::VolumeId> left_alone{leftover.id};
  struct Row {
    const char* name;
    std::vector<ec2::Volume> ours;
    MountedAt mounted;
    bool delete_volumes;
    UnmountAction action;
    std::vector<std::string> plan;
    bool left_mounted = false;
    std::vector<DetachRecord> records = {};
    std::vector<ec2::VolumeId> left_alone = {};
  };
  const std::vector<Row> rows = {
      {"nothing", {}, {}, true, UnmountAction::NothingAttached, {}},
      {"attached elsewhere", {elsewhere}, {}, true, UnmountAction::NothingAttached, {}},
      {"mounted and attached", {attached}, mounted("/dev/nvme1n1", attached), false, UnmountAction::Detach,
       {unmount_step::unmount("/m", "/dev/nvme1n1"), unmount_step::detach(attached.id, "/dev/sdf")}},
      {"mounted, attached, delete", {attached}, mounted("/dev/nvme1n1", attached), true, UnmountAction::Detach,
       {unmount_step::unmount("/m", "/dev/nvme1n1"), unmount_step::detach(attached.id, "/dev/sdf"),
        unmount_step::remove(attached.id)}},
      {"attached, not mounted", {attached}, {}, false, UnmountAction::Detach,
       {unmount_step::detach(attached.id, "/dev/sdf")}},
      {"attached, something else mounted", {attached}, mounted("/dev/sda1"), false, UnmountAction::Detach,
       {unmount_step::detach(attached.id, "/dev/sdf")}, true},
      {"our leftover, recorded, delete", {leftover}, {}, true, UnmountAction::DeleteLeftover,
       {unmount_step::remove_leftover(leftover.id)}, false, {of_leftover}},
      {"our leftover, recorded, keep", {leftover}, {}, false, UnmountAction::NothingAttached, {}, false,
       {of_leftover}},
      // Issue 11: tags alone are no proof; only a record naming exactly this volume is.
      {"tagged leftover, no record, delete", {leftover}, {}, true, UnmountAction::NothingAttached, {}, false, {},
       left_alone},
      {"tagged leftover, another volume's record", {leftover}, {}, true, UnmountAction::NothingAttached, {}, false,
       {of_another_volume}, left_alone},
      {"tagged leftover, another mount point's record", {leftover}, {}, true, UnmountAction::NothingAttached, {},
       false, {of_another_mount_point}, left_alone},
      {"tagged leftover, another instance's record", {leftover}, {}, true, UnmountAction::NothingAttached, {}, false,
       {of_another_instance}, left_alone},
      {"tagged leftover beside an attached volume", {attached, leftover}, {}, true, UnmountAction::Detach,
       {unmount_step::detach(attached.id, "/dev/sdf"), unmount_step::remove(attached.id)}, false, {}, left_alone},
      {"tagged leftover, no record, keep", {leftover}, {}, false, UnmountAction::NothingAttached, {}},
      {"another instance's leftover", {foreign_leftover}, {}, true, UnmountAction::NothingAttached, {}},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const auto d = decide_unmount("/m", row.ours, row.mounted, k_here, row.delete_volumes, row.records);
    EXPECT_EQ(d.action, row.action);
    EXPECT_EQ(d.plan, row.plan);
    EXPECT_EQ(d.left_alone, row.left_alone);
    EXPECT_EQ(d.left_mounted.has_value(), row.left_mounted);
    EXPECT_EQ(d.unmount, row.mounted.ours());
  }
}

// Issue 11: restored volumes are mounted nosuid,nodev unless the configuration says otherwise.
TEST(MountOptions, NosuidAndNodevUnlessConfigured) {
  const auto with = [](std::string options) {
    return mount_options_for(VolumeConfig{.device = "/dev/sdf", .mount_point = "/m", .mount_options = std::move(options)});
  };
  EXPECT_EQ(with("defaults"), "nosuid,nodev");
  EXPECT_EQ(with("noatime"), "noatime,nosuid,nodev");
  EXPECT_EQ(with("suid,noatime"), "suid,noatime,nodev");
  EXPECT_EQ(with("dev"), "dev,nosuid");
  EXPECT_EQ(with("nosuid,nodev"), "nosuid,nodev");
}

const VolumeReport& outcome(const RunReport& r, const std::string& mount_point) {
  for (const auto& g : r.groups) {
    for (const auto& v : g.volumes) {
      if (v.mount_point == mount_point) return v;
    }
  }
  throw std::runtime_error("no outcome for " + mount_point);
}

// A dry run, then the real run: the plan the one printed is the steps the other carried out.
class PlanMatchesRun : public ::testing::Test {
 protected:
  // Runs `command` dry, then (after `between`) for real; returns {plan, steps} of /data/a.
  template <class Command>
  std::pair<std::vector<std::string>, std::vector<std::string>> plan_then_run(
      Command command, const std::function<void()>& between = {}) {
    f.services.options.dry_run = true;
    const auto planned = command();
    f.services.options.dry_run = false;
    if (between) between();
    const auto done = command();
    EXPECT_TRUE(done.ok()) << render_text(done);
    EXPECT_TRUE(planned.ok()) << render_text(planned);
    return {outcome(planned, "/data/a").plan, outcome(done, "/data/a").steps};
  }
  auto mount_run() {
    return plan_then_run([this] { return mount(f.context()); });
  }
  auto unmount_run(bool delete_volumes) {
    return plan_then_run([this, delete_volumes] { return unmount(f.context(), {.delete_volumes = delete_volumes}); });
  }

  FakeInstance f;
};

TEST_F(PlanMatchesRun, CreateEmpty) {
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  const auto [plan, steps] = mount_run();
  EXPECT_EQ(plan, steps);
  ASSERT_EQ(steps.size(), 5U);
  EXPECT_TRUE(steps[3].starts_with("mkfs.ext4")) << steps[3];
}

TEST_F(PlanMatchesRun, CreateFromSnapshot) {
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  const auto snap = f.add_snapshot("/data/a", 1);
  const auto [plan, steps] = mount_run();
  EXPECT_EQ(plan, steps);
  ASSERT_FALSE(steps.empty());
  EXPECT_NE(steps.front().find(snap.value), std::string::npos) << steps.front();
  EXPECT_EQ(steps[3], "keep its filesystem");
}

TEST_F(PlanMatchesRun, CreateFromSnapshotAtTheConfiguredInitializationRate) {
  auto v = f.volume("/dev/sdf", "/data/a");
  v.initialization_rate_mibps = 300;
  f.add_group("db", {v});
  f.add_snapshot("/data/a", 1);
  const auto [plan, steps] = mount_run();
  EXPECT_EQ(plan, steps);
  ASSERT_FALSE(steps.empty());
  EXPECT_TRUE(steps.front().ends_with(", initialized at 300 MiB/s")) << steps.front();
  const auto volumes = f.ec2.volumes();
  EXPECT_EQ(std::ranges::count_if(volumes, [](const ec2::Volume& x) { return x.initialization_rate == 300; }),
            1);
}

TEST_F(PlanMatchesRun, CreateEmptyNeverMentionsTheInitializationRate) {
  auto v = f.volume("/dev/sdf", "/data/a");
  v.initialization_rate_mibps = 300;
  f.add_group("db", {v});
  const auto [plan, steps] = mount_run();
  EXPECT_EQ(plan, steps);
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.front().find("MiB/s"), std::string::npos) << steps.front();
  for (const auto& x : f.ec2.volumes()) EXPECT_FALSE(x.initialization_rate.has_value()) << x.id;
}

// Issue 17: the flag right after the attach, in the plan and in the run.
TEST_F(PlanMatchesRun, CreateWithDeleteOnTermination) {
  auto v = f.volume("/dev/sdf", "/data/a");
  v.delete_on_termination = true;
  f.add_group("db", {v});
  const auto [plan, steps] = mount_run();
  EXPECT_EQ(plan, steps);
  ASSERT_EQ(steps.size(), 6U);
  EXPECT_TRUE(steps[1].starts_with("attach it to")) << steps[1];
  EXPECT_EQ(steps[2], "set DeleteOnTermination on its attachment as /dev/sdf (EC2 deletes it with the instance)");
}

TEST(DeleteOnTermination, OnlyWhenConfiguredAndNotCarriedByTheAttachmentYet) {
  const ec2::InstanceId here{"i-1"};
  VolumeConfig v{.device = "/dev/sdf", .mount_point = "/data/a", .size_gib = 10};
  ec2::Volume attached{.id = ec2::VolumeId{"vol-1"}};
  attached.attachments.push_back({.instance_id = here, .device = "/dev/sdf", .state = ec2::AttachmentState::Attached});
  const VolumeDecision create{.action = VolumeAction::Create};
  const VolumeDecision reuse{.action = VolumeAction::ReuseAttached, .volume = attached};
  EXPECT_FALSE(needs_delete_on_termination(v, create, here));
  v.delete_on_termination = true;
  EXPECT_TRUE(needs_delete_on_termination(v, create, here));
  EXPECT_TRUE(needs_delete_on_termination(v, reuse, here));
  EXPECT_FALSE(needs_delete_on_termination(v, {.action = VolumeAction::Fail, .reason = "x"}, here));
  attached.attachments[0].delete_on_termination = true;
  EXPECT_FALSE(needs_delete_on_termination(v, {.action = VolumeAction::AlreadyMounted, .volume = attached}, here));
  // Attached to another instance only: this instance's attachment is still to be made.
  EXPECT_TRUE(needs_delete_on_termination(v, {.action = VolumeAction::ReuseAttempt, .volume = attached},
                                          ec2::InstanceId{"i-2"}));
}

TEST(InitializationRate, OnlyFromASnapshot) {
  VolumeConfig v{.device = "/dev/sdf", .mount_point = "/data/a", .size_gib = 10};
  EXPECT_EQ(initialization_rate(v, true), std::nullopt);
  v.initialization_rate_mibps = 150;
  EXPECT_EQ(initialization_rate(v, true), 150);
  EXPECT_EQ(initialization_rate(v, false), std::nullopt);
}

TEST(PlanMatchesRunPending, CreateAfterWaitingForAPendingSnapshot) {
  FakeInstance m(ec2::FakeEc2Options{.progress = ec2::FakeEc2Options::Progress::Manual});
  m.add_group("db", {m.volume("/dev/sdf", "/data/a")});
  m.add_snapshot("/data/a", 24);
  const auto pending = m.add_snapshot("/data/a", 0, ec2::SnapshotState::Pending);
  m.services.options.dry_run = true;
  const auto planned = mount(m.context());
  m.services.options.dry_run = false;
  // The real run: the snapshot completes on its second poll round; volumes move once it has.
  m.complete_snapshots_on_describe(3);
  const auto done = mount(m.context());
  ASSERT_TRUE(done.ok()) << render_text(done);
  const auto& plan = outcome(planned, "/data/a").plan;
  const auto& steps = outcome(done, "/data/a").steps;
  EXPECT_EQ(plan, steps);
  ASSERT_FALSE(steps.empty());
  EXPECT_TRUE(steps.front().starts_with("wait for pending snapshot " + pending.value)) << steps.front();
  EXPECT_EQ(outcome(done, "/data/a").snapshot_id, pending.value);
}

TEST_F(PlanMatchesRun, ReuseTheVolumeOfAnAttemptThatDiedBeforeAttaching) {
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  f.ec2.fail_next("AttachVolume", ec2::Error{.kind = ec2::ErrorKind::ServerError, .message = "injected"});
  ASSERT_FALSE(mount(f.context()).ok());
  const auto [plan, steps] = mount_run();
  EXPECT_EQ(plan, steps);
  ASSERT_FALSE(steps.empty());
  EXPECT_TRUE(steps.front().starts_with("reuse volume")) << steps.front();
  EXPECT_EQ(f.ec2.call_count("CreateVolume"), 1);
}

// The bug the dry run had: it promised an mkfs the real run skips.
TEST_F(PlanMatchesRun, ReuseAttachedVolumeWhoseMkfsCompleted) {
  f.left_by_a_killed_mkfs(/*formatted=*/true);
  const auto [plan, steps] = mount_run();
  EXPECT_EQ(plan, steps);
  EXPECT_TRUE(std::ranges::find(steps, "keep its filesystem") != steps.end()) << ::testing::PrintToString(steps);
  EXPECT_TRUE(f.devices.mkfs_calls().empty());
}

TEST_F(PlanMatchesRun, ReuseAttachedVolumeWhoseMkfsWasInterrupted) {
  f.left_by_a_killed_mkfs(/*formatted=*/false);
  const auto [plan, steps] = mount_run();
  EXPECT_EQ(plan, steps);
  EXPECT_TRUE(std::ranges::any_of(steps, [](const std::string& s) { return s.starts_with("mkfs.xfs again"); }))
      << ::testing::PrintToString(steps);
  EXPECT_EQ(f.devices.mkfs_calls().size(), 1U);
}

TEST_F(PlanMatchesRun, AlreadyMountedPlansAndDoesNothing) {
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  ASSERT_TRUE(mount(f.context()).ok());
  const auto [plan, steps] = mount_run();
  EXPECT_TRUE(plan.empty());
  EXPECT_TRUE(steps.empty());
}

TEST_F(PlanMatchesRun, UnmountAndDetach) {
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  ASSERT_TRUE(mount(f.context()).ok());
  f.ec2.on_call([this](std::string_view action) {
    if (action != "DetachVolume") return;
    auto found = f.devices.find_by_serial(f.live_volumes_of("/data/a").front().id.value);
    if (found && *found) f.devices.remove_device((*found)->devnode);
  });
  const auto [plan, steps] = unmount_run(/*delete_volumes=*/true);
  EXPECT_EQ(plan, steps);
  ASSERT_EQ(steps.size(), 3U);
  EXPECT_TRUE(steps[0].starts_with("unmount /data/a")) << steps[0];
}

TEST_F(PlanMatchesRun, DeleteTheVolumeAnUnmountLeftDetached) {
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  ASSERT_TRUE(mount(f.context()).ok());
  f.ec2.on_call([this](std::string_view action) {
    if (action != "DetachVolume") return;
    for (const auto& v : f.live_volumes_of("/data/a")) {
      auto found = f.devices.find_by_serial(v.id.value);
      if (found && *found) f.devices.remove_device((*found)->devnode);
    }
  });
  f.ec2.fail_next("DeleteVolume", ec2::Error{.kind = ec2::ErrorKind::ServerError, .message = "injected"});
  ASSERT_FALSE(unmount(f.context(), {.delete_volumes = true}).ok());
  f.ec2.settle();
  const auto [plan, steps] = unmount_run(/*delete_volumes=*/true);
  EXPECT_EQ(plan, steps);
  ASSERT_EQ(steps.size(), 1U);
  EXPECT_NE(steps[0].find("left by an earlier run"), std::string::npos) << steps[0];
}

// Issue 11: a volume detached by a plain unmount (no detach record) carries every tag of ours,
// yet unmount --delete-volumes neither plans nor carries out its deletion: the dry run and the
// real run both leave it alone and say so.
TEST_F(PlanMatchesRun, LeaveAloneAVolumeNoRecordShowsWasDetachedByUs) {
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  ASSERT_TRUE(mount(f.context()).ok());
  const auto id = f.live_volumes_of("/data/a").front().id;
  f.ec2.on_call([this, id](std::string_view action) {
    if (action != "DetachVolume") return;
    auto found = f.devices.find_by_serial(id.value);
    if (found && *found) f.devices.remove_device((*found)->devnode);
  });
  ASSERT_TRUE(unmount(f.context(), {.delete_volumes = false}).ok());
  f.ec2.settle();
  f.services.options.dry_run = true;
  const auto planned = unmount(f.context(), {.delete_volumes = true});
  f.services.options.dry_run = false;
  const auto done = unmount(f.context(), {.delete_volumes = true});
  for (const auto* r : {&planned, &done}) {
    ASSERT_TRUE(r->ok()) << render_text(*r);
    const auto& a = outcome(*r, "/data/a");
    EXPECT_TRUE(a.plan.empty()) << ::testing::PrintToString(a.plan);
    EXPECT_TRUE(a.steps.empty()) << ::testing::PrintToString(a.steps);
    EXPECT_EQ(a.outcome, Outcome::NotAttached);
    EXPECT_EQ(a.left_alone, std::vector<std::string>{id.value});
    EXPECT_EQ(a.warnings, std::vector<std::string>{unmount_step::left_alone(id)});
    EXPECT_NE(render_text(*r).find("left alone; delete it yourself if it is yours"), std::string::npos)
        << render_text(*r);
    EXPECT_EQ(to_json(*r)["groups"][0]["volumes"][0].value("left_alone", nlohmann::ordered_json::array()),
              nlohmann::ordered_json::array({id.value}));
  }
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 0);
  ASSERT_TRUE(f.ec2.volume(id));
  EXPECT_EQ(f.ec2.volume(id)->state, ec2::VolumeState::Available);
}

}  // namespace
}  // namespace agent
