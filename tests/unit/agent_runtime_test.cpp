// agent/core/runtime.h: where the region, the run directory and the credentials come from.
#include <gtest/gtest.h>

#include "agent/core/runtime.h"
#include "tests/unit/agent_no_imds.h"
#include "tests/unit/agent_restore_fixture.h"

namespace agent {
namespace {

class RegionImds final : public ec2::Imds {
 public:
  ec2::Result<ec2::InstanceId> instance_id() override { return ec2::InstanceId{"i-0abc"}; }
  ec2::Result<std::string> region() override {
    ++region_calls;
    return std::string("ap-south-1");
  }
  ec2::Result<std::string> availability_zone() override { return std::string("ap-south-1b"); }
  ec2::Result<std::optional<std::string>> user_data() override { return std::optional<std::string>{}; }
  ec2::Result<ec2::InstanceIdentity> identity_document() override { return ec2::InstanceIdentity{}; }
  ec2::Result<std::string> role_name() override { return ec2::fail(ec2::ErrorKind::Credentials, "none"); }
  ec2::Result<ec2::Credentials> role_credentials(std::string_view) override {
    return ec2::fail(ec2::ErrorKind::Credentials, "none");
  }
  ec2::Result<std::string> get(std::string_view) override { return ec2::fail(ec2::ErrorKind::Imds, "none"); }
  int region_calls = 0;
};

TEST(RuntimeTest, RegionFlagThenEnvironmentThenConfigThenImds) {
  RegionImds imds;
  Config config;
  config.region = "eu-central-1";
  const auto env = ec2::fixed_environment({{"AWS_REGION", "us-west-2"}, {"AWS_DEFAULT_REGION", "us-east-2"}});
  EXPECT_EQ(resolve_region(std::string("sa-east-1"), env, config, imds).value(), "sa-east-1");
  EXPECT_EQ(resolve_region(std::nullopt, env, config, imds).value(), "us-west-2");
  EXPECT_EQ(resolve_region(std::nullopt, ec2::fixed_environment({{"AWS_DEFAULT_REGION", "us-east-2"}}),
                           config, imds)
                .value(),
            "us-east-2");
  EXPECT_EQ(resolve_region(std::nullopt, ec2::fixed_environment({{"AWS_REGION", ""}}), config, imds).value(),
            "eu-central-1");
  EXPECT_EQ(imds.region_calls, 0);
  EXPECT_EQ(resolve_region(std::nullopt, ec2::fixed_environment({}), Config{}, imds).value(), "ap-south-1");
  EXPECT_EQ(imds.region_calls, 1);
}

TEST(RuntimeTest, NoRegionAnywhereSaysWhereItLooked) {
  testing::NoImds imds;
  auto r = resolve_region(std::nullopt, ec2::fixed_environment({}), Config{}, imds);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("AWS_REGION"), std::string::npos);
}

TEST(RuntimeTest, InstanceContextFromImds) {
  RegionImds imds;
  auto c = load_instance_context(imds, "ap-south-1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->instance_id.value, "i-0abc");
  EXPECT_EQ(c->availability_zone, "ap-south-1b");
  EXPECT_EQ(c->region, "ap-south-1");
}

TEST(RuntimeTest, RunDirFromEnvironment) {
  EXPECT_EQ(run_dir_from(ec2::fixed_environment({})), "/run/ebsnap");
  EXPECT_EQ(run_dir_from(ec2::fixed_environment({{"EBSNAP_RUN_DIR", "/tmp/x"}})), "/tmp/x");
}

TEST(RuntimeTest, ConfigCredentialsWinAndNeverShowTheSecret) {
  Config config;
  config.source = "/etc/ebsnap/ebsnap.json";
  config.credentials = StaticCredentials{.access_key_id = "AKIAEXAMPLE", .secret_access_key = "s3cr3t"};
  auto provider = make_credentials(
      config,
      ec2::fixed_environment({{"AWS_ACCESS_KEY_ID", "AKIAENV"}, {"AWS_SECRET_ACCESS_KEY", "envsecret"}}),
      nullptr);
  auto c = provider->credentials();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->access_key_id, "AKIAEXAMPLE");
  EXPECT_EQ(provider->source().find("s3cr3t"), std::string::npos);
  auto chain = make_credentials(
      Config{},
      ec2::fixed_environment({{"AWS_ACCESS_KEY_ID", "AKIAENV"}, {"AWS_SECRET_ACCESS_KEY", "envsecret"}}),
      nullptr);
  auto e = chain->credentials();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->access_key_id, "AKIAENV");
}

}  // namespace
}  // namespace agent
