// prune with the real client against the sandbox (issue 12): 300 runs of a two-volume group over
// two years are pruned to exactly the plan, in two prunes (max_deletes_per_run); --dry-run
// changes nothing; a snapshot an AMI uses is kept and reported; another group's runs and the
// snapshots of another environment are never touched; the newest run is still the one a mount
// would restore.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "agent/commands/mount.h"
#include "agent/commands/prune.h"
#include "agent/core/tags.h"
#include "ec2/testing/manual_clock.h"
#include "platform/testing/fake_block_devices.h"
#include "platform/freeze_ops.h"
#include "platform/testing/fake_mounter.h"
#include "tests/integration/ec2_sandbox_fixture.h"
#include "tests/support/shell.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/agent_seams.h"

namespace {

using namespace std::chrono_literals;
using agent::k_tag_group;
using agent::k_tag_mount_point;
using agent::k_tag_run_id;

class PruneSandbox : public ec2test::SandboxSuite {
 protected:
  PruneSandbox() {
    group_.name = "history";
    group_.volumes = {{.device = "/dev/sdf", .mount_point = "/data/a", .size_gib = 1},
                      {.device = "/dev/sdg", .mount_point = "/data/b", .size_gib = 1}};
    group_.retention = agent::RetentionPolicy{.keep_last = 3, .daily = 7, .weekly = 4, .monthly = 12, .yearly = 2,
                                              .min_age = 1h, .max_deletes_per_run = 400};
    config_.groups.push_back(group_);
    instance_.instance_id = ec2::InstanceId{sandbox().instance_id()};
    instance_.availability_zone = sandbox().availability_zone();
    instance_.region = sandbox().region();
  }

  // `count` runs of `group`, one snapshot per mount point each, in the sandbox's backend at once;
  // then their StartTimes, `every` apart, the newest `newest_age` old: run id → snapshot ids.
  std::map<std::string, std::vector<std::string>> add_runs(const std::string& group, const agent::FilterValues& filters,
                                                           int count, std::chrono::seconds every,
                                                           std::chrono::seconds newest_age, const std::string& prefix) {
    std::map<std::string, std::vector<std::string>> runs;
    nlohmann::json start_times = nlohmann::json::object();
    if (volume_.empty()) {
      auto c = client();
      auto v = c->create_volume({.availability_zone = instance_.availability_zone, .size_gib = 1});
      EXPECT_TRUE(v) << v.error().describe();
      if (!v) return runs;
      volume_ = v->id.value;
    }
    for (int i = 0; i < count; ++i) {
      const std::string run_id = prefix + std::to_string(1000 + i);
      const auto time = now_ - newest_age - every * (count - 1 - i);
      for (const std::string mount_point : {"/data/a", "/data/b"}) {
        nlohmann::json tags = {{std::string(k_tag_group), group},
                               {std::string(k_tag_mount_point), mount_point},
                               {std::string(k_tag_run_id), run_id}};
        for (const auto& f : filters) tags[f.key] = f.value;
        const auto made = control_post("/snapshots/bulk", {{"volume_id", volume_}, {"count", 1}, {"tags", tags}});
        const auto ids = made.value("snapshot_ids", nlohmann::json::array());
        EXPECT_EQ(ids.size(), 1U) << made.dump();
        if (ids.size() != 1) return runs;
        const std::string id = ids[0];
        runs[run_id].push_back(id);
        start_times[id] = ec2::format_iso8601(std::chrono::floor<std::chrono::seconds>(time));
      }
    }
    control_post("/snapshots/start-time", {{"start_times", start_times}});
    return runs;
  }

  [[nodiscard]] std::set<std::string> existing() {
    auto c = client();
    auto all = c->describe_snapshots({.owner_ids = {"self"}});
    EXPECT_TRUE(all) << all.error().describe();
    std::set<std::string> ids;
    for (const auto& s : *all) ids.insert(s.id.value);
    return ids;
  }

  // The plan, computed here from what the sandbox holds now: what prune must carry out.
  [[nodiscard]] std::vector<std::string> expected_deletes() {
    auto c = client();
    std::vector<ec2::Filter> filters{{"tag:" + std::string(k_tag_group), {group_.name}}};
    for (const auto& f : filters_) filters.push_back({"tag:" + f.key, {f.value}});
    auto snapshots = c->describe_snapshots({.owner_ids = {"self"}, .filters = filters});
    EXPECT_TRUE(snapshots) << snapshots.error().describe();
    const auto plan = agent::plan_prune(agent::PruneInputs{.snapshots = *snapshots,
                                                           .owner = {.group = group_.name, .filters = filters_},
                                                           .policy = *group_.retention,
                                                           .now = clock_.now()});
    std::vector<std::string> ids;
    for (const auto& id : plan.deletes) ids.push_back(id.value);
    return ids;
  }

  agent::RunReport prune(bool dry_run) {
    auto c = client();
    agent::Services services{.ec2 = *c, .devices = devices_, .mounter = mounter_, .freeze_ops = freeze_ops_,
                             .clock = clock_, .sleeper = clock_, .random = random_, .guardians = guardians_,
                             .hooks = hooks_, .options = {.dry_run = dry_run, .run_dir = run_dir_.path()}};
    const agent::RunContext context{.services = services, .config = config_, .filters = filters_,
                                    .instance = instance_, .groups = {&config_.groups.front()}};
    return agent::prune(context);
  }

  // The snapshot a mount of /data/a would restore (its --dry-run plan).
  std::optional<std::string> restore_source() {
    auto c = client();
    agent::Services services{.ec2 = *c, .devices = devices_, .mounter = mounter_, .freeze_ops = freeze_ops_,
                             .clock = clock_, .sleeper = clock_, .random = random_, .guardians = guardians_,
                             .hooks = hooks_, .options = {.dry_run = true, .run_dir = run_dir_.path()}};
    const agent::RunContext context{.services = services, .config = config_, .filters = filters_,
                                    .instance = instance_, .groups = {&config_.groups.front()}};
    auto r = agent::mount(context);
    EXPECT_TRUE(r.ok()) << agent::render_text(r);
    for (const auto& v : r.groups.at(0).volumes) {
      if (v.mount_point == "/data/a") return v.snapshot_id;
    }
    return std::nullopt;
  }

  std::string register_image(const std::string& snapshot_id) {
    std::string cmd = "env -i PATH=\"$PATH\"";
    for (const auto& [k, v] : sandbox().environment()) {
      if (k.starts_with("AWS_")) cmd += " " + k + "='" + v + "'";
    }
    cmd += std::string(" '") + EBSNAP_PYTHON + "' -m awscli ec2 register-image --output text --query ImageId" +
           " --endpoint-url '" + sandbox().env("AWS_ENDPOINT_URL_EC2") + "' --region " + sandbox().region() +
           " --name prune-it --root-device-name /dev/sda1 --block-device-mappings 'DeviceName=/dev/sda1,Ebs={SnapshotId=" +
           snapshot_id + "}'";
    auto out = testsupport::shell_ok(cmd);
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
    return out;
  }

  std::string volume_;  // the snapshots' source (the sandbox wants one that exists)
  agent::GroupConfig group_;
  agent::Config config_;
  agent::FilterValues filters_{{"role", "history"}, {"environment", "prod"}};
  agent::InstanceContext instance_;
  ec2::ManualClock clock_{std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now())};
  ec2::TimePoint now_ = clock_.now();
  ec2::SequenceRandom random_{{0.5}};
  platform::FakeBlockDevices devices_;
  platform::FakeMounter mounter_;
  platform::KernelFreezeOps freeze_ops_;  // never called by prune or a mount's --dry-run
  agent::testing::NoGuardians guardians_;
  agent::testing::RecordingHookRunner hooks_;
  testsupport::TempDir run_dir_;
};

TEST_F(PruneSandbox, TwoYearsOfRunsArePrunedToExactlyThePlan) {
  // 300 runs, one every 58 hours: two years back from an hour and a half ago.
  const auto runs = add_runs(group_.name, filters_, 300, 58h, 90min, "run-");
  ASSERT_EQ(runs.size(), 300U);
  // Not this group's or not this environment's: never touched.
  const auto other_group = add_runs("other", filters_, 3, 900h, 2000h, "other-");
  const auto other_env = add_runs(group_.name, {{"role", "history"}, {"environment", "dev"}}, 3, 900h, 2000h, "dev-");
  const auto newest = runs.rbegin()->second;
  const auto oldest = runs.begin()->second;

  // An AMI uses one member of the oldest run: EC2 refuses to delete it.
  const auto ami = register_image(oldest[0]);
  ASSERT_TRUE(ami.starts_with("ami-")) << ami;

  const auto before = existing();
  auto planned = expected_deletes();
  ASSERT_EQ(planned.size(), 400U);  // max_deletes_per_run: the rest waits for the next prune

  auto dry = prune(true);
  ASSERT_TRUE(dry.ok()) << agent::render_text(dry);
  EXPECT_EQ(dry.prune.at(0).planned, planned);
  EXPECT_EQ(existing(), before);
  EXPECT_EQ(logged("DeleteSnapshot"), 0);

  auto first = prune(false);
  ASSERT_TRUE(first.ok()) << agent::render_text(first);
  const auto& p = first.prune.at(0);
  EXPECT_EQ(p.planned, planned);
  EXPECT_EQ(p.in_use, (std::vector<std::string>{oldest[0]}));
  EXPECT_EQ(p.deleted.size(), planned.size() - 1);
  EXPECT_GT(p.deferred, 0);
  auto left = before;
  for (const auto& id : p.deleted) left.erase(id);
  EXPECT_EQ(existing(), left);

  // The second prune finishes the plan; the AMI's snapshot is planned again and kept again.
  planned = expected_deletes();
  auto second = prune(false);
  ASSERT_TRUE(second.ok()) << agent::render_text(second);
  EXPECT_EQ(second.prune.at(0).planned, planned);
  EXPECT_EQ(second.prune.at(0).deferred, 0);
  EXPECT_EQ(second.prune.at(0).in_use, (std::vector<std::string>{oldest[0]}));
  for (const auto& id : second.prune.at(0).deleted) left.erase(id);
  EXPECT_EQ(existing(), left);
  EXPECT_EQ(expected_deletes(), (std::vector<std::string>{oldest[0]}));  // nothing else left to do

  // What is left is what the policy keeps (and the AMI's), every member of a kept run with it.
  std::size_t kept_runs = 0;
  for (const auto& r : second.prune.at(0).runs) {
    if (r.verdict != "keep") continue;
    ++kept_runs;
    for (const auto& id : r.snapshots) EXPECT_TRUE(left.contains(id)) << r.run_id;
  }
  EXPECT_GE(kept_runs, 12U);  // monthly 12 alone keeps twelve distinct runs
  EXPECT_LE(kept_runs, 3U + 7U + 4U + 12U + 2U);
  for (const auto* untouched : {&other_group, &other_env}) {
    for (const auto& [run, ids] : *untouched) {
      for (const auto& id : ids) EXPECT_TRUE(left.contains(id)) << run;
    }
  }
  for (const auto& id : newest) EXPECT_TRUE(left.contains(id));
  // The pruned group still restores its newest run.
  EXPECT_EQ(restore_source(), newest[0]);
}

}  // namespace
