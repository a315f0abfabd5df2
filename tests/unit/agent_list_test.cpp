// ebsnap list against fakes.
#include <gtest/gtest.h>

#include "agent/commands/list.h"
#include "agent/commands/mount.h"
#include "tests/unit/agent_restore_fixture.h"

namespace agent {
namespace {

using testing::FakeInstance;

const VolumeReport& entry(const RunReport& r, const std::string& mount_point) {
  for (const auto& g : r.groups) {
    for (const auto& e : g.volumes) {
      if (e.mount_point == mount_point) return e;
    }
  }
  throw std::runtime_error("no entry for " + mount_point);
}

TEST(ListTest, ShowsVolumesDevicesMountStateAndTheNewestSnapshot) {
  FakeInstance f;
  f.add_group("db", {f.volume("/dev/sdf", "/data/a"), f.volume("/dev/sdg", "/data/b")});
  f.add_group("web", {f.volume("/dev/sdh", "/data/c")});
  f.add_snapshot("/data/a", 10);
  const auto newest = f.add_snapshot("/data/a", 2);
  auto db = f.context();
  db.groups = {&f.config.groups[0]};
  auto restored = mount(db);
  ASSERT_TRUE(restored.ok()) << render_text(restored);
  ASSERT_TRUE(f.mounter.unmount("/data/b"));  // attached, no longer mounted
  const auto calls_before = f.ec2.calls().size();

  auto r = list(f.context());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(f.ec2.calls().size() - calls_before, 3U);
  EXPECT_EQ(f.ec2.call_count("DescribeSnapshots"), 2);  // one for the mount, one for the list
  EXPECT_EQ(f.ec2.call_count("DescribeVolumeStatus"), 1);  // /data/a was restored from a snapshot

  const auto& a = entry(r, "/data/a");
  EXPECT_EQ(a.state, "mounted");
  EXPECT_EQ(a.volume_id, restored.groups[0].volumes[0].volume_id);
  EXPECT_EQ(a.devnode, restored.groups[0].volumes[0].devnode);
  EXPECT_EQ(a.latest_snapshot_id, newest.value);
  EXPECT_EQ(a.latest_snapshot_state, "completed");
  EXPECT_EQ(entry(r, "/data/b").state, "attached");
  EXPECT_FALSE(entry(r, "/data/b").latest_snapshot_id);
  EXPECT_EQ(entry(r, "/data/c").state, "absent");
  EXPECT_FALSE(entry(r, "/data/c").volume_id);

  const auto& report = r;
  const auto table = render_text(report);
  EXPECT_NE(table.find("MOUNT POINT"), std::string::npos) << table;
  EXPECT_NE(table.find(newest.value), std::string::npos) << table;
  auto j = to_json(report);
  ASSERT_EQ(j["groups"].size(), 2U);
  EXPECT_EQ(j["groups"][0]["volumes"].size() + j["groups"][1]["volumes"].size(), 3U);
  EXPECT_EQ(j["groups"][0]["volumes"][0]["latest_snapshot_id"], newest.value);
  EXPECT_TRUE(j["groups"][1]["volumes"][0]["latest_snapshot_id"].is_null());
}

// Issue 17: what EC2 does with each attached volume when the instance is terminated.
TEST(ListTest, ShowsTheDeleteOnTerminationFlagOfEachAttachment) {
  FakeInstance f;
  auto a = f.volume("/dev/sdf", "/data/a");
  a.delete_on_termination = true;
  f.add_group("db", {a, f.volume("/dev/sdg", "/data/b")});
  f.add_group("web", {f.volume("/dev/sdh", "/data/c")});
  auto db = f.context();
  db.groups = {&f.config.groups[0]};
  auto mounted = mount(db);
  ASSERT_TRUE(mounted.ok()) << render_text(mounted);
  auto r = list(f.context());
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(entry(r, "/data/a").delete_on_termination, true);
  EXPECT_EQ(entry(r, "/data/b").delete_on_termination, false);
  EXPECT_EQ(entry(r, "/data/c").delete_on_termination, std::nullopt);
  const auto text = render_text(r);
  EXPECT_NE(text.find("ON TERMINATION"), std::string::npos) << text;
  EXPECT_NE(text.find("  delete\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  keep\n"), std::string::npos) << text;
}

TEST(ListTest, ConsistencyTagAndForeignMountAreShown) {
  FakeInstance f;
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  ec2::Snapshot s;
  s.state = ec2::SnapshotState::Error;
  s.start_time = f.clock.now();
  for (const auto& fv : f.filters) s.tags.push_back({fv.key, fv.value});
  s.tags.push_back({std::string(k_tag_mount_point), "/data/a"});
  s.tags.push_back({std::string(k_tag_consistency), "watchdog-thawed"});
  const auto id = f.ec2.add_snapshot(s);
  f.devices.add_device(platform::BlockDevice{.devnode = "/dev/nvme7n1", .serial = "vol0bbbbbbbbbbbbbbbb", .size_bytes = 1});
  ASSERT_TRUE(f.mounter.mount(
      platform::MountRequest{.source = "/dev/nvme7n1", .target = "/data/a", .fs_type = "ext4"}));
  auto r = list(f.context());
  const auto& a = entry(r, "/data/a");
  EXPECT_EQ(a.latest_snapshot_id, id.value);
  EXPECT_EQ(a.latest_snapshot_state, "error");
  EXPECT_EQ(a.consistency, "watchdog-thawed");
  EXPECT_EQ(a.state, "absent");
  EXPECT_EQ(a.reason, "mounted there: /dev/nvme7n1");
}

// Issue 13: a volume restored from a snapshot shows how far it has loaded its blocks and the time
// EC2 estimates is left; a volume created empty has nothing to initialize and is not asked about.
TEST(ListTest, ShowsTheInitializationProgressOfARestoredVolume) {
  // EC2's CreateTime and DescribeVolumeStatus on the test's clock.
  FakeInstance f(ec2::FakeEc2Options{.progress = ec2::FakeEc2Options::Progress::Clock});
  auto a = f.volume("/dev/sdf", "/data/a");
  a.initialization_rate_mibps = 200;
  f.add_group("db", {a, f.volume("/dev/sdg", "/data/b")});
  f.add_snapshot("/data/a", 1);
  auto restored = mount(f.context());
  ASSERT_TRUE(restored.ok()) << render_text(restored);
  // 10 GiB at 200 MiB/s take 51 s; list 25 s after the CreateVolume.
  const auto created = f.ec2.volume(ec2::VolumeId{*entry(restored, "/data/a").volume_id})->create_time;
  ASSERT_TRUE(created);
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(f.clock.now() - *created);
  ASSERT_LT(elapsed, std::chrono::seconds(25));
  f.clock.advance(std::chrono::seconds(25) - elapsed);

  auto r = list(f.context());
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(f.ec2.call_count("DescribeVolumeStatus"), 1);
  const auto& ra = entry(r, "/data/a");
  EXPECT_EQ(ra.initialization_progress, 49);
  EXPECT_EQ(ra.initialization_eta_s, 26);
  EXPECT_EQ(ra.fast_restored, false);
  const auto& rb = entry(r, "/data/b");
  EXPECT_FALSE(rb.initialization_progress);
  EXPECT_FALSE(rb.initialization_eta_s);
  EXPECT_TRUE(ra.warnings.empty());

  const auto text = render_text(r);
  EXPECT_NE(text.find("INITIALIZED"), std::string::npos) << text;
  EXPECT_NE(text.find("49%, 26s left"), std::string::npos) << text;
  const auto j = to_json(r)["groups"][0]["volumes"];
  EXPECT_EQ(j[0]["initialization_progress"], 49);
  EXPECT_EQ(j[0]["initialization_eta_s"], 26);
  EXPECT_EQ(j[0]["fast_restored"], false);
  EXPECT_TRUE(j[1]["initialization_progress"].is_null());
  EXPECT_TRUE(j[1]["fast_restored"].is_null());

  // Once loaded: 100%, nothing left.
  f.clock.advance(std::chrono::minutes(5));
  const auto later = list(f.context());
  EXPECT_EQ(entry(later, "/data/a").initialization_progress, 100);
  EXPECT_EQ(entry(later, "/data/a").initialization_eta_s, 0);
}

TEST(ListTest, NoVolumeFromASnapshotMeansNoDescribeVolumeStatus) {
  FakeInstance f;
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  ASSERT_TRUE(mount(f.context()).ok());
  auto r = list(f.context());
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(f.ec2.call_count("DescribeVolumeStatus"), 0);
  EXPECT_FALSE(entry(r, "/data/a").initialization_progress);
}

// DescribeVolumeStatus is an extra: when it fails (a policy without ec2:DescribeVolumeStatus), list
// still lists, exits 0, and says on the volume why its progress is missing.
TEST(ListTest, AFailingDescribeVolumeStatusIsAWarningNotAFailure) {
  FakeInstance f;
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  f.add_snapshot("/data/a", 1);
  ASSERT_TRUE(mount(f.context()).ok());
  f.ec2.deny("DescribeVolumeStatus");
  auto r = list(f.context());
  EXPECT_TRUE(r.ok()) << render_text(r);
  const auto& a = entry(r, "/data/a");
  EXPECT_EQ(a.state, "mounted");
  EXPECT_FALSE(a.initialization_progress);
  ASSERT_EQ(a.warnings.size(), 1U);
  EXPECT_NE(a.warnings[0].find("DescribeVolumeStatus failed"), std::string::npos) << a.warnings[0];
  const auto text = render_text(r);
  EXPECT_NE(text.find("db /data/a: warning: initialization progress unknown"), std::string::npos) << text;
}

TEST(ListTest, FailingDescribeIsAnError) {
  FakeInstance f;
  f.add_group("db", {f.volume("/dev/sdf", "/data/a")});
  f.ec2.fail_next("DescribeSnapshots", ec2::Error{.kind = ec2::ErrorKind::Unauthorized, .message = "denied"});
  auto r = list(f.context());
  EXPECT_FALSE(r.ok());
  EXPECT_NE(render_text(r).find("DescribeSnapshots failed"), std::string::npos);
}

}  // namespace
}  // namespace agent
