// One simulated instance of the fleet (bench/fleet/instance.h) running ebsnap's own snapshot and
// prune against the simulated account on virtual time: what the snapshot-1000 and prune-1000
// scenarios rely on, for one instance.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/tags.h"
#include "bench/fleet/account.h"
#include "bench/fleet/instance.h"
#include "bench/fleet/world.h"
#include "ec2/ec2_client.h"
#include "ec2/testing/manual_clock.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;

const ec2::TimePoint k_epoch = std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 57);

class FleetInstance : public ::testing::Test {
 protected:
  FleetInstance() : account_(fleet::AccountOptions{}, world_) {}

  fleet::Instance& instance(std::optional<agent::RetentionPolicy> retention = std::nullopt,
                            fleet::Duration server_time = 60ms) {
    instance_ = std::make_unique<fleet::Instance>(world_, account_,
                                                  fleet::InstanceOptions{.index = 0,
                                                                         .volumes = 4,
                                                                         .run_dir = run_dir_.path(),
                                                                         .server_time = server_time,
                                                                         .retention = retention});
    return *instance_;
  }

  fleet::CommandResult run(auto command) {
    fleet::CommandResult out;
    world_.spawn([&] { out = command(); });
    world_.run();
    return out;
  }

  // What the account holds now, seen by ebsnap's client (outside the world: no throttling here).
  std::vector<ec2::Snapshot> snapshots() {
    auto c = fleet::direct_client(account_, clock_, clock_, random_);
    auto found = c->describe_snapshots({.owner_ids = {"self"}});
    EXPECT_TRUE(found) << found.error().describe();
    return found ? *found : std::vector<ec2::Snapshot>{};
  }

  std::vector<std::string> consistencies() {
    std::vector<std::string> out;
    for (const auto& s : snapshots())
      out.push_back(ec2::find_tag(s.tags, agent::k_tag_consistency).value_or(""));
    return out;
  }

  std::uint64_t calls(const std::string& action) const {
    const auto it = account_.stats().find(action);
    return it == account_.stats().end() ? 0 : it->second.calls;
  }

  fleet::World world_{k_epoch};
  fleet::Account account_;
  testsupport::TempDir run_dir_{"ebsnap-fleet-instance"};
  std::unique_ptr<fleet::Instance> instance_;
  ec2::ManualClock clock_;
  ec2::SequenceRandom random_{{0.5}};
};

TEST_F(FleetInstance, SnapshotOfTheMountedGroupFreezesAndCallsCreateSnapshotsOnce) {
  auto& i = instance();
  i.seed_mounted_group();
  const auto r = run([&] { return i.snapshot(); });
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_GT(r.took, 0ms);
  EXPECT_EQ(account_.snapshot_count(), 4u);
  EXPECT_EQ(calls("CreateSnapshots"), 1u);
  EXPECT_EQ(calls("CreateTags"), 4u);  // ebsnap:volume-id, one per snapshot, after the thaw
  EXPECT_EQ(consistencies(), std::vector<std::string>(4, "frozen"));
}

// snapshot-1000 in small: many instances in one world and one account, each freezing its own
// filesystems (from FreezeSet's threads) and calling CreateSnapshots for its own volumes only.
TEST(FleetInstances, ManyInstancesSnapshotTheirOwnGroupsWithoutInterference) {
  fleet::World world(k_epoch);
  fleet::Account account(fleet::AccountOptions{}, world);
  testsupport::TempDir scratch{"ebsnap-fleet-instances"};
  constexpr int k = 100;
  std::vector<std::unique_ptr<fleet::Instance>> instances;
  std::vector<fleet::CommandResult> results(k);
  for (int i = 0; i < k; ++i) {
    const auto dir = scratch.path() / std::to_string(i);
    std::filesystem::create_directory(dir);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace);
    instances.push_back(std::make_unique<fleet::Instance>(
        world, account, fleet::InstanceOptions{.index = i, .volumes = 4, .run_dir = dir}));
    instances.back()->seed_mounted_group();
    world.spawn([&, i] {
      results[static_cast<std::size_t>(i)] = instances[static_cast<std::size_t>(i)]->snapshot();
    });
  }
  world.run();
  int failed = 0;
  std::string first;
  for (const auto& r : results) {
    if (r.ok) continue;
    ++failed;
    if (first.empty()) first = r.failure;
  }
  EXPECT_EQ(failed, 0) << first;
  EXPECT_EQ(account.snapshot_count(), std::size_t{4 * k});
}

TEST_F(FleetInstance, SnapshotWithoutTheMountedGroupFails) {
  auto& i = instance();
  const auto r = run([&] { return i.snapshot(); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("no volume of ours"), std::string::npos) << r.failure;
  EXPECT_EQ(calls("CreateSnapshots"), 0u);
}

TEST_F(FleetInstance, PruneDeletesWhatThePlannerAsksOfTheSeededHistory) {
  auto& i = instance(agent::RetentionPolicy{.daily = 28});
  EXPECT_EQ(i.seed_history(30, 24h), 8u);  // the 2 oldest runs of 4 snapshots
  EXPECT_EQ(account_.snapshot_count(), 120u);
  const auto r = run([&] { return i.prune(); });
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(calls("DescribeSnapshots"), 1u);
  EXPECT_EQ(calls("DeleteSnapshot"), 8u);
  EXPECT_EQ(account_.snapshot_count(), 112u);
  // paced at delete_rate_per_s (2/s): 7 intervals of 500 ms at least
  EXPECT_GE(r.took, 3500ms);
}

TEST_F(FleetInstance, PruneWithoutRetentionPlansNothingAndFails) {
  auto& i = instance();
  EXPECT_EQ(i.seed_history(3, 24h), 0u);
  const auto r = run([&] { return i.prune(); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("no retention policy"), std::string::npos) << r.failure;
  EXPECT_EQ(account_.snapshot_count(), 12u);
}

// EC2 taking 11 s to answer each request: the frozen CreateSnapshots outlasts the freeze bound
// (10 s), and the guardian, on the world's clock, has thawed before the answer arrives.
TEST_F(FleetInstance, FreezeHeldPastItsBoundIsThawedByTheGuardianAndTaggedSo) {
  auto& i = instance(std::nullopt, 11s);
  i.seed_mounted_group();
  const auto r = run([&] { return i.snapshot(); });
  EXPECT_EQ(account_.snapshot_count(), 4u) << r.failure;
  EXPECT_EQ(consistencies(), std::vector<std::string>(4, "watchdog-thawed"));
}

}  // namespace
