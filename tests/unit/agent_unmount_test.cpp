// ebsnap unmount against fakes.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>

#include "agent/commands/mount.h"
#include "agent/commands/unmount.h"
#include "agent/core/log.h"
#include "tests/unit/agent_restore_fixture.h"

namespace agent {
namespace {

using testing::FakeInstance;

const VolumeReport& outcome(const RunReport& r, const std::string& mount_point) {
  for (const auto& g : r.groups) {
    for (const auto& v : g.volumes) {
      if (v.mount_point == mount_point) return v;
    }
  }
  throw std::runtime_error("no outcome for " + mount_point);
}

const std::vector<VolumeReport>& volumes(const RunReport& r) { return r.groups.at(0).volumes; }
ec2::VolumeId volume_id(const VolumeReport& v) { return ec2::VolumeId{v.volume_id.value_or("")}; }

// FakeBlockDevices does not know about detaching: the device goes when FakeEc2 detaches.
class UnmountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    f.add_group("db", {f.volume("/dev/sdf", "/data/a"), f.volume("/dev/sdg", "/data/b")});
    auto r = mount(f.context());
    ASSERT_TRUE(r.ok()) << render_text(r);
    for (const auto& v : volumes(r)) mounted[v.mount_point] = v;
    // The volumes are unmounted on threads of their own, so this runs on several at once.
    f.ec2.on_call([this](std::string_view action) {
      if (on_action) on_action(action);
      if (action != "DetachVolume") return;
      std::lock_guard lock(hook_mutex);
      if (at_detach) at_detach();
      // The kernel drops the device once EC2 detaches: here, as soon as DetachVolume is called.
      // The call does not say which volume, so every device nothing holds goes: unmounted here,
      // and not held elsewhere (a device a test marks in use is never detached, so never goes).
      for (const auto& [mp, v] : mounted) {
        auto found = f.devices.find_by_serial(*v.volume_id);
        if (found && *found && detach_removes) {
          const auto& devnode = (*found)->devnode;
          auto m = f.mounter.find_by_source(devnode);
          if (m && m->empty() && f.devices.check_not_in_use(devnode)) f.devices.remove_device(devnode);
        }
      }
    });
  }
  RunReport run(bool delete_volumes) { return unmount(f.context(), {.delete_volumes = delete_volumes}); }

  // The detach records in the run directory, by file name.
  std::set<std::string> detach_records() const {
    std::set<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(f.services.options.run_dir, ec)) {
      const auto name = e.path().filename().string();
      if (name.starts_with("detach-")) out.insert(name);
    }
    return out;
  }
  std::string record_name(const std::string& mount_point) {
    return detach_record_path(f.services.options.run_dir, volume_id(mounted[mount_point]), "db").filename().string();
  }
  // Both volumes detached by an unmount --delete-volumes whose DeleteVolumes failed (as if it
  // had died between the two calls): detached, available, and recorded.
  void leave_both_detached() {
    f.ec2.fail_next("DeleteVolume", ec2::Error{.kind = ec2::ErrorKind::ServerError, .message = "injected"}, 2);
    ASSERT_FALSE(run(true).ok());
    f.ec2.settle();
    ASSERT_EQ(detach_records(), (std::set<std::string>{record_name("/data/a"), record_name("/data/b")}));
  }

  FakeInstance f;
  std::map<std::string, VolumeReport> mounted;
  bool detach_removes = true;
  std::function<void()> at_detach;  // runs as DetachVolume is called, before EC2 applies it
  std::function<void(std::string_view)> on_action;  // runs as any action is called, before EC2 applies it
  std::mutex hook_mutex;
};

// The fault matrix (issue 16) found it: one DescribeVolumes observes every volume of the run,
// and its failure was logged once per volume (four error lines for one failure).
TEST_F(UnmountTest, AFailedDescribeVolumesIsOneErrorLineAndEveryVolumesReason) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  log_agent().sinks().push_back(sink);
  f.ec2.fail_next("DescribeVolumes", ec2::Error{.kind = ec2::ErrorKind::ServerError, .message = "injected 503"});
  auto r = run(true);
  log_agent().sinks().pop_back();
  EXPECT_FALSE(r.ok());
  for (const auto& v : volumes(r)) {
    EXPECT_EQ(v.outcome, Outcome::Failed) << v.mount_point;
    EXPECT_NE(v.reason.value_or("").find("injected 503"), std::string::npos) << v.mount_point;
  }
  std::size_t errors = 0;
  std::istringstream lines(captured.str());
  for (std::string line; std::getline(lines, line);) errors += line.find("[error]") != std::string::npos ? 1U : 0U;
  EXPECT_EQ(errors, 1U) << captured.str();
  EXPECT_EQ(f.ec2.call_count("DetachVolume"), 0);
}

// The fault matrix (issue 16) found it: the connection reset after EC2 served the DeleteVolume,
// the client sent it again, and EC2 answered the resend InvalidVolume.NotFound. The unmount
// failed although the volume was deleted as asked.
TEST_F(UnmountTest, ADeleteVolumeServedButAnsweredNotFoundOnItsResendIsDeletedNotFailed) {
  std::atomic<int> deletes{0};
  on_action = [&](std::string_view action) {
    if (action != "DeleteVolume" || deletes++ > 0) return;
    // The first send: served (the answer is lost); the caller's call is then the resend.
    const auto id = volume_id(mounted["/data/a"]);
    ASSERT_TRUE(f.ec2.delete_volume({.volume_id = id}));
    f.ec2.settle();
  };
  auto r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  for (const auto& v : volumes(r)) EXPECT_EQ(v.outcome, Outcome::Deleted) << v.mount_point;
  EXPECT_TRUE(detach_records().empty());
  f.ec2.settle();
  EXPECT_TRUE(f.live_volumes_of("/data/a").empty());
  EXPECT_TRUE(f.live_volumes_of("/data/b").empty());
}

// The kill matrix (issue 16) found it: a run killed with its DetachVolume in flight; the rerun
// described the volume attached, then the killed run's call landed, and EC2 refused the rerun's
// own DetachVolume (IncorrectState: the volume is available). The rerun failed, and with
// --delete-volumes the volume leaked. Detached is what the call was for.
TEST_F(UnmountTest, ADetachVolumeOfAnEarlierRunLandingMeanwhileIsDetachedNotFailed) {
  std::atomic<int> detaches{0};
  on_action = [&](std::string_view action) {
    if (action != "DetachVolume" || detaches++ > 0) return;
    // Just before this run's first DetachVolume is applied, the earlier run's lands.
    const auto id = volume_id(mounted["/data/a"]);
    ASSERT_TRUE(f.ec2.detach_volume({.volume_id = id, .instance_id = f.instance_id}));
    f.ec2.settle();
  };
  auto r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_GE(detaches.load(), 3);  // the earlier run's, and this run's two
  for (const auto& v : volumes(r)) EXPECT_EQ(v.outcome, Outcome::Deleted) << v.mount_point;
  EXPECT_TRUE(detach_records().empty());
  f.ec2.settle();
  EXPECT_TRUE(f.live_volumes_of("/data/a").empty());
  EXPECT_TRUE(f.live_volumes_of("/data/b").empty());
}

TEST_F(UnmountTest, UnmountsAndDetachesKeepingTheVolumes) {
  auto r = run(false);
  ASSERT_TRUE(r.ok()) << render_text(r);
  for (const auto& v : volumes(r)) {
    EXPECT_EQ(v.outcome, Outcome::Unmounted);
    ASSERT_FALSE(v.steps.empty());
    EXPECT_TRUE(v.steps.front().starts_with("unmount " + v.mount_point)) << v.steps.front();
    auto vol = f.ec2.volume(volume_id(v));
    ASSERT_TRUE(vol);
  }
  auto mounts = f.mounter.mounts();
  ASSERT_TRUE(mounts);
  EXPECT_TRUE(mounts->empty());
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 0);
  EXPECT_EQ(f.ec2.call_count("DetachVolume"), 2);
}

TEST_F(UnmountTest, DeleteVolumesDeletesOnlyOurs) {
  // Someone else's volume attached to this instance, tagged with the mount point but no group.
  ec2::Volume other{.size_gib = 1, .state = ec2::VolumeState::InUse, .availability_zone = "us-east-1a"};
  other.tags = {{"role", "db"}, {"cluster", "c1"}, {std::string(k_tag_mount_point), "/data/a"}};
  other.attachments.push_back(ec2::VolumeAttachment{
      .instance_id = f.instance_id, .device = "/dev/sdk", .state = ec2::AttachmentState::Attached});
  const auto other_id = f.ec2.add_volume(other);
  auto r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  for (const auto& v : volumes(r)) EXPECT_EQ(v.outcome, Outcome::Deleted) << v.mount_point;
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 2);
  f.ec2.settle();
  EXPECT_TRUE(f.live_volumes_of("/data/b").empty());
  ASSERT_TRUE(f.ec2.volume(other_id));
  EXPECT_EQ(f.ec2.volume(other_id)->attachments.size(), 1U);
}

TEST_F(UnmountTest, BusyMountPointIsNamedAndTheVolumeStaysAttached) {
  f.mounter.set_busy("/data/a");
  auto r = run(true);
  EXPECT_FALSE(r.ok());
  const auto& a = outcome(r, "/data/a");
  EXPECT_EQ(a.outcome, Outcome::Failed);
  EXPECT_NE(a.reason.value_or("").find("/data/a"), std::string::npos);
  EXPECT_NE(a.reason.value_or("").find("busy"), std::string::npos);
  EXPECT_EQ(f.ec2.volume(volume_id(a))->attachments.size(), 1U);
  EXPECT_EQ(outcome(r, "/data/b").outcome, Outcome::Deleted);
}

TEST_F(UnmountTest, DeviceThatDoesNotGoIsReported) {
  detach_removes = false;
  auto r = run(false);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(outcome(r, "/data/a").reason.value_or("").find("did not go"), std::string::npos);
}

TEST_F(UnmountTest, NothingAttachedIsNotAnError) {
  ASSERT_TRUE(run(true).ok());
  auto r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  for (const auto& v : volumes(r)) EXPECT_EQ(v.outcome, Outcome::NotAttached);
}

// Issue 15: unmount's on_success, once per group that ended ok, with unmount's report on stdin.
TEST_F(UnmountTest, OnSuccessRunsForAGroupThatEndedOkWithTheReport) {
  const auto mounts_on_success = f.hooks.calls_of(HookPhase::OnSuccess).size();
  auto r = run(false);
  ASSERT_TRUE(r.ok()) << render_text(r);
  const auto calls = f.hooks.calls_of(HookPhase::OnSuccess);
  ASSERT_EQ(calls.size(), mounts_on_success + 1);
  EXPECT_EQ(calls.back().context.group, "db");
  const auto seen = nlohmann::ordered_json::parse(calls.back().context.report_json.value_or("null"));
  EXPECT_EQ(seen, to_json(r));
  EXPECT_EQ(seen["command"], "unmount");
}

TEST_F(UnmountTest, NoOnSuccessForAGroupWithAFailure) {
  const auto before = f.hooks.calls_of(HookPhase::OnSuccess).size();
  f.mounter.set_busy("/data/a");
  EXPECT_FALSE(run(false).ok());
  EXPECT_EQ(f.hooks.calls_of(HookPhase::OnSuccess).size(), before);
  EXPECT_EQ(f.hooks.count(HookPhase::OnFailure, "/data/a", false), 1);
}

TEST_F(UnmountTest, DryRunChangesNothing) {
  f.services.options.dry_run = true;
  auto r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_FALSE(outcome(r, "/data/a").plan.empty());
  EXPECT_EQ(f.ec2.call_count("DetachVolume"), 0);
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 0);
  auto mounts = f.mounter.mounts();
  ASSERT_TRUE(mounts);
  EXPECT_EQ(mounts->size(), 2U);
  EXPECT_EQ(outcome(r, "/data/a").outcome, Outcome::Planned);
  EXPECT_TRUE(outcome(r, "/data/a").plan.back().starts_with("delete ")) << outcome(r, "/data/a").plan.back();
  EXPECT_TRUE(r.dry_run);
}

TEST_F(UnmountTest, MountAfterDeleteRestoresNothingLeaked) {
  ASSERT_TRUE(run(true).ok());
  f.ec2.settle();
  auto r = mount(f.context());
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(f.live_volumes_of("/data/a").size(), 1U);
}

}  // namespace
}  // namespace agent

namespace agent {
namespace {

TEST_F(UnmountTest, VolumeLeftDetachedByAnUnmountThatDiedIsDeletedOnRerun) {
  // The run dies after DetachVolume, before DeleteVolume: here DeleteVolume fails. Its detach
  // record stays; the other volume's went with it.
  f.ec2.fail_next("DeleteVolume", ec2::Error{.kind = ec2::ErrorKind::ServerError, .message = "injected"});
  auto first = run(true);
  EXPECT_FALSE(first.ok());
  const auto failed = outcome(first, "/data/a").outcome == Outcome::Failed ? "/data/a" : "/data/b";
  EXPECT_EQ(detach_records(), std::set<std::string>{record_name(failed)});
  f.ec2.settle();
  auto r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(outcome(r, failed).outcome, Outcome::Deleted);
  EXPECT_TRUE(outcome(r, failed).left_alone.empty());
  f.ec2.settle();
  EXPECT_TRUE(f.live_volumes_of("/data/a").empty());
  EXPECT_TRUE(f.live_volumes_of("/data/b").empty());
  EXPECT_TRUE(detach_records().empty()) << "the record goes with its volume";
}

// The kill matrix (issue 16) found it: a run killed with its DeleteVolume in flight left the
// volume's detach record, and the rerun, which no longer saw the volume, kept the record for
// ever. A record whose volume EC2 no longer describes among ours is spent and removed; only
// by a real unmount --delete-volumes, not by a dry run or a plain unmount.
TEST_F(UnmountTest, ADetachRecordWhoseVolumeIsGoneIsRemovedByTheNextDeletingRun) {
  leave_both_detached();
  const auto a = volume_id(mounted["/data/a"]);
  ASSERT_TRUE(f.ec2.delete_volume({.volume_id = a}));  // the killed run's DeleteVolume, landed
  f.ec2.settle();
  ASSERT_TRUE(f.live_volumes_of("/data/a").empty());
  const auto both = std::set<std::string>{record_name("/data/a"), record_name("/data/b")};

  ASSERT_TRUE(run(false).ok());
  EXPECT_EQ(detach_records(), both) << "a plain unmount deletes nothing, so it needs no records";
  f.services.options.dry_run = true;
  ASSERT_TRUE(run(true).ok());
  EXPECT_EQ(detach_records(), both) << "a dry run changes nothing";
  f.services.options.dry_run = false;

  auto r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(outcome(r, "/data/b").outcome, Outcome::Deleted);
  EXPECT_TRUE(detach_records().empty()) << "a's record went with its volume, b's with b";
}

// Issue 11: the record is on disk before DetachVolume is sent. A run whose DetachVolume went
// through but whose answer was lost (as good as killed right after the call) is finished by the
// next run, on the strength of that record.
TEST_F(UnmountTest, TheDetachRecordIsWrittenBeforeDetachVolumeAndLetsTheNextRunFinish) {
  std::vector<std::set<std::string>> at_call;
  at_detach = [this, &at_call] { at_call.push_back(detach_records()); };
  f.ec2.lose_next_response("DetachVolume");
  auto first = run(true);
  EXPECT_FALSE(first.ok());
  ASSERT_EQ(at_call.size(), 2U);
  for (const auto& records : at_call) EXPECT_FALSE(records.empty());
  const auto lost = outcome(first, "/data/a").outcome == Outcome::Failed ? "/data/a" : "/data/b";
  EXPECT_NE(outcome(first, lost).reason.value_or("").find("DetachVolume failed"), std::string::npos);
  EXPECT_EQ(detach_records(), std::set<std::string>{record_name(lost)}) << "kept: the call may have gone through";
  f.ec2.settle();
  auto r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(outcome(r, lost).outcome, Outcome::Deleted);
  f.ec2.settle();
  EXPECT_TRUE(f.live_volumes_of(lost).empty());
  EXPECT_TRUE(detach_records().empty());
}

// A DetachVolume EC2 refused leaves the volume attached as it was: its record goes, so that a
// later run cannot delete it once someone else detaches it.
TEST_F(UnmountTest, ARefusedDetachVolumeRemovesItsRecord) {
  std::vector<std::set<std::string>> at_call;
  at_detach = [this, &at_call] { at_call.push_back(detach_records()); };
  f.ec2.fail_next("DetachVolume", ec2::Error{.kind = ec2::ErrorKind::IncorrectState, .message = "injected"});
  auto first = run(true);
  EXPECT_FALSE(first.ok());
  ASSERT_EQ(at_call.size(), 2U);
  for (const auto& records : at_call) EXPECT_FALSE(records.empty()) << "written before the call";
  const auto refused = outcome(first, "/data/a").outcome == Outcome::Failed ? "/data/a" : "/data/b";
  EXPECT_EQ(f.ec2.volume(volume_id(mounted[refused]))->attachments.size(), 1U);
  EXPECT_TRUE(detach_records().empty());
}

// Issue 11: tags are no proof. A detached volume carrying every tag of ours (made by this
// instance for this mount point) that no record shows this instance's unmount detached is
// neither deleted nor planned for deletion: it is left alone, with a warning and in --json.
TEST_F(UnmountTest, ADetachedVolumeTaggedOursWithoutARecordIsLeftAlone) {
  ASSERT_TRUE(run(true).ok());
  f.ec2.settle();
  const auto forged = f.ec2.add_volume(f.our_volume("db", "/data/a", "/dev/sdf"));
  const auto expect_left_alone = [&](const RunReport& r) {
    ASSERT_TRUE(r.ok()) << render_text(r);
    const auto& a = outcome(r, "/data/a");
    EXPECT_EQ(a.outcome, Outcome::NotAttached);
    EXPECT_TRUE(a.plan.empty()) << ::testing::PrintToString(a.plan);
    EXPECT_FALSE(a.volume_id.has_value());
    EXPECT_EQ(a.left_alone, std::vector<std::string>{forged.value});
    ASSERT_EQ(a.warnings.size(), 1U);
    EXPECT_EQ(a.warnings[0], "volume " + forged.value +
                                 " is detached and tagged as ours, but no record shows this instance's unmount "
                                 "detached it: left alone; delete it yourself if it is yours");
    EXPECT_EQ(to_json(r)["groups"][0]["volumes"][0].value("left_alone", nlohmann::ordered_json::array()),
              nlohmann::ordered_json::array({forged.value}));
    EXPECT_TRUE(outcome(r, "/data/b").left_alone.empty());
  };
  f.services.options.dry_run = true;
  expect_left_alone(run(true));
  f.services.options.dry_run = false;
  expect_left_alone(run(true));
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 2) << "only the two volumes of the first run";
  ASSERT_TRUE(f.ec2.volume(forged));
  EXPECT_EQ(f.ec2.volume(forged)->state, ec2::VolumeState::Available);
  // Without --delete-volumes nothing is said about it: nothing would be deleted anyway.
  EXPECT_TRUE(outcome(run(false), "/data/a").left_alone.empty());
}

// Only a record naming exactly that volume proves it: not one of another volume id, not another
// volume's record under its name, not a file that cannot be read as a record.
TEST_F(UnmountTest, ARecordOfAnotherVolumeOrACorruptOneProvesNothing) {
  leave_both_detached();
  const auto a = volume_id(mounted["/data/a"]);
  const auto b = volume_id(mounted["/data/b"]);
  const auto& run_dir = f.services.options.run_dir;
  std::filesystem::remove(run_dir / record_name("/data/a"));
  DetachRecord other{.volume_id = ec2::VolumeId{"vol-0123456789abcdef0"}, .group = "db", .mount_point = "/data/a",
                     .instance_id = f.instance_id.value};
  ASSERT_TRUE(write_detach_record(run_dir, other));
  auto r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(outcome(r, "/data/a").outcome, Outcome::NotAttached);
  EXPECT_EQ(outcome(r, "/data/a").left_alone, std::vector<std::string>{a.value});
  EXPECT_EQ(outcome(r, "/data/b").outcome, Outcome::Deleted) << "its own record proves it";

  // b's record, as it was, copied under a's name; then a file that is no record at all.
  DetachRecord of_b{.volume_id = b, .group = "db", .mount_point = "/data/a", .instance_id = f.instance_id.value};
  ASSERT_TRUE(write_detach_record(run_dir, of_b));
  std::filesystem::rename(of_b.path, run_dir / record_name("/data/a"));
  r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(outcome(r, "/data/a").left_alone, std::vector<std::string>{a.value});
  std::ofstream(run_dir / record_name("/data/a"), std::ios::trunc) << "{\"format\": \"ebsnap-unmount-detach 1\"";
  r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(outcome(r, "/data/a").left_alone, std::vector<std::string>{a.value});
  f.ec2.settle();
  ASSERT_TRUE(f.ec2.volume(a));
  EXPECT_EQ(f.ec2.volume(a)->state, ec2::VolumeState::Available);
}

// Issue 11: unmount checked only its own mount namespace. A device still held elsewhere (a
// container's mount namespace, an exclusive opener) is not detached; neither is one whose
// device node is unknown.
TEST_F(UnmountTest, ADeviceStillInUseElsewhereIsNotDetached) {
  const auto devnode = *mounted["/data/a"].devnode;
  f.devices.set_in_use(devnode, true);
  auto r = run(false);
  EXPECT_FALSE(r.ok());
  const auto& a = outcome(r, "/data/a");
  EXPECT_EQ(a.outcome, Outcome::Failed);
  EXPECT_NE(a.reason.value_or("").find(devnode + " is in use"), std::string::npos) << a.reason.value_or("");
  EXPECT_NE(a.reason.value_or("").find("not detaching"), std::string::npos);
  EXPECT_EQ(f.ec2.volume(volume_id(a))->attachments.size(), 1U) << "still attached";
  EXPECT_EQ(outcome(r, "/data/b").outcome, Outcome::Unmounted);
  EXPECT_EQ(f.ec2.call_count("DetachVolume"), 1);
}

TEST_F(UnmountTest, AVolumeWhoseDeviceIsNotHereIsNotDetachedBlind) {
  f.devices.remove_device(*mounted["/data/a"].devnode);
  ASSERT_TRUE(f.mounter.unmount("/data/a"));
  auto r = run(false);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(outcome(r, "/data/a").reason.value_or("").find("not detaching blind"), std::string::npos)
      << outcome(r, "/data/a").reason.value_or("");
  EXPECT_EQ(f.ec2.volume(volume_id(outcome(r, "/data/a")))->attachments.size(), 1U);
}

TEST_F(UnmountTest, DetachedVolumeOfAnotherInstanceIsNotDeleted) {
  leave_both_detached();
  // Both volumes are now detached, and recorded; one of them says another instance made it.
  const auto id = volume_id(mounted["/data/a"]);
  ASSERT_TRUE(f.ec2.create_tags(ec2::CreateTagsOptions{
      .resource_ids = {id.value}, .tags = {{std::string(k_tag_instance_id), "i-other"}}}));
  auto r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(outcome(r, "/data/a").outcome, Outcome::NotAttached);
  EXPECT_EQ(outcome(r, "/data/b").outcome, Outcome::Deleted);
  f.ec2.settle();
  EXPECT_TRUE(f.ec2.volume(id).has_value());
}

}  // namespace
}  // namespace agent
