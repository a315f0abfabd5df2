#include <gtest/gtest.h>

#include <unordered_set>

#include "ec2/endpoint.h"
#include "ec2/query.h"
#include "ec2/secret.h"
#include "ec2/types.h"

namespace {

using namespace ec2;

TEST(Ec2Types, StrongIdsCompareHashAndFormat) {
  std::unordered_set<VolumeId> ids{VolumeId{"vol-1"}, VolumeId{"vol-1"}, VolumeId{"vol-2"}};
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_LT(VolumeId{"vol-1"}, VolumeId{"vol-2"});
  EXPECT_EQ(fmt::format("volume_id={}", VolumeId{"vol-1"}), "volume_id=vol-1");
}

TEST(Ec2Types, StatesRoundTrip) {
  for (auto s : {VolumeState::Creating, VolumeState::Available, VolumeState::InUse, VolumeState::Deleting,
                 VolumeState::Deleted, VolumeState::Error}) {
    EXPECT_EQ(parse_volume_state(to_string(s)), s);
  }
  EXPECT_EQ(parse_volume_state("in-use"), VolumeState::InUse);
  EXPECT_EQ(parse_snapshot_state("completed"), SnapshotState::Completed);
  EXPECT_EQ(parse_attachment_state("busy"), AttachmentState::Busy);
  EXPECT_EQ(parse_volume_state("optimizing"), VolumeState::Unknown);
}

TEST(Ec2Types, Iso8601) {
  auto t = parse_iso8601("2026-11-23T11:44:31.123Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_iso8601(*t), "2026-11-23T11:44:31.123Z");
  EXPECT_EQ(format_iso8601(*parse_iso8601("2026-11-23T11:44:31Z")), "2026-11-23T11:44:31.000Z");
  EXPECT_TRUE(parse_iso8601("2026-11-23T11:44:31+00:00"));
  EXPECT_FALSE(parse_iso8601("2026-13-23T11:44:31Z"));
  EXPECT_FALSE(parse_iso8601("yesterday"));
  EXPECT_FALSE(parse_iso8601("2026-11-23T11:44:31+02:00"));
}

TEST(Ec2Types, Iso8601BeyondTheClockIsNone) {
  // TimePoint counts nanoseconds (1677..2262); converting a time outside was a signed overflow
  // (tests/fuzz/ec2_xml found it in an attachTime of 2426; UBSan: "signed integer overflow").
  EXPECT_FALSE(parse_iso8601("2426-12-07T05:08:11.000Z"));
  EXPECT_FALSE(parse_iso8601("9999-12-31T23:59:59Z"));
  EXPECT_FALSE(parse_iso8601("-999-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_iso8601("1600-01-01T00:00:00Z"));
  EXPECT_EQ(format_iso8601(*parse_iso8601("2262-01-01T00:00:00Z")), "2262-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso8601(*parse_iso8601("1700-01-01T00:00:00Z")), "1700-01-01T00:00:00.000Z");
}

TEST(Ec2Types, FindTag) {
  std::vector<Tag> tags{{"a", "1"}, {"b", ""}};
  EXPECT_EQ(find_tag(tags, "a"), "1");
  EXPECT_EQ(find_tag(tags, "b"), "");
  EXPECT_FALSE(find_tag(tags, "c"));
}

TEST(Ec2Secret, NeverPrints) {
  const SecretString s{std::string("wJalrXUtnFEMI/K7MDENG")};
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), "<redacted>");
  EXPECT_EQ(fmt::format("secret={}", s), "secret=<redacted>");
  EXPECT_EQ(s.reveal(), "wJalrXUtnFEMI/K7MDENG");
}

TEST(Ec2Secret, MovedFromIsEmptyAndCopiesAreIndependent) {
  SecretString a{std::string("abc")};
  SecretString b = a;
  SecretString c = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the wipe is the point
  EXPECT_EQ(b.reveal(), "abc");
  EXPECT_EQ(c.reveal(), "abc");
  c.clear();
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(b.reveal(), "abc");
}

TEST(Ec2Query, FlattensLikeBotocoresEc2Serializer) {
  QueryParams p;
  p.add("DryRun", true);
  p.add_list("Owner", {"self"});
  p.add_filters({Filter{.name = "tag:ebsnap:group", .values = {"solr", "a b"}}});
  p.add_tag_specifications({TagSpecification{.resource_type = "volume", .tags = {{"k", "v/+"}}}});
  EXPECT_EQ(p.body("DescribeSnapshots"),
            "Action=DescribeSnapshots&Version=2016-11-15&DryRun=true&Owner.1=self&Filter.1.Name=tag%3Aebsnap%"
            "3Agroup"
            "&Filter.1.Value.1=solr&Filter.1.Value.2=a%20b&TagSpecification.1.ResourceType=volume"
            "&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v%2F%2B");
}

TEST(Ec2Endpoint, FromRegionAndChina) {
  auto e = region_endpoint("eu-west-1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->url, "https://ec2.eu-west-1.amazonaws.com/");
  EXPECT_EQ(e->host, "ec2.eu-west-1.amazonaws.com");
  EXPECT_FALSE(e->configured);
  EXPECT_EQ(region_endpoint("cn-north-1")->host, "ec2.cn-north-1.amazonaws.com.cn");
  EXPECT_FALSE(region_endpoint(""));
  EXPECT_FALSE(region_endpoint("eu-west-1.evil.com/"));
}

TEST(Ec2Endpoint, EnvironmentOverridesInOrder) {
  auto both = fixed_environment(
      {{"AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:5000"}, {"AWS_ENDPOINT_URL", "https://other.example"}});
  auto e = resolve_ec2_endpoint("eu-west-1", both);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->url, "http://127.0.0.1:5000/");
  EXPECT_EQ(e->host, "127.0.0.1:5000");
  EXPECT_TRUE(e->configured);
  auto general = resolve_ec2_endpoint(
      "eu-west-1", fixed_environment({{"AWS_ENDPOINT_URL", "https://x.example:443/base"}}));
  ASSERT_TRUE(general);
  EXPECT_EQ(general->host, "x.example");  // default port dropped, as in the Host header
  EXPECT_EQ(general->path, "/base/");
  EXPECT_EQ(resolve_ec2_endpoint("eu-west-1", fixed_environment({}))->host, "ec2.eu-west-1.amazonaws.com");
  EXPECT_FALSE(resolve_ec2_endpoint("eu-west-1", fixed_environment({{"AWS_ENDPOINT_URL_EC2", "ftp://x"}})));
}

}  // namespace
