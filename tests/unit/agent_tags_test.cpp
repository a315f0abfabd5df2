// agent/core/tags.h: what ebsnap tags, and how a restore selects its snapshot lineage.
#include <gtest/gtest.h>

#include <algorithm>

#include "agent/core/tags.h"

namespace agent {
namespace {

GroupConfig group_with_tags(std::map<std::string, std::string> tags) {
  GroupConfig g;
  g.name = "solr";
  g.tags = std::move(tags);
  return g;
}

const FilterValues k_filters{{"role", "search"}, {"environment", "prod"}};
const LineageKey k_key{"solr", "/mnt/solr", "/dev/sdf"};
const ec2::InstanceId k_instance{"i-0123456789abcdef0"};

ec2::Snapshot snap(std::string id, int minute, ec2::SnapshotState state, std::string mount_point,
                   FilterValues filters = k_filters) {
  ec2::Snapshot s;
  s.id = ec2::SnapshotId{std::move(id)};
  s.state = state;
  s.start_time = ec2::TimePoint{} + std::chrono::minutes(minute);
  for (const auto& f : filters) s.tags.push_back({f.key, f.value});
  s.tags.push_back({std::string(k_tag_mount_point), std::move(mount_point)});
  return s;
}

TEST(TagsTest, VolumeTagsCarryLineageGroupAndAttempt) {
  auto tags = volume_tags(group_with_tags({{"team", "search"}}), k_filters, k_key, k_instance, "ebsnap-abc");
  EXPECT_EQ(ec2::find_tag(tags, "role"), "search");
  EXPECT_EQ(ec2::find_tag(tags, "environment"), "prod");
  EXPECT_EQ(ec2::find_tag(tags, "team"), "search");
  EXPECT_EQ(ec2::find_tag(tags, k_tag_group), "solr");
  EXPECT_EQ(ec2::find_tag(tags, k_tag_mount_point), "/mnt/solr");
  EXPECT_EQ(ec2::find_tag(tags, k_tag_device), "/dev/sdf");
  EXPECT_EQ(ec2::find_tag(tags, k_tag_instance_id), k_instance.value);
  EXPECT_EQ(ec2::find_tag(tags, k_tag_attempt), "ebsnap-abc");
  EXPECT_TRUE(ec2::find_tag(tags, k_tag_name).has_value());
  EXPECT_FALSE(ec2::find_tag(volume_tags(group_with_tags({}), k_filters, k_key, k_instance), k_tag_attempt));
}

TEST(TagsTest, FilterTagsWinOverAGroupTagOfTheSameKey) {
  auto tags = volume_tags(group_with_tags({{"role", "other"}}), k_filters, k_key, k_instance);
  EXPECT_EQ(std::ranges::count_if(tags, [](const ec2::Tag& t) { return t.key == "role"; }), 1);
  EXPECT_EQ(ec2::find_tag(tags, "role"), "search");
}

TEST(TagsTest, GroupNameTagIsKeptOnVolumes) {
  auto tags = volume_tags(group_with_tags({{"Name", "mine"}}), k_filters, k_key, k_instance);
  EXPECT_EQ(std::ranges::count_if(tags, [](const ec2::Tag& t) { return t.key == "Name"; }), 1);
  EXPECT_EQ(ec2::find_tag(tags, "Name"), "mine");
}

TEST(TagsTest, SnapshotTagsCarryVolumeConsistencyAndRun) {
  auto tags = snapshot_tags(group_with_tags({{"Name", "mine"}}), k_filters, k_key, k_instance,
                            ec2::VolumeId{"vol-1"}, Consistency::WatchdogThawed, "run-7");
  EXPECT_EQ(ec2::find_tag(tags, k_tag_volume_id), "vol-1");
  EXPECT_EQ(ec2::find_tag(tags, k_tag_consistency), "watchdog-thawed");
  EXPECT_EQ(ec2::find_tag(tags, k_tag_run_id), "run-7");
  EXPECT_EQ(std::ranges::count_if(tags, [](const ec2::Tag& t) { return t.key == "Name"; }), 1);
  EXPECT_EQ(to_string(Consistency::Frozen), "frozen");
  EXPECT_EQ(to_string(Consistency::Unfrozen), "unfrozen");
}

TEST(TagsTest, LineageFiltersQueryEveryMountPointAtOnce) {
  auto f = lineage_filters(k_filters, {"/a", "/b"});
  ASSERT_EQ(f.size(), 3U);
  EXPECT_EQ(f[0].name, "tag:role");
  EXPECT_EQ(f[0].values, std::vector<std::string>{"search"});
  EXPECT_EQ(f[2].name, "tag:ebsnap:mount-point");
  EXPECT_EQ(f[2].values, (std::vector<std::string>{"/a", "/b"}));
  auto v = our_volume_filters(k_filters, {"/a"});
  EXPECT_TRUE(std::ranges::any_of(v, [](const ec2::Filter& x) {
    return x.name == "tag-key" && x.values == std::vector<std::string>{std::string(k_tag_group)};
  }));
}

TEST(TagsTest, InLineageChecksEveryFilterTagAndTheMountPoint) {
  auto s = snap("snap-1", 0, ec2::SnapshotState::Completed, "/mnt/solr");
  EXPECT_TRUE(in_lineage(s.tags, k_filters, "/mnt/solr"));
  EXPECT_FALSE(in_lineage(s.tags, k_filters, "/mnt/other"));
  EXPECT_FALSE(in_lineage(s.tags, {{"role", "search"}, {"environment", "dev"}}, "/mnt/solr"));
  EXPECT_FALSE(in_lineage(s.tags, {{"cluster", "x"}}, "/mnt/solr"));
}

}  // namespace
}  // namespace agent
