// ebsnap shutdown: the mount unit's stop (agent/commands/shutdown.h).
#include <gtest/gtest.h>

#include "agent/commands/shutdown.h"
#include "agent/commands/snapshot.h"
#include "agent/commands/unmount.h"
#include "tests/unit/agent_snapshot_fixture.h"

namespace agent {
namespace {

using testing::SnapshotMachine;

class Shutdown : public ::testing::Test {
 protected:
  Shutdown() {
    GroupConfig pg{.name = "pg"};
    pg.volumes.push_back({.device = "/dev/sdh", .mount_point = "/mnt/c", .size_gib = 10});
    m_.config.groups.push_back(pg);
    m_.add_our_volume(m_.config.groups.back(), 0, "/dev/nvme3n1");
    // The kernel drops a device once EC2 detaches it: here, every one of ours nothing holds.
    m_.on_ec2_call = [this](std::string_view action) {
      if (action != "DetachVolume") return;
      for (const char* devnode : {"/dev/nvme1n1", "/dev/nvme2n1", "/dev/nvme3n1"}) {
        auto held = m_.mounter.find_by_source(devnode);
        if (held && held->empty()) m_.devices.remove_device(devnode);
      }
    };
  }

  RunReport shutdown() {
    auto services = m_.services();
    std::vector<const GroupConfig*> groups;
    for (const auto& g : m_.config.groups) groups.push_back(&g);
    const RunContext context{.services = services, .config = m_.config, .filters = m_.filters,
                             .instance = m_.instance, .groups = groups};
    return agent::shutdown(context, ShutdownOptions{
        .snapshot = [this](const RunContext& run) {
          snapshot_groups_ = run.groups.size();
          return agent::snapshot(run, SnapshotOptions{.run_id = "run-shutdown", .trigger = Trigger::Shutdown});
        },
        .unmount = [this](const RunContext& run) {
          unmount_groups_ = run.groups.size();
          return agent::unmount(run, UnmountOptions{});
        }});
  }

  bool mounted(const std::string& target) {
    auto found = m_.mounter.find_by_target(target);
    return found && found->has_value();
  }

  GroupConfig& group(const std::string& name) { return *const_cast<GroupConfig*>(m_.config.find_group(name)); }

  SnapshotMachine m_;
  std::size_t snapshot_groups_ = 0;
  std::size_t unmount_groups_ = 0;
};

TEST(ShutdownDecide, FollowsTheGroupsConfig) {
  GroupConfig g{.name = "solr"};
  EXPECT_EQ(decide_shutdown(g), (ShutdownPlan{}));
  g.snapshot_on_shutdown = true;
  EXPECT_EQ(decide_shutdown(g), (ShutdownPlan{.snapshot = true}));
  g.unmount_on_shutdown = true;
  EXPECT_EQ(decide_shutdown(g), (ShutdownPlan{.snapshot = true, .unmount = true}));
}

TEST_F(Shutdown, AGroupWithNeitherDoesNothing) {
  const auto r = shutdown();
  EXPECT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(r.trigger, "shutdown");
  EXPECT_EQ(snapshot_groups_, 0u);
  EXPECT_EQ(unmount_groups_, 0u);
  EXPECT_TRUE(m_.ec2.calls().empty());
}

TEST_F(Shutdown, SnapshotsTaggedShutdownThenUnmountsOnlyWhatTheConfigSays) {
  group("solr").snapshot_on_shutdown = true;
  group("solr").unmount_on_shutdown = true;
  group("pg").snapshot_on_shutdown = true;
  const auto r = shutdown();
  ASSERT_TRUE(r.ok()) << render_text(r) << m_.log.dump();
  EXPECT_EQ(snapshot_groups_, 2u);
  EXPECT_EQ(unmount_groups_, 1u);
  std::size_t tagged = 0;
  for (const auto& s : m_.ec2.snapshots()) {
    EXPECT_EQ(ec2::find_tag(s.tags, k_tag_trigger), "shutdown");
    EXPECT_EQ(ec2::find_tag(s.tags, k_tag_run_id), "run-shutdown");
    ++tagged;
  }
  EXPECT_EQ(tagged, 3u);
  // The snapshot first (all of it, thawed), then the unmount of solr alone.
  EXPECT_LT(m_.log.last_index("thaw /mnt/"), m_.log.index("ec2 DetachVolume")) << m_.log.dump();
  EXPECT_EQ(m_.ec2.call_count("DetachVolume"), 2);
  EXPECT_FALSE(mounted("/mnt/a"));
  EXPECT_TRUE(mounted("/mnt/c"));
  // One report: solr's snapshot lines, then its unmount lines.
  const auto& solr = r.groups.at(0);
  ASSERT_EQ(solr.name, "solr");
  ASSERT_EQ(solr.volumes.size(), 4u);
  EXPECT_EQ(solr.volumes[0].outcome, Outcome::Snapshotted);
  EXPECT_EQ(solr.volumes[2].outcome, Outcome::Unmounted);
  EXPECT_TRUE(solr.freeze_window_ms);
  EXPECT_EQ(r.groups.at(1).volumes.size(), 1u);
  EXPECT_TRUE(render_json(r).contains("\"trigger\": \"shutdown\""));
}

TEST_F(Shutdown, AFailedSnapshotStillUnmountsAndFailsTheRun) {
  group("solr").snapshot_on_shutdown = true;
  group("solr").unmount_on_shutdown = true;
  m_.ec2.fail_next("CreateSnapshots", ec2::Error{.kind = ec2::ErrorKind::Other, .message = "injected",
                                                 .aws_code = "InternalError", .http_status = 500});
  const auto r = shutdown();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(m_.ec2.call_count("DetachVolume"), 2);
  EXPECT_FALSE(mounted("/mnt/a"));
}

}  // namespace
}  // namespace agent
