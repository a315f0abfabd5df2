// The simulated account (bench/fleet/account.h), driven through ebsnap's real Ec2Client: what
// it answers must be what ec2/ parses, with EC2's states, filters, idempotency and throttling.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/core/tags.h"
#include "bench/fleet/account.h"
#include "ec2/ec2_client.h"
#include "ec2/testing/manual_clock.h"

namespace {

using namespace std::chrono_literals;
using ec2::ErrorKind;

std::vector<std::string> ids_of(const auto& resources) {
  std::vector<std::string> out;
  for (const auto& r : resources) out.push_back(r.id.value);
  std::ranges::sort(out);
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::ranges::sort(v);
  return v;
}

class FleetAccount : public ::testing::Test {
 protected:
  explicit FleetAccount(fleet::AccountOptions options = {}) : account_(std::move(options), clock_) {}

  // The real client, signing and retrying on the manual clock.
  std::unique_ptr<ec2::Ec2Client> client(int max_attempts = 3) {
    return fleet::direct_client(account_, clock_, clock_, random_, max_attempts);
  }

  ec2::Volume volume(ec2::Ec2Client& c, const ec2::VolumeId& id) {
    auto found = c.describe_volumes({.volume_ids = {id}});
    EXPECT_TRUE(found) << found.error().describe();
    EXPECT_EQ(found->size(), 1u);
    return found->front();
  }

  ec2::ManualClock clock_;
  ec2::SequenceRandom random_{{0.5}};
  fleet::Account account_;
};

TEST(FleetSpread, DrawsMinMedianAndMaxAtTheEnds) {
  const fleet::Spread spread{.min_s = 1, .median_s = 1.5, .max_s = 4};
  EXPECT_DOUBLE_EQ(spread.draw(0.0), 1.0);
  EXPECT_NEAR(spread.draw(0.5), 1.5, 1e-9);
  EXPECT_NEAR(spread.draw(1.0), 4.0, 1e-9);
  EXPECT_LT(spread.draw(0.25), spread.draw(0.75));
}

TEST_F(FleetAccount, CreatedVolumeIsCreatingUntilItsDrawnTimeThenAvailable) {
  auto c = client();
  auto created = c->create_volume({.availability_zone = "us-east-1a", .size_gib = 10, .volume_type = "gp3"});
  ASSERT_TRUE(created) << created.error().describe();
  EXPECT_EQ(created->state, ec2::VolumeState::Creating);
  EXPECT_EQ(created->size_gib, 10);
  EXPECT_EQ(created->iops, 3000);
  // The default spread is 1–4 s.
  clock_.advance(999ms);
  EXPECT_EQ(volume(*c, created->id).state, ec2::VolumeState::Creating);
  clock_.advance(3001ms);
  EXPECT_EQ(volume(*c, created->id).state, ec2::VolumeState::Available);
}

class FleetAccountNarrowSpread : public FleetAccount {
 protected:
  FleetAccountNarrowSpread()
      : FleetAccount(fleet::AccountOptions{.volume_create = {.min_s = 2, .median_s = 2.5, .max_s = 3},
                                           .attach = {.min_s = 5, .median_s = 5.5, .max_s = 6}}) {}
};

TEST_F(FleetAccountNarrowSpread, VolumeTurnsAvailableWithinTheConfiguredSpread) {
  auto c = client();
  auto created = c->create_volume({.availability_zone = "us-east-1a", .size_gib = 1});
  ASSERT_TRUE(created);
  clock_.advance(1999ms);
  EXPECT_EQ(volume(*c, created->id).state, ec2::VolumeState::Creating);
  clock_.advance(1001ms);
  EXPECT_EQ(volume(*c, created->id).state, ec2::VolumeState::Available);
}

TEST_F(FleetAccountNarrowSpread, AttachIsAttachingUntilAttachedAt) {
  auto c = client();
  const auto instance = account_.add_instance("us-east-1a");
  auto created = c->create_volume({.availability_zone = "us-east-1a", .size_gib = 1});
  ASSERT_TRUE(created);
  clock_.advance(3s);
  const auto asked = clock_.now();
  auto attached = c->attach_volume({.volume_id = created->id, .instance_id = instance, .device = "/dev/sdf"});
  ASSERT_TRUE(attached) << attached.error().describe();
  EXPECT_EQ(attached->state, ec2::AttachmentState::Attaching);
  EXPECT_EQ(attached->device, "/dev/sdf");

  const auto at = account_.attached_at(created->id.value, instance);
  ASSERT_TRUE(at);
  EXPECT_GE(*at, asked + 5s);
  EXPECT_LE(*at, asked + 6s);
  EXPECT_FALSE(account_.attached_at(created->id.value, ec2::InstanceId{"i-00000000000000000"}));

  clock_.advance(std::chrono::duration_cast<std::chrono::milliseconds>(*at - clock_.now()) - 1ms);
  auto v = volume(*c, created->id);
  EXPECT_EQ(v.state, ec2::VolumeState::InUse);
  ASSERT_EQ(v.attachments.size(), 1u);
  EXPECT_EQ(v.attachments[0].state, ec2::AttachmentState::Attaching);
  clock_.advance(1ms);
  v = volume(*c, created->id);
  ASSERT_EQ(v.attachments.size(), 1u);
  EXPECT_EQ(v.attachments[0].state, ec2::AttachmentState::Attached);
  EXPECT_EQ(v.attachments[0].instance_id, instance);
}

TEST_F(FleetAccount, SameClientTokenAnswersTheSameVolume) {
  auto c = client();
  const ec2::CreateVolumeOptions o{.availability_zone = "us-east-1a", .size_gib = 5, .client_token = "restore-1"};
  auto first = c->create_volume(o);
  auto second = c->create_volume(o);
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_EQ(first->id, second->id);
  EXPECT_EQ(account_.volume_count(), 1u);

  auto other = o;
  other.size_gib = 6;
  auto mismatch = c->create_volume(other);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().kind, ErrorKind::IdempotencyMismatch);
}

TEST_F(FleetAccount, VolumeFromSnapshotTakesItsSizeAndTags) {
  auto c = client();
  const auto snap = account_.add_snapshot(20, {{"ebsnap:group", "g"}}, clock_.now() - 1h);
  auto created = c->create_volume({.availability_zone = "us-east-1b",
                                   .snapshot_id = snap,
                                   .volume_type = "gp3",
                                   .tag_specifications = {{"volume", {{"a", "<&\"'>"}}}},
                                   .initialization_rate = 200});
  ASSERT_TRUE(created) << created.error().describe();
  EXPECT_EQ(created->size_gib, 20);
  EXPECT_EQ(created->snapshot_id, snap);
  EXPECT_EQ(created->initialization_rate, 200);
  ASSERT_EQ(created->tags.size(), 1u);
  EXPECT_EQ(created->tags[0].value, "<&\"'>");  // escaped in the XML, read back as it was

  auto too_small = c->create_volume({.availability_zone = "us-east-1b", .size_gib = 10, .snapshot_id = snap});
  ASSERT_FALSE(too_small);
  EXPECT_EQ(too_small.error().aws_code, "InvalidParameterValue");
  auto unknown = c->create_volume({.availability_zone = "us-east-1b", .snapshot_id = ec2::SnapshotId{"snap-1"}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::NotFound);
  auto no_size = c->create_volume({.availability_zone = "us-east-1b"});
  ASSERT_FALSE(no_size);
  EXPECT_EQ(no_size.error().aws_code, "MissingParameter");
}

TEST_F(FleetAccount, TakenDeviceNameIsInUse) {
  auto c = client();
  const auto instance = account_.add_instance("us-east-1a");
  auto a = c->create_volume({.availability_zone = "us-east-1a", .size_gib = 1});
  auto b = c->create_volume({.availability_zone = "us-east-1a", .size_gib = 1});
  auto elsewhere = c->create_volume({.availability_zone = "us-east-1c", .size_gib = 1});
  ASSERT_TRUE(a && b && elsewhere);
  clock_.advance(5s);
  ASSERT_TRUE(c->attach_volume({.volume_id = a->id, .instance_id = instance, .device = "/dev/sdf"}));

  auto taken = c->attach_volume({.volume_id = b->id, .instance_id = instance, .device = "/dev/sdf"});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().kind, ErrorKind::InUse);
  auto root = c->attach_volume({.volume_id = b->id, .instance_id = instance, .device = "/dev/xvda"});
  ASSERT_FALSE(root);
  EXPECT_EQ(root.error().kind, ErrorKind::InUse);
  auto again = c->attach_volume({.volume_id = a->id, .instance_id = instance, .device = "/dev/sdg"});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::IncorrectState);
  auto zone = c->attach_volume({.volume_id = elsewhere->id, .instance_id = instance, .device = "/dev/sdg"});
  ASSERT_FALSE(zone);
  EXPECT_EQ(zone.error().aws_code, "InvalidVolume.ZoneMismatch");
  EXPECT_TRUE(c->attach_volume({.volume_id = b->id, .instance_id = instance, .device = "/dev/sdg"}));
}

TEST_F(FleetAccount, DescribeInstancesShowsPlacementAndMappingsAndDeleteOnTermination) {
  auto c = client();
  const auto instance = account_.add_instance("us-east-1d");
  auto v = c->create_volume({.availability_zone = "us-east-1d", .size_gib = 1});
  ASSERT_TRUE(v);
  clock_.advance(5s);
  ASSERT_TRUE(c->attach_volume({.volume_id = v->id, .instance_id = instance, .device = "/dev/sdh"}));
  ASSERT_TRUE(c->modify_instance_attribute({.instance_id = instance, .device = "/dev/sdh", .delete_on_termination = true}));
  auto missing = c->modify_instance_attribute({.instance_id = instance, .device = "/dev/sdz"});
  ASSERT_FALSE(missing);

  auto found = c->describe_instances({.instance_ids = {instance}});
  ASSERT_TRUE(found) << found.error().describe();
  ASSERT_EQ(found->size(), 1u);
  const auto& i = found->front();
  EXPECT_EQ(i.availability_zone, "us-east-1d");
  EXPECT_EQ(i.root_device_name, "/dev/xvda");
  ASSERT_EQ(i.block_device_mappings.size(), 2u);
  EXPECT_EQ(i.block_device_mappings[1].device_name, "/dev/sdh");
  EXPECT_EQ(i.block_device_mappings[1].volume_id, v->id);
  EXPECT_TRUE(i.block_device_mappings[1].delete_on_termination);
  EXPECT_TRUE(volume(*c, v->id).attachments.at(0).delete_on_termination);
}

TEST_F(FleetAccount, MountsTagFiltersFindTheLineageAndOurVolumes) {
  auto c = client();
  const auto g = std::string(agent::k_tag_group);
  const auto mp = std::string(agent::k_tag_mount_point);
  const auto t = clock_.now() - 1h;
  const auto mine_data = account_.add_snapshot(8, {{g, "db"}, {mp, "/data"}, {"host", "h1"}}, t);
  const auto mine_logs = account_.add_snapshot(8, {{g, "db"}, {mp, "/logs"}, {"host", "h1"}}, t);
  account_.add_snapshot(8, {{g, "db"}, {mp, "/data"}, {"host", "h2"}}, t);  // another host's
  account_.add_snapshot(8, {{g, "db"}, {mp, "/srv"}, {"host", "h1"}}, t);   // another mount point
  account_.add_snapshot(8, {{mp, "/data"}}, t);                             // no host tag

  const agent::FilterValues filters{{"host", "h1"}};
  auto lineage = c->describe_snapshots(
      {.owner_ids = {"self"}, .filters = agent::lineage_filters(filters, {"/data", "/logs"})});
  ASSERT_TRUE(lineage) << lineage.error().describe();
  EXPECT_EQ(ids_of(*lineage), sorted({mine_data.value, mine_logs.value}));
  auto others = c->describe_snapshots({.owner_ids = {"amazon"}, .filters = agent::lineage_filters(filters, {"/data"})});
  ASSERT_TRUE(others);
  EXPECT_TRUE(others->empty());

  // Volumes: the lineage's tags and the group's key.
  auto ours = c->create_volume({.availability_zone = "us-east-1a",
                                .size_gib = 1,
                                .tag_specifications = {{"volume", {{g, "db"}, {mp, "/data"}, {"host", "h1"}}}}});
  auto no_group = c->create_volume(
      {.availability_zone = "us-east-1a", .size_gib = 1, .tag_specifications = {{"volume", {{mp, "/data"}, {"host", "h1"}}}}});
  auto other_host = c->create_volume({.availability_zone = "us-east-1a",
                                      .size_gib = 1,
                                      .tag_specifications = {{"volume", {{g, "db"}, {mp, "/data"}, {"host", "h2"}}}}});
  ASSERT_TRUE(ours && no_group && other_host);
  auto found = c->describe_volumes({.filters = agent::our_volume_filters(filters, {"/data"})});
  ASSERT_TRUE(found) << found.error().describe();
  EXPECT_EQ(ids_of(*found), std::vector<std::string>{ours->id.value});

  // A tag value with a wildcard and a non-tag filter together.
  auto wild = c->describe_volumes({.filters = {{"tag:host", {"h*"}}, {"status", {"creating"}}}});
  ASSERT_TRUE(wild);
  EXPECT_EQ(wild->size(), 3u);
  auto bad = c->describe_volumes({.filters = {{"no-such-filter", {"x"}}}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().aws_code, "InvalidParameterValue");
}

TEST_F(FleetAccount, RetaggedVolumeIsFoundByItsNewValueOnly) {
  auto c = client();
  auto v = c->create_volume(
      {.availability_zone = "us-east-1a", .size_gib = 1, .tag_specifications = {{"volume", {{"k", "a"}}}}});
  ASSERT_TRUE(v);
  ASSERT_TRUE(c->create_tags({.resource_ids = {v->id.value}, .tags = {{"k", "b"}, {"other", "x"}}}));
  auto old_value = c->describe_volumes({.filters = {{"tag:k", {"a"}}}});
  auto new_value = c->describe_volumes({.filters = {{"tag:k", {"b"}}}});
  auto by_key = c->describe_volumes({.filters = {{"tag-key", {"k"}}, {"tag-key", {"other"}}}});
  ASSERT_TRUE(old_value && new_value && by_key);
  EXPECT_TRUE(old_value->empty());
  EXPECT_EQ(ids_of(*new_value), std::vector<std::string>{v->id.value});
  EXPECT_EQ(ids_of(*by_key), std::vector<std::string>{v->id.value});
  EXPECT_EQ(new_value->front().tags.size(), 2u);
}

TEST_F(FleetAccount, AttachmentFilterFindsTheInstancesVolumes) {
  auto c = client();
  const auto a = account_.add_instance("us-east-1a");
  const auto b = account_.add_instance("us-east-1a");
  auto v = c->create_volume({.availability_zone = "us-east-1a", .size_gib = 1});
  ASSERT_TRUE(v);
  clock_.advance(5s);
  ASSERT_TRUE(c->attach_volume({.volume_id = v->id, .instance_id = a, .device = "/dev/sdf"}));
  auto on_a = c->describe_volumes({.filters = {{"attachment.instance-id", {a.value}}}});
  auto on_b = c->describe_volumes({.filters = {{"attachment.instance-id", {b.value}}}});
  ASSERT_TRUE(on_a && on_b);
  EXPECT_EQ(on_a->size(), 2u);  // its root volume and v
  EXPECT_EQ(on_b->size(), 1u);
  EXPECT_TRUE(std::ranges::any_of(*on_a, [&](const ec2::Volume& x) { return x.id == v->id; }));

  clock_.advance(10s);
  ASSERT_TRUE(c->detach_volume({.volume_id = v->id}));
  EXPECT_EQ(volume(*c, v->id).attachments.at(0).state, ec2::AttachmentState::Detaching);
  clock_.advance(5s);
  EXPECT_EQ(volume(*c, v->id).state, ec2::VolumeState::Available);
  on_a = c->describe_volumes({.filters = {{"attachment.instance-id", {a.value}}}});
  ASSERT_TRUE(on_a);
  EXPECT_EQ(on_a->size(), 1u);

  // Attached again to the same instance: listed once.
  ASSERT_TRUE(c->attach_volume({.volume_id = v->id, .instance_id = a, .device = "/dev/sdf"}));
  on_a = c->describe_volumes({.filters = {{"attachment.instance-id", {a.value}}}});
  ASSERT_TRUE(on_a);
  EXPECT_EQ(on_a->size(), 2u);
  auto inst = c->describe_instances({.instance_ids = {a}});
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->at(0).block_device_mappings.size(), 2u);
  auto in_use = c->delete_volume({.volume_id = v->id});
  ASSERT_FALSE(in_use);
  EXPECT_EQ(in_use.error().kind, ErrorKind::IncorrectState);
  ASSERT_TRUE(c->detach_volume({.volume_id = v->id, .instance_id = a}));
  clock_.advance(5s);
  ASSERT_TRUE(c->delete_volume({.volume_id = v->id}));
  auto gone = c->describe_volumes({.volume_ids = {v->id}});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, ErrorKind::NotFound);
}

TEST_F(FleetAccount, DescribePagesThroughEverything) {
  auto c = client();
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(c->create_volume({.availability_zone = "us-east-1a", .size_gib = 1}));
  auto all = c->describe_volumes({.max_results = 5});
  ASSERT_TRUE(all) << all.error().describe();
  EXPECT_EQ(all->size(), 12u);
  EXPECT_EQ(account_.stats().at("DescribeVolumes").calls, 3u);
}

class FleetAccountSmallBuckets : public FleetAccount {
 protected:
  static fleet::AccountOptions options() {
    fleet::AccountOptions o;
    o.buckets["describe"] = {.burst = 3, .rate = 2};
    o.buckets["CreateTags"] = {.burst = 1, .rate = 1};
    return o;
  }
  FleetAccountSmallBuckets() : FleetAccount(options()) {}
};

TEST_F(FleetAccountSmallBuckets, EmptyBucketAnswersRequestLimitExceededAndRefillsAtItsRate) {
  auto c = client(1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c->describe_volumes({}));
  auto throttled = c->describe_volumes({});
  ASSERT_FALSE(throttled);
  EXPECT_TRUE(ec2::is_throttle(throttled.error()));
  EXPECT_EQ(throttled.error().aws_code, "RequestLimitExceeded");
  EXPECT_EQ(throttled.error().http_status, 503);
  // A throttled request takes no token: half a second at 2/s makes exactly one.
  clock_.advance(499ms);
  EXPECT_FALSE(c->describe_snapshots({}));
  clock_.advance(1ms);
  EXPECT_TRUE(c->describe_snapshots({}));
  EXPECT_FALSE(c->describe_instances({}));

  const auto& stats = account_.stats();
  EXPECT_EQ(stats.at("DescribeVolumes").calls, 4u);
  EXPECT_EQ(stats.at("DescribeVolumes").throttled, 1u);
  EXPECT_EQ(stats.at("DescribeSnapshots").calls, 2u);
  EXPECT_EQ(stats.at("DescribeSnapshots").throttled, 1u);
  EXPECT_EQ(stats.at("DescribeInstances").throttled, 1u);
}

TEST_F(FleetAccountSmallBuckets, BucketsArePerCategory) {
  auto c = client(1);
  const auto instance = account_.add_instance("us-east-1a");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c->describe_volumes({}));
  ASSERT_FALSE(c->describe_volumes({}));
  // Describe is empty; CreateVolume, the mutating bucket and CreateTags have their own.
  auto v = c->create_volume({.availability_zone = "us-east-1a", .size_gib = 1});
  ASSERT_TRUE(v) << v.error().describe();
  EXPECT_TRUE(c->create_tags({.resource_ids = {v->id.value}, .tags = {{"k", "v"}}}));
  auto second = c->create_tags({.resource_ids = {v->id.value}, .tags = {{"k", "w"}}});
  ASSERT_FALSE(second);
  EXPECT_TRUE(ec2::is_throttle(second.error()));
  clock_.advance(5s);
  EXPECT_TRUE(c->attach_volume({.volume_id = v->id, .instance_id = instance, .device = "/dev/sdf"}));
  EXPECT_EQ(account_.stats().at("CreateTags").throttled, 1u);
  EXPECT_EQ(account_.stats().at("AttachVolume").throttled, 0u);
}

TEST_F(FleetAccount, RetriesRideOutAThrottleOnVirtualTime) {
  auto c = client(5);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(c->describe_volumes({}));
  // The 101st finds the bucket empty; the client's backoff sleeps on the manual clock.
  EXPECT_TRUE(c->describe_volumes({}));
  EXPECT_EQ(account_.stats().at("DescribeVolumes").throttled, 1u);
}

TEST_F(FleetAccount, CreateSnapshotsTagsDescribeAndDelete) {
  auto c = client();
  const auto instance = account_.add_instance("us-east-1a");
  auto data = c->create_volume({.availability_zone = "us-east-1a",
                                .size_gib = 30,
                                .tag_specifications = {{"volume", {{"Name", "data"}, {"team", "x"}}}}});
  auto logs = c->create_volume({.availability_zone = "us-east-1a", .size_gib = 10});
  ASSERT_TRUE(data && logs);
  clock_.advance(5s);
  ASSERT_TRUE(c->attach_volume({.volume_id = data->id, .instance_id = instance, .device = "/dev/sdf"}));
  ASSERT_TRUE(c->attach_volume({.volume_id = logs->id, .instance_id = instance, .device = "/dev/sdg"}));
  clock_.advance(5s);

  auto made = c->create_snapshots({.instance_id = instance,
                                   .instance_specification = {.exclude_boot_volume = true,
                                                              .exclude_data_volume_ids = {logs->id}},
                                   .description = "run 1",
                                   .tag_specifications = {{"snapshot", {{"ebsnap:run-id", "r1"}, {"Name", "snap"}}}},
                                   .copy_tags_from_source = "volume"});
  ASSERT_TRUE(made) << made.error().describe();
  ASSERT_EQ(made->size(), 1u);
  const auto& s = made->front();
  EXPECT_EQ(s.volume_id, data->id);
  EXPECT_EQ(s.state, ec2::SnapshotState::Pending);
  EXPECT_EQ(s.volume_size_gib, 30);
  EXPECT_EQ(ec2::find_tag(s.tags, "team"), "x");
  EXPECT_EQ(ec2::find_tag(s.tags, "Name"), "snap");  // the TagSpecification wins over the volume's
  EXPECT_EQ(ec2::find_tag(s.tags, "ebsnap:run-id"), "r1");

  ASSERT_TRUE(c->create_tags({.resource_ids = {s.id.value}, .tags = {{"ebsnap:volume-id", data->id.value}}}));
  auto by_tag = c->describe_snapshots({.owner_ids = {"self"}, .filters = {{"tag:ebsnap:volume-id", {data->id.value}}}});
  ASSERT_TRUE(by_tag);
  ASSERT_EQ(by_tag->size(), 1u);
  EXPECT_EQ(by_tag->front().id, s.id);
  EXPECT_EQ(by_tag->front().description, "run 1");

  // The default completion spread is 30–300 s.
  clock_.advance(301s);
  auto done = c->describe_snapshots({.snapshot_ids = {s.id}});
  ASSERT_TRUE(done);
  EXPECT_EQ(done->front().state, ec2::SnapshotState::Completed);
  EXPECT_EQ(done->front().progress, 100);

  auto unknown = c->create_tags({.resource_ids = {"snap-0"}, .tags = {{"k", "v"}}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::NotFound);

  EXPECT_EQ(account_.snapshot_count(), 1u);
  ASSERT_TRUE(c->delete_snapshot({.snapshot_id = s.id}));
  EXPECT_EQ(account_.snapshot_count(), 0u);
  auto gone = c->describe_snapshots({.snapshot_ids = {s.id}});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, ErrorKind::NotFound);
  by_tag = c->describe_snapshots({.owner_ids = {"self"}, .filters = {{"tag:ebsnap:volume-id", {data->id.value}}}});
  ASSERT_TRUE(by_tag);
  EXPECT_TRUE(by_tag->empty());
  auto twice = c->delete_snapshot({.snapshot_id = s.id});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().kind, ErrorKind::NotFound);
}

// The snapshot scenario starts from a group an earlier boot restored: volumes attached and tagged.
TEST_F(FleetAccount, AttachedVolumeSetUpIsInUseMappedAndSnapshottedWithItsTags) {
  auto c = client();
  const auto instance = account_.add_instance("us-east-1b");
  const auto v = account_.add_attached_volume(instance, "/dev/sdf", 100, {{"ebsnap:mount-point", "/data/0"}});
  EXPECT_EQ(account_.volume_count(), 2u);  // and the root volume
  EXPECT_EQ(account_.attached_at(v.value, instance), clock_.now());

  const auto found = volume(*c, v);
  EXPECT_EQ(found.state, ec2::VolumeState::InUse);
  EXPECT_EQ(found.size_gib, 100);
  EXPECT_EQ(found.availability_zone, "us-east-1b");
  ASSERT_EQ(found.attachments.size(), 1u);
  EXPECT_EQ(found.attachments[0].instance_id, instance);
  EXPECT_EQ(found.attachments[0].device, "/dev/sdf");
  EXPECT_EQ(found.attachments[0].state, ec2::AttachmentState::Attached);
  EXPECT_FALSE(found.attachments[0].delete_on_termination);

  auto described = c->describe_instances({.instance_ids = {instance}});
  ASSERT_TRUE(described) << described.error().describe();
  ASSERT_EQ(described->front().block_device_mappings.size(), 2u);
  EXPECT_EQ(described->front().block_device_mappings[1].volume_id, v);

  auto made = c->create_snapshots({.instance_id = instance,
                                   .instance_specification = {.exclude_boot_volume = true},
                                   .tag_specifications = {{"snapshot", {{"ebsnap:run-id", "r1"}}}},
                                   .copy_tags_from_source = "volume"});
  ASSERT_TRUE(made) << made.error().describe();
  ASSERT_EQ(made->size(), 1u);
  EXPECT_EQ(made->front().volume_id, v);
  EXPECT_EQ(ec2::find_tag(made->front().tags, "ebsnap:mount-point"), "/data/0");

  EXPECT_THROW((void)account_.add_attached_volume(ec2::InstanceId{"i-0"}, "/dev/sdf", 1, {}),
               std::invalid_argument);
}

TEST_F(FleetAccount, CreateSnapshotOfOneVolume) {
  auto c = client();
  auto v = c->create_volume({.availability_zone = "us-east-1a", .size_gib = 3});
  ASSERT_TRUE(v);
  auto early = c->create_snapshot({.volume_id = v->id});
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().kind, ErrorKind::IncorrectState);
  clock_.advance(5s);
  auto s = c->create_snapshot({.volume_id = v->id, .tag_specifications = {{"snapshot", {{"k", "v"}}}}});
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(s->state, ec2::SnapshotState::Pending);
  EXPECT_EQ(ec2::find_tag(s->tags, "k"), "v");
}

TEST_F(FleetAccount, UnknownActionIsAnError) {
  auto c = client();
  auto copy = c->copy_snapshot(
      {.source_region = "us-west-2", .source_snapshot_id = ec2::SnapshotId{"snap-1"}, .presigned_url = "https://x"});
  ASSERT_FALSE(copy);
  EXPECT_EQ(copy.error().aws_code, "InvalidAction");
  EXPECT_EQ(copy.error().http_status, 400);
  EXPECT_EQ(account_.stats().at("CopySnapshot").errors, 1u);

  const auto raw = account_.serve({.method = "POST", .url = "http://ec2.sim/", .headers = {}, .body = "Version=2016-11-15"});
  EXPECT_EQ(raw.status, 400);
  EXPECT_NE(raw.body.find("<Code>MissingAction</Code>"), std::string::npos);
}

TEST_F(FleetAccount, DryRunAnswersDryRunOperation) {
  auto c = client();
  auto dry = c->describe_volumes({.dry_run = true});
  ASSERT_FALSE(dry);
  EXPECT_EQ(dry.error().kind, ErrorKind::DryRunOk);
}

}  // namespace
