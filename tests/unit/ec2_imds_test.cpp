// ImdsClient against a scripted IMDSv2: token PUT and caching, 401 → one new token, 403 →
// a clear error, 503/connection errors retried inside the budget (an oversized answer is not),
// 404 userdata = none.
#include <gtest/gtest.h>

#include <functional>

#include "ec2/imds.h"
#include "ec2/testing/manual_clock.h"
#include "tests/unit/ec2_fake_http.h"

namespace {

using namespace ec2;
using namespace std::chrono_literals;
using ec2test::ScriptedHttp;

// A small IMDSv2: tokens "t1", "t2", ...; `valid` is the only accepted one.
struct FakeImdsServer {
  int tokens_issued = 0;
  std::string valid;
  int unavailable = 0;     // answer 503 this many times first
  int refused = 0;         // fail to connect this many times first
  bool oversized = false;  // every answer exceeds the HTTP client's size cap
  bool forbid = false;
  std::function<bool()> down;  // answer 503 while it says so
  std::optional<std::string> user_data;
  std::string ttl_seen;

  Result<HttpResponse> operator()(const HttpRequest& r) {
    if (refused > 0) {
      --refused;
      Error e;
      e.kind = ErrorKind::Network;
      e.message = "Couldn't connect to server";
      return std::unexpected(e);
    }
    if (oversized) {
      Error e;
      e.kind = ErrorKind::Other;
      e.message = "response body exceeds 67108864 bytes";
      return std::unexpected(e);
    }
    if (unavailable > 0) {
      --unavailable;
      return HttpResponse{.status = 503, .headers = {}, .body = ""};
    }
    if (down && down()) return HttpResponse{.status = 503, .headers = {}, .body = ""};
    if (forbid) return HttpResponse{.status = 403, .headers = {}, .body = ""};
    const std::string path = r.url.substr(r.url.find("/latest/"));
    if (r.method == "PUT" && path == "/latest/api/token") {
      ttl_seen = ec2test::header_of(r, "X-aws-ec2-metadata-token-ttl-seconds");
      valid = "t" + std::to_string(++tokens_issued);
      return HttpResponse{.status = 200, .headers = {}, .body = valid};
    }
    if (ec2test::header_of(r, "X-aws-ec2-metadata-token") != valid) {
      return HttpResponse{.status = 401, .headers = {}, .body = ""};
    }
    auto ok = [](std::string body) {
      return HttpResponse{.status = 200, .headers = {}, .body = std::move(body)};
    };
    if (path == "/latest/meta-data/instance-id") return ok("i-0123456789abcdef0");
    if (path == "/latest/meta-data/placement/availability-zone") return ok("eu-west-1b");
    if (path == "/latest/meta-data/placement/region")
      return HttpResponse{.status = 404, .headers = {}, .body = ""};
    if (path == "/latest/user-data") {
      if (!user_data) return HttpResponse{.status = 404, .headers = {}, .body = ""};
      return ok(*user_data);
    }
    if (path == "/latest/dynamic/instance-identity/document") {
      return ok(
          R"({"accountId":"123456789012","region":"eu-west-1","availabilityZone":"eu-west-1b",)"
          R"("instanceId":"i-0123456789abcdef0","instanceType":"m5.large","imageId":"ami-1","privateIp":"10.0.0.1"})");
    }
    if (path == "/latest/meta-data/iam/security-credentials/") return ok("web\n");
    if (path == "/latest/meta-data/iam/security-credentials/web") {
      return ok(
          R"({"Code":"Success","LastUpdated":"2026-11-23T10:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAX",)"
          R"("SecretAccessKey":"sekrit","Token":"tok","Expiration":"2026-11-23T16:00:00Z"})");
    }
    return HttpResponse{.status = 404, .headers = {}, .body = ""};
  }
};

class ImdsTest : public ::testing::Test {
 protected:
  std::shared_ptr<ScriptedHttp> http = std::make_shared<ScriptedHttp>();
  FakeImdsServer server;
  ManualClock clock;
  SequenceRandom random{{1.0 - 1e-9}};

  ImdsClient client(ImdsOptions options = {}) {
    http->set_handler([this](const HttpRequest& r) { return server(r); });
    options.endpoint = "http://imds.test:1338";
    return ImdsClient(options,
                      ImdsDependencies{.http = http, .clock = &clock, .sleeper = &clock, .random = &random});
  }
};

TEST_F(ImdsTest, ReadsMetadataWithOneCachedToken) {
  auto c = client();
  EXPECT_EQ(c.instance_id()->value, "i-0123456789abcdef0");
  EXPECT_EQ(*c.availability_zone(), "eu-west-1b");
  EXPECT_EQ(*c.region(), "eu-west-1");  // from the identity document: no placement/region here
  auto doc = c.identity_document();
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->account_id, "123456789012");
  EXPECT_EQ(doc->instance_type, "m5.large");
  EXPECT_EQ(server.tokens_issued, 1);
  EXPECT_EQ(server.ttl_seen, "21600");
  EXPECT_EQ(http->requests()[1].url, "http://imds.test:1338/latest/meta-data/instance-id");
}

TEST_F(ImdsTest, TokenIsRefreshedBeforeItsTtlEnds) {
  auto c = client(ImdsOptions{.token_ttl = 600s, .token_refresh_before = 60s});
  ASSERT_TRUE(c.instance_id());
  clock.advance(500s);
  ASSERT_TRUE(c.instance_id());
  EXPECT_EQ(server.tokens_issued, 1);
  clock.advance(50s);  // within a minute of the end
  ASSERT_TRUE(c.instance_id());
  EXPECT_EQ(server.tokens_issued, 2);
}

TEST_F(ImdsTest, Unauthorized401GetsOneNewToken) {
  auto c = client();
  ASSERT_TRUE(c.instance_id());
  server.valid = "rotated";  // IMDS restarted: our token is no longer valid
  auto id = c.instance_id();
  ASSERT_TRUE(id) << id.error().describe();
  EXPECT_EQ(server.tokens_issued, 2);
}

TEST_F(ImdsTest, ForbiddenIsExplained) {
  auto c = client();
  server.forbid = true;
  auto id = c.instance_id();
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().kind, ErrorKind::Imds);
  EXPECT_NE(id.error().message.find("hop limit"), std::string::npos);
  EXPECT_NE(id.error().message.find("disabled"), std::string::npos);
}

TEST_F(ImdsTest, UnavailableAndRefusedAreRetriedWithinTheBudget) {
  auto c = client(ImdsOptions{.retry_budget = 10s, .retry_base_delay = 100ms, .retry_max_delay = 1s});
  server.refused = 2;
  server.unavailable = 3;
  auto id = c.instance_id();
  ASSERT_TRUE(id) << id.error().describe();
  const auto sleeps = clock.sleeps();
  EXPECT_EQ(sleeps.size(), 5u);
  EXPECT_EQ(sleeps[0], 99ms);
  EXPECT_EQ(sleeps[4], 999ms);  // capped at retry_max_delay
}

// The fault matrix of issue 16: IMDS answering 503 for the first 20 s of a boot. The default
// budget was 20 s, and it gave up on the very retry that would have been answered.
TEST_F(ImdsTest, TheDefaultBudgetOutlastsTwentySecondsOfUnavailableAtBoot) {
  auto c = client();  // the defaults (but the endpoint); every backoff at its longest
  const auto boot = clock.monotonic();
  server.down = [&] { return clock.monotonic() < boot + 20s; };
  auto id = c.instance_id();
  ASSERT_TRUE(id) << id.error().describe();
  EXPECT_GE(clock.monotonic() - boot, 20s);
}

TEST_F(ImdsTest, GivesUpWhenTheBudgetIsSpent) {
  auto c = client(ImdsOptions{.retry_budget = 2s, .retry_base_delay = 100ms, .retry_max_delay = 1s});
  server.refused = 1000;
  auto id = c.instance_id();
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().kind, ErrorKind::Imds);
  EXPECT_NE(id.error().message.find("retry budget"), std::string::npos);
  std::chrono::milliseconds total{0};
  for (auto s : clock.sleeps()) total += s;
  EXPECT_LT(total, 2s);
}

TEST_F(ImdsTest, OversizedAnswerIsNotRetried) {
  auto c = client(ImdsOptions{.retry_budget = 10s, .retry_base_delay = 100ms, .retry_max_delay = 1s});
  server.oversized = true;
  auto id = c.instance_id();
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message.find("exceeds"), std::string::npos) << id.error().message;
  EXPECT_EQ(http->count(), 1u);
  EXPECT_TRUE(clock.sleeps().empty());
}

TEST_F(ImdsTest, UserDataAbsentIsNotAnError) {
  auto c = client();
  auto none = c.user_data();
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  server.user_data = R"({"role":"solr"})";
  auto some = c.user_data();
  ASSERT_TRUE(some);
  EXPECT_EQ(**some, R"({"role":"solr"})");
}

TEST_F(ImdsTest, RoleCredentials) {
  auto c = client();
  EXPECT_EQ(*c.role_name(), "web");
  auto creds = c.role_credentials();
  ASSERT_TRUE(creds) << creds.error().describe();
  EXPECT_EQ(creds->access_key_id, "ASIAX");
  EXPECT_EQ(creds->secret_access_key.reveal(), "sekrit");
  EXPECT_EQ(creds->session_token.reveal(), "tok");
  EXPECT_EQ(creds->expiration, parse_iso8601("2026-11-23T16:00:00Z"));
  EXPECT_EQ(creds->source, "imds role web");
}

TEST_F(ImdsTest, DisabledByEnvironment) {
  auto options = ImdsOptions::from_environment(
      fixed_environment({{"AWS_EC2_METADATA_DISABLED", "TRUE"},
                         {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://[fd00:ec2::254]/"}}));
  EXPECT_TRUE(options.disabled);
  EXPECT_EQ(options.endpoint, "http://[fd00:ec2::254]/");
  EXPECT_EQ(ImdsOptions::from_environment(fixed_environment({})).endpoint, "http://169.254.169.254/");
  ImdsClient c(options,
               ImdsDependencies{.http = http, .clock = &clock, .sleeper = &clock, .random = &random});
  auto id = c.instance_id();
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message.find("AWS_EC2_METADATA_DISABLED"), std::string::npos);
  EXPECT_EQ(http->count(), 0u);
}

}  // namespace
