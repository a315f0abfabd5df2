// check's permission probes with the real client against the sandbox: the lookups for ebsnap's own
// volume and snapshot pass the gateway's parameter checks, the DryRuns name them, and a refusal
// is reported as missing (issue 11 item 9).
#include <gtest/gtest.h>

#include <map>

#include "agent/commands/check.h"
#include "agent/core/tags.h"
#include "ec2/waiter.h"
#include "tests/integration/ec2_sandbox_fixture.h"

namespace {

using namespace std::chrono_literals;

class CheckSandbox : public ec2test::SandboxSuite {
 protected:
  ec2::InstanceId instance{sandbox().instance_id()};
  std::string az = sandbox().availability_zone();

  std::map<std::string, agent::PermissionProbe> probe(ec2::Ec2Api& c) {
    std::map<std::string, agent::PermissionProbe> out;
    for (auto& p : agent::probe_permissions(c, instance, az, sandbox().region())) out[p.action] = p;
    return out;
  }
};

TEST_F(CheckSandbox, DryRunsNameEbsnapsOwnVolumeAndSnapshot) {
  auto c = client();
  const std::vector<ec2::Tag> own = {{std::string(agent::k_tag_group), "check-it"},
                                     {std::string(agent::k_tag_instance_id), instance.value}};
  auto vol = c->create_volume(
      {.availability_zone = az, .size_gib = 1, .tag_specifications = {{"volume", own}}, .client_token = "check-it-1"});
  ASSERT_TRUE(vol) << vol.error().describe();
  ec2::Waiter waiter{ec2::WaiterOptions{.initial_delay = 50ms, .max_delay = 500ms, .timeout = 60s}};
  ASSERT_TRUE(waiter.volumes(*c, {vol->id}, ec2::VolumeState::Available));
  auto snap = c->create_snapshot({.volume_id = vol->id, .tag_specifications = {{"snapshot", own}}});
  ASSERT_TRUE(snap) << snap.error().describe();

  auto probes = probe(*c);
  EXPECT_EQ(probes.size(), 13U);  // every permission's probe but ModifyInstanceAttribute (no device given)
  for (const auto& [action, p] : probes) {
    EXPECT_EQ(p.verdict, agent::PermissionProbe::Verdict::Allowed) << action << ": " << p.detail;
  }
  for (const auto* action : {"AttachVolume", "DetachVolume", "DeleteVolume"}) {
    EXPECT_EQ(probes[action].tagged_resource, vol->id.value) << action;
  }
  for (const auto* action : {"DeleteSnapshot", "CreateTags"}) {
    EXPECT_EQ(probes[action].tagged_resource, snap->id.value) << action;
  }
  EXPECT_EQ(probes["CreateVolume"].tagged_resource, std::nullopt);

  // A refusal on ebsnap's own volume is missing; DryRun deleted nothing.
  sandbox().configure({{"allowed_actions", {"DescribeVolumes", "DescribeSnapshots", "DescribeInstances"}}});
  probes = probe(*c);
  EXPECT_EQ(probes["DeleteVolume"].verdict, agent::PermissionProbe::Verdict::Missing) << probes["DeleteVolume"].detail;
  EXPECT_EQ(probes["DeleteVolume"].tagged_resource, vol->id.value);
  sandbox().configure({{"allowed_actions", nullptr}});
  auto still = c->describe_volumes({.volume_ids = {vol->id}});
  ASSERT_TRUE(still) << still.error().describe();
  EXPECT_EQ(still->size(), 1U);
  auto tags = c->describe_snapshots({.snapshot_ids = {snap->id}});
  ASSERT_TRUE(tags) << tags.error().describe();
  ASSERT_EQ(tags->size(), 1U);
  EXPECT_EQ(ec2::find_tag((*tags)[0].tags, "ebsnap:check"), std::nullopt);
  ASSERT_TRUE(c->delete_snapshot({.snapshot_id = snap->id}));
  ASSERT_TRUE(c->delete_volume({.volume_id = vol->id}));
}

// Issue 17: ModifyInstanceAttribute is probed only for a delete_on_termination device; its DryRun
// passes the gateway's parameter check, and a refusal is missing.
TEST_F(CheckSandbox, ModifyInstanceAttributeIsProbedOnlyForADeleteOnTerminationDevice) {
  auto c = client();
  EXPECT_FALSE(probe(*c).contains("ModifyInstanceAttribute"));
  const auto probe_with_device = [&] {
    for (auto& p : agent::probe_permissions(*c, instance, az, sandbox().region(), "/dev/sdf")) {
      if (p.action == "ModifyInstanceAttribute") return p;
    }
    return agent::PermissionProbe{};
  };
  auto p = probe_with_device();
  EXPECT_EQ(p.verdict, agent::PermissionProbe::Verdict::Allowed) << p.detail;
  sandbox().configure({{"allowed_actions", {"DescribeVolumes", "DescribeSnapshots", "DescribeInstances"}}});
  p = probe_with_device();
  sandbox().configure({{"allowed_actions", nullptr}});
  EXPECT_EQ(p.verdict, agent::PermissionProbe::Verdict::Missing) << p.detail;
}

}  // namespace
