// ebsnap gc: decide_gc over synthetic volumes, and the command against fakes.
#include <gtest/gtest.h>

#include <fstream>

#include "agent/commands/gc.h"
#include "agent/core/client_tokens.h"
#include "agent/core/group_lock.h"
#include "agent/core/tags.h"
#include "platform/run_dir.h"
#include "tests/unit/agent_restore_fixture.h"

namespace agent {
namespace {

using namespace std::chrono_literals;
using testing::FakeInstance;

const ec2::TimePoint k_now = ec2::TimePoint{} + std::chrono::hours(24 * 365 * 56);
const FilterValues k_filters{{"role", "db"}, {"cluster", "c1"}};

// An available volume of ours for (group, mount point), created `age` before k_now.
ec2::Volume ours(std::string id, std::chrono::seconds age, std::string group = "db", std::string mp = "/data/a") {
  ec2::Volume v{.id = ec2::VolumeId{std::move(id)}, .size_gib = 10, .state = ec2::VolumeState::Available};
  v.create_time = k_now - age;
  v.tags = {{"role", "db"}, {"cluster", "c1"}, {std::string(k_tag_group), std::move(group)},
            {std::string(k_tag_mount_point), std::move(mp)}, {std::string(k_tag_instance_id), "i-1"}};
  return v;
}

GcInputs inputs(std::vector<ec2::Volume> volumes) {
  return GcInputs{.volumes = std::move(volumes), .groups = {"db"}, .filters = k_filters, .now = k_now,
                  .older_than = 24h};
}

const GcItem* item(const GcPlan& plan, const std::string& id) {
  for (const auto& i : plan.items) {
    if (i.volume.id.value == id) return &i;
  }
  return nullptr;
}

TEST(GcDecide, DeletesOursOlderThanTheBound) {
  const auto plan = decide_gc(inputs({ours("vol-old", 25h)}));
  ASSERT_EQ(plan.items.size(), 1U);
  EXPECT_TRUE(plan.items[0].remove);
  EXPECT_EQ(plan.items[0].group, "db");
  EXPECT_EQ(plan.items[0].mount_point, "/data/a");
  EXPECT_EQ(plan.items[0].step, gc_step::remove(ec2::VolumeId{"vol-old"}));
  EXPECT_EQ(plan.to_delete(), 1U);
}

TEST(GcDecide, LeavesTooYoungAndExactlyAtTheBound) {
  const auto plan = decide_gc(inputs({ours("vol-young", 1h), ours("vol-at", 24h), ours("vol-past", 24h + 1s)}));
  ASSERT_NE(item(plan, "vol-young"), nullptr);
  EXPECT_FALSE(item(plan, "vol-young")->remove);
  EXPECT_TRUE(item(plan, "vol-young")->reason->contains("not older than")) << *item(plan, "vol-young")->reason;
  EXPECT_FALSE(item(plan, "vol-at")->remove);
  EXPECT_TRUE(item(plan, "vol-past")->remove);
}

TEST(GcDecide, LeavesAVolumeWithoutCreateTime) {
  auto v = ours("vol-x", 48h);
  v.create_time.reset();
  const auto plan = decide_gc(inputs({v}));
  ASSERT_EQ(plan.items.size(), 1U);
  EXPECT_FALSE(plan.items[0].remove);
}

TEST(GcDecide, LeavesInUseAttachedErrorAndDeleting) {
  auto in_use = ours("vol-inuse", 48h);
  in_use.state = ec2::VolumeState::InUse;
  auto attached = ours("vol-attached", 48h);  // available by its state, yet an attachment is listed
  attached.attachments.push_back({.volume_id = attached.id, .instance_id = ec2::InstanceId{"i-2"}, .device = "/dev/sdf"});
  auto error = ours("vol-error", 48h);
  error.state = ec2::VolumeState::Error;
  auto deleting = ours("vol-deleting", 48h);
  deleting.state = ec2::VolumeState::Deleting;
  auto creating = ours("vol-creating", 48h);
  creating.state = ec2::VolumeState::Creating;
  const auto plan = decide_gc(inputs({in_use, attached, error, deleting, creating}));
  EXPECT_EQ(plan.to_delete(), 0U);
  EXPECT_EQ(plan.items.size(), 5U);
  EXPECT_EQ(*item(plan, "vol-inuse")->reason, "state in-use, not available");
  EXPECT_EQ(*item(plan, "vol-attached")->reason, "attached");
  EXPECT_EQ(*item(plan, "vol-error")->reason, "state error, not available");
}

TEST(GcDecide, NeverMentionsVolumesThatAreNotOursByTheirTags) {
  ec2::Volume untagged{.id = ec2::VolumeId{"vol-untagged"}, .size_gib = 1, .state = ec2::VolumeState::Available};
  untagged.create_time = k_now - 480h;
  auto other_group = ours("vol-othergroup", 48h, "web");
  auto other_value = ours("vol-othervalue", 48h);
  other_value.tags[1].value = "c2";  // cluster c2: another lineage (a filter EC2 ignored let it through)
  auto missing_filter = ours("vol-nofilter", 48h);
  missing_filter.tags.erase(missing_filter.tags.begin());  // no role tag at all
  auto no_mount_point = ours("vol-nomp", 48h);
  std::erase_if(no_mount_point.tags, [](const ec2::Tag& t) { return t.key == k_tag_mount_point; });
  auto no_group = ours("vol-nogroup", 48h);
  std::erase_if(no_group.tags, [](const ec2::Tag& t) { return t.key == k_tag_group; });
  const auto plan =
      decide_gc(inputs({untagged, other_group, other_value, missing_filter, no_mount_point, no_group, ours("vol-ok", 48h)}));
  ASSERT_EQ(plan.items.size(), 1U);
  EXPECT_EQ(plan.items[0].volume.id.value, "vol-ok");
  EXPECT_TRUE(plan.items[0].remove);
}

TEST(GcDecide, OnlyTheGroupsItRunsFor) {
  auto in = inputs({ours("vol-db", 48h), ours("vol-web", 48h, "web", "/srv")});
  in.groups = {"web"};
  const auto plan = decide_gc(in);
  ASSERT_EQ(plan.items.size(), 1U);
  EXPECT_EQ(plan.items[0].volume.id.value, "vol-web");
}

TEST(GcDecide, LeavesAVolumeNamedByALiveAttempt) {
  auto by_token = ours("vol-bytoken", 48h);
  by_token.tags.push_back({std::string(k_tag_attempt), "ebsnap-0123456789abcdef0123456789abcdef"});
  auto other_token = ours("vol-othertoken", 48h);
  other_token.tags.push_back({std::string(k_tag_attempt), "ebsnap-ffffffffffffffffffffffffffffffff"});
  auto in = inputs({ours("vol-byid", 48h), by_token, other_token});
  in.attempts = {RestoreAttempt{.token = "ebsnap-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", .volume_id = "vol-byid"},
                 RestoreAttempt{.token = "ebsnap-0123456789abcdef0123456789abcdef"}};
  const auto plan = decide_gc(in);
  EXPECT_FALSE(item(plan, "vol-byid")->remove);
  EXPECT_TRUE(item(plan, "vol-byid")->reason->contains("live restore attempt"));
  EXPECT_FALSE(item(plan, "vol-bytoken")->remove);
  EXPECT_TRUE(item(plan, "vol-othertoken")->remove);
}

TEST(GcDecide, EmptyFilterValuesStillNeedGroupAndMountPoint) {
  auto in = inputs({ours("vol-a", 48h)});
  in.filters = {};
  ec2::Volume group_only{.id = ec2::VolumeId{"vol-g"}, .state = ec2::VolumeState::Available};
  group_only.create_time = k_now - 48h;
  group_only.tags = {{std::string(k_tag_group), "db"}};
  in.volumes.push_back(group_only);
  const auto plan = decide_gc(in);
  ASSERT_EQ(plan.items.size(), 1U);
  EXPECT_EQ(plan.items[0].volume.id.value, "vol-a");
}

TEST(GcLiveAttempts, ReadsEveryAttemptFileOfTheRunDirectory) {
  testsupport::TempDir dir{"ebsnap-gc-attempts"};
  const auto run_dir = dir.path() / "run";
  EXPECT_TRUE(live_attempts(run_dir)->empty());  // no run directory yet: none
  ClientTokens tokens(run_dir);
  auto a = tokens.begin("db", "/data/a").value();
  a.volume_id = "vol-0a";
  ASSERT_TRUE(tokens.record("db", "/data/a", a));
  auto b = tokens.begin("web", "/srv").value();
  auto found = live_attempts(run_dir);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->size(), 2U);
  int with_volume = 0;
  for (const auto& f : *found) {
    EXPECT_TRUE(f.token == a.token || f.token == b.token);
    if (f.volume_id) {
      EXPECT_EQ(*f.volume_id, "vol-0a");
      ++with_volume;
    }
  }
  EXPECT_EQ(with_volume, 1);
}

// EC2 (or a proxy) that ignores every DescribeVolumes filter: the whole region comes back.
class FiltersIgnored final : public ec2::Ec2Api {
 public:
  explicit FiltersIgnored(ec2::Ec2Api& inner) : inner_(inner) {}
  ec2::Result<std::vector<ec2::Volume>> describe_volumes(const ec2::DescribeVolumesOptions& o) override {
    auto all = o;
    all.filters.clear();
    return inner_.describe_volumes(all);
  }
  ec2::Result<std::vector<ec2::Snapshot>> describe_snapshots(const ec2::DescribeSnapshotsOptions& o) override {
    return inner_.describe_snapshots(o);
  }
  ec2::Result<std::vector<ec2::Instance>> describe_instances(const ec2::DescribeInstancesOptions& o) override {
    return inner_.describe_instances(o);
  }
  ec2::Result<std::vector<ec2::VolumeStatusItem>> describe_volume_status(
      const ec2::DescribeVolumeStatusOptions& o) override {
    return inner_.describe_volume_status(o);
  }
  ec2::Result<ec2::Volume> create_volume(const ec2::CreateVolumeOptions& o) override { return inner_.create_volume(o); }
  ec2::Result<ec2::VolumeAttachment> attach_volume(const ec2::AttachVolumeOptions& o) override {
    return inner_.attach_volume(o);
  }
  ec2::Result<ec2::VolumeAttachment> detach_volume(const ec2::DetachVolumeOptions& o) override {
    return inner_.detach_volume(o);
  }
  ec2::Result<void> delete_volume(const ec2::DeleteVolumeOptions& o) override { return inner_.delete_volume(o); }
  ec2::Result<ec2::Snapshot> create_snapshot(const ec2::CreateSnapshotOptions& o) override {
    return inner_.create_snapshot(o);
  }
  ec2::Result<std::vector<ec2::Snapshot>> create_snapshots(const ec2::CreateSnapshotsOptions& o) override {
    return inner_.create_snapshots(o);
  }
  ec2::Result<void> delete_snapshot(const ec2::DeleteSnapshotOptions& o) override { return inner_.delete_snapshot(o); }
  ec2::Result<ec2::SnapshotId> copy_snapshot(const ec2::CopySnapshotOptions& o) override {
    return inner_.copy_snapshot(o);
  }
  ec2::Result<void> modify_instance_attribute(const ec2::ModifyInstanceAttributeOptions& o) override {
    return inner_.modify_instance_attribute(o);
  }
  ec2::Result<void> create_tags(const ec2::CreateTagsOptions& o) override { return inner_.create_tags(o); }
  ec2::Result<void> delete_tags(const ec2::DeleteTagsOptions& o) override { return inner_.delete_tags(o); }

 private:
  ec2::Ec2Api& inner_;
};

// The command against FakeEc2.
class GcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    f.add_group("db", {f.volume("/dev/sdf", "/data/a"), f.volume("/dev/sdg", "/data/b")});
    f.add_group("web", {f.volume("/dev/sdh", "/srv")});
  }
  // Our available volume for (group, mount point), created `age` ago.
  ec2::VolumeId add_ours(const std::string& group, const std::string& mp, std::chrono::seconds age,
                         std::string attempt = {}) {
    auto v = f.our_volume(group, mp, "/dev/sdf", std::move(attempt));
    v.create_time = f.clock.now() - age;
    return f.ec2.add_volume(v);
  }
  bool alive(const ec2::VolumeId& id) {
    auto v = f.ec2.volume(id);
    return v && v->state != ec2::VolumeState::Deleting && v->state != ec2::VolumeState::Deleted;
  }
  const GcReport* entry(const RunReport& r, const ec2::VolumeId& id) {
    for (const auto& g : r.gc) {
      if (g.volume_id == id.value) return &g;
    }
    return nullptr;
  }
  RunReport run(GcOptions options = {.assume_yes = true}) { return gc(f.context(), options); }

  FakeInstance f;
};

TEST_F(GcTest, DeletesOnlyOldAvailableVolumesOfOurs) {
  const auto old_a = add_ours("db", "/data/a", 48h);
  const auto old_web = add_ours("web", "/srv", 30h);
  const auto young = add_ours("db", "/data/b", 1h);
  // Snaptastic's clean deleted every available volume of the region: these must survive.
  ec2::Volume untagged{.size_gib = 1, .state = ec2::VolumeState::Available, .availability_zone = "us-east-1a"};
  untagged.create_time = f.clock.now() - 480h;
  const auto untagged_id = f.ec2.add_volume(untagged);
  auto other_cluster = f.our_volume("db", "/data/a", "/dev/sdf");
  other_cluster.create_time = f.clock.now() - 480h;
  for (auto& t : other_cluster.tags) {
    if (t.key == "cluster") t.value = "c2";
  }
  const auto other_cluster_id = f.ec2.add_volume(other_cluster);
  auto other_group = f.our_volume("db", "/data/a", "/dev/sdf");
  other_group.create_time = f.clock.now() - 480h;
  for (auto& t : other_group.tags) {
    if (t.key == k_tag_group) t.value = "elsewhere";
  }
  const auto other_group_id = f.ec2.add_volume(other_group);

  auto r = run();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 2);
  EXPECT_FALSE(alive(old_a));
  EXPECT_FALSE(alive(old_web));
  EXPECT_TRUE(alive(young));
  EXPECT_TRUE(alive(untagged_id));
  EXPECT_TRUE(alive(other_cluster_id));
  EXPECT_TRUE(alive(other_group_id));
  ASSERT_NE(entry(r, old_a), nullptr);
  EXPECT_EQ(entry(r, old_a)->outcome, GcOutcome::Deleted);
  EXPECT_EQ(entry(r, old_a)->steps, std::vector<std::string>{gc_step::remove(old_a)});
  ASSERT_NE(entry(r, young), nullptr);
  EXPECT_EQ(entry(r, young)->outcome, GcOutcome::Left);
  EXPECT_EQ(entry(r, untagged_id), nullptr);
  EXPECT_EQ(entry(r, other_cluster_id), nullptr);
  EXPECT_EQ(entry(r, other_group_id), nullptr);
}

TEST_F(GcTest, AFilterEc2IgnoredDoesNotWidenTheSet) {
  const auto old = add_ours("db", "/data/a", 48h);
  ec2::Volume untagged{.size_gib = 1, .state = ec2::VolumeState::Available, .availability_zone = "us-east-1a"};
  untagged.create_time = f.clock.now() - 480h;
  const auto untagged_id = f.ec2.add_volume(untagged);
  auto other_cluster = f.our_volume("db", "/data/a", "/dev/sdf");
  other_cluster.create_time = f.clock.now() - 480h;
  for (auto& t : other_cluster.tags) {
    if (t.key == "cluster") t.value = "c2";
  }
  const auto other_cluster_id = f.ec2.add_volume(other_cluster);
  FiltersIgnored ignoring(f.ec2);
  Services wide{.ec2 = ignoring, .devices = f.devices, .mounter = f.mounter, .freeze_ops = f.freeze_ops,
                .clock = f.clock, .sleeper = f.clock, .random = f.random, .guardians = f.guardians,
                .hooks = f.hooks, .options = f.services.options};
  RunContext wide_context{.services = wide, .config = f.config, .filters = f.filters, .instance = f.instance,
                          .groups = f.groups()};
  auto r = gc(wide_context, {.assume_yes = true});
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_FALSE(alive(old));
  EXPECT_TRUE(alive(untagged_id));
  EXPECT_TRUE(alive(other_cluster_id));
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 1);
  EXPECT_EQ(entry(r, untagged_id), nullptr);
}

TEST_F(GcTest, RestrictedToTheGroupsGiven) {
  const auto db = add_ours("db", "/data/a", 48h);
  const auto web = add_ours("web", "/srv", 48h);
  auto context = f.context();
  context.groups = {f.config.find_group("web")};
  auto r = gc(context, {.assume_yes = true});
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(alive(db));
  EXPECT_FALSE(alive(web));
}

TEST_F(GcTest, OlderThanIsTheBound) {
  const auto v = add_ours("db", "/data/a", 2h);
  auto r = run({.older_than = 3h, .assume_yes = true});
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(alive(v));
  r = run({.older_than = 1h, .assume_yes = true});
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_FALSE(alive(v));
}

TEST_F(GcTest, WithoutYesAndNoTerminalNothingIsDeleted) {
  const auto v = add_ours("db", "/data/a", 48h);
  auto r = run({.assume_yes = false});
  EXPECT_FALSE(r.ok());
  ASSERT_TRUE(r.error);
  EXPECT_TRUE(r.error->contains("add --yes")) << *r.error;
  EXPECT_TRUE(alive(v));
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 0);
  ASSERT_NE(entry(r, v), nullptr);  // still listed: what a --yes would delete
  EXPECT_EQ(entry(r, v)->outcome, GcOutcome::Planned);
}

TEST_F(GcTest, AsksOnceAndDeletesOnlyWhenConfirmed) {
  const auto v = add_ours("db", "/data/a", 48h);
  int asked = 0;
  std::size_t shown = 0;
  auto r = run({.assume_yes = false, .confirm = [&](const GcPlan& p) {
                  ++asked;
                  shown = p.to_delete();
                  return false;
                }});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(shown, 1U);
  EXPECT_TRUE(alive(v));
  r = run({.assume_yes = false, .confirm = [](const GcPlan&) { return true; }});
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_FALSE(alive(v));
}

TEST_F(GcTest, NothingToDeleteAsksNothing) {
  add_ours("db", "/data/a", 1h);
  bool asked = false;
  auto r = run({.assume_yes = false, .confirm = [&](const GcPlan&) { return asked = true; }});
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_FALSE(asked);
}

TEST_F(GcTest, DryRunPlansInTheWordsOfTheSteps) {
  const auto v = add_ours("db", "/data/a", 48h);
  f.services.options.dry_run = true;
  auto r = run({.assume_yes = false});
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(alive(v));
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 0);
  ASSERT_NE(entry(r, v), nullptr);
  EXPECT_EQ(entry(r, v)->outcome, GcOutcome::Planned);
  EXPECT_EQ(entry(r, v)->plan, std::vector<std::string>{gc_step::remove(v)});
  EXPECT_TRUE(render_text(r).contains("would " + gc_step::remove(v))) << render_text(r);
}

TEST_F(GcTest, LeavesVolumesOfLiveRestoreAttempts) {
  ClientTokens tokens(f.services.options.run_dir);
  auto by_id = tokens.begin("db", "/data/a").value();
  const auto id_protected = add_ours("db", "/data/a", 48h);
  by_id.volume_id = id_protected.value;
  ASSERT_TRUE(tokens.record("db", "/data/a", by_id));
  auto by_token = tokens.begin("db", "/data/b").value();
  const auto token_protected = add_ours("db", "/data/b", 48h, by_token.token);
  const auto unprotected = add_ours("web", "/srv", 48h, "ebsnap-00000000000000000000000000000000");
  auto r = run();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(alive(id_protected));
  EXPECT_TRUE(alive(token_protected));
  EXPECT_FALSE(alive(unprotected));
  EXPECT_EQ(entry(r, id_protected)->outcome, GcOutcome::Left);
}

TEST_F(GcTest, ADeleteVolumeRefusedFailsThatVolumeOnly) {
  const auto a = add_ours("db", "/data/a", 48h);
  const auto b = add_ours("db", "/data/b", 48h);
  f.ec2.fail_next("DeleteVolume",
                  ec2::Error{.kind = ec2::ErrorKind::IncorrectState, .message = "in use", .aws_code = "VolumeInUse"});
  auto r = run();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 2);
  int failed = 0;
  int deleted = 0;
  for (const auto& g : r.gc) {
    failed += g.outcome == GcOutcome::Failed;
    deleted += g.outcome == GcOutcome::Deleted;
  }
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(deleted, 1);
  EXPECT_NE(alive(a), alive(b));
}

TEST_F(GcTest, AVolumeAttachedBeforeTheLockedLookIsLeft) {
  const auto v = add_ours("db", "/data/a", 48h);
  int describes = 0;
  f.ec2.on_call([&](std::string_view action) {
    // After the first look, before the second (under the locks): a mount attaches it.
    if (action == "DescribeVolumes" && ++describes == 2) {
      ASSERT_TRUE(f.ec2.attach_volume({.volume_id = v, .instance_id = f.instance_id, .device = "/dev/sdf"}));
      f.ec2.settle();
    }
  });
  auto r = run();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 0);
  EXPECT_TRUE(alive(v));
  ASSERT_NE(entry(r, v), nullptr);
  EXPECT_EQ(entry(r, v)->outcome, GcOutcome::Left);
}

TEST_F(GcTest, WaitsForTheGroupLockAndDeletesNothingWhenItIsHeld) {
  const auto v = add_ours("db", "/data/a", 48h);
  auto held = GroupLocks::acquire({.run_dir = f.services.options.run_dir, .groups = {"db"}, .command = "mount",
                                   .wait = 0ms},
                                  f.clock, f.clock);
  ASSERT_TRUE(held) << held.error().message;
  auto r = run();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(alive(v));
  EXPECT_EQ(f.ec2.call_count("DeleteVolume"), 0);
}

TEST_F(GcTest, ReportIsInTheJson) {
  const auto v = add_ours("db", "/data/a", 48h);
  auto doc = to_json(run());
  ASSERT_EQ(doc["gc"].size(), 1U);
  const auto& g = doc["gc"][0];
  EXPECT_EQ(g["volume_id"], v.value);
  EXPECT_EQ(g["group"], "db");
  EXPECT_EQ(g["mount_point"], "/data/a");
  EXPECT_EQ(g["outcome"], "deleted");
  EXPECT_TRUE(g["created_at"].is_string());
  EXPECT_EQ(g["size_gib"], 10);
  EXPECT_TRUE(g["reason"].is_null());
  EXPECT_EQ(g["plan"], nlohmann::ordered_json::array());
  EXPECT_EQ(g["steps"].size(), 1U);
  EXPECT_EQ(doc["command"], "gc");
}

}  // namespace
}  // namespace agent
