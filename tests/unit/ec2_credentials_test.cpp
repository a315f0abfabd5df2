// The credential chain in the SDKs' order (environment > profile > IMDS role), profile files in
// temporary directories, refresh before expiry, and that no secret reaches a log.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <fstream>
#include <thread>

#include "ec2/credentials.h"
#include "ec2/imds.h"
#include "ec2/log.h"
#include "ec2/testing/manual_clock.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace ec2;
using namespace std::chrono_literals;

// An Imds whose role credentials are scripted; counts fetches.
class RoleImds final : public Imds {
 public:
  explicit RoleImds(const Clock& clock) : clock_(clock) {}
  Result<InstanceId> instance_id() override { return InstanceId{"i-1"}; }
  Result<std::string> region() override { return std::string("eu-west-1"); }
  Result<std::string> availability_zone() override { return std::string("eu-west-1a"); }
  Result<std::optional<std::string>> user_data() override { return std::optional<std::string>{}; }
  Result<InstanceIdentity> identity_document() override { return InstanceIdentity{}; }
  Result<std::string> get(std::string_view) override { return std::string(); }
  Result<std::string> role_name() override {
    if (!has_role) return fail(ErrorKind::Credentials, "the instance has no IAM role");
    return std::string("web");
  }
  Result<Credentials> role_credentials(std::string_view role) override {
    EXPECT_EQ(role, "web");
    ++fetches;
    if (fail_next) {
      fail_next = false;
      return fail(ErrorKind::Imds, "IMDS unreachable");
    }
    Credentials c;
    c.access_key_id = "ASIA" + std::to_string(fetches);
    c.secret_access_key = SecretString(std::string("imds-secret-") + std::to_string(fetches));
    c.session_token = SecretString(std::string("imds-token"));
    c.expiration = clock_.now() + ttl;
    return c;
  }

  bool has_role = true;
  bool fail_next = false;
  int fetches = 0;
  std::chrono::seconds ttl{3600};

 private:
  const Clock& clock_;
};

void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

TEST(Credentials, EnvironmentWithSessionToken) {
  EnvironmentCredentialsProvider p(fixed_environment(
      {{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", "SECRET"}, {"AWS_SESSION_TOKEN", "TOKEN"}}));
  auto c = p.credentials();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->access_key_id, "AKID");
  EXPECT_EQ(c->secret_access_key.reveal(), "SECRET");
  EXPECT_EQ(c->session_token.reveal(), "TOKEN");
  EXPECT_EQ(c->source, "environment");
  EXPECT_FALSE(
      EnvironmentCredentialsProvider(fixed_environment({{"AWS_ACCESS_KEY_ID", "AKID"}})).credentials());
}

TEST(Credentials, ProfileFromCredentialsFileThenConfigFile) {
  testsupport::TempDir dir;
  write(dir.path() / "credentials",
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n"
        "# comment\n[prod]\naws_access_key_id=AKIDPROD\n  aws_secret_access_key = s2  \naws_session_token = "
        "t2\n");
  write(dir.path() / "config",
        "[default]\nregion = eu-west-1\n[profile staging]\naws_access_key_id = AKIDSTAGING\n"
        "aws_secret_access_key = s3\n[staging]\naws_access_key_id = WRONG\naws_secret_access_key = wrong\n");
  const auto env = [&](std::string profile) {
    std::map<std::string, std::string> m{
        {"AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "credentials").string()},
        {"AWS_CONFIG_FILE", (dir.path() / "config").string()}};
    if (!profile.empty()) m["AWS_PROFILE"] = profile;
    return fixed_environment(m);
  };
  auto d = ProfileCredentialsProvider({}, env("")).credentials();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->access_key_id, "AKIDDEFAULT");
  auto prod = ProfileCredentialsProvider({}, env("prod")).credentials();
  ASSERT_TRUE(prod);
  EXPECT_EQ(prod->secret_access_key.reveal(), "s2");
  EXPECT_EQ(prod->session_token.reveal(), "t2");
  EXPECT_NE(prod->source.find("profile prod"), std::string::npos);
  auto staging = ProfileCredentialsProvider({}, env("staging")).credentials();
  ASSERT_TRUE(staging);
  EXPECT_EQ(staging->access_key_id, "AKIDSTAGING");  // [profile staging], not [staging], in config
  auto missing = ProfileCredentialsProvider({}, env("nope")).credentials();
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::Credentials);
}

TEST(Credentials, ProfileDefaultsToHomeDotAws) {
  testsupport::TempDir dir;
  std::filesystem::create_directories(dir.path() / ".aws");
  write(dir.path() / ".aws" / "credentials",
        "[default]\naws_access_key_id = AKIDHOME\naws_secret_access_key = s\n");
  ProfileCredentialsProvider p({}, fixed_environment({{"HOME", dir.path().string()}}));
  auto c = p.credentials();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->access_key_id, "AKIDHOME");
}

class ChainTest : public ::testing::Test {
 protected:
  testsupport::TempDir dir;
  ManualClock clock;
  std::shared_ptr<RoleImds> imds = std::make_shared<RoleImds>(clock);

  std::map<std::string, std::string> base() {
    write(dir.path() / "credentials",
          "[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = p\n");
    return {{"AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "credentials").string()},
            {"AWS_CONFIG_FILE", (dir.path() / "none").string()}};
  }
};

TEST_F(ChainTest, EnvironmentBeatsProfileBeatsImds) {
  auto env = base();
  env["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env["AWS_SECRET_ACCESS_KEY"] = "e";
  auto chain = default_credentials_chain(fixed_environment(env), imds, clock);
  EXPECT_EQ(chain->source(), "none");
  auto c = chain->credentials();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->access_key_id, "AKIDENV");
  EXPECT_EQ(chain->source(), "environment");
  EXPECT_EQ(imds->fetches, 0);
}

TEST_F(ChainTest, ProfileWhenNoEnvironment) {
  auto chain = default_credentials_chain(fixed_environment(base()), imds, clock);
  auto c = chain->credentials();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->access_key_id, "AKIDPROFILE");
  EXPECT_EQ(chain->source(), "profile default");
  EXPECT_EQ(imds->fetches, 0);
}

TEST_F(ChainTest, ImdsRoleLastAndRefreshedFiveMinutesBeforeExpiry) {
  auto chain = default_credentials_chain(
      fixed_environment({{"AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "none").string()},
                         {"AWS_CONFIG_FILE", (dir.path() / "none").string()}}),
      imds, clock);
  auto c = chain->credentials();
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(c->access_key_id, "ASIA1");
  EXPECT_EQ(chain->source(), "imds role web");
  clock.advance(54min);  // 6 min left: cached
  EXPECT_EQ(chain->credentials()->access_key_id, "ASIA1");
  clock.advance(2min);  // 4 min left: refreshed
  EXPECT_EQ(chain->credentials()->access_key_id, "ASIA2");
  EXPECT_EQ(imds->fetches, 2);
}

TEST_F(ChainTest, FailedRefreshKeepsValidCredentialsThenFails) {
  ImdsCredentialsProvider p(imds, clock);
  ASSERT_TRUE(p.credentials());
  clock.advance(57min);
  imds->fail_next = true;
  auto still = p.credentials();
  ASSERT_TRUE(still);  // 3 min left: the old ones, not an error
  EXPECT_EQ(still->access_key_id, "ASIA1");
  clock.advance(4min);  // expired; the next fetch works again
  EXPECT_EQ(p.credentials()->access_key_id, "ASIA3");
  clock.advance(2h);
  imds->fail_next = true;
  EXPECT_FALSE(p.credentials());
}

TEST_F(ChainTest, InvalidateForcesAFetch) {
  ImdsCredentialsProvider p(imds, clock);
  ASSERT_TRUE(p.credentials());
  p.invalidate();
  EXPECT_EQ(p.credentials()->access_key_id, "ASIA2");
}

TEST_F(ChainTest, NothingAnywhereListsEveryReason) {
  imds->has_role = false;
  auto chain = default_credentials_chain(
      fixed_environment({{"AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "none").string()},
                         {"AWS_CONFIG_FILE", (dir.path() / "none").string()}}),
      imds, clock);
  auto c = chain->credentials();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, ErrorKind::Credentials);
  EXPECT_NE(c.error().message.find("environment"), std::string::npos);
  EXPECT_NE(c.error().message.find("profile default"), std::string::npos);
  EXPECT_NE(c.error().message.find("no IAM role"), std::string::npos);
}

TEST_F(ChainTest, RefreshIsThreadSafe) {
  ImdsCredentialsProvider p(imds, clock);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 50; ++k) EXPECT_TRUE(p.credentials());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(imds->fetches, 1);
}

TEST(Credentials, SecretsNeverReachTheLog) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  log_ec2().sinks().push_back(sink);
  log_imds().sinks().push_back(sink);
  const auto level = log_ec2().level();
  log_ec2().set_level(spdlog::level::trace);
  {
    ManualClock clock;
    auto imds = std::make_shared<RoleImds>(clock);
    auto chain = default_credentials_chain(fixed_environment({{"AWS_ACCESS_KEY_ID", "AKIDENV"},
                                                              {"AWS_SECRET_ACCESS_KEY", "env-secret-value"},
                                                              {"AWS_SESSION_TOKEN", "env-session-token"}}),
                                           imds, clock);
    auto c = chain->credentials();
    ASSERT_TRUE(c);
    log_ec2().info("credentials={} token={}", c->secret_access_key, c->session_token);
  }
  log_ec2().set_level(level);
  log_ec2().sinks().pop_back();
  log_imds().sinks().pop_back();
  const std::string out = captured.str();
  EXPECT_NE(out.find("credentials source=\"environment\""), std::string::npos) << out;
  EXPECT_EQ(out.find("env-secret-value"), std::string::npos) << out;
  EXPECT_EQ(out.find("env-session-token"), std::string::npos) << out;
  EXPECT_NE(out.find("<redacted>"), std::string::npos);
}

}  // namespace
