// One scenario of EC2's rules, run against both Ec2Api implementations: FakeEc2 (which the
// agent's unit tests trust) and the real client against the sandbox. If they disagree, the
// fake is lying to the agent's tests.
#include <gtest/gtest.h>

#include "ec2/testing/fake_ec2.h"
#include "ec2/waiter.h"
#include "tests/integration/ec2_sandbox_fixture.h"

namespace {

using namespace ec2;
using namespace std::chrono_literals;

void expect_error(const Result<VolumeAttachment>& r, ErrorKind kind, const std::string& code) {
  ASSERT_FALSE(r) << "expected " << code;
  EXPECT_EQ(r.error().kind, kind) << r.error().describe();
  EXPECT_EQ(r.error().aws_code, code) << r.error().describe();
}

void ec2_rules(Ec2Api& api, const InstanceId& instance, const std::string& az, const std::string& other_az,
               const std::string& token_prefix) {
  Waiter waiter(WaiterOptions{.initial_delay = 20ms, .max_delay = 200ms, .timeout = 30s});

  // ClientToken: the same token and parameters → the same volume; other parameters → mismatch.
  const CreateVolumeOptions create_a{
      .availability_zone = az, .size_gib = 1, .client_token = token_prefix + "-a"};
  auto a = api.create_volume(create_a);
  ASSERT_TRUE(a) << a.error().describe();
  EXPECT_EQ(a->state, VolumeState::Creating);
  auto a_again = api.create_volume(create_a);
  ASSERT_TRUE(a_again) << a_again.error().describe();
  EXPECT_EQ(a_again->id, a->id);
  auto mismatch = api.create_volume(
      CreateVolumeOptions{.availability_zone = az, .size_gib = 2, .client_token = token_prefix + "-a"});
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().aws_code, "IdempotentParameterMismatch");

  auto b = api.create_volume(CreateVolumeOptions{.availability_zone = az, .size_gib = 1});
  ASSERT_TRUE(b);
  auto far = api.create_volume(CreateVolumeOptions{.availability_zone = other_az, .size_gib = 1});
  ASSERT_TRUE(far) << far.error().describe();
  ASSERT_TRUE(waiter.volumes(api, {a->id, b->id, far->id}, VolumeState::Available));

  // Attach rules.
  ASSERT_TRUE(api.attach_volume({.volume_id = a->id, .instance_id = instance, .device = "/dev/sdf"}));
  expect_error(api.attach_volume({.volume_id = a->id, .instance_id = instance, .device = "/dev/sdg"}),
               ErrorKind::IncorrectState, "VolumeInUse");
  expect_error(api.attach_volume({.volume_id = b->id, .instance_id = instance, .device = "/dev/sdf"}),
               ErrorKind::InUse, "InvalidParameterValue");
  expect_error(api.attach_volume({.volume_id = b->id, .instance_id = instance, .device = "sdf"}),
               ErrorKind::InvalidParameter, "InvalidParameterValue");
  expect_error(api.attach_volume({.volume_id = far->id, .instance_id = instance, .device = "/dev/sdh"}),
               ErrorKind::InvalidParameter, "InvalidVolume.ZoneMismatch");
  expect_error(
      api.attach_volume(
          {.volume_id = VolumeId{"vol-0ffffffffffffffff"}, .instance_id = instance, .device = "/dev/sdh"}),
      ErrorKind::NotFound, "InvalidVolume.NotFound");
  expect_error(
      api.attach_volume(
          {.volume_id = b->id, .instance_id = InstanceId{"i-0ffffffffffffffff"}, .device = "/dev/sdh"}),
      ErrorKind::NotFound, "InvalidInstanceID.NotFound");
  auto dry =
      api.attach_volume({.dry_run = true, .volume_id = b->id, .instance_id = instance, .device = "/dev/sdh"});
  ASSERT_FALSE(dry);
  EXPECT_EQ(dry.error().kind, ErrorKind::DryRunOk);

  // Delete and detach rules.
  auto del_attached = api.delete_volume({.volume_id = a->id});
  ASSERT_FALSE(del_attached);
  EXPECT_EQ(del_attached.error().aws_code, "VolumeInUse");
  expect_error(api.detach_volume({.volume_id = b->id}), ErrorKind::IncorrectState, "IncorrectState");
  ASSERT_TRUE(waiter.attachments(api, {a->id}, instance, AttachmentState::Attached));
  expect_error(api.detach_volume({.volume_id = a->id, .instance_id = InstanceId{"i-0eeeeeeeeeeeeeeee"}}),
               ErrorKind::NotFound, "InvalidAttachment.NotFound");
  auto detach = api.detach_volume({.volume_id = a->id, .instance_id = instance});
  ASSERT_TRUE(detach) << detach.error().describe();
  EXPECT_EQ(detach->state, AttachmentState::Detaching);
  ASSERT_TRUE(waiter.attachments(api, {a->id}, instance, AttachmentState::Detached));

  // Snapshots and tags of things that do not exist.
  auto snap = api.create_snapshot({.volume_id = VolumeId{"vol-0ffffffffffffffff"}});
  ASSERT_FALSE(snap);
  EXPECT_EQ(snap.error().aws_code, "InvalidVolume.NotFound");
  auto del_snap = api.delete_snapshot({.snapshot_id = SnapshotId{"snap-0ffffffffffffffff"}});
  ASSERT_FALSE(del_snap);
  EXPECT_EQ(del_snap.error().aws_code, "InvalidSnapshot.NotFound");
  auto tag = api.create_tags({.resource_ids = {"vol-0ffffffffffffffff"}, .tags = {{"k", "v"}}});
  ASSERT_FALSE(tag);
  EXPECT_EQ(tag.error().kind, ErrorKind::NotFound) << tag.error().describe();
  auto described = api.describe_volumes({.volume_ids = {a->id, VolumeId{"vol-0ffffffffffffffff"}}});
  ASSERT_FALSE(described);
  EXPECT_EQ(described.error().aws_code, "InvalidVolume.NotFound");

  // VolumeInitializationRate: only for a volume from a snapshot (aws-ebs-csi-driver #2691), 100..300.
  auto rate_empty = api.create_volume({.availability_zone = az, .size_gib = 1, .initialization_rate = 200});
  ASSERT_FALSE(rate_empty);
  EXPECT_EQ(rate_empty.error().aws_code, "InvalidParameterCombination") << rate_empty.error().describe();
  auto source = api.create_snapshot({.volume_id = b->id});
  ASSERT_TRUE(source) << source.error().describe();
  ASSERT_TRUE(waiter.snapshots(api, {source->id}, SnapshotState::Completed));
  auto too_slow =
      api.create_volume({.availability_zone = az, .snapshot_id = source->id, .initialization_rate = 99});
  ASSERT_FALSE(too_slow);
  EXPECT_EQ(too_slow.error().aws_code, "InvalidParameterValue") << too_slow.error().describe();
  auto fast =
      api.create_volume({.availability_zone = az, .snapshot_id = source->id, .initialization_rate = 300});
  ASSERT_TRUE(fast) << fast.error().describe();
  auto statuses = api.describe_volume_status({.volume_ids = {fast->id, b->id}});
  ASSERT_TRUE(statuses) << statuses.error().describe();
  ASSERT_EQ(statuses->size(), 2u);
  for (const auto& st : *statuses) {
    EXPECT_EQ(st.initialization.has_value(), st.volume_id == fast->id) << st.volume_id;
    if (!st.initialization) continue;
    EXPECT_EQ(st.initialization->type, "provisioned-rate");
    EXPECT_TRUE(st.initialization->progress);
    EXPECT_TRUE(st.initialization->estimated_seconds_left);
  }
  ASSERT_TRUE(waiter.volumes(api, {fast->id}, VolumeState::Available));
  ASSERT_TRUE(api.delete_volume({.volume_id = fast->id}));
  ASSERT_TRUE(api.delete_snapshot({.snapshot_id = source->id}));

  // A token stays bound to its volume after the volume is deleted.
  for (const auto& id : {a->id, b->id, far->id}) ASSERT_TRUE(api.delete_volume({.volume_id = id}));
  ASSERT_TRUE(waiter.volumes(api, {a->id, b->id, far->id}, VolumeState::Deleted));
  auto after = api.create_volume(create_a);
  ASSERT_TRUE(after) << after.error().describe();
  EXPECT_EQ(after->id, a->id);
  EXPECT_EQ(after->state, VolumeState::Deleted);
}

TEST(Ec2Conformance, FakeEc2FollowsEc2Rules) {
  FakeEc2 fake(FakeEc2Options{.region = "eu-west-1"});
  const InstanceId instance = fake.add_instance(FakeInstanceSpec{.availability_zone = "eu-west-1a"});
  ec2_rules(fake, instance, "eu-west-1a", "eu-west-1b", "fake");
}

class Ec2ConformanceSandbox : public ec2test::SandboxSuite {};

TEST_F(Ec2ConformanceSandbox, RealClientAgainstTheSandboxFollowsTheSameRules) {
  auto c = client();
  const std::string az = sandbox().availability_zone();
  const std::string other =
      az.back() == 'a' ? az.substr(0, az.size() - 1) + "b" : az.substr(0, az.size() - 1) + "a";
  ec2_rules(*c, InstanceId{sandbox().instance_id()}, az, other, "sandbox");
}

}  // namespace
