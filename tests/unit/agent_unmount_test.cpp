// ebsnap unmount against fakes.
#include <gtest/gtest.h>

#include "agent/commands/mount.h"
#include "agent/commands/unmount.h"
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
    f.ec2.on_call([this](std::string_view action) {
      if (action != "DetachVolume") return;
      // The kernel drops the device once EC2 detaches: here, as soon as DetachVolume is called.
      for (const auto& [mp, v] : mounted) {
        auto found = f.devices.find_by_serial(*v.volume_id);
        if (found && *found && detach_removes) {
          auto m = f.mounter.find_by_source((*found)->devnode);
          if (m && m->empty()) f.devices.remove_device((*found)->devnode);
        }
      }
    });
  }
  RunReport run(bool delete_volumes) { return unmount(f.context(), {.delete_volumes = delete_volumes}); }

  FakeInstance f;
  std::map<std::string, VolumeReport> mounted;
  bool detach_removes = true;
};

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
  // The run dies after DetachVolume, before DeleteVolume: here DeleteVolume fails.
  f.ec2.fail_next("DeleteVolume", ec2::Error{.kind = ec2::ErrorKind::ServerError, .message = "injected"});
  auto first = run(true);
  EXPECT_FALSE(first.ok());
  f.ec2.settle();
  auto r = run(true);
  ASSERT_TRUE(r.ok()) << render_text(r);
  f.ec2.settle();
  EXPECT_TRUE(f.live_volumes_of("/data/a").empty());
  EXPECT_TRUE(f.live_volumes_of("/data/b").empty());
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
  ASSERT_TRUE(run(false).ok());
  f.ec2.settle();
  // Both volumes are now detached; one of them says another instance made it.
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
