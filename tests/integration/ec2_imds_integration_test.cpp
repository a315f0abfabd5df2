// ImdsClient and the role-credentials provider against the sandbox's IMDSv2.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <thread>

#include "ec2/testing/manual_clock.h"
#include "tests/integration/ec2_sandbox_fixture.h"

namespace {

using namespace ec2;
using namespace std::chrono_literals;

class ImdsSandbox : public ec2test::SandboxSuite {
 protected:
  static ImdsOptions options() { return ImdsOptions::from_environment(env()); }
};

TEST_F(ImdsSandbox, ReadsIdentityPlacementAndUserData) {
  ImdsClient imds(options());
  auto id = imds.instance_id();
  ASSERT_TRUE(id) << id.error().describe();
  EXPECT_EQ(id->value, sandbox().instance_id());
  EXPECT_EQ(*imds.region(), sandbox().region());
  EXPECT_EQ(*imds.availability_zone(), sandbox().availability_zone());
  auto doc = imds.identity_document();
  ASSERT_TRUE(doc) << doc.error().describe();
  EXPECT_EQ(doc->instance_id.value, sandbox().instance_id());
  EXPECT_FALSE(doc->account_id.empty());
  auto none = imds.user_data();
  ASSERT_TRUE(none) << none.error().describe();
  EXPECT_FALSE(none->has_value());
  sandbox().configure({{"imds", {{"user_data", R"({"role":"solr"})"}}}});
  auto some = imds.user_data();
  ASSERT_TRUE(some && some->has_value());
  EXPECT_EQ(**some, R"({"role":"solr"})");
}

// Issue 11: libcurl obeys http_proxy, so the IMDS token and the role's credentials could pass
// through a proxy in clear text. IMDS never uses a proxy (here: one that refuses everything).
TEST_F(ImdsSandbox, NeverGoesThroughAProxy) {
  struct Env {
    std::string name;
    std::optional<std::string> before;
  };
  std::vector<Env> saved;
  for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"}) {
    const char* v = std::getenv(name);
    saved.push_back({name, v ? std::optional<std::string>(v) : std::nullopt});
  }
  for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}) ::setenv(name, "http://127.0.0.1:9", 1);
  ::unsetenv("no_proxy");
  ::unsetenv("NO_PROXY");
  ImdsClient imds(options());
  auto id = imds.instance_id();
  for (const auto& e : saved) {
    if (e.before) {
      ::setenv(e.name.c_str(), e.before->c_str(), 1);
    } else {
      ::unsetenv(e.name.c_str());
    }
  }
  ASSERT_TRUE(id) << id.error().describe();
  EXPECT_EQ(id->value, sandbox().instance_id());
}

TEST_F(ImdsSandbox, ExpiredTokenGets401AndIsRenewed) {
  // Our clock stands still, so the client believes its 1-second token is fresh; the sandbox's
  // does not, and answers 401.
  ManualClock frozen;
  auto o = options();
  o.token_ttl = 1s;
  o.token_refresh_before = 0s;
  ImdsClient imds(o, ImdsDependencies{.clock = &frozen});
  ASSERT_TRUE(imds.instance_id());
  std::this_thread::sleep_for(1500ms);
  auto id = imds.instance_id();
  ASSERT_TRUE(id) << id.error().describe();
  EXPECT_EQ(id->value, sandbox().instance_id());
}

TEST_F(ImdsSandbox, ServiceUnavailableIsRetried) {
  sandbox().configure({{"imds", {{"fail_503_next", 3}}}});
  auto o = options();
  o.retry_base_delay = 10ms;
  ImdsClient imds(o);
  auto az = imds.availability_zone();
  ASSERT_TRUE(az) << az.error().describe();
}

TEST_F(ImdsSandbox, DisabledMeansNoRequest) {
  auto o = options();
  o.disabled = true;
  ImdsClient imds(o);
  auto id = imds.instance_id();
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().kind, ErrorKind::Imds);
}

TEST_F(ImdsSandbox, RoleCredentialsExpiringMidRunAreRefreshed) {
  auto imds = std::make_shared<ImdsClient>(options());
  auto role = imds->role_name();
  ASSERT_TRUE(role) << role.error().describe();
  EXPECT_EQ(*role, sandbox().env("EBSNAP_SANDBOX_ROLE"));
  auto provider = std::make_shared<ImdsCredentialsProvider>(imds, system_clock());
  auto c = client({}, provider);
  ASSERT_TRUE(c->describe_volumes({})) << "with the first role credentials";
  const std::string first = provider->credentials()->access_key_id;
  EXPECT_TRUE(first.starts_with("ASIA"));
  // The sandbox expires every role credential issued so far, as when a run outlives them.
  sandbox().configure({{"imds", {{"credential_generation", 1}}}});
  auto r = c->describe_volumes({});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_NE(provider->credentials()->access_key_id, first);
  EXPECT_EQ(logged("DescribeVolumes", "RequestExpired"), 1);
}

TEST_F(ImdsSandbox, ShortLivedRoleCredentialsAreRenewedBeforeExpiry) {
  // Credentials issued from now on live 2 s; the current ones expire at once.
  sandbox().configure({{"imds", {{"credential_ttl_s", 2}, {"credential_generation", 2}}}});
  auto imds = std::make_shared<ImdsClient>(options());
  auto provider = std::make_shared<ImdsCredentialsProvider>(imds, system_clock());
  auto c = client({}, provider);
  std::set<std::string> keys;
  for (int i = 0; i < 6; ++i) {
    auto r = c->describe_instances({});
    ASSERT_TRUE(r) << r.error().describe();
    keys.insert(provider->credentials()->access_key_id);
    std::this_thread::sleep_for(700ms);
  }
  EXPECT_GE(keys.size(), 2u);
  sandbox().configure({{"imds", {{"credential_ttl_s", 21600}}}});
}

TEST_F(ImdsSandbox, DefaultChainFallsBackToTheRole) {
  auto imds = std::make_shared<ImdsClient>(options());
  auto chain = default_credentials_chain(fixed_environment({{"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
                                                            {"AWS_CONFIG_FILE", "/nonexistent"}}),
                                         imds, system_clock());
  auto c = client({}, chain);
  ASSERT_TRUE(c->describe_instances({}));
  EXPECT_EQ(chain->source(), "imds role " + sandbox().env("EBSNAP_SANDBOX_ROLE"));
}

}  // namespace
