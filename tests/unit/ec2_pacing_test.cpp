// Client-side pacing of EC2's throttled buckets (ec2/pacing.h): the buckets, the spacing that
// grows on throttles and eases on answers, and the EC2 client that sends a throttled call again
// at the next slot until its patience is used up.
#include "ec2/pacing.h"

#include <gtest/gtest.h>

#include "ec2/credentials.h"
#include "ec2/ec2_client.h"
#include "ec2/testing/manual_clock.h"
#include "tests/unit/ec2_fake_http.h"

namespace {

using namespace ec2;
using namespace std::chrono_literals;

TEST(Pacing, BucketsAreEc2s) {
  EXPECT_EQ(throttle_bucket("DescribeVolumes"), "describe");
  EXPECT_EQ(throttle_bucket("DescribeSnapshots"), "describe");
  EXPECT_EQ(throttle_bucket("CreateVolume"), "CreateVolume");
  EXPECT_EQ(throttle_bucket("CreateSnapshots"), "CreateSnapshots");
  EXPECT_EQ(throttle_bucket("DeleteSnapshot"), "DeleteSnapshot");
  EXPECT_EQ(throttle_bucket("CreateTags"), "CreateTags");
  EXPECT_EQ(throttle_bucket("AttachVolume"), "mutating");
  EXPECT_EQ(throttle_bucket("ModifyInstanceAttribute"), "mutating");
}

TEST(Pacing, NothingWaitsBeforeAThrottleNorWhenDisabled) {
  ManualClock clock;
  SequenceRandom random({0.5});
  Pacing off(PacingOptions{}, clock, clock, random);
  off.after("CreateVolume", true);
  EXPECT_EQ(off.before("CreateVolume"), 0ms);
  Pacing on(PacingOptions{.patience = 60s}, clock, clock, random);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(on.before("CreateVolume"), 0ms);
    on.after("CreateVolume", false);
  }
  EXPECT_TRUE(clock.sleeps().empty());
}

TEST(Pacing, AThrottleSpacesTheBucketsCallsAndOnlyThatBucket) {
  ManualClock clock;
  SequenceRandom random({0.5});  // jitter × 1.0
  Pacing p(PacingOptions{.patience = 60s, .base = 1000ms}, clock, clock, random);
  p.after("CreateVolume", true);
  EXPECT_EQ(p.before("DescribeVolumes"), 0ms);
  EXPECT_EQ(p.before("AttachVolume"), 0ms);
  // Three calls of the bucket at once (the volumes of one restore): one slot each, 1 s apart.
  EXPECT_EQ(p.before("CreateVolume"), 1000ms);
  EXPECT_EQ(p.before("CreateVolume"), 1000ms);  // ManualClock advanced by the first sleep
  EXPECT_EQ(p.before("CreateVolume"), 1000ms);
  EXPECT_EQ(clock.sleeps(), (std::vector<std::chrono::milliseconds>{1000ms, 1000ms, 1000ms}));
}

// fleet_size: each client of a fleet that starts together takes its share of the buckets whose
// calls start its work, from the first call (0.95 × rate / fleet, burst / fleet + 1).
TEST(Pacing, AFleetTakesItsShareOfTheBucketsFromTheFirstCall) {
  ManualClock clock;
  SequenceRandom random({0.5});
  Pacing p(PacingOptions{.patience = 3600s, .fleet = 1000}, clock, clock, random);
  // CreateVolume: 50 / 1000 (the AttachVolume bucket's burst: each volume is attached) + 0.5 in
  // hand; the call waits for 0.45 more at 0.00475 a second.
  EXPECT_EQ(p.before("CreateVolume"), 94737ms);
  EXPECT_EQ(p.before("CreateVolume"), 210527ms) << "one call per 1 / 0.00475 s";
  // Describe*: 100 / 1000 + 0.5 in hand, 0.019 a second.
  EXPECT_EQ(p.before("DescribeSnapshots"), 21053ms);
  // What follows from an instance's own calls is not held to a share; nor is a freeze's call.
  EXPECT_EQ(p.before("AttachVolume"), 0ms);
  EXPECT_EQ(p.before("CreateTags"), 0ms);
  EXPECT_EQ(p.before("CreateSnapshots"), 0ms);
}

TEST(Pacing, AFleetsFirstCallsTakeEc2sBurstAndItsShareSavesUpToItsBurst) {
  ManualClock clock;
  SequenceRandom random({0.5});
  Pacing p(PacingOptions{.patience = 3600s, .fleet = 40}, clock, clock, random);
  // DeleteSnapshot: 100 / 40 + 0.5 = 3 calls in hand, then one per 1 / 0.11875 s.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(p.before("DeleteSnapshot"), 0ms) << i;
  EXPECT_EQ(p.before("DeleteSnapshot"), 8422ms);
  // An hour idle saves no more than its burst, 100 / 40 + 1.
  clock.advance(3600s);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(p.before("DeleteSnapshot"), 0ms) << i;
  EXPECT_EQ(p.before("DeleteSnapshot"), 4211ms);
}

TEST(Pacing, AFleetStartingOverAWindowTakesAWindowsShareAtATime) {
  ManualClock clock;
  SequenceRandom random({0.5});
  Pacing p(PacingOptions{.patience = 3600s, .fleet = 1000, .fleet_window = 300s}, clock, clock, random);
  // Describe*: 100 / 1000 + a window's 0.95 * 20 / 1000 * 300 = 5.7 + 0.5 + 8 = 14.3 in hand.
  for (int i = 0; i < 14; ++i) EXPECT_EQ(p.before("DescribeVolumes"), 0ms) << i;
  EXPECT_EQ(p.before("DescribeVolumes"), 300000ms) << "the next window's start, not 0.7 / 0.019 s";
  // CreateVolume, its first call now: 50 / 1000 + 1.425 + 0.5 = 1.975, then 1.425 a window.
  EXPECT_EQ(p.before("CreateVolume"), 0ms);
  EXPECT_EQ(p.before("CreateVolume"), 300000ms);  // 0.975 + 1.425
  EXPECT_EQ(p.before("CreateVolume"), 0ms);       // 1.4 in hand
  clock.advance(100s);
  EXPECT_EQ(p.before("CreateVolume"), 200000ms) << "its third window starts 600 s after its first call";
  // Ten windows idle save no more than the share's burst, 100 / 1000 + 1 + 1.425 = 2.525: two
  // calls, then the next window's start (its first call was at 300 s, the clock is at 3900 s).
  clock.advance(3000s);
  EXPECT_EQ(p.before("CreateVolume"), 0ms);
  EXPECT_EQ(p.before("CreateVolume"), 0ms);
  EXPECT_EQ(p.before("CreateVolume"), 300000ms);
}

TEST(Pacing, AFleetsThrottledCallTakesARandomSlotOfItsShare) {
  ManualClock clock;
  SequenceRandom random({0.25});
  Pacing p(PacingOptions{.patience = 3600s, .base = 1000ms, .fleet = 1000}, clock, clock, random);
  p.after("AttachVolume", true);
  EXPECT_EQ(p.before("AttachVolume"), 50000ms) << "a quarter of 1000 / 5 s";
  // CreateSnapshots is made inside a freeze: the spacing (1 s, ×0.75) and no share.
  p.after("CreateSnapshots", true);
  EXPECT_EQ(p.before("CreateSnapshots"), 750ms);
}

TEST(Pacing, ThrottlesDoubleTheSpacingUpToItsCapAndAnswersEaseIt) {
  ManualClock clock;
  SequenceRandom random({0.5});
  Pacing p(PacingOptions{.patience = 600s, .base = 1000ms, .max_spacing = 5000ms, .ease = 0.5}, clock, clock,
           random);
  std::vector<std::chrono::milliseconds> waits;
  for (int i = 0; i < 4; ++i) {
    p.after("DeleteSnapshot", true);
    waits.push_back(p.before("DeleteSnapshot"));
  }
  // 1 s, 2 s, 4 s, then the cap (5 s). Each throttle's slot is counted from its answer.
  EXPECT_EQ(waits, (std::vector<std::chrono::milliseconds>{1000ms, 2000ms, 4000ms, 5000ms}));
  p.after("DeleteSnapshot", false);  // 2.5 s
  EXPECT_EQ(p.before("DeleteSnapshot"), 5000ms) << "the slot taken before still holds";
  EXPECT_EQ(p.before("DeleteSnapshot"), 2500ms);
  p.after("DeleteSnapshot", false);  // 1.25 s
  p.after("DeleteSnapshot", false);  // 0.625 s
  p.after("DeleteSnapshot", false);  // 0.3125 s
  p.after("DeleteSnapshot", false);  // 0.156 s
  p.after("DeleteSnapshot", false);  // under base / 8: none
  clock.advance(10s);
  EXPECT_EQ(p.before("DeleteSnapshot"), 0ms);
  EXPECT_EQ(p.before("DeleteSnapshot"), 0ms) << "no spacing left";
}

constexpr const char* k_throttled =
    "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
    "exceeded.</Message></Error></Errors><RequestID>t</RequestID></Response>";
constexpr const char* k_volume =
    "<CreateVolumeResponse><volumeId>vol-1</volumeId><size>10</size><status>creating</status>"
    "</CreateVolumeResponse>";

class PacedClientTest : public ::testing::Test {
 protected:
  std::shared_ptr<ec2test::ScriptedHttp> http = std::make_shared<ec2test::ScriptedHttp>();
  ManualClock clock;
  SequenceRandom random{{0.5}};

  std::unique_ptr<Ec2Client> client(PacingOptions pacing) {
    Ec2ClientOptions o;
    o.region = "eu-west-1";
    o.credentials = std::make_shared<StaticCredentialsProvider>(
        Credentials{.access_key_id = "AKIDEXAMPLE", .secret_access_key = SecretString(std::string("s"))});
    o.retry = RetryOptions{.max_attempts = 2, .base_delay = 100ms};
    o.pacing = pacing;
    o.http_client = http;
    o.clock = &clock;
    o.sleeper = &clock;
    o.random = &random;
    auto r = Ec2Client::create(std::move(o), fixed_environment({{"AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:1"}}));
    EXPECT_TRUE(r) << r.error().describe();
    return std::move(*r);
  }
};

TEST_F(PacedClientTest, AThrottledCallIsSentAgainPastMaxAttemptsAndCostsNoQuota) {
  for (int i = 0; i < 5; ++i) http->push(503, k_throttled);
  http->push(200, k_volume);
  auto c = client(PacingOptions{.patience = 600s, .base = 1000ms, .max_spacing = 60'000ms, .ease = 0.9});
  auto v = c->create_volume(CreateVolumeOptions{.availability_zone = "eu-west-1a", .size_gib = 10});
  ASSERT_TRUE(v) << v.error().describe();
  EXPECT_EQ(http->count(), 6u) << "five throttles, then the answer; max_attempts (2) does not count them";
  EXPECT_EQ(clock.sleeps(), (std::vector<std::chrono::milliseconds>{1000ms, 2000ms, 4000ms, 8000ms, 16000ms}));
  EXPECT_EQ(c->quota().available(), 500);
  const auto reqs = http->requests();
  const auto token = [](const HttpRequest& r) { return r.body.substr(r.body.find("ClientToken=")); };
  EXPECT_EQ(token(reqs.front()).substr(0, 40), token(reqs.back()).substr(0, 40)) << "the same ClientToken";
}

TEST_F(PacedClientTest, PatienceUsedUpTheThrottleIsTheErrorAndNotRetriedAgain) {
  http->set_handler([](const HttpRequest&) -> Result<HttpResponse> {
    return HttpResponse{.status = 503, .headers = {}, .body = k_throttled};
  });
  auto c = client(PacingOptions{.patience = 10s, .base = 1000ms, .max_spacing = 4000ms});
  auto v = c->describe_instances({});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().kind, ErrorKind::Throttled);
  EXPECT_NE(v.error().message.find("(throttled for 11 s)"), std::string::npos) << v.error().message;
  // Waits 1, 2, 4, 4: 11 s ≥ 10 s after the fifth request; the retry strategy sends no sixth.
  EXPECT_EQ(http->count(), 5u);
}

// A fleet's share holds a CreateVolume for 94.7 s before its first send; a throttle after it is
// the first throttle of a call whose patience (60 s) is still whole, so it is sent again.
TEST_F(PacedClientTest, TheWaitForAFleetsShareIsNotTimeThrottled) {
  http->push(503, k_throttled);
  http->push(200, k_volume);
  auto c = client(PacingOptions{.patience = 60s, .base = 1000ms, .max_spacing = 5000ms, .fleet = 1000});
  auto v = c->create_volume(CreateVolumeOptions{.availability_zone = "eu-west-1a", .size_gib = 10});
  ASSERT_TRUE(v) << v.error().describe();
  EXPECT_EQ(http->count(), 2u);
  ASSERT_FALSE(clock.sleeps().empty());
  EXPECT_EQ(clock.sleeps().front(), 94737ms) << "0.45 of a call at 0.00475 a second";
}

TEST_F(PacedClientTest, WithoutPatienceAThrottleIsRetriedAsOtherErrors) {
  http->set_handler([](const HttpRequest&) -> Result<HttpResponse> {
    return HttpResponse{.status = 503, .headers = {}, .body = k_throttled};
  });
  auto c = client(PacingOptions{});
  ASSERT_FALSE(c->describe_instances({}));
  EXPECT_EQ(http->count(), 2u) << "max_attempts";
}

}  // namespace
