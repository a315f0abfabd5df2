// FakeEc2 enforces EC2's rules: the agent's unit tests rely on these behaviours.
#include <gtest/gtest.h>

#include <algorithm>

#include "ec2/testing/fake_ec2.h"
#include "ec2/testing/manual_clock.h"

namespace {

using namespace ec2;
using namespace std::chrono_literals;

class FakeTest : public ::testing::Test {
 protected:
  FakeEc2 ec2{FakeEc2Options{.progress = FakeEc2Options::Progress::Manual}};
  InstanceId instance = ec2.add_instance();

  VolumeId available_volume(int size = 10, std::string az = "us-east-1a") {
    auto v = ec2.create_volume(CreateVolumeOptions{.availability_zone = std::move(az), .size_gib = size});
    EXPECT_TRUE(v) << v.error().describe();
    ec2.settle();
    return v->id;
  }
};

TEST_F(FakeTest, InstanceComesWithAnAttachedRootVolume) {
  auto i = ec2.describe_instances(DescribeInstancesOptions{.instance_ids = {instance}});
  ASSERT_TRUE(i);
  ASSERT_EQ(i->size(), 1u);
  EXPECT_EQ((*i)[0].state, "running");
  ASSERT_EQ((*i)[0].block_device_mappings.size(), 1u);
  EXPECT_EQ((*i)[0].block_device_mappings[0].device_name, "/dev/xvda");
}

TEST_F(FakeTest, ModifyInstanceAttributeSetsDeleteOnTerminationOnTheAttachment) {
  const auto v = available_volume();
  ASSERT_TRUE(ec2.attach_volume({.volume_id = v, .instance_id = instance, .device = "/dev/sdf"}));
  EXPECT_FALSE(ec2.volume(v)->attachments.at(0).delete_on_termination);
  ASSERT_TRUE(ec2.modify_instance_attribute({.instance_id = instance, .device = "/dev/sdf"}));
  EXPECT_TRUE(ec2.volume(v)->attachments.at(0).delete_on_termination);
  const auto mappings = ec2.instance(instance)->block_device_mappings;
  const auto m = std::ranges::find(mappings, v, &InstanceBlockDevice::volume_id);
  ASSERT_NE(m, mappings.end());
  EXPECT_TRUE(m->delete_on_termination);
  auto filtered = ec2.describe_volumes({.filters = {{"attachment.delete-on-termination", {"true"}}}});
  ASSERT_TRUE(filtered);
  EXPECT_EQ(filtered->size(), 2u);  // with the root volume
  ASSERT_TRUE(ec2.modify_instance_attribute(
      {.instance_id = instance, .device = "/dev/sdf", .delete_on_termination = false}));
  EXPECT_FALSE(ec2.volume(v)->attachments.at(0).delete_on_termination);
  EXPECT_EQ(ec2.call_count("ModifyInstanceAttribute"), 2);

  auto unmapped = ec2.modify_instance_attribute({.instance_id = instance, .device = "/dev/sdz"});
  ASSERT_FALSE(unmapped);
  EXPECT_EQ(unmapped.error().aws_code, "InvalidInstanceAttributeValue");
  auto unknown = ec2.modify_instance_attribute({.instance_id = InstanceId{"i-nope"}, .device = "/dev/sdf"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::NotFound);
  auto dry = ec2.modify_instance_attribute({.dry_run = true, .instance_id = instance, .device = "/dev/sdf"});
  EXPECT_EQ(dry.error().kind, ErrorKind::DryRunOk);
  EXPECT_FALSE(ec2.volume(v)->attachments.at(0).delete_on_termination);
}

TEST_F(FakeTest, VolumeLifecycle) {
  auto v =
      ec2.create_volume(CreateVolumeOptions{.availability_zone = "us-east-1a",
                                            .size_gib = 20,
                                            .volume_type = "gp3",
                                            .tag_specifications = {{"volume", {{"ebsnap:group", "solr"}}}}});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->state, VolumeState::Creating);
  EXPECT_EQ(v->iops, 3000);
  EXPECT_EQ(find_tag(v->tags, "ebsnap:group"), "solr");
  // Attaching while creating is refused.
  auto early = ec2.attach_volume({.volume_id = v->id, .instance_id = instance, .device = "/dev/sdf"});
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().kind, ErrorKind::IncorrectState);
  ec2.step();
  EXPECT_EQ(ec2.volume(v->id)->state, VolumeState::Available);

  auto a = ec2.attach_volume({.volume_id = v->id, .instance_id = instance, .device = "/dev/sdf"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->state, AttachmentState::Attaching);
  ec2.step();
  EXPECT_EQ(ec2.volume(v->id)->attachments.at(0).state, AttachmentState::Attached);
  EXPECT_EQ(ec2.volume(v->id)->state, VolumeState::InUse);

  auto del = ec2.delete_volume({.volume_id = v->id});
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().aws_code, "VolumeInUse");

  auto d = ec2.detach_volume({.volume_id = v->id});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->state, AttachmentState::Detaching);
  ec2.step();
  EXPECT_EQ(ec2.volume(v->id)->state, VolumeState::Available);
  EXPECT_TRUE(ec2.volume(v->id)->attachments.empty());

  ASSERT_TRUE(ec2.delete_volume({.volume_id = v->id}));
  EXPECT_EQ(ec2.volume(v->id)->state, VolumeState::Deleting);
  ec2.step();
  EXPECT_FALSE(ec2.volume(v->id));
}

TEST_F(FakeTest, AttachingAnAttachedVolumeIsVolumeInUse) {
  const VolumeId v = available_volume();
  ASSERT_TRUE(ec2.attach_volume({.volume_id = v, .instance_id = instance, .device = "/dev/sdf"}));
  auto again = ec2.attach_volume({.volume_id = v, .instance_id = instance, .device = "/dev/sdg"});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().aws_code, "VolumeInUse");
  EXPECT_EQ(again.error().kind, ErrorKind::IncorrectState);
}

TEST_F(FakeTest, DeviceNameInUseIsInUse) {
  const VolumeId a = available_volume();
  const VolumeId b = available_volume();
  ASSERT_TRUE(ec2.attach_volume({.volume_id = a, .instance_id = instance, .device = "/dev/sdf"}));
  auto clash = ec2.attach_volume({.volume_id = b, .instance_id = instance, .device = "/dev/sdf"});
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().kind, ErrorKind::InUse);
  EXPECT_EQ(clash.error().aws_code, "InvalidParameterValue");
  auto root = ec2.attach_volume({.volume_id = b, .instance_id = instance, .device = "/dev/xvda"});
  ASSERT_FALSE(root);
  EXPECT_EQ(root.error().kind, ErrorKind::InUse);
  auto bad = ec2.attach_volume({.volume_id = b, .instance_id = instance, .device = "sdf"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::InvalidParameter);
}

TEST_F(FakeTest, UnknownIdsAreNotFound) {
  auto v =
      ec2.attach_volume({.volume_id = VolumeId{"vol-nope"}, .instance_id = instance, .device = "/dev/sdf"});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().aws_code, "InvalidVolume.NotFound");
  EXPECT_EQ(v.error().kind, ErrorKind::NotFound);
  const VolumeId real = available_volume();
  auto i = ec2.attach_volume({.volume_id = real, .instance_id = InstanceId{"i-nope"}, .device = "/dev/sdf"});
  EXPECT_EQ(i.error().aws_code, "InvalidInstanceID.NotFound");
  auto d = ec2.describe_volumes({.volume_ids = {real, VolumeId{"vol-nope"}}});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind, ErrorKind::NotFound);
  EXPECT_EQ(ec2.delete_snapshot({.snapshot_id = SnapshotId{"snap-nope"}}).error().aws_code,
            "InvalidSnapshot.NotFound");
  EXPECT_EQ(ec2.create_tags({.resource_ids = {"vol-nope"}, .tags = {{"a", "b"}}}).error().kind,
            ErrorKind::NotFound);
}

TEST_F(FakeTest, DetachingTwiceAndTheRootVolumeAreIncorrectState) {
  const VolumeId v = available_volume();
  ASSERT_TRUE(ec2.attach_volume({.volume_id = v, .instance_id = instance, .device = "/dev/sdf"}));
  ec2.settle();
  ASSERT_TRUE(ec2.detach_volume({.volume_id = v}));
  EXPECT_EQ(ec2.detach_volume({.volume_id = v}).error().kind, ErrorKind::IncorrectState);
  const VolumeId root = ec2.instance(instance)->block_device_mappings.at(0).volume_id;
  EXPECT_EQ(ec2.detach_volume({.volume_id = root}).error().kind, ErrorKind::IncorrectState);
}

TEST_F(FakeTest, ZoneMismatchAndDetachOfAvailableVolume) {
  const VolumeId other = available_volume(10, "us-east-1b");
  auto a = ec2.attach_volume({.volume_id = other, .instance_id = instance, .device = "/dev/sdf"});
  EXPECT_EQ(a.error().aws_code, "InvalidVolume.ZoneMismatch");
  auto d = ec2.detach_volume({.volume_id = other});
  EXPECT_EQ(d.error().kind, ErrorKind::IncorrectState);
  auto z = ec2.create_volume({.availability_zone = "eu-west-1a", .size_gib = 1});
  EXPECT_EQ(z.error().kind, ErrorKind::InvalidParameter);
}

TEST_F(FakeTest, ClientTokenIsIdempotentAndBoundAfterDelete) {
  const CreateVolumeOptions o{.availability_zone = "us-east-1a", .size_gib = 5, .client_token = "tok"};
  auto first = ec2.create_volume(o);
  auto second = ec2.create_volume(o);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->id, second->id);
  EXPECT_EQ(ec2.volumes().size(), 2u);  // root + one
  auto other = o;
  other.size_gib = 6;
  EXPECT_EQ(ec2.create_volume(other).error().aws_code, "IdempotentParameterMismatch");
  ec2.settle();
  ASSERT_TRUE(ec2.delete_volume({.volume_id = first->id}));
  ec2.settle();
  auto after = ec2.create_volume(o);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->id, first->id);  // EC2 keeps the token bound to the deleted volume
  EXPECT_EQ(after->state, VolumeState::Deleted);
  EXPECT_FALSE(ec2.volume(first->id));
}

TEST_F(FakeTest, VolumeFromSnapshot) {
  const SnapshotId done = ec2.add_snapshot(Snapshot{.volume_size_gib = 8});
  const SnapshotId pending =
      ec2.add_snapshot(Snapshot{.state = SnapshotState::Pending, .volume_size_gib = 8});
  auto v = ec2.create_volume({.availability_zone = "us-east-1a", .snapshot_id = done});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->size_gib, 8);
  EXPECT_EQ(v->snapshot_id, done);
  EXPECT_EQ(
      ec2.create_volume({.availability_zone = "us-east-1a", .size_gib = 4, .snapshot_id = done}).error().kind,
      ErrorKind::InvalidParameter);
  EXPECT_EQ(ec2.create_volume({.availability_zone = "us-east-1a", .snapshot_id = pending}).error().kind,
            ErrorKind::IncorrectState);
}

TEST_F(FakeTest, SnapshotsOfAnInstanceShareOnePointInTime) {
  const VolumeId a = available_volume();
  const VolumeId b = available_volume();
  ASSERT_TRUE(ec2.create_tags({.resource_ids = {a.value}, .tags = {{"team", "search"}}}));
  ASSERT_TRUE(ec2.attach_volume({.volume_id = a, .instance_id = instance, .device = "/dev/sdf"}));
  ASSERT_TRUE(ec2.attach_volume({.volume_id = b, .instance_id = instance, .device = "/dev/sdg"}));
  ec2.settle();
  auto snaps = ec2.create_snapshots(
      {.instance_id = instance,
       .instance_specification = {.exclude_boot_volume = true, .exclude_data_volume_ids = {b}},
       .tag_specifications = {{"snapshot", {{"ebsnap:run", "r1"}}}},
       .copy_tags_from_source = "volume"});
  ASSERT_TRUE(snaps) << snaps.error().describe();
  ASSERT_EQ(snaps->size(), 1u);
  EXPECT_EQ((*snaps)[0].volume_id, a);
  EXPECT_EQ((*snaps)[0].state, SnapshotState::Pending);
  EXPECT_EQ(find_tag((*snaps)[0].tags, "team"), "search");
  EXPECT_EQ(find_tag((*snaps)[0].tags, "ebsnap:run"), "r1");
  auto all = ec2.create_snapshots({.instance_id = instance});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3u);  // root, a, b
  EXPECT_EQ((*all)[0].start_time, (*all)[2].start_time);
}

TEST_F(FakeTest, DescribeFiltersOwnersAndWildcards) {
  ec2.add_snapshot(
      Snapshot{.description = "mine", .tags = {{"ebsnap:mount-point", "/mnt/solr"}, {"role", "solr"}}});
  ec2.add_snapshot(Snapshot{
      .owner_id = "999999999999", .description = "theirs", .tags = {{"ebsnap:mount-point", "/mnt/solr"}}});
  ec2.add_snapshot(Snapshot{.state = SnapshotState::Pending,
                            .description = "pending",
                            .tags = {{"ebsnap:mount-point", "/mnt/pg"}}});
  auto self =
      ec2.describe_snapshots({.owner_ids = {"self"}, .filters = {{"tag:ebsnap:mount-point", {"/mnt/s*"}}}});
  ASSERT_TRUE(self);
  ASSERT_EQ(self->size(), 1u);
  EXPECT_EQ((*self)[0].description, "mine");
  auto any = ec2.describe_snapshots(
      {.filters = {{"tag:ebsnap:mount-point", {"/mnt/solr", "/mnt/pg"}}, {"status", {"completed"}}}});
  EXPECT_EQ(any->size(), 2u);
  EXPECT_EQ(ec2.describe_snapshots({.filters = {{"tag-key", {"rol?"}}}})->size(), 1u);
  auto bad = ec2.describe_snapshots({.filters = {{"no-such-filter", {"x"}}}});
  EXPECT_EQ(bad.error().kind, ErrorKind::InvalidParameter);
  auto combo = ec2.describe_snapshots({.snapshot_ids = {(*self)[0].id}, .max_results = 5});
  EXPECT_EQ(combo.error().aws_code, "InvalidParameterCombination");
}

TEST_F(FakeTest, VolumeFiltersByAttachment) {
  const VolumeId a = available_volume();
  available_volume();
  ASSERT_TRUE(ec2.attach_volume({.volume_id = a, .instance_id = instance, .device = "/dev/sdf"}));
  auto attached = ec2.describe_volumes(
      {.filters = {{"attachment.instance-id", {instance.value}}, {"attachment.device", {"/dev/sd*"}}}});
  ASSERT_TRUE(attached);
  ASSERT_EQ(attached->size(), 1u);
  EXPECT_EQ((*attached)[0].id, a);
  EXPECT_EQ(ec2.describe_volumes({.filters = {{"status", {"available"}}}})->size(), 1u);
}

TEST_F(FakeTest, TagsCreateAndDelete) {
  const VolumeId v = available_volume();
  ASSERT_TRUE(ec2.create_tags({.resource_ids = {v.value}, .tags = {{"a", "1"}, {"b", "2"}, {"c", "3"}}}));
  ASSERT_TRUE(ec2.create_tags({.resource_ids = {v.value}, .tags = {{"a", "9"}}}));
  ASSERT_TRUE(ec2.delete_tags(
      {.resource_ids = {v.value}, .tags = {{"b", std::string("wrong")}, {"c", std::nullopt}}}));
  EXPECT_EQ(ec2.volume(v)->tags, (std::vector<Tag>{{"a", "9"}, {"b", "2"}}));
  EXPECT_EQ(ec2.create_tags({.resource_ids = {v.value}, .tags = {{"aws:x", "1"}}}).error().kind,
            ErrorKind::InvalidParameter);
}

TEST_F(FakeTest, DryRunAndDeniedActions) {
  const VolumeId v = available_volume();
  auto ok =
      ec2.attach_volume({.dry_run = true, .volume_id = v, .instance_id = instance, .device = "/dev/sdf"});
  EXPECT_EQ(ok.error().kind, ErrorKind::DryRunOk);
  EXPECT_TRUE(ec2.volume(v)->attachments.empty());
  ec2.deny("CreateSnapshots");
  EXPECT_EQ(ec2.create_snapshots({.dry_run = true, .instance_id = instance}).error().kind,
            ErrorKind::Unauthorized);
}

TEST_F(FakeTest, AGrantConditionedOnATagCoversOnlyResourcesCarryingIt) {
  const VolumeId tagged = ec2.add_volume({.size_gib = 1, .tags = {{"ebsnap:group", "solr"}}});
  const VolumeId other = available_volume();
  ec2.require_resource_tag("DeleteVolume", "ebsnap:group");
  EXPECT_EQ(ec2.delete_volume({.dry_run = true, .volume_id = tagged}).error().kind, ErrorKind::DryRunOk);
  EXPECT_EQ(ec2.delete_volume({.dry_run = true, .volume_id = other}).error().kind, ErrorKind::Unauthorized);
  // What does not exist has no tags for IAM to see.
  EXPECT_EQ(ec2.delete_volume({.volume_id = VolumeId{"vol-0123456789abcdef0"}}).error().kind,
            ErrorKind::Unauthorized);
  EXPECT_EQ(ec2.delete_volume({.volume_id = other}).error().kind, ErrorKind::Unauthorized);
  EXPECT_TRUE(ec2.volume(other).has_value());
  EXPECT_TRUE(ec2.delete_volume({.volume_id = tagged}));
  // Other actions are not affected.
  EXPECT_EQ(ec2.detach_volume({.dry_run = true, .volume_id = other}).error().kind, ErrorKind::DryRunOk);
}

TEST_F(FakeTest, AServedDryRunAnswersWithTheData) {
  const VolumeId v = available_volume();
  ec2.serve_dry_run("DescribeVolumes");
  auto described = ec2.describe_volumes({.dry_run = true, .volume_ids = {v}});
  ASSERT_TRUE(described) << described.error().describe();
  EXPECT_EQ(described->size(), 1U);
  EXPECT_EQ(ec2.describe_snapshots({.dry_run = true}).error().kind, ErrorKind::DryRunOk);
}

TEST_F(FakeTest, InjectedFailuresAndLostResponses) {
  ec2.fail_next("DescribeVolumes",
                Error{.message = "slow down", .aws_code = "RequestLimitExceeded", .http_status = 503}, 2);
  EXPECT_EQ(ec2.describe_volumes({}).error().kind, ErrorKind::Throttled);
  EXPECT_EQ(ec2.describe_volumes({}).error().kind, ErrorKind::Throttled);
  EXPECT_TRUE(ec2.describe_volumes({}));

  const VolumeId v = available_volume();
  ec2.lose_next_response("CreateSnapshot");
  auto lost =
      ec2.create_snapshot({.volume_id = v, .tag_specifications = {{"snapshot", {{"ebsnap:run", "r7"}}}}});
  ASSERT_FALSE(lost);
  EXPECT_TRUE(lost.error().maybe_applied);
  // It was applied: the agent finds it by its tag.
  auto found = ec2.describe_snapshots({.filters = {{"tag:ebsnap:run", {"r7"}}}});
  ASSERT_TRUE(found);
  EXPECT_EQ(found->size(), 1u);
  EXPECT_EQ(ec2.call_count("CreateSnapshot"), 1);
}

TEST(FakeEc2Progress, OnDescribeAdvancesAfterAnswering) {
  FakeEc2 ec2;
  auto v = ec2.create_volume({.availability_zone = "us-east-1a", .size_gib = 1});
  ASSERT_TRUE(v);
  EXPECT_EQ(ec2.describe_volumes({.volume_ids = {v->id}})->at(0).state, VolumeState::Creating);
  EXPECT_EQ(ec2.describe_volumes({.volume_ids = {v->id}})->at(0).state, VolumeState::Available);
}

TEST(FakeEc2Progress, ClockAdvancesByDelays) {
  ManualClock clock;
  FakeEc2 ec2(FakeEc2Options{.progress = FakeEc2Options::Progress::Clock,
                             .clock = &clock,
                             .volume_create_delay = 3s,
                             .snapshot_delay = 10s});
  auto v = ec2.create_volume({.availability_zone = "us-east-1a", .size_gib = 1});
  ASSERT_TRUE(v);
  clock.advance(2s);
  EXPECT_EQ(ec2.describe_volumes({})->at(0).state, VolumeState::Creating);
  clock.advance(1s);
  EXPECT_EQ(ec2.describe_volumes({})->at(0).state, VolumeState::Available);
  auto s = ec2.create_snapshot({.volume_id = v->id});
  ASSERT_TRUE(s);
  clock.advance(9s);
  EXPECT_EQ(ec2.describe_snapshots({})->at(0).state, SnapshotState::Pending);
  clock.advance(1s);
  EXPECT_EQ(ec2.describe_snapshots({})->at(0).progress, 100);
}

TEST(FakeEc2Progress, OnCallHookSeesEveryAction) {
  FakeEc2 ec2;
  std::vector<std::string> seen;
  ec2.on_call([&](std::string_view a) { seen.emplace_back(a); });
  (void)ec2.describe_instances({});
  (void)ec2.describe_volumes({});
  EXPECT_EQ(seen, (std::vector<std::string>{"DescribeInstances", "DescribeVolumes"}));
  EXPECT_EQ(ec2.calls(), seen);
}

}  // namespace

namespace {

using namespace ec2;

// CopySnapshot across two fakes: the destination reads the source region's snapshot.
TEST(FakeCopy, CopiesFromAnotherRegionsFakeWithinEc2sLimits) {
  FakeEc2 home{FakeEc2Options{.region = "eu-west-1", .progress = FakeEc2Options::Progress::Manual}};
  FakeEc2 dr{FakeEc2Options{
      .region = "us-west-2", .progress = FakeEc2Options::Progress::Manual, .first_id = 0x2000'0000}};
  dr.add_source_region("eu-west-1", home);
  const SnapshotId source = home.add_snapshot(
      Snapshot{.volume_id = VolumeId{"vol-1"}, .state = SnapshotState::Completed, .volume_size_gib = 8});
  auto copy = dr.copy_snapshot(CopySnapshotOptions{.source_region = "eu-west-1",
                                                   .source_snapshot_id = source,
                                                   .tag_specifications = {{"snapshot", {{"k", "v"}}}},
                                                   .completion_duration_minutes = 60,
                                                   .presigned_url = "https://signed"});
  ASSERT_TRUE(copy) << copy.error().describe();
  const auto c = dr.snapshot(*copy);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state, SnapshotState::Pending);
  EXPECT_EQ(c->volume_id.value, "vol-ffffffff");
  EXPECT_EQ(c->volume_size_gib, 8);
  EXPECT_EQ(find_tag(c->tags, "k"), "v");
  EXPECT_FALSE(home.snapshot(*copy));
  ASSERT_EQ(dr.copy_requests().size(), 1u);
  EXPECT_EQ(dr.copy_requests()[0].presigned_url, "https://signed");

  auto bad = dr.copy_snapshot(CopySnapshotOptions{
      .source_region = "eu-west-1", .source_snapshot_id = source, .completion_duration_minutes = 20});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().aws_code, "InvalidParameterValue");
  auto missing = dr.copy_snapshot(
      CopySnapshotOptions{.source_region = "eu-west-1", .source_snapshot_id = SnapshotId{"snap-nope"}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);

  for (long i = 1; i < k_fake_max_pending_copies; ++i) {
    ASSERT_TRUE(dr.copy_snapshot(CopySnapshotOptions{.source_region = "eu-west-1", .source_snapshot_id = source}));
  }
  auto over = dr.copy_snapshot(CopySnapshotOptions{.source_region = "eu-west-1", .source_snapshot_id = source});
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().aws_code, "ResourceLimitExceeded");
  EXPECT_EQ(over.error().kind, ErrorKind::LimitExceeded);
  dr.settle();  // the copies complete: room again
  EXPECT_TRUE(dr.copy_snapshot(CopySnapshotOptions{.source_region = "eu-west-1", .source_snapshot_id = source}));
}

}  // namespace
