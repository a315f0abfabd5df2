#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "agent/cli/agent_commands.h"
#include "agent/commands/check.h"
#include "agent/core/tags.h"
#include "agent/report/iam_policy.h"
#include "ec2/testing/fake_ec2.h"

namespace agent {
namespace {

class IdentityImds final : public ec2::Imds {
 public:
  bool reachable = true;
  ec2::Result<ec2::InstanceId> instance_id() override { return ec2::InstanceId{"i-0abc"}; }
  ec2::Result<std::string> region() override { return std::string("eu-west-1"); }
  ec2::Result<std::string> availability_zone() override { return std::string("eu-west-1a"); }
  ec2::Result<std::optional<std::string>> user_data() override { return std::optional<std::string>{}; }
  ec2::Result<ec2::InstanceIdentity> identity_document() override {
    if (!reachable) return ec2::fail(ec2::ErrorKind::Imds, "connect 169.254.169.254: timed out");
    return ec2::InstanceIdentity{.account_id = "123456789012", .region = "eu-west-1",
                                 .availability_zone = "eu-west-1a", .instance_id = ec2::InstanceId{"i-0abc"},
                                 .instance_type = "m6i.large"};
  }
  ec2::Result<std::string> role_name() override { return std::string("role"); }
  ec2::Result<ec2::Credentials> role_credentials(std::string_view) override {
    return ec2::fail(ec2::ErrorKind::Credentials, "none");
  }
  ec2::Result<std::string> get(std::string_view) override { return ec2::fail(ec2::ErrorKind::Imds, "none"); }
};

class FakeSystem final : public SystemProbe {
 public:
  bool udevd = true;
  std::set<std::string> tools{"mkfs.ext4", "mkfs.xfs"};
  bool udevd_running() override { return udevd; }
  std::optional<std::string> find_executable(const std::string& name) override {
    if (tools.contains(name)) return "/usr/sbin/" + name;
    return std::nullopt;
  }
  bool kernel_supports(const std::string&) override { return true; }
};

struct CheckMachine {
  ec2::FakeEc2 ec2{ec2::FakeEc2Options{.region = "eu-west-1"}};
  IdentityImds imds;
  FakeSystem system;
  ec2::StaticCredentialsProvider credentials{
      ec2::Credentials{.access_key_id = "AKIDEXAMPLE", .secret_access_key = ec2::SecretString(std::string("wJalrSECRETKEYdoNOTshow")),
                       .session_token = {}, .expiration = {}, .source = "environment"}};
  Config config;

  CheckMachine() {
    config.source = "/etc/ebsnap/ebsnap.json";
    GroupConfig g{.name = "solr"};
    g.volumes.push_back({.device = "/dev/sdf", .mount_point = "/mnt/a", .size_gib = 1, .filesystem = FsType::Xfs});
    config.groups.push_back(g);
  }
  RunReport run() {
    return check({.imds = &imds, .ec2 = &ec2, .ec2_error = {}, .credentials = &credentials,
                      .region = std::string("eu-west-1"), .config = &config, .config_error = {}, .system = &system});
  }
};

const CheckReport* item(const RunReport& r, const std::string& name) {
  for (const auto& i : r.checks) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

TEST(Check, AllGoodIsOkAndProbesEveryActionWithDryRun) {
  CheckMachine m;
  auto r = m.run();
  EXPECT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(r.missing_actions.empty());
  EXPECT_EQ(render_text(r).find("IAM policy"), std::string::npos);
  for (auto action : k_ec2_actions) {
    EXPECT_EQ(m.ec2.call_count(action), 1) << action;
    const auto* i = item(r, "ec2:" + std::string(action));
    ASSERT_NE(i, nullptr) << action;
    EXPECT_TRUE(i->ok) << action << ": " << i->detail;
  }
  // DryRun changes nothing.
  EXPECT_TRUE(m.ec2.snapshots().empty());
  EXPECT_EQ(m.ec2.volumes().size(), 0U);
  EXPECT_NE(item(r, "identity")->detail.find("i-0abc"), std::string::npos);
  // Only the filesystems the config uses.
  EXPECT_NE(item(r, "mkfs.xfs"), nullptr);
  EXPECT_EQ(item(r, "mkfs.ext4"), nullptr);
}

TEST(Check, MissingActionsBecomeAnIamPolicy) {
  CheckMachine m;
  m.ec2.deny("CreateSnapshots");
  m.ec2.deny("DeleteTags");
  auto r = m.run();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing_actions, (std::vector<std::string>{"ec2:CreateSnapshots", "ec2:DeleteTags"}));
  EXPECT_FALSE(item(r, "ec2:CreateSnapshots")->ok);
  EXPECT_TRUE(item(r, "ec2:CreateSnapshot")->ok);
  const auto& report = r;
  const auto text = render_text(report);
  const auto policy_start = text.find('{', text.find("IAM policy"));
  ASSERT_NE(policy_start, std::string::npos) << text;
  auto policy = nlohmann::json::parse(text.substr(policy_start));
  EXPECT_EQ(policy["Version"], "2012-10-17");
  EXPECT_EQ(policy["Statement"][0]["Effect"], "Allow");
  EXPECT_EQ(policy["Statement"][0]["Action"], (nlohmann::json{"ec2:CreateSnapshots", "ec2:DeleteTags"}));
  auto json = to_json(report);
  EXPECT_FALSE(json["ok"].get<bool>());
  EXPECT_EQ(json["missing_actions"], (nlohmann::json{"ec2:CreateSnapshots", "ec2:DeleteTags"}));
  EXPECT_EQ(policy, nlohmann::json::parse(iam_policy_json(r.missing_actions)));
  EXPECT_NE(text.find("\"ec2:DeleteTags\""), std::string::npos);
}

TEST(Check, AnErrorOtherThanDryRunAnswersIsAFailureNotAMissingAction) {
  CheckMachine m;
  m.ec2.fail_next("DescribeVolumes", ec2::Error{.message = "AWS was not able to validate the provided access credentials",
                                                .aws_code = "AuthFailure", .http_status = 401});
  auto r = m.run();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.missing_actions.empty());
  EXPECT_NE(item(r, "ec2:DescribeVolumes")->detail.find("could not tell"), std::string::npos);
}

TEST(Check, CredentialSourceIsShownNeverTheSecret) {
  CheckMachine m;
  auto r = m.run();
  EXPECT_NE(item(r, "credentials")->detail.find("environment"), std::string::npos);
  const std::string text = render_text(r) + to_json(r).dump();
  EXPECT_EQ(text.find("wJalrSECRETKEYdoNOTshow"), std::string::npos);
}

TEST(Check, EveryProblemIsReportedAtOnce) {
  CheckMachine m;
  m.imds.reachable = false;
  m.system.udevd = false;
  m.system.tools.erase("mkfs.xfs");
  auto r = check({.imds = &m.imds, .ec2 = &m.ec2, .ec2_error = {}, .credentials = &m.credentials,
                      .region = std::string("eu-west-1"), .config = nullptr,
                      .config_error = std::string("/etc/ebsnap/ebsnap.json: $.groups: missing"), .system = &m.system});
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(item(r, "imds")->ok);
  EXPECT_FALSE(item(r, "udevd")->ok);
  EXPECT_FALSE(item(r, "config")->ok);
  EXPECT_NE(item(r, "config")->detail.find("$.groups"), std::string::npos);
  // Without a config both filesystems are looked at.
  EXPECT_FALSE(item(r, "mkfs.xfs")->ok);
  EXPECT_TRUE(item(r, "mkfs.ext4")->ok);
  // The permissions were still probed.
  EXPECT_TRUE(item(r, "ec2:CreateSnapshots")->ok);
}

TEST(Check, NoEc2ClientIsAFailureWithItsReason) {
  CheckMachine m;
  auto r = check({.imds = &m.imds, .ec2 = nullptr, .ec2_error = std::string("no region"),
                      .credentials = &m.credentials, .region = {}, .config = &m.config, .config_error = {},
                      .system = &m.system});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(item(r, "ec2")->detail.find("no region"), std::string::npos);
  // The region then comes from IMDS.
  EXPECT_EQ(item(r, "region")->detail, "eu-west-1 (from IMDS)");
}

TEST(IamPolicy, EveryActionOfTheExamplePolicyFileIsProbed) {
  std::ifstream in(std::string(EBSNAP_SOURCE_DIR) + "/etc/iam-policy.json");
  ASSERT_TRUE(in) << "etc/iam-policy.json";
  const auto policy = nlohmann::json::parse(in);
  std::set<std::string> in_file;
  for (const auto& st : policy["Statement"]) {
    const auto& a = st["Action"];
    for (const auto& x : a.is_array() ? a : nlohmann::json::array({a})) {
      const auto s = x.get<std::string>();
      if (s.starts_with("ec2:")) in_file.insert(s.substr(4));
    }
  }
  for (auto action : k_ec2_actions) EXPECT_TRUE(in_file.contains(std::string(action))) << action;
}

}  // namespace
}  // namespace agent

namespace agent {
namespace {

// Issue 11: after the thaw the agent tags each snapshot (ebsnap:volume-id, Name, and the
// watchdog-thawed correction of ebsnap:consistency), and the example policy only allowed tags
// at creation: those calls were silently denied. A statement now allows CreateTags on snapshots
// for ebsnap:* keys and Name, and nothing else.
TEST(IamPolicy, TagsSetAfterCreationAreAllowedOnSnapshotsOnly) {
  std::ifstream in(std::string(EBSNAP_SOURCE_DIR) + "/etc/iam-policy.json");
  const auto policy = nlohmann::json::parse(in);
  const nlohmann::json* after = nullptr;
  for (const auto& st : policy["Statement"]) {
    if (st["Action"] == "ec2:CreateTags" && !st["Condition"].contains("StringEquals")) after = &st;
  }
  ASSERT_NE(after, nullptr) << policy.dump(2);
  EXPECT_EQ((*after)["Resource"], "arn:aws:ec2:*:*:snapshot/*");
  const auto& keys = (*after)["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"];
  EXPECT_EQ(keys, (nlohmann::json{"ebsnap:*", "Name"}));
  for (const auto key : {k_tag_volume_id, k_tag_consistency, k_tag_run_id}) {
    EXPECT_TRUE(std::string_view(key).starts_with("ebsnap:")) << key;
  }
  EXPECT_EQ(k_tag_name, std::string_view("Name"));
}

}  // namespace
}  // namespace agent
