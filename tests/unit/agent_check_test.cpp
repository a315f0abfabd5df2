#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "agent/cli/agent_commands.h"
#include "agent/commands/check.h"
#include "agent/core/iam_plan.h"
#include "agent/core/tags.h"
#include "agent/report/iam_policy.h"
#include "ec2/testing/fake_ec2.h"
#include "ec2/testing/manual_clock.h"

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
  FilterValues filters{{"role", "search"}};
  ec2::ManualClock clock;

  CheckMachine() {
    config.source = "/etc/ebsnap/ebsnap.json";
    GroupConfig g{.name = "solr"};
    g.volumes.push_back({.device = "/dev/sdf", .mount_point = "/mnt/a", .size_gib = 1, .filesystem = FsType::Xfs});
    config.groups.push_back(g);
  }
  RunReport run() {
    return check({.imds = &imds, .ec2 = &ec2, .ec2_error = {}, .credentials = &credentials,
                      .region = std::string("eu-west-1"), .config = &config, .config_error = {}, .system = &system,
                  .filters = &filters, .clock = &clock, .regions = &regions});
  }

  // Every region is this fake: a copy_to's CopySnapshot is probed "there" on the snapshots here.
  struct OneFakeForEveryRegion final : Ec2Regions {
    explicit OneFakeForEveryRegion(ec2::FakeEc2& f) : fake(f) {}
    ec2::Result<ec2::Ec2Api*> in(const std::string& region) override {
      asked.push_back(region);
      return &fake;
    }
    ec2::FakeEc2& fake;
    std::vector<std::string> asked;
  } regions{ec2};
};

const CheckReport* item(const RunReport& r, const std::string& name) {
  for (const auto& i : r.checks) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

// The probe of an action: "ec2:CopySnapshot" is probed per destination, "ec2:CopySnapshot@us-west-2".
const CheckReport* probe_item(const RunReport& r, const std::string& name) {
  if (const auto* i = item(r, name)) return i;
  for (const auto& i : r.checks) {
    if (i.name.starts_with(name + "@")) return &i;
  }
  return nullptr;
}

const nlohmann::json& example_policy() {
  static const nlohmann::json policy = [] {
    std::ifstream in(std::string(EBSNAP_SOURCE_DIR) + "/etc/iam-policy.json");
    EXPECT_TRUE(in) << "etc/iam-policy.json";
    return nlohmann::json::parse(in);
  }();
  return policy;
}

std::vector<std::string> actions_of_statement(const nlohmann::json& st) {
  const auto& a = st["Action"];
  std::vector<std::string> out;
  for (const auto& x : a.is_array() ? a : nlohmann::json::array({a})) out.push_back(x.get<std::string>());
  return out;
}

std::set<std::string> actions_of(const nlohmann::json& policy) {
  std::set<std::string> out;
  for (const auto& st : policy["Statement"]) {
    for (auto& a : actions_of_statement(st)) out.insert(std::move(a));
  }
  return out;
}

const nlohmann::json* statement(const nlohmann::json& policy, const std::string& sid) {
  for (const auto& st : policy["Statement"]) {
    if (st["Sid"] == sid) return &st;
  }
  return nullptr;
}

// The ec2: actions the policy grants only on resources carrying ebsnap's ownership tag
// ("Null": {"aws:ResourceTag/ebsnap:group": "false"}).
std::set<std::string> tag_conditioned_actions(const nlohmann::json& policy) {
  const std::string key = "aws:ResourceTag/" + std::string(k_tag_group);
  std::set<std::string> out;
  for (const auto& st : policy["Statement"]) {
    const auto condition = st.value("Condition", nlohmann::json::object());
    if (!condition.contains("Null") || condition["Null"].value(key, "") != "false") continue;
    for (const auto& a : actions_of_statement(st)) out.insert(a.substr(a.find(':') + 1));
  }
  return out;
}

// The EC2 actions check DryRuns for `config` (nullptr: everything): the probes of the
// permissions its commands need (agent/core/iam_plan.h).
std::set<std::string> probed_for(const Config* config) {
  std::set<std::string> out;
  const auto plan = plan_iam_policy(config, {});
  EXPECT_TRUE(plan);
  for (const auto p : plan->permissions) {
    if (const auto a = probed_action(p)) out.emplace(*a);
  }
  return out;
}

// A volume (attached to `instance`) and a snapshot of ebsnap's made by `instance`, and a volume and
// a snapshot of somebody else's.
struct Resources {
  ec2::VolumeId own_volume;
  ec2::SnapshotId own_snapshot;
  ec2::VolumeId other_volume;
  ec2::SnapshotId other_snapshot;
};
Resources add_resources(ec2::FakeEc2& ec2, const ec2::InstanceId& instance, bool with_own) {
  Resources r;
  const std::vector<ec2::Tag> own_tags = {{std::string(k_tag_group), "solr"},
                                          {std::string(k_tag_instance_id), instance.value}};
  // Somebody else's, made by this instance too: only the ownership tag makes a resource ebsnap's.
  const std::vector<ec2::Tag> other_tags = {{"team", "db"}, {std::string(k_tag_instance_id), instance.value}};
  r.other_volume = ec2.add_volume(
      {.size_gib = 5, .state = ec2::VolumeState::Available, .availability_zone = "eu-west-1a", .tags = other_tags});
  r.other_snapshot =
      ec2.add_snapshot({.volume_id = r.other_volume, .state = ec2::SnapshotState::Completed, .tags = other_tags});
  if (with_own) {
    r.own_volume = ec2.add_volume({.size_gib = 1,
                                   .state = ec2::VolumeState::InUse,
                                   .availability_zone = "eu-west-1a",
                                   .tags = own_tags,
                                   .attachments = {{.instance_id = instance,
                                                    .device = "/dev/sdf",
                                                    .state = ec2::AttachmentState::Attached}}});
    r.own_snapshot =
        ec2.add_snapshot({.volume_id = r.own_volume, .state = ec2::SnapshotState::Completed, .tags = own_tags});
  }
  return r;
}

// config fleet_size: mount and prune take a share of the buckets; snapshot and copy (spread by
// their timers), shutdown (one instance's) and the interactive commands never wait for one.
TEST(FleetSize, OnlyTheCommandsAFleetStartsTogetherTakeAShare) {
  EXPECT_TRUE(fleet_starts_together("mount"));
  EXPECT_TRUE(fleet_starts_together("prune"));
  for (const auto* command : {"snapshot", "copy", "shutdown", "unmount", "list", "history", "check-backups", "gc",
                              "prewarm", "watch", "freeze", "thaw"}) {
    EXPECT_FALSE(fleet_starts_together(command)) << command;
  }
}

TEST(Check, AllGoodIsOkAndProbesEveryActionWithDryRun) {
  CheckMachine m;
  auto r = m.run();
  EXPECT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(r.missing_actions.empty());
  EXPECT_EQ(render_text(r).find("IAM policy"), std::string::npos);
  const auto probed = probed_for(&m.config);
  EXPECT_FALSE(probed.contains("ModifyInstanceAttribute"));  // only with delete_on_termination, below
  EXPECT_TRUE(probed.contains("CreateTags") && probed.contains("DeleteSnapshot")) << probed.size();
  for (const auto& action : probed) {
    // (DescribeVolumes and DescribeSnapshots also look for resources of ebsnap's to DryRun on.)
    EXPECT_GE(m.ec2.call_count(action), 1) << action;
    const auto* i = item(r, "ec2:" + action);
    ASSERT_NE(i, nullptr) << action;
    EXPECT_TRUE(i->ok) << action << ": " << i->detail;
  }
  // What no command of the config calls is not probed: nothing copies, nothing untags.
  EXPECT_EQ(m.ec2.call_count("CopySnapshot"), 0);
  EXPECT_EQ(m.ec2.call_count("DeleteTags"), 0);
  EXPECT_EQ(item(r, "ec2:CopySnapshot"), nullptr);
  // DryRun changes nothing.
  EXPECT_TRUE(m.ec2.snapshots().empty());
  EXPECT_EQ(m.ec2.volumes().size(), 0U);
  EXPECT_NE(item(r, "identity")->detail.find("i-0abc"), std::string::npos);
  // Only the filesystems the config uses.
  EXPECT_NE(item(r, "mkfs.xfs"), nullptr);
  EXPECT_EQ(item(r, "mkfs.ext4"), nullptr);
}

// Issue 17: ModifyInstanceAttribute is needed, and probed, only for a delete_on_termination volume.
TEST(Check, ModifyInstanceAttributeIsProbedOnlyWithADeleteOnTerminationVolume) {
  CheckMachine m;
  auto r = m.run();
  EXPECT_EQ(item(r, "ec2:ModifyInstanceAttribute"), nullptr);
  EXPECT_EQ(m.ec2.call_count("ModifyInstanceAttribute"), 0);
  m.config.groups.front().volumes.front().delete_on_termination = true;
  m.config.groups.front().snapshot_on_shutdown = true;
  r = m.run();
  EXPECT_TRUE(r.ok()) << render_text(r);
  ASSERT_NE(item(r, "ec2:ModifyInstanceAttribute"), nullptr);
  EXPECT_EQ(item(r, "ec2:ModifyInstanceAttribute")->verdict, "allowed");
  EXPECT_EQ(m.ec2.call_count("ModifyInstanceAttribute"), 1);
  m.ec2.deny("ModifyInstanceAttribute");
  r = m.run();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing_actions, (std::vector<std::string>{"ec2:ModifyInstanceAttribute"}));
  const auto policy = nlohmann::json::parse(iam_policy_json(r.missing_actions));
  ASSERT_EQ(policy["Statement"].size(), 1u);
  EXPECT_EQ(policy["Statement"][0]["Sid"], "EbsnapOnlyWithDeleteOnTerminationVolumes");
  EXPECT_EQ(policy["Statement"][0]["Resource"], "arn:aws:ec2:*:*:instance/*");
}

// Issue 17: a group whose volumes EC2 deletes with the instance, with nothing that keeps their
// recent data: a warning (ok, exit 0), one per group, in text and JSON.
TEST(Check, DeleteOnTerminationWithoutARecentSnapshotIsAWarning) {
  CheckMachine m;
  GroupConfig keeps{.name = "keeps"};
  keeps.volumes.push_back({.device = "/dev/sdg", .mount_point = "/mnt/k", .size_gib = 1, .filesystem = FsType::Xfs});
  m.config.groups.push_back(keeps);
  auto& g = m.config.groups.front();
  g.volumes.front().delete_on_termination = true;
  const auto warning = [&](const RunReport& r) -> std::optional<std::string> {
    const auto* i = item(r, "delete_on_termination.solr");
    if (i == nullptr) return std::nullopt;
    EXPECT_TRUE(i->ok && i->warning) << i->detail;
    return i->detail;
  };
  auto r = m.run();
  EXPECT_TRUE(r.ok()) << render_text(r);
  ASSERT_TRUE(warning(r));
  EXPECT_NE(warning(r)->find("no snapshot_on_shutdown and no retention"), std::string::npos) << *warning(r);
  EXPECT_EQ(item(r, "delete_on_termination.keeps"), nullptr);
  EXPECT_NE(render_text(r).find("[warn] delete_on_termination.solr: group solr has delete_on_termination volumes"),
            std::string::npos)
      << render_text(r);
  const auto json = to_json(r);
  for (const auto& c : json["checks"]) EXPECT_EQ(c["warning"], c["name"] == "delete_on_termination.solr") << c.dump();

  g.retention = RetentionPolicy{.keep_last = 5};
  r = m.run();
  EXPECT_NE(warning(r)->find("keeps no hourly, daily"), std::string::npos) << *warning(r);

  g.retention = RetentionPolicy{.hourly = 24, .daily = 7};
  r = m.run();
  EXPECT_NE(warning(r)->find("/mnt/a has no completed snapshot"), std::string::npos) << *warning(r);
  // A completed snapshot of the lineage, tagged as check-backups counts them: fresh within the hour.
  const auto snapshot_aged = [&](std::chrono::minutes age) {
    std::vector<ec2::Tag> tags{{"role", "search"}, {std::string(k_tag_mount_point), "/mnt/a"},
                               {std::string(k_tag_group), "solr"}, {std::string(k_tag_run_id), "run-1"}};
    (void)m.ec2.add_snapshot(
        {.state = ec2::SnapshotState::Completed, .start_time = m.clock.now() - age, .tags = tags});
  };
  snapshot_aged(std::chrono::minutes(90));
  r = m.run();
  EXPECT_NE(warning(r)->find("the newest completed snapshot of /mnt/a is 1h30m old, older than its retention's "
                             "smallest bucket (1h"),
            std::string::npos)
      << *warning(r);
  snapshot_aged(std::chrono::minutes(20));
  r = m.run();
  EXPECT_FALSE(warning(r)) << *warning(r);

  g.retention.reset();
  g.snapshot_on_shutdown = true;
  r = m.run();
  EXPECT_FALSE(warning(r)) << *warning(r);
  EXPECT_TRUE(r.ok()) << render_text(r);
}

TEST(Check, MissingActionsBecomeAnIamPolicy) {
  CheckMachine m;
  // CreateTags is probed on a snapshot of ebsnap's (without one, a refusal proves nothing).
  (void)add_resources(m.ec2, m.ec2.add_instance({.id = ec2::InstanceId{"i-0abc"}, .availability_zone = "eu-west-1a"}),
                      true);
  m.ec2.deny("CreateSnapshots");
  m.ec2.deny("CreateTags");
  auto r = m.run();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing_actions, (std::vector<std::string>{"ec2:CreateSnapshots", "ec2:CreateTags"}));
  EXPECT_FALSE(item(r, "ec2:CreateSnapshots")->ok);
  EXPECT_TRUE(item(r, "ec2:CreateSnapshot")->ok);
  const auto& report = r;
  const auto text = render_text(report);
  const auto policy_start = text.find('{', text.find("IAM policy"));
  ASSERT_NE(policy_start, std::string::npos) << text;
  auto policy = nlohmann::json::parse(text.substr(policy_start));
  EXPECT_EQ(policy["Version"], "2012-10-17");
  // The policy's own statements for those permissions (CreateSnapshots: its volumes, its snapshots
  // tagged at creation, CreateTags for that CreateAction; CreateTags as probed: after creation).
  EXPECT_EQ(actions_of(policy), (std::set<std::string>{"ec2:CreateSnapshots", "ec2:CreateTags"}));
  EXPECT_EQ(policy, nlohmann::json::parse(iam_policy_text({Permission::CreateSnapshots, Permission::RetagSnapshot})));
  for (const auto& st : policy["Statement"]) {
    EXPECT_NE(statement(example_policy(), st["Sid"].get<std::string>()), nullptr) << st.dump();
    EXPECT_EQ(st["Effect"], "Allow");
  }
  const auto* retag = statement(policy, "EbsnapTagAfterCreate");
  ASSERT_NE(retag, nullptr) << policy.dump(2);
  EXPECT_EQ((*retag)["Condition"]["Null"]["aws:ResourceTag/ebsnap:group"], "false");
  auto json = to_json(report);
  EXPECT_FALSE(json["ok"].get<bool>());
  EXPECT_EQ(json["missing_actions"], (nlohmann::json{"ec2:CreateSnapshots", "ec2:CreateTags"}));
  EXPECT_EQ(policy, nlohmann::json::parse(iam_policy_json(r.missing_actions)));
  EXPECT_NE(text.find("\"ec2:CreateTags\""), std::string::npos);
}

// Issue 12: a prune that cannot list or delete snapshots must not fail silently, run after run:
// check names the groups whose retention needs the permission.
TEST(Check, AGroupWithRetentionMakesDescribeAndDeleteSnapshotsNeededByPrune) {
  CheckMachine m;
  m.config.groups.front().retention = RetentionPolicy{.keep_last = 3};
  (void)add_resources(m.ec2, m.ec2.add_instance({.id = ec2::InstanceId{"i-0abc"}, .availability_zone = "eu-west-1a"}),
                      true);
  m.ec2.deny("DeleteSnapshot");
  auto r = m.run();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing_actions, (std::vector<std::string>{"ec2:DeleteSnapshot"}));
  EXPECT_NE(item(r, "ec2:DeleteSnapshot")->detail.find("; prune of solr (retention) cannot work without it"),
            std::string::npos)
      << item(r, "ec2:DeleteSnapshot")->detail;
  EXPECT_NE(item(r, "ec2:DescribeSnapshots")->detail.find("; prune of solr (retention) needs it"), std::string::npos);
  EXPECT_EQ(item(r, "ec2:DeleteVolume")->detail.find("prune"), std::string::npos);

  m.config.groups.front().retention.reset();
  r = m.run();
  EXPECT_EQ(item(r, "ec2:DeleteSnapshot")->detail.find("prune"), std::string::npos);
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

// Issue 11: check DryRuns exactly what etc/iam-policy.json grants, no more and no less, so that a
// permission added to one and not the other fails here. The KMS actions are the one exception: EC2
// uses them on ebsnap's behalf for encrypted volumes and copies (the grant's kms:GrantIsForAWSResource
// condition), and no DryRun the agent can send reaches them.
TEST(IamPolicy, CheckProbesExactlyWhatThePolicyGrants) {
  const std::set<std::string> not_probed = {"kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey",
                                            "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*"};
  ec2::FakeEc2 fake{ec2::FakeEc2Options{.region = "eu-west-1"}};
  std::set<std::string> probed;
  const auto everything = plan_iam_policy(nullptr, {"all"})->permissions;
  for (const auto& p :
       probe_permissions(fake, ec2::InstanceId{"i-0abc"}, "eu-west-1a", "eu-west-1", "/dev/sdf", everything)) {
    EXPECT_TRUE(probed.insert("ec2:" + p.action).second) << p.action << " probed twice";
  }
  const auto granted = actions_of(example_policy());
  for (const auto& a : granted) {
    EXPECT_TRUE(probed.contains(a) || not_probed.contains(a)) << a << " is granted by etc/iam-policy.json; check does not probe it";
  }
  for (const auto& a : probed) EXPECT_TRUE(granted.contains(a)) << a << " is probed by check; etc/iam-policy.json does not grant it";
  for (const auto& a : not_probed) EXPECT_TRUE(granted.contains(a)) << a << ": no longer in the policy";
  // And both are the actions the commands call (agent/core/iam_plan.h).
  std::set<std::string> calls;
  for (const auto& a : probed_for(nullptr)) calls.insert("ec2:" + a);
  EXPECT_EQ(probed, calls);
}

// Issue 11: etc/iam-policy.json grants the destructive actions, and tag changes after creation,
// only on resources carrying ebsnap's ownership tag. check names a volume and a snapshot of
// ebsnap's in those DryRuns, so that they pass under exactly that policy, and not one of somebody
// else's (a DryRun on a placeholder id is refused by such a grant: the probe would say "missing").
TEST(IamPolicy, TagConditionedGrantsAreProbedOnEbsnapsOwnResources) {
  const auto conditioned = tag_conditioned_actions(example_policy());
  EXPECT_EQ(conditioned, (std::set<std::string>{"AttachVolume", "DetachVolume", "DeleteVolume", "DeleteSnapshot",
                                                "CreateTags", "CopySnapshot"}));
  CheckMachine m;
  m.config.groups.front().volumes.front().delete_on_termination = true;  // every action: ModifyInstanceAttribute too
  m.config.groups.front().copy_to = {CopyDestination{.region = "us-west-2"}};  // and CopySnapshot, there
  const auto instance = m.ec2.add_instance({.id = ec2::InstanceId{"i-0abc"}, .availability_zone = "eu-west-1a"});
  const auto res = add_resources(m.ec2, instance, true);
  for (const auto& a : conditioned) m.ec2.require_resource_tag(a, std::string(k_tag_group));
  auto r = m.run();
  EXPECT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(r.missing_actions.empty());
  const auto probed = probed_for(&m.config);
  EXPECT_TRUE(probed.contains("ModifyInstanceAttribute"));
  EXPECT_EQ(m.regions.asked, std::vector<std::string>{"us-west-2"});
  ASSERT_NE(item(r, "ec2:CopySnapshot@us-west-2"), nullptr);
  for (const auto& action : probed) {
    const auto* i = probe_item(r, "ec2:" + action);
    ASSERT_NE(i, nullptr) << action;
    EXPECT_EQ(i->verdict, "allowed") << action << ": " << i->detail;
    if (!conditioned.contains(action)) {
      EXPECT_EQ(i->tagged_resource, std::nullopt) << action;
      continue;
    }
    const auto& own = action.ends_with("Volume") ? res.own_volume.value : res.own_snapshot.value;
    EXPECT_EQ(i->tagged_resource, own) << action;
    EXPECT_NE(i->detail.find(own + ", tagged ebsnap:group"), std::string::npos) << i->detail;
  }
  // DryRun changed nothing.
  EXPECT_EQ(m.ec2.volume(res.own_volume)->attachments.size(), 1U);
  EXPECT_TRUE(m.ec2.snapshot(res.own_snapshot).has_value());
  EXPECT_EQ(ec2::find_tag(m.ec2.snapshot(res.own_snapshot)->tags, "ebsnap:check"), std::nullopt);
  const auto json = to_json(r);
  for (const auto& c : json["checks"]) {
    ASSERT_TRUE(c.contains("verdict") && c.contains("tagged_resource")) << c.dump();
  }
  EXPECT_TRUE(json["checks"][0]["verdict"].is_null());
}

// Before ebsnap has made anything on this instance there is nothing tagged to DryRun on: the
// grants conditioned on the tag cannot be shown, and check says so instead of calling them missing.
TEST(IamPolicy, BeforeEbsnapMadeAnythingTagConditionedGrantsAreUnprovenNotMissing) {
  CheckMachine m;
  m.config.groups.front().copy_to = {CopyDestination{.region = "us-west-2"}};
  const auto instance = m.ec2.add_instance({.id = ec2::InstanceId{"i-0abc"}, .availability_zone = "eu-west-1a"});
  (void)add_resources(m.ec2, instance, false);
  const auto conditioned = tag_conditioned_actions(example_policy());
  EXPECT_FALSE(conditioned.empty());
  for (const auto& a : conditioned) m.ec2.require_resource_tag(a, std::string(k_tag_group));
  auto r = m.run();
  EXPECT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(r.missing_actions.empty());
  for (const auto& a : conditioned) {
    const auto* i = probe_item(r, "ec2:" + a);
    ASSERT_NE(i, nullptr) << a;
    EXPECT_TRUE(i->ok) << a;
    EXPECT_EQ(i->verdict, "unproven") << a << ": " << i->detail;
    EXPECT_EQ(i->tagged_resource, std::nullopt) << a;
    EXPECT_NE(i->detail.find("not proven: no "), std::string::npos) << i->detail;
  }
}

// A grant that does not cover ebsnap's own volume is missing, and the advice is the policy's own
// conditioned statement, not DeleteVolume on everything.
TEST(IamPolicy, ADeleteVolumeRefusedOnEbsnapsOwnVolumeIsMissing) {
  CheckMachine m;
  const auto instance = m.ec2.add_instance({.id = ec2::InstanceId{"i-0abc"}, .availability_zone = "eu-west-1a"});
  const auto res = add_resources(m.ec2, instance, true);
  m.ec2.deny("DeleteVolume");
  auto r = m.run();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing_actions, (std::vector<std::string>{"ec2:DeleteVolume"}));
  EXPECT_EQ(item(r, "ec2:DeleteVolume")->verdict, "missing");
  EXPECT_EQ(item(r, "ec2:DeleteVolume")->tagged_resource, res.own_volume.value);
  const auto policy = nlohmann::json::parse(iam_policy_json(r.missing_actions));
  ASSERT_EQ(policy["Statement"].size(), 1U) << policy.dump(2);
  const auto& st = policy["Statement"][0];
  EXPECT_EQ(st["Action"], "ec2:DeleteVolume");
  EXPECT_EQ(st["Resource"], "arn:aws:ec2:*:*:volume/*");
  ASSERT_TRUE(st.contains("Condition")) << st.dump();
  EXPECT_EQ(st["Condition"]["Null"]["aws:ResourceTag/ebsnap:group"], "false");
}

// Issue 11: some endpoints answer a Describe DryRun with its data (HTTP 200) instead of
// DryRunOperation. That answer proves the permission: allowed, not a failed check.
TEST(Check, ADryRunThatSimplySucceedsIsAllowed) {
  CheckMachine m;
  m.ec2.serve_dry_run("DescribeVolumes");
  m.ec2.serve_dry_run("DescribeSnapshots");
  auto r = m.run();
  EXPECT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(r.missing_actions.empty());
  for (const auto* name : {"ec2:DescribeVolumes", "ec2:DescribeSnapshots"}) {
    const auto* i = item(r, name);
    ASSERT_NE(i, nullptr) << name;
    EXPECT_TRUE(i->ok) << name << ": " << i->detail;
    EXPECT_EQ(i->verdict, "allowed") << name;
    EXPECT_NE(i->detail.find("succeeded"), std::string::npos) << i->detail;
  }
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
