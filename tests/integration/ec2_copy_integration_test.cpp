// Cross-region CopySnapshot by ebsnap's own client against the two-region sandbox (issue 14):
// a client per region (the credential scope picks the region), the copy made in the
// destination with the PresignedUrl ebsnap signs, verified by the sandbox with botocore; a
// tampered one fails the copy as EC2 does; ResourceLimitExceeded above 20 pending copies.
#include <gtest/gtest.h>

#include <algorithm>

#include "ec2/imds.h"
#include "ec2/waiter.h"
#include "tests/integration/ec2_sandbox_fixture.h"

namespace {

using namespace ec2;
using namespace std::chrono_literals;

class Ec2CopySandbox : public ec2test::SandboxSuite {
 protected:
  void TearDown() override {
    sandbox().configure({{"timing", {{"copy_complete_s", 0}}}});
    SandboxSuite::TearDown();
  }

  static std::unique_ptr<Ec2Client> dr_client() {
    auto r = Ec2Client::create(Ec2ClientOptions{.region = sandbox().dr_region(),
                                                .endpoint = {},
                                                .credentials = static_credentials(),
                                                .retry = {},
                                                .http = {},
                                                .default_page_size = 0},
                               env());
    EXPECT_TRUE(r) << r.error().describe();
    return std::move(*r);
  }

  // A completed snapshot of a new volume in the home region.
  SnapshotId home_snapshot(Ec2Api& home) {
    auto vol = home.create_volume(CreateVolumeOptions{.availability_zone = sandbox().availability_zone(), .size_gib = 1});
    EXPECT_TRUE(vol) << vol.error().describe();
    auto snap = home.create_snapshot(CreateSnapshotOptions{.volume_id = vol->id});
    EXPECT_TRUE(snap) << snap.error().describe();
    EXPECT_TRUE(waiter.snapshots(home, {snap->id}, SnapshotState::Completed));
    return snap->id;
  }

  // The copy once it has left pending.
  Snapshot settled(Ec2Api& dr, const SnapshotId& id) {
    auto done = waiter.snapshots_until(dr, {id}, [](const SnapshotId&, const std::optional<Snapshot>& s) {
      return WaitCheck{.verdict = s && s->state != SnapshotState::Pending ? WaitVerdict::Done : WaitVerdict::Pending,
                       .reason = {}};
    });
    EXPECT_TRUE(done) << done.error().describe();
    return done && (*done)[0] ? *(*done)[0] : Snapshot{};
  }

  Waiter waiter{WaiterOptions{.initial_delay = 50ms, .max_delay = 500ms, .timeout = 60s}};
};

TEST_F(Ec2CopySandbox, CopiesASnapshotIntoTheOtherRegionWithItsTags) {
  auto home = client();
  auto dr = dr_client();
  ASSERT_NE(home->region(), dr->region());
  EXPECT_EQ(dr->endpoint().url, home->endpoint().url);  // one sandbox endpoint serves both regions

  // Each client sees its own region: the DR instance only through the DR client.
  auto dr_instances = dr->describe_instances(DescribeInstancesOptions{});
  ASSERT_TRUE(dr_instances) << dr_instances.error().describe();
  ASSERT_EQ(dr_instances->size(), 1u);
  EXPECT_EQ((*dr_instances)[0].id.value, sandbox().dr_instance_id());
  EXPECT_EQ((*dr_instances)[0].availability_zone, sandbox().dr_availability_zone());

  const SnapshotId source = home_snapshot(*home);
  sandbox().configure({{"timing", {{"copy_complete_s", 0.3}}}});
  auto copy = dr->copy_snapshot(CopySnapshotOptions{
      .source_region = home->region(),
      .source_snapshot_id = source,
      .description = "dr copy of " + source.value,
      .tag_specifications = {{"snapshot",
                              {{"ebsnap:source-snapshot", source.value},
                               {"ebsnap:source-region", home->region()},
                               {"ebsnap:source-time", "2026-12-06T00:00:00Z"}}}},
      .completion_duration_minutes = 60});
  ASSERT_TRUE(copy) << copy.error().describe();

  // The call went to the DR region with the PresignedUrl (never logged) and DestinationRegion.
  const auto calls = sandbox().calls();
  nlohmann::json last;
  for (const auto& c : calls) {
    if (c.value("action", "") == "CopySnapshot") last = c;
  }
  ASSERT_FALSE(last.is_null());
  EXPECT_EQ(last["region"], sandbox().dr_region());
  EXPECT_EQ(last["params"]["DestinationRegion"], sandbox().dr_region());
  EXPECT_FALSE(last["params"].contains("PresignedUrl"));

  const Snapshot done = settled(*dr, *copy);
  EXPECT_EQ(done.state, SnapshotState::Completed);  // the sandbox verified the PresignedUrl
  EXPECT_EQ(done.description, "dr copy of " + source.value);
  EXPECT_EQ(find_tag(done.tags, "ebsnap:source-snapshot"), source.value);
  EXPECT_EQ(find_tag(done.tags, "ebsnap:source-region"), home->region());
  EXPECT_EQ(find_tag(done.tags, "ebsnap:source-time"), "2026-12-06T00:00:00Z");

  // The copy is in the DR region only.
  auto in_home = home->describe_snapshots(DescribeSnapshotsOptions{.snapshot_ids = {*copy}});
  ASSERT_FALSE(in_home);
  EXPECT_EQ(in_home.error().kind, ErrorKind::NotFound);
  auto by_tag = dr->describe_snapshots(DescribeSnapshotsOptions{
      .owner_ids = {"self"}, .filters = {{"tag:ebsnap:source-snapshot", {source.value}}}});
  ASSERT_TRUE(by_tag) << by_tag.error().describe();
  ASSERT_EQ(by_tag->size(), 1u);
  EXPECT_EQ((*by_tag)[0].id, *copy);

  // A volume restored from it in the DR region.
  auto vol = dr->create_volume(
      CreateVolumeOptions{.availability_zone = sandbox().dr_availability_zone(), .snapshot_id = *copy});
  ASSERT_TRUE(vol) << vol.error().describe();
  EXPECT_TRUE(waiter.volumes(*dr, {vol->id}, VolumeState::Available));
  ASSERT_TRUE(dr->delete_volume(DeleteVolumeOptions{.volume_id = vol->id}));
  ASSERT_TRUE(dr->delete_snapshot(DeleteSnapshotOptions{.snapshot_id = *copy}));
}

TEST_F(Ec2CopySandbox, RoleCredentialsSignThePresignedUrlToo) {
  auto home = client();
  const SnapshotId source = home_snapshot(*home);
  auto imds = std::make_shared<ImdsClient>(ImdsOptions::from_environment(env()));
  auto role = std::make_shared<ImdsCredentialsProvider>(imds, system_clock());
  ASSERT_TRUE(role->credentials()->session_token.reveal().size() > 0);
  auto r = Ec2Client::create(Ec2ClientOptions{.region = sandbox().dr_region(),
                                              .endpoint = {},
                                              .credentials = role,
                                              .retry = {},
                                              .http = {},
                                              .default_page_size = 0},
                             env());
  ASSERT_TRUE(r) << r.error().describe();
  auto copy = (*r)->copy_snapshot(CopySnapshotOptions{.source_region = home->region(), .source_snapshot_id = source});
  ASSERT_TRUE(copy) << copy.error().describe();
  EXPECT_EQ(settled(**r, *copy).state, SnapshotState::Completed);
}

TEST_F(Ec2CopySandbox, ATamperedPresignedUrlFailsTheCopyAsEc2Does) {
  auto home = client();
  auto dr = dr_client();
  const SnapshotId source = home_snapshot(*home);
  const SnapshotId other = home_snapshot(*home);
  // A URL for another snapshot, signed correctly, does not authorise this copy.
  auto http = std::make_shared<CurlHttpClient>(HttpOptions{.allow_plain_http = true});
  std::string good_for_other;
  {
    // The URL the client signs, captured on its way to the sandbox.
    struct Capture final : HttpClient {
      std::shared_ptr<HttpClient> inner;
      std::string* body;
      Result<HttpResponse> send(const HttpRequest& request) override {
        *body = request.body;
        return inner->send(request);
      }
    };
    auto capture = std::make_shared<Capture>();
    capture->inner = http;
    std::string body;
    capture->body = &body;
    auto c = Ec2Client::create(Ec2ClientOptions{.region = sandbox().dr_region(),
                                                .endpoint = {},
                                                .credentials = static_credentials(),
                                                .retry = {},
                                                .http = {},
                                                .default_page_size = 0,
                                                .http_client = capture},
                               env());
    ASSERT_TRUE(c);
    auto copy = (*c)->copy_snapshot(CopySnapshotOptions{.source_region = home->region(), .source_snapshot_id = other});
    ASSERT_TRUE(copy) << copy.error().describe();
    EXPECT_EQ(settled(*dr, *copy).state, SnapshotState::Completed);
    const auto start = body.find("PresignedUrl=");
    ASSERT_NE(start, std::string::npos);
    const auto end = body.find('&', start);
    const std::string encoded = body.substr(start + 13, end - start - 13);
    for (std::size_t i = 0; i < encoded.size(); ++i) {
      if (encoded[i] == '%' && i + 2 < encoded.size()) {
        good_for_other.push_back(static_cast<char>(std::stoi(encoded.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        good_for_other.push_back(encoded[i]);
      }
    }
  }
  ASSERT_NE(good_for_other.find("X-Amz-Signature="), std::string::npos);
  std::string tampered = good_for_other;
  tampered.replace(tampered.find(other.value), other.value.size(), source.value);
  for (const auto& url : {good_for_other, tampered}) {
    auto copy = dr->copy_snapshot(
        CopySnapshotOptions{.source_region = home->region(), .source_snapshot_id = source, .presigned_url = url});
    ASSERT_TRUE(copy) << copy.error().describe();  // EC2 accepts the call ...
    const Snapshot s = settled(*dr, *copy);
    EXPECT_EQ(s.state, SnapshotState::Error);  // ... and fails the copy
    ASSERT_TRUE(dr->delete_snapshot(DeleteSnapshotOptions{.snapshot_id = *copy}));
  }
}

TEST_F(Ec2CopySandbox, MoreThanTwentyPendingCopiesIsResourceLimitExceeded) {
  auto home = client();
  auto dr = dr_client();
  const SnapshotId source = home_snapshot(*home);
  sandbox().configure({{"timing", {{"copy_complete_s", 3600}}}});
  std::vector<SnapshotId> copies;
  for (int i = 0; i < 20; ++i) {
    auto c = dr->copy_snapshot(CopySnapshotOptions{.source_region = home->region(), .source_snapshot_id = source});
    ASSERT_TRUE(c) << c.error().describe();
    copies.push_back(*c);
  }
  auto over = dr->copy_snapshot(CopySnapshotOptions{.source_region = home->region(), .source_snapshot_id = source});
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().aws_code, "ResourceLimitExceeded");
  EXPECT_EQ(over.error().kind, ErrorKind::LimitExceeded);
  EXPECT_EQ(logged("CopySnapshot", "ResourceLimitExceeded"), 1);  // not retried
  for (const auto& id : copies) ASSERT_TRUE(dr->delete_snapshot(DeleteSnapshotOptions{.snapshot_id = id}));
}

}  // namespace
