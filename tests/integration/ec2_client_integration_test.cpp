// The real client over HTTP against the sandbox (moto behind a gateway that verifies SigV4 with
// botocore and checks parameters against botocore's EC2 model).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "ec2/waiter.h"
#include "tests/integration/ec2_sandbox_fixture.h"

namespace {

using namespace ec2;
using namespace std::chrono_literals;

class Ec2ClientSandbox : public ec2test::SandboxSuite {
 protected:
  Waiter waiter{WaiterOptions{.initial_delay = 50ms, .max_delay = 500ms, .timeout = 60s}};
  InstanceId instance{sandbox().instance_id()};
  std::string az = sandbox().availability_zone();
};

TEST_F(Ec2ClientSandbox, EveryActionRoundTrip) {
  auto c = client();
  // DescribeInstances
  auto instances = c->describe_instances(DescribeInstancesOptions{.instance_ids = {instance}});
  ASSERT_TRUE(instances) << instances.error().describe();
  ASSERT_EQ(instances->size(), 1u);
  EXPECT_EQ((*instances)[0].availability_zone, az);

  // CreateVolume with tags and a ClientToken; the same token again → the same volume.
  const CreateVolumeOptions create{
      .availability_zone = az,
      .size_gib = 2,
      .volume_type = "gp3",
      .iops = 3000,
      .throughput = 125,
      .tag_specifications = {{"volume", {{"ebsnap:group", "it"}, {"Name", "a b/c"}}}},
      .client_token = "every-action-1"};
  auto vol = c->create_volume(create);
  ASSERT_TRUE(vol) << vol.error().describe();
  EXPECT_EQ(vol->size_gib, 2);
  EXPECT_EQ(find_tag(vol->tags, "Name"), "a b/c");
  auto again = c->create_volume(create);
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(again->id, vol->id);
  ASSERT_TRUE(waiter.volumes(*c, {vol->id}, VolumeState::Available));

  // DescribeVolumes by filter.
  auto by_tag = c->describe_volumes(DescribeVolumesOptions{.filters = {{"tag:ebsnap:group", {"it"}}}});
  ASSERT_TRUE(by_tag) << by_tag.error().describe();
  ASSERT_EQ(by_tag->size(), 1u);
  EXPECT_EQ((*by_tag)[0].id, vol->id);

  // AttachVolume → attached.
  auto att = c->attach_volume(
      AttachVolumeOptions{.volume_id = vol->id, .instance_id = instance, .device = "/dev/sdf"});
  ASSERT_TRUE(att) << att.error().describe();
  EXPECT_EQ(att->device, "/dev/sdf");
  ASSERT_TRUE(waiter.attachments(*c, {vol->id}, instance, AttachmentState::Attached));
  auto twice = c->attach_volume(
      AttachVolumeOptions{.volume_id = vol->id, .instance_id = instance, .device = "/dev/sdg"});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().kind, ErrorKind::IncorrectState) << twice.error().describe();
  EXPECT_FALSE(twice.error().request_id.empty());

  // ModifyInstanceAttribute: DeleteOnTermination on the attachment, seen by both Describe calls.
  ASSERT_TRUE(c->modify_instance_attribute({.instance_id = instance, .device = "/dev/sdf"}));
  auto flagged = c->describe_volumes(DescribeVolumesOptions{.volume_ids = {vol->id}});
  ASSERT_TRUE(flagged) << flagged.error().describe();
  ASSERT_EQ((*flagged)[0].attachments.size(), 1u);
  EXPECT_TRUE((*flagged)[0].attachments[0].delete_on_termination);
  auto mapped = c->describe_instances(DescribeInstancesOptions{.instance_ids = {instance}});
  ASSERT_TRUE(mapped) << mapped.error().describe();
  const auto& mappings = (*mapped)[0].block_device_mappings;
  const auto mapping = std::ranges::find(mappings, vol->id, &InstanceBlockDevice::volume_id);
  ASSERT_NE(mapping, mappings.end());
  EXPECT_TRUE(mapping->delete_on_termination);
  auto unmapped = c->modify_instance_attribute({.instance_id = instance, .device = "/dev/sdz"});
  ASSERT_FALSE(unmapped);
  EXPECT_EQ(unmapped.error().aws_code, "InvalidInstanceAttributeValue");
  auto dry = c->modify_instance_attribute({.dry_run = true, .instance_id = instance, .device = "/dev/sdf"});
  EXPECT_EQ(dry.error().kind, ErrorKind::DryRunOk);

  // CreateSnapshot and CreateSnapshots, tags at creation.
  auto snap =
      c->create_snapshot(CreateSnapshotOptions{.volume_id = vol->id,
                                               .description = "one",
                                               .tag_specifications = {{"snapshot", {{"ebsnap:run", "r1"}}}}});
  ASSERT_TRUE(snap) << snap.error().describe();
  EXPECT_EQ(snap->volume_id, vol->id);
  auto multi =
      c->create_snapshots(CreateSnapshotsOptions{.instance_id = instance,
                                                 .instance_specification = {.exclude_boot_volume = true},
                                                 .description = "many",
                                                 .tag_specifications = {{"snapshot", {{"ebsnap:run", "r2"}}}},
                                                 .copy_tags_from_source = "volume"});
  ASSERT_TRUE(multi) << multi.error().describe();
  ASSERT_FALSE(multi->empty());
  std::vector<SnapshotId> ids{snap->id};
  bool ours = false;
  for (const auto& s : *multi) {
    ids.push_back(s.id);
    if (s.volume_id == vol->id) ours = true;
  }
  EXPECT_TRUE(ours);
  auto done = waiter.snapshots(*c, ids, SnapshotState::Completed);
  ASSERT_TRUE(done) << done.error().describe();

  // DescribeSnapshots: self-owned, by tag.
  auto found = c->describe_snapshots(DescribeSnapshotsOptions{
      .owner_ids = {"self"}, .filters = {{"tag:ebsnap:run", {"r2"}}, {"volume-id", {vol->id.value}}}});
  ASSERT_TRUE(found) << found.error().describe();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(find_tag((*found)[0].tags, "ebsnap:group"), "it");  // copied from the volume

  // CopySnapshot.
  auto copy =
      c->copy_snapshot(CopySnapshotOptions{.source_region = sandbox().region(),
                                           .source_snapshot_id = snap->id,
                                           .description = "copy",
                                           .tag_specifications = {{"snapshot", {{"copied", "yes"}}}}});
  ASSERT_TRUE(copy) << copy.error().describe();
  ASSERT_TRUE(waiter.snapshots(*c, {*copy}, SnapshotState::Completed));

  // CreateTags / DeleteTags.
  ASSERT_TRUE(c->create_tags(CreateTagsOptions{.resource_ids = {vol->id.value, snap->id.value},
                                               .tags = {{"k1", "v1"}, {"k2", "v 2"}}}));
  ASSERT_TRUE(
      c->delete_tags(DeleteTagsOptions{.resource_ids = {vol->id.value}, .tags = {{"k1", std::nullopt}}}));
  auto tagged = c->describe_volumes(DescribeVolumesOptions{.volume_ids = {vol->id}});
  ASSERT_TRUE(tagged);
  EXPECT_FALSE(find_tag((*tagged)[0].tags, "k1"));
  EXPECT_EQ(find_tag((*tagged)[0].tags, "k2"), "v 2");

  // DetachVolume → gone; DeleteSnapshot; DeleteVolume.
  auto det = c->detach_volume(DetachVolumeOptions{.volume_id = vol->id, .instance_id = instance});
  ASSERT_TRUE(det) << det.error().describe();
  ASSERT_TRUE(waiter.attachments(*c, {vol->id}, instance, AttachmentState::Detached));
  for (const auto& id : ids) ASSERT_TRUE(c->delete_snapshot(DeleteSnapshotOptions{.snapshot_id = id}));
  ASSERT_TRUE(c->delete_snapshot(DeleteSnapshotOptions{.snapshot_id = *copy}));
  ASSERT_TRUE(c->delete_volume(DeleteVolumeOptions{.volume_id = vol->id}));
  ASSERT_TRUE(waiter.volumes(*c, {vol->id}, VolumeState::Deleted));

  auto missing = c->delete_volume(DeleteVolumeOptions{.volume_id = VolumeId{"vol-0123456789abcdef0"}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  EXPECT_EQ(missing.error().aws_code, "InvalidVolume.NotFound");
}

TEST_F(Ec2ClientSandbox, PaginatesTwoAndAHalfThousandSnapshots) {
  auto c = client({}, nullptr, /*page_size=*/1000);
  auto vol = c->create_volume(CreateVolumeOptions{.availability_zone = az, .size_gib = 1});
  ASSERT_TRUE(vol) << vol.error().describe();
  const auto bulk = control_post(
      "/snapshots/bulk", {{"volume_id", vol->id.value}, {"count", 2500}, {"tags", {{"bulk", "yes"}}}});
  ASSERT_EQ(bulk["snapshot_ids"].size(), 2500u);
  const int before = logged("DescribeSnapshots");
  auto all = c->describe_snapshots(
      DescribeSnapshotsOptions{.owner_ids = {"self"}, .filters = {{"tag:bulk", {"yes"}}}});
  ASSERT_TRUE(all) << all.error().describe();
  EXPECT_EQ(all->size(), 2500u);
  std::set<std::string> unique;
  for (const auto& s : *all) unique.insert(s.id.value);
  EXPECT_EQ(unique.size(), 2500u);
  EXPECT_EQ(logged("DescribeSnapshots") - before, 3);  // 1000 + 1000 + 500
  auto small_pages = c->describe_snapshots(DescribeSnapshotsOptions{
      .owner_ids = {"self"}, .filters = {{"tag:bulk", {"yes"}}}, .max_results = 500});
  ASSERT_TRUE(small_pages);
  EXPECT_EQ(small_pages->size(), 2500u);
  EXPECT_EQ(logged("DescribeSnapshots") - before, 3 + 5);
}

TEST_F(Ec2ClientSandbox, ThirtyPercentThrottlingIsRecoveredWithinTheQuota) {
  sandbox().configure({{"seed", 7}, {"throttle_fraction", 0.3}});
  auto c = client(RetryOptions{.max_attempts = 8, .base_delay = 5ms, .max_backoff = 100ms});
  const int throttled_before = logged("DescribeVolumes", "RequestLimitExceeded");
  for (int i = 0; i < 60; ++i) {
    auto r = c->describe_volumes({});
    ASSERT_TRUE(r) << "call " << i << ": " << r.error().describe();
  }
  const int throttled = logged("DescribeVolumes", "RequestLimitExceeded") - throttled_before;
  EXPECT_GT(throttled, 5);                                   // the faults really happened
  EXPECT_EQ(c->quota().available(), c->quota().capacity());  // every retry was refunded by its success
}

TEST_F(Ec2ClientSandbox, FiveHundredBurstsAreRetried) {
  sandbox().configure({{"fail_next", {{"count", 2}, {"status", 503}, {"code", "Unavailable"}}}});
  auto c = client(RetryOptions{.max_attempts = 3, .base_delay = 5ms});
  auto r = c->describe_instances({});
  ASSERT_TRUE(r) << r.error().describe();
  sandbox().configure({{"seed", 11}, {"error_5xx_fraction", 0.25}});
  auto c2 = client(RetryOptions{.max_attempts = 8, .base_delay = 5ms, .max_backoff = 100ms});
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(c2->describe_volumes({})) << i;
  sandbox().configure({{"fail_next", {{"count", 5}, {"status", 500}, {"code", "InternalError"}}}});
  auto gives_up = c->describe_instances({});
  ASSERT_FALSE(gives_up);
  EXPECT_EQ(gives_up.error().kind, ErrorKind::ServerError);
}

TEST_F(Ec2ClientSandbox, CreateSnapshotIsNotResentAfterADroppedConnection) {
  auto c = client(RetryOptions{.max_attempts = 5, .base_delay = 5ms});
  auto vol = c->create_volume(CreateVolumeOptions{.availability_zone = az, .size_gib = 1});
  ASSERT_TRUE(vol);
  sandbox().configure({{"drop_fraction", 1.0}, {"fault_actions", {"CreateSnapshot", "CreateVolume"}}});
  const int before = logged("CreateSnapshot");
  auto snap = c->create_snapshot(CreateSnapshotOptions{.volume_id = vol->id});
  ASSERT_FALSE(snap);
  EXPECT_EQ(snap.error().kind, ErrorKind::Network) << snap.error().describe();
  EXPECT_TRUE(snap.error().maybe_applied);
  EXPECT_EQ(logged("CreateSnapshot") - before, 1);
  // CreateVolume carries a ClientToken: it is resent until the attempts run out. (libcurl adds
  // one silent resend of its own when a reused connection dies unanswered; that is why calls
  // that must not run twice go out on a fresh connection.)
  const int volumes_before = logged("CreateVolume");
  auto v =
      c->create_volume(CreateVolumeOptions{.availability_zone = az, .size_gib = 1, .client_token = "drop-1"});
  ASSERT_FALSE(v);
  EXPECT_GE(logged("CreateVolume") - volumes_before, 5);
  sandbox().configure({{"drop_fraction", 0.0}});
  auto recovered =
      c->create_volume(CreateVolumeOptions{.availability_zone = az, .size_gib = 1, .client_token = "drop-1"});
  ASSERT_TRUE(recovered) << recovered.error().describe();
}

// Issue 13: VolumeInitializationRate on a CreateVolume from a snapshot, refused on an empty one;
// DescribeVolumeStatus's initialization details and DescribeVolumes' fastRestored, through the
// real client's serialisation and parsing.
TEST_F(Ec2ClientSandbox, InitializationRateAndVolumeStatus) {
  auto c = client();
  auto source = c->create_volume(CreateVolumeOptions{.availability_zone = az, .size_gib = 100});
  ASSERT_TRUE(source) << source.error().describe();
  const auto bulk = control_post("/snapshots/bulk", {{"volume_id", source->id.value}, {"count", 1}});
  const SnapshotId snap{bulk["snapshot_ids"][0].get<std::string>()};

  auto refused = c->create_volume(
      CreateVolumeOptions{.availability_zone = az, .size_gib = 1, .initialization_rate = 200});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().aws_code, "InvalidParameterCombination") << refused.error().describe();

  auto restored = c->create_volume(
      CreateVolumeOptions{.availability_zone = az, .snapshot_id = snap, .initialization_rate = 200});
  ASSERT_TRUE(restored) << restored.error().describe();
  auto lazy = c->create_volume(CreateVolumeOptions{.availability_zone = az, .snapshot_id = snap});
  ASSERT_TRUE(lazy) << lazy.error().describe();
  auto described = c->describe_volumes(DescribeVolumesOptions{.volume_ids = {restored->id, source->id}});
  ASSERT_TRUE(described) << described.error().describe();
  ASSERT_EQ(described->size(), 2u);
  for (const auto& v : *described) {
    if (v.id == restored->id) {
      EXPECT_EQ(v.initialization_rate, 200);
      EXPECT_EQ(v.fast_restored, false);
    } else {
      EXPECT_FALSE(v.initialization_rate);
      EXPECT_FALSE(v.fast_restored);  // an empty volume: EC2 says nothing of fast restore
    }
  }

  // 100 GiB at 200 MiB/s take 512 s: created 256 s ago, about half is loaded.
  const auto half_way = format_iso8601(std::chrono::system_clock::now() - 256s);
  control_post("/volumes/create-time", {{"create_times", {{restored->id.value, half_way}}}});
  auto statuses = c->describe_volume_status(
      DescribeVolumeStatusOptions{.volume_ids = {restored->id, lazy->id, source->id}});
  ASSERT_TRUE(statuses) << statuses.error().describe();
  ASSERT_EQ(statuses->size(), 3u);
  for (const auto& s : *statuses) {
    EXPECT_EQ(s.status, "ok");
    if (s.volume_id == source->id) {
      EXPECT_FALSE(s.initialization);
      continue;
    }
    ASSERT_TRUE(s.initialization) << s.volume_id;
    ASSERT_TRUE(s.initialization->progress) << s.volume_id;
    EXPECT_GE(*s.initialization->progress, 0);
    EXPECT_LE(*s.initialization->progress, 100);
    if (s.volume_id == restored->id) {
      EXPECT_EQ(s.initialization->type, "provisioned-rate");
      EXPECT_GE(*s.initialization->progress, 40);
      EXPECT_LE(*s.initialization->progress, 60);
      ASSERT_TRUE(s.initialization->estimated_seconds_left);
      EXPECT_GT(*s.initialization->estimated_seconds_left, 0);
      EXPECT_LE(*s.initialization->estimated_seconds_left, 256);
    } else {
      EXPECT_EQ(s.initialization->type, "default");
      EXPECT_FALSE(s.initialization->estimated_seconds_left);  // EC2 estimates only a provisioned rate
    }
  }
  auto all = c->describe_volume_status(DescribeVolumeStatusOptions{.max_results = 5});
  ASSERT_TRUE(all) << all.error().describe();
  EXPECT_GE(all->size(), 3u);
  auto dry = c->describe_volume_status(DescribeVolumeStatusOptions{.dry_run = true});
  ASSERT_FALSE(dry);
  EXPECT_EQ(dry.error().kind, ErrorKind::DryRunOk) << dry.error().describe();
}

TEST_F(Ec2ClientSandbox, DryRunIsMapped) {
  auto c = client();
  auto ok = c->describe_volumes(DescribeVolumesOptions{.dry_run = true});
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().kind, ErrorKind::DryRunOk) << ok.error().describe();
  sandbox().configure({{"allowed_actions", {"DescribeVolumes"}}});
  auto denied = c->create_snapshots(CreateSnapshotsOptions{.dry_run = true, .instance_id = instance});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().kind, ErrorKind::Unauthorized) << denied.error().describe();
  EXPECT_EQ(denied.error().aws_code, "UnauthorizedOperation");
}

TEST_F(Ec2ClientSandbox, WrongSecretKeyIsAnAuthErrorWithAClearMessage) {
  auto c = client({}, static_credentials("wrong/secret/key/wrong/secret/key/wrong0"));
  auto r = c->describe_volumes({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Auth);
  const std::string text = r.error().describe();
  EXPECT_NE(text.find("AuthFailure"), std::string::npos) << text;
  EXPECT_NE(text.find("credentials from sandbox static keys"), std::string::npos) << text;
  EXPECT_EQ(text.find("wrong/secret"), std::string::npos) << text;
}

}  // namespace

namespace {

using namespace ec2;

TEST_F(Ec2ClientSandbox, OneClientServesManyThreads) {
  auto c = client(RetryOptions{.max_attempts = 6, .base_delay = std::chrono::milliseconds{5}});
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::vector<VolumeId> created(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto v = c->create_volume(CreateVolumeOptions{.availability_zone = az, .size_gib = 1,
                                                    .client_token = "threads-" + std::to_string(t)});
      if (!v) {
        ++failures;
        return;
      }
      created[static_cast<std::size_t>(t)] = v->id;
      for (int i = 0; i < 5; ++i) {
        if (!c->describe_volumes(DescribeVolumesOptions{.volume_ids = {v->id}})) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<VolumeId> unique(created.begin(), created.end());
  EXPECT_EQ(unique.size(), 8u);
  for (const auto& id : created) EXPECT_TRUE(c->delete_volume(DeleteVolumeOptions{.volume_id = id}));
}

}  // namespace
