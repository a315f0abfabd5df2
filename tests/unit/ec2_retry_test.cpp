// The standard retry mode with a fake clock and scripted randomness; and the EC2 client's use
// of it (which calls may be resent, and which must be reconciled instead).
#include <gtest/gtest.h>

#include "ec2/credentials.h"
#include "ec2/ec2_client.h"
#include "ec2/retry.h"
#include "ec2/sigv4.h"
#include "ec2/testing/manual_clock.h"
#include "tests/unit/ec2_fake_http.h"

namespace {

using namespace ec2;
using namespace std::chrono_literals;
using ec2test::ScriptedHttp;

Error error_of(ErrorKind kind, std::string code = {}) {
  Error e;
  e.kind = kind;
  e.aws_code = std::move(code);
  e.message = "x";
  return e;
}

TEST(RetryStrategy, FullJitterExponentialCappedAt20s) {
  ManualClock clock;
  SequenceRandom random({0.999999});
  RetryStrategy s(RetryOptions{.max_attempts = 10, .base_delay = 1000ms}, nullptr, clock, random);
  EXPECT_EQ(s.backoff(1), 999ms);
  EXPECT_EQ(s.backoff(2), 1999ms);
  EXPECT_EQ(s.backoff(3), 3999ms);
  EXPECT_EQ(s.backoff(5), 15999ms);
  EXPECT_EQ(s.backoff(6), 19999ms);  // min(20 s, 32 s)
  EXPECT_EQ(s.backoff(30), 19999ms);
  SequenceRandom zero({0.0});
  RetryStrategy z(RetryOptions{}, nullptr, clock, zero);
  EXPECT_EQ(z.backoff(3), 0ms);
}

TEST(RetryStrategy, RetriesThrottlingThenSucceedsAndSleepsTheSchedule) {
  ManualClock clock;
  SequenceRandom random({0.5});
  RetryStrategy s(RetryOptions{.max_attempts = 3, .base_delay = 100ms}, nullptr, clock, random);
  int calls = 0;
  auto r = s.run<int>("Describe", Idempotency::Idempotent, [&](int attempt) -> Result<int> {
    ++calls;
    EXPECT_EQ(attempt, calls);
    if (attempt < 3) return std::unexpected(error_of(ErrorKind::Throttled, "RequestLimitExceeded"));
    return 42;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(clock.sleeps(), (std::vector<std::chrono::milliseconds>{50ms, 100ms}));
}

TEST(RetryStrategy, GivesUpAfterMaxAttempts) {
  ManualClock clock;
  SequenceRandom random({0.0});
  RetryStrategy s(RetryOptions{.max_attempts = 3}, nullptr, clock, random);
  int calls = 0;
  auto r = s.run<int>("X", Idempotency::Idempotent, [&](int) -> Result<int> {
    ++calls;
    return std::unexpected(error_of(ErrorKind::ServerError, "InternalError"));
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(r.error().kind, ErrorKind::ServerError);
}

TEST(RetryStrategy, DoesNotRetryClientErrors) {
  ManualClock clock;
  SequenceRandom random({0.0});
  RetryStrategy s(RetryOptions{}, nullptr, clock, random);
  int calls = 0;
  for (auto kind : {ErrorKind::NotFound, ErrorKind::IncorrectState, ErrorKind::Auth, ErrorKind::DryRunOk,
                    ErrorKind::InvalidParameter, ErrorKind::Unauthorized}) {
    auto r = s.run<int>("X", Idempotency::Idempotent, [&](int) -> Result<int> {
      ++calls;
      return std::unexpected(error_of(kind));
    });
    EXPECT_FALSE(r);
  }
  EXPECT_EQ(calls, 6);
  EXPECT_TRUE(clock.sleeps().empty());
}

TEST(RetryStrategy, QuotaCostsRefundsAndRunsOut) {
  ManualClock clock;
  SequenceRandom random({0.0});
  auto quota = std::make_shared<RetryQuota>(12);
  RetryStrategy s(
      RetryOptions{.max_attempts = 10, .retry_cost = 5, .timeout_cost = 10, .no_retry_increment = 1}, quota,
      clock, random);
  // Two retries cost 10; the third cannot be paid: the error comes back after 3 attempts.
  int calls = 0;
  auto r = s.run<int>("X", Idempotency::Idempotent, [&](int) -> Result<int> {
    ++calls;
    return std::unexpected(error_of(ErrorKind::Throttled, "Throttling"));
  });
  EXPECT_FALSE(r);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(quota->available(), 2);
  // A timeout costs 10: not affordable now, so no retry at all.
  calls = 0;
  auto t = s.run<int>("X", Idempotency::Idempotent, [&](int) -> Result<int> {
    ++calls;
    return std::unexpected(error_of(ErrorKind::Timeout));
  });
  EXPECT_FALSE(t);
  EXPECT_EQ(calls, 1);
  // Success without retry refunds 1; success after retries refunds what they cost.
  auto ok = s.run<int>("X", Idempotency::Idempotent, [&](int) -> Result<int> { return 1; });
  EXPECT_TRUE(ok);
  EXPECT_EQ(quota->available(), 3);
  quota->release(7);
  auto after_retry = s.run<int>("X", Idempotency::Idempotent, [&](int attempt) -> Result<int> {
    if (attempt == 1) return std::unexpected(error_of(ErrorKind::ServerError));
    EXPECT_EQ(quota->available(), 5);  // the retry was paid for
    return 1;
  });
  EXPECT_TRUE(after_retry);
  EXPECT_EQ(quota->available(), 10);  // and refunded by the success
}

TEST(RetryStrategy, QuotaRefundIsCappedAtCapacity) {
  RetryQuota q(10);
  ASSERT_TRUE(q.acquire(5));
  q.release(100);
  EXPECT_EQ(q.available(), 10);
  EXPECT_FALSE(q.acquire(11));
  EXPECT_EQ(q.available(), 10);
}

TEST(RetryStrategy, NonIdempotentCallIsNotResentAfterALostAnswer) {
  ManualClock clock;
  SequenceRandom random({0.0});
  RetryStrategy s(RetryOptions{.max_attempts = 5}, nullptr, clock, random);
  int calls = 0;
  auto r = s.run<int>("CreateSnapshot", Idempotency::NotIdempotent, [&](int) -> Result<int> {
    ++calls;
    Error e = error_of(ErrorKind::Network);
    e.maybe_applied = true;
    return std::unexpected(e);
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(r.error().maybe_applied);
  EXPECT_EQ(r.error().kind, ErrorKind::Network);
}

TEST(RetryStrategy, NonIdempotentCallIsResentWhenRejectedOrNeverSent) {
  ManualClock clock;
  SequenceRandom random({0.0});
  RetryStrategy s(RetryOptions{.max_attempts = 5}, nullptr, clock, random);
  int calls = 0;
  auto r = s.run<int>("CreateSnapshot", Idempotency::NotIdempotent, [&](int attempt) -> Result<int> {
    ++calls;
    if (attempt == 1) return std::unexpected(error_of(ErrorKind::Throttled, "RequestLimitExceeded"));
    if (attempt == 2) return std::unexpected(error_of(ErrorKind::ServerError, "Unavailable"));
    if (attempt == 3) return std::unexpected(error_of(ErrorKind::Network));  // connect refused: not sent
    return 7;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(calls, 4);
}

TEST(RetryStrategy, ErrorAfterAResendSaysAnEarlierAttemptMayHaveApplied) {
  ManualClock clock;
  SequenceRandom random({0.0});
  RetryStrategy s(RetryOptions{.max_attempts = 5}, nullptr, clock, random);
  auto r = s.run<int>("AttachVolume", Idempotency::Idempotent, [&](int attempt) -> Result<int> {
    if (attempt == 1) {
      Error e = error_of(ErrorKind::Network);
      e.maybe_applied = true;
      return std::unexpected(e);
    }
    return std::unexpected(error_of(ErrorKind::IncorrectState, "VolumeInUse"));
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::IncorrectState);
  EXPECT_TRUE(r.error().maybe_applied);
  auto plain = s.run<int>("AttachVolume", Idempotency::Idempotent, [&](int) -> Result<int> {
    return std::unexpected(error_of(ErrorKind::IncorrectState, "VolumeInUse"));
  });
  ASSERT_FALSE(plain);
  EXPECT_FALSE(plain.error().maybe_applied);
}

// --- the client ---

class ClientTest : public ::testing::Test {
 protected:
  std::shared_ptr<ScriptedHttp> http = std::make_shared<ScriptedHttp>();
  ManualClock clock;
  SequenceRandom random{{0.5}};
  std::shared_ptr<CallStats> stats = std::make_shared<CallStats>();

  std::unique_ptr<Ec2Client> client(RetryOptions retry = {}) {
    Credentials c;
    c.access_key_id = "AKIDEXAMPLE";
    c.secret_access_key = SecretString(std::string("secret"));
    c.session_token = SecretString(std::string("session-token"));
    auto r = Ec2Client::create(
        Ec2ClientOptions{.region = "eu-west-1",
                         .endpoint = {},
                         .credentials = std::make_shared<StaticCredentialsProvider>(std::move(c)),
                         .retry = retry,
                         .http = {},
                         .default_page_size = 0,
                         .http_client = http,
                         .clock = &clock,
                         .sleeper = &clock,
                         .random = &random,
                         .call_stats = stats},
        fixed_environment({{"AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:1234"}}));
    EXPECT_TRUE(r) << r.error().describe();
    return std::move(*r);
  }
};

constexpr const char* k_throttled =
    "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
    "exceeded.</Message></Error>"
    "</Errors><RequestID>t</RequestID></Response>";

TEST_F(ClientTest, SignsAndPostsTheQuery) {
  http->push(200,
             "<DeleteVolumeResponse><requestId>r</requestId><return>true</return></DeleteVolumeResponse>");
  auto c = client();
  ASSERT_TRUE(c->delete_volume(DeleteVolumeOptions{.volume_id = VolumeId{"vol-1"}}));
  const auto reqs = http->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].url, "http://127.0.0.1:1234/");
  EXPECT_EQ(reqs[0].body, "Action=DeleteVolume&Version=2016-11-15&VolumeId=vol-1");
  EXPECT_EQ(ec2test::header_of(reqs[0], "Content-Type"), "application/x-www-form-urlencoded; charset=utf-8");
  EXPECT_EQ(ec2test::header_of(reqs[0], "Host"), "127.0.0.1:1234");
  EXPECT_EQ(ec2test::header_of(reqs[0], "X-Amz-Date"), sigv4::amz_date(clock.now()));
  EXPECT_TRUE(ec2test::header_of(reqs[0], "Authorization")
                  .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" +
                               sigv4::amz_date(clock.now()).substr(0, 8) +
                               "/eu-west-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                               "x-amz-security-token, Signature="));
}

TEST_F(ClientTest, DescribeFollowsNextTokenToTheEnd) {
  http->push(200,
             "<DescribeVolumesResponse><volumeSet><item><volumeId>vol-1</volumeId></item></volumeSet>"
             "<nextToken>t1</nextToken></DescribeVolumesResponse>");
  http->push(200,
             "<DescribeVolumesResponse><volumeSet><item><volumeId>vol-2</volumeId></item></volumeSet>"
             "<nextToken>t 2+/=</nextToken></DescribeVolumesResponse>");
  http->push(200,
             "<DescribeVolumesResponse><volumeSet><item><volumeId>vol-3</volumeId></item></volumeSet>"
             "</DescribeVolumesResponse>");
  auto c = client();
  auto r =
      c->describe_volumes(DescribeVolumesOptions{.filters = {{"status", {"available"}}}, .max_results = 5});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[2].id.value, "vol-3");
  const auto reqs = http->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].body,
            "Action=DescribeVolumes&Version=2016-11-15&Filter.1.Name=status&Filter.1.Value.1=available"
            "&MaxResults=5");
  EXPECT_TRUE(reqs[1].body.ends_with("&MaxResults=5&NextToken=t1"));
  EXPECT_TRUE(reqs[2].body.ends_with("&NextToken=t%202%2B%2F%3D"));
}

TEST_F(ClientTest, NoMaxResultsWithExplicitIds) {
  http->push(200, "<DescribeSnapshotsResponse><snapshotSet/></DescribeSnapshotsResponse>");
  auto c = client();
  ASSERT_TRUE(c->describe_snapshots(DescribeSnapshotsOptions{
      .snapshot_ids = {SnapshotId{"snap-1"}}, .owner_ids = {"self"}, .max_results = 10}));
  EXPECT_EQ(http->requests()[0].body,
            "Action=DescribeSnapshots&Version=2016-11-15&Owner.1=self&SnapshotId.1=snap-1");
}

TEST_F(ClientTest, ThrottledDescribeIsRetriedWithBackoff) {
  http->push(503, k_throttled);
  http->push(503, k_throttled);
  http->push(200, "<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>");
  auto c = client(RetryOptions{.max_attempts = 3, .base_delay = 100ms});
  ASSERT_TRUE(c->describe_instances({}));
  EXPECT_EQ(http->count(), 3u);
  EXPECT_EQ(clock.sleeps(), (std::vector<std::chrono::milliseconds>{50ms, 100ms}));
  EXPECT_EQ(c->quota().available(), 500);  // the 10 the retries took came back with the success
}

TEST_F(ClientTest, EveryRequestIsCountedByActionWithThoseThrottled) {
  http->push(503, k_throttled);
  http->push(200, "<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>");
  http->push(400,
             "<Response><Errors><Error><Code>InvalidVolume.NotFound</Code><Message>no</Message></Error></Errors>"
             "<RequestID>n</RequestID></Response>");
  auto c = client(RetryOptions{.max_attempts = 3, .base_delay = 100ms});
  ASSERT_TRUE(c->describe_instances({}));
  ASSERT_FALSE(c->delete_volume(DeleteVolumeOptions{.volume_id = VolumeId{"vol-1"}}));
  EXPECT_EQ(stats->by_action(), (std::map<std::string, ActionCalls>{
                                    {"DeleteVolume", ActionCalls{.requests = 1, .throttled = 0}},
                                    {"DescribeInstances", ActionCalls{.requests = 2, .throttled = 1}}}));
}

TEST_F(ClientTest, CreateSnapshotIsNotResentAfterTheConnectionDropped) {
  http->push_error(ErrorKind::Network, /*maybe_applied=*/true);
  auto c = client(RetryOptions{.max_attempts = 5});
  auto r = c->create_snapshot(CreateSnapshotOptions{.volume_id = VolumeId{"vol-1"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Network);
  EXPECT_TRUE(r.error().maybe_applied);
  ASSERT_EQ(http->count(), 1u);
  EXPECT_TRUE(http->requests()[0].fresh_connection);  // never on a reused connection curl may resend on
}

TEST_F(ClientTest, CreateSnapshotsIsResentAfterThrottling) {
  http->push(503, k_throttled);
  http->push(
      200,
      "<CreateSnapshotsResponse><snapshotSet><item><snapshotId>snap-1</snapshotId><state>pending</state>"
      "<volumeId>vol-1</volumeId></item></snapshotSet></CreateSnapshotsResponse>");
  auto c = client();
  auto r = c->create_snapshots(CreateSnapshotsOptions{
      .instance_id = InstanceId{"i-1"},
      .instance_specification = {.exclude_boot_volume = true, .exclude_data_volume_ids = {VolumeId{"vol-9"}}},
      .description = "d",
      .tag_specifications = {{"snapshot", {{"ebsnap:run", "r1"}}}},
      .copy_tags_from_source = "volume"});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(http->count(), 2u);
  EXPECT_EQ(http->requests()[1].body,
            "Action=CreateSnapshots&Version=2016-11-15&InstanceSpecification.InstanceId=i-1"
            "&InstanceSpecification.ExcludeBootVolume=true&InstanceSpecification.ExcludeDataVolumeId.1=vol-9"
            "&Description=d&CopyTagsFromSource=volume&TagSpecification.1.ResourceType=snapshot"
            "&TagSpecification.1.Tag.1.Key=ebsnap%3Arun&TagSpecification.1.Tag.1.Value=r1");
}

TEST_F(ClientTest, CreateVolumeWithClientTokenIsResentWithTheSameToken) {
  http->push_error(ErrorKind::Network, /*maybe_applied=*/true);
  http->push(
      200,
      "<CreateVolumeResponse><volumeId>vol-1</volumeId><status>creating</status></CreateVolumeResponse>");
  auto c = client();
  auto r = c->create_volume(
      CreateVolumeOptions{.availability_zone = "eu-west-1a", .size_gib = 10, .client_token = "tok-1"});
  ASSERT_TRUE(r);
  ASSERT_EQ(http->count(), 2u);
  EXPECT_EQ(http->requests()[0].body, http->requests()[1].body);
  EXPECT_TRUE(http->requests()[0].body.ends_with("&ClientToken=tok-1"));
}

TEST_F(ClientTest, CreateVolumeWithoutTokenGetsAGeneratedOne) {
  http->push(
      200,
      "<CreateVolumeResponse><volumeId>vol-1</volumeId><status>creating</status></CreateVolumeResponse>");
  auto c = client();
  ASSERT_TRUE(c->create_volume(CreateVolumeOptions{.availability_zone = "eu-west-1a", .size_gib = 10}));
  const std::string body = http->requests()[0].body;
  const auto pos = body.find("&ClientToken=");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_EQ(body.size() - pos - 13, 36u);  // a UUID
}

TEST_F(ClientTest, ModifyInstanceAttributeSendsOneBlockDeviceMappingAndReadsTheReturn) {
  http->push(200, R"(<ModifyInstanceAttributeResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">)"
                  "<requestId>m</requestId><return>true</return></ModifyInstanceAttributeResponse>");
  http->push(200,
             "<ModifyInstanceAttributeResponse><return>false</return></ModifyInstanceAttributeResponse>");
  auto c = client();
  ASSERT_TRUE(c->modify_instance_attribute({.instance_id = InstanceId{"i-1"}, .device = "/dev/sdf"}));
  EXPECT_EQ(
      http->requests()[0].body,
      "Action=ModifyInstanceAttribute&Version=2016-11-15&InstanceId=i-1"
      "&BlockDeviceMapping.1.DeviceName=%2Fdev%2Fsdf&BlockDeviceMapping.1.Ebs.DeleteOnTermination=true");
  auto refused = c->modify_instance_attribute({.dry_run = true,
                                               .instance_id = InstanceId{"i-1"},
                                               .device = "/dev/sdg",
                                               .delete_on_termination = false});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "ModifyInstanceAttributeResponse returned false");
  EXPECT_EQ(
      http->requests()[1].body,
      "Action=ModifyInstanceAttribute&Version=2016-11-15&DryRun=true&InstanceId=i-1"
      "&BlockDeviceMapping.1.DeviceName=%2Fdev%2Fsdg&BlockDeviceMapping.1.Ebs.DeleteOnTermination=false");
}

TEST_F(ClientTest, DryRunIsSentAndMapped) {
  http->push(
      412,
      "<Response><Errors><Error><Code>DryRunOperation</Code><Message>Request would have succeeded, but "
      "DryRun flag is set.</Message></Error></Errors><RequestID>d</RequestID></Response>");
  auto c = client();
  auto r = c->attach_volume(AttachVolumeOptions{.dry_run = true,
                                                .volume_id = VolumeId{"vol-1"},
                                                .instance_id = InstanceId{"i-1"},
                                                .device = "/dev/sdf"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::DryRunOk);
  EXPECT_EQ(r.error().request_id, "d");
  EXPECT_TRUE(http->requests()[0].body.find("DryRun=true") != std::string::npos);
  EXPECT_EQ(http->count(), 1u);
}

TEST_F(ClientTest, AuthErrorNamesTheCredentialSource) {
  http->push(
      401,
      "<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided "
      "access credentials</Message></Error></Errors><RequestID>a</RequestID></Response>");
  auto c = client();
  auto r = c->describe_volumes({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Auth);
  EXPECT_NE(r.error().describe().find("credentials from static"), std::string::npos);
  EXPECT_EQ(r.error().describe().find("secret"), std::string::npos);
}

// Hands out AKID1, AKID2, ... : a new key after each invalidate().
class RotatingCredentials final : public CredentialsProvider {
 public:
  Result<Credentials> credentials() override {
    Credentials c;
    c.access_key_id = "AKID" + std::to_string(generation);
    c.secret_access_key = SecretString(std::string("s"));
    c.session_token = SecretString(std::string("t"));
    return c;
  }
  std::string source() const override { return "rotating"; }
  void invalidate() override { ++generation; }
  int generation = 1;
};

TEST_F(ClientTest, ExpiredCredentialsAreRefreshedOnceAndTheCallResent) {
  constexpr const char* k_expired =
      "<Response><Errors><Error><Code>RequestExpired</Code><Message>Request has expired.</Message></Error>"
      "</Errors><RequestID>x</RequestID></Response>";
  auto creds = std::make_shared<RotatingCredentials>();
  auto r = Ec2Client::create(Ec2ClientOptions{.region = "eu-west-1",
                                              .credentials = creds,
                                              .http_client = http,
                                              .clock = &clock,
                                              .sleeper = &clock,
                                              .random = &random},
                             fixed_environment({{"AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:1234"}}));
  ASSERT_TRUE(r);
  auto& c = **r;
  http->push(400, k_expired);
  http->push(200, "<DescribeVolumesResponse><volumeSet/></DescribeVolumesResponse>");
  ASSERT_TRUE(c.describe_volumes({}));
  ASSERT_EQ(http->count(), 2u);
  EXPECT_NE(ec2test::header_of(http->requests()[0], "Authorization").find("Credential=AKID1/"),
            std::string::npos);
  EXPECT_NE(ec2test::header_of(http->requests()[1], "Authorization").find("Credential=AKID2/"),
            std::string::npos);
  // Fresh credentials rejected as well: an Auth error, not a loop.
  http->push(400, k_expired);
  http->push(400, k_expired);
  auto again = c.describe_volumes({});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::Auth);
  EXPECT_EQ(http->count(), 4u);
  EXPECT_EQ(creds->generation, 3);
}

// The fault matrix (issue 16) found it: the PresignedUrl of a CopySnapshot was signed once per
// call, so the resend after a RequestExpired carried a URL signed with the expired credentials
// under a fresh signature, and EC2 made a copy that ended in state error.
TEST_F(ClientTest, ACopySnapshotResentWithFreshCredentialsCarriesAPresignedUrlSignedWithThem) {
  constexpr const char* k_expired =
      "<Response><Errors><Error><Code>RequestExpired</Code><Message>Request has expired.</Message></Error>"
      "</Errors><RequestID>x</RequestID></Response>";
  auto creds = std::make_shared<RotatingCredentials>();
  auto r = Ec2Client::create(Ec2ClientOptions{.region = "us-west-2",
                                              .credentials = creds,
                                              .http_client = http,
                                              .clock = &clock,
                                              .sleeper = &clock,
                                              .random = &random},
                             fixed_environment({{"AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:1234"}}));
  ASSERT_TRUE(r);
  http->push(400, k_expired);
  http->push(200, "<CopySnapshotResponse><snapshotId>snap-0copy</snapshotId></CopySnapshotResponse>");
  auto copied = (*r)->copy_snapshot({.source_region = "eu-west-1", .source_snapshot_id = SnapshotId{"snap-0source"}});
  ASSERT_TRUE(copied) << copied.error().describe();
  ASSERT_EQ(http->count(), 2u);
  // X-Amz-Credential=AKIDn%2F... inside the form-encoded PresignedUrl.
  const auto credential_in_url = [](const HttpRequest& req) {
    const auto at = req.body.find("X-Amz-Credential%3D");
    return at == std::string::npos ? std::string() : req.body.substr(at + 19, 5);
  };
  EXPECT_EQ(credential_in_url(http->requests()[0]), "AKID1");
  EXPECT_EQ(credential_in_url(http->requests()[1]), "AKID2");
  EXPECT_NE(ec2test::header_of(http->requests()[1], "Authorization").find("Credential=AKID2/"), std::string::npos);
}

TEST(Ec2ClientCreate, PlainHttpOnlyForAConfiguredEndpoint) {
  auto creds = std::make_shared<StaticCredentialsProvider>(Credentials{});
  auto bad = Ec2Client::create(
      Ec2ClientOptions{
          .region = "eu-west-1",
          .endpoint =
              Endpoint{.url = "http://x/", .scheme = "http", .host = "x", .path = "/", .configured = false},
          .credentials = creds},
      fixed_environment({}));
  EXPECT_FALSE(bad);
  auto good = Ec2Client::create(Ec2ClientOptions{.region = "cn-north-1", .credentials = creds},
                                fixed_environment({}));
  ASSERT_TRUE(good);
  EXPECT_EQ((*good)->endpoint().url, "https://ec2.cn-north-1.amazonaws.com.cn/");
}

}  // namespace
