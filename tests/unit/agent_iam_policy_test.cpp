// ebsnap iam-policy: the planner (config + --for → permissions), the statements it becomes, the
// command line (no EC2, no IMDS, one usage line for a bad --for), and etc/iam-policy.json kept
// byte-equal to the generator's output.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agent/cli/cli.h"
#include "agent/core/iam_plan.h"
#include "agent/report/iam_policy.h"
#include "tests/support/temp_dir.h"

namespace agent {
namespace {

using Json = nlohmann::json;
using P = Permission;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Permissions every() { return Permissions(k_permissions.begin(), k_permissions.end()); }

Permissions plan(const Config* config, std::vector<std::string> for_commands) {
  auto p = plan_iam_policy(config, for_commands);
  EXPECT_TRUE(p) << p.error();
  return p ? p->permissions : Permissions{};
}

// A config with one group, every feature off.
Config plain_config() {
  Config c;
  GroupConfig g{.name = "solr"};
  g.volumes.push_back({.device = "/dev/sdf", .mount_point = "/mnt/a", .size_gib = 1});
  c.groups.push_back(g);
  return c;
}

std::set<std::string> actions_of(const Json& policy) {
  std::set<std::string> out;
  for (const auto& st : policy["Statement"]) {
    const auto& a = st["Action"];
    for (const auto& x : a.is_array() ? a : Json::array({a})) out.insert(x.get<std::string>());
  }
  return out;
}

const Json* statement(const Json& policy, const std::string& sid) {
  for (const auto& st : policy["Statement"]) {
    if (st["Sid"] == sid) return &st;
  }
  return nullptr;
}

Json document(const Permissions& permissions) { return Json::parse(iam_policy_text(permissions)); }

// The file in etc/ is the generator's output, byte for byte: the source of truth is C++.
TEST(IamPolicyFile, EtcIamPolicyJsonIsTheGeneratorsOutputForEverything) {
  const std::string path = std::string(EBSNAP_SOURCE_DIR) + "/etc/iam-policy.json";
  const std::string generated = iam_policy_text(plan(nullptr, {"all"}));
  EXPECT_EQ(slurp(path), generated)
      << "etc/iam-policy.json differs from the policy agent/report/iam_policy.cpp generates. The C++ table is the "
         "source: regenerate the file with\n  build-dev/agent/ebsnap iam-policy --for all > etc/iam-policy.json\n"
         "(from the source directory, after building) and commit both.";
  // "all" is every command with every feature: the same as no configuration.
  EXPECT_EQ(plan(nullptr, {"all"}), plan(nullptr, {}));
}

// Every command's set: what its code calls (agent/commands/*.cpp), with every feature on.
TEST(IamPlan, EachCommandsPermissions) {
  const std::map<std::string, Permissions> expected = {
      {"mount", {P::DescribeVolumes, P::DescribeSnapshots, P::DescribeInstances, P::CreateVolume, P::AttachVolume,
                 P::ModifyInstanceAttribute}},
      // With copy_after_snapshot: CopySnapshot in the destinations.
      {"snapshot", {P::DescribeInstances, P::DescribeVolumes, P::DescribeSnapshots, P::CreateSnapshot, P::CreateSnapshots,
                    P::RetagSnapshot, P::DeleteSnapshot, P::DeleteSnaptasticSnapshot, P::CopySnapshot}},
      {"unmount", {P::DescribeVolumes, P::DetachVolume, P::DeleteVolume}},
      {"list", {P::DescribeVolumes, P::DescribeSnapshots, P::DescribeVolumeStatus}},
      {"history", {P::DescribeSnapshots}},
      {"check-backups", {P::DescribeSnapshots}},
      {"prune", {P::DescribeSnapshots, P::DeleteSnapshot, P::DeleteSnaptasticSnapshot}},
      // With prune_after_copy: DeleteSnapshot of its copies there (no Snaptastic snapshot is copied).
      {"copy", {P::DescribeSnapshots, P::CopySnapshot, P::DeleteSnapshot}},
      {"gc", {P::DescribeVolumes, P::DeleteVolume}},
      {"prewarm", {P::DescribeVolumes}},
      {"shutdown", {P::DescribeInstances, P::DescribeVolumes, P::DescribeSnapshots, P::CreateSnapshot,
                    P::CreateSnapshots, P::RetagSnapshot, P::DeleteSnapshot, P::DetachVolume}},
      {"watch", {P::DescribeInstances, P::DescribeVolumes, P::DescribeSnapshots, P::CreateSnapshot, P::CreateSnapshots,
                 P::RetagSnapshot, P::DeleteSnapshot}},
      {"thaw", {P::DescribeSnapshots, P::RetagSnapshot, P::DeleteSnapshot}},
  };
  for (const auto& [command, permissions] : expected) {
    EXPECT_EQ(plan(nullptr, {command}), permissions) << command;
  }
  ASSERT_EQ(expected.size() + 1, k_iam_commands.size());  // + check, below
  // check DryRuns everything the others need.
  Permissions others;
  for (const auto& [command, permissions] : expected) others.insert(permissions.begin(), permissions.end());
  EXPECT_EQ(plan(nullptr, {"check"}), others);
  // Every permission is some command's.
  EXPECT_EQ(plan(nullptr, {"all"}), every());
}

TEST(IamPlan, ModifyInstanceAttributeOnlyWithADeleteOnTerminationVolume) {
  Config c = plain_config();
  EXPECT_FALSE(plan(&c, {}).contains(P::ModifyInstanceAttribute));
  EXPECT_FALSE(plan(&c, {"mount"}).contains(P::ModifyInstanceAttribute));
  c.groups[0].volumes[0].delete_on_termination = true;
  EXPECT_TRUE(plan(&c, {}).contains(P::ModifyInstanceAttribute));
  EXPECT_TRUE(plan(&c, {"mount"}).contains(P::ModifyInstanceAttribute));
  EXPECT_FALSE(plan(&c, {"snapshot"}).contains(P::ModifyInstanceAttribute));
  const auto policy = document(plan(&c, {"mount"}));
  EXPECT_NE(statement(policy, "EbsnapOnlyWithDeleteOnTerminationVolumes"), nullptr) << policy.dump(2);
}

TEST(IamPlan, PruneOnlyForAGroupWithRetentionOrWhenAskedFor) {
  Config c = plain_config();
  auto p = plan_iam_policy(&c, {});
  ASSERT_TRUE(p);
  EXPECT_EQ(std::ranges::count(p->commands, "prune"), 0);
  c.groups[0].retention = RetentionPolicy{.keep_last = 3};
  p = plan_iam_policy(&c, {});
  EXPECT_EQ(std::ranges::count(p->commands, "prune"), 1);
  c.groups[0].retention.reset();
  EXPECT_EQ(plan(&c, {"prune"}), (Permissions{P::DescribeSnapshots, P::DeleteSnapshot}));
  // Snaptastic's snapshots (no ebsnap:group) only with compat.
  c.compat_snaptastic = true;
  EXPECT_EQ(plan(&c, {"prune"}), (Permissions{P::DescribeSnapshots, P::DeleteSnapshot, P::DeleteSnaptasticSnapshot}));
  const auto policy = document(plan(&c, {"prune"}));
  const auto* st = statement(policy, "EbsnapDeleteSnaptasticSnapshots");
  ASSERT_NE(st, nullptr) << policy.dump(2);
  EXPECT_EQ((*st)["Condition"]["Null"]["aws:ResourceTag/mount_point"], "false");
  // snapshot prunes only with prune_after_snapshot.
  EXPECT_FALSE(plan(&c, {"snapshot"}).contains(P::DeleteSnaptasticSnapshot));
  c.groups[0].retention = RetentionPolicy{.keep_last = 3, .prune_after_snapshot = true};
  EXPECT_TRUE(plan(&c, {"snapshot"}).contains(P::DeleteSnaptasticSnapshot));
  EXPECT_FALSE(plan(&c, {"watch"}).contains(P::DeleteSnaptasticSnapshot));
}

TEST(IamPlan, ShutdownNeedsWhatItsGroupsDoAtShutdown) {
  Config c = plain_config();
  EXPECT_TRUE(plan(&c, {"shutdown"}).empty());
  c.groups[0].unmount_on_shutdown = true;
  EXPECT_EQ(plan(&c, {"shutdown"}), (Permissions{P::DescribeVolumes, P::DetachVolume}));
  c.groups[0].snapshot_on_shutdown = true;
  EXPECT_TRUE(plan(&c, {"shutdown"}).contains(P::CreateSnapshots));
  EXPECT_FALSE(plan(&c, {"shutdown"}).contains(P::DeleteVolume));  // its unmount deletes nothing
}

TEST(IamPlan, ForAllIgnoresTheConfigAndAliasesNameTheirCommand) {
  Config c = plain_config();
  EXPECT_EQ(plan(&c, {"all"}), plan(nullptr, {}));
  EXPECT_EQ(plan(&c, {"mount-snapshots"}), plan(&c, {"mount"}));
  EXPECT_EQ(plan(&c, {"make-snapshots"}), plan(&c, {"snapshot"}));
  EXPECT_EQ(plan(&c, {"list-snapshots"}), plan(&c, {"history"}));
  EXPECT_EQ(plan(&c, {"test"}), plan(&c, {"check"}));
  auto p = plan_iam_policy(&c, {"history", "mount", "history"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->commands, (std::vector<std::string>{"mount", "history"}));
}

TEST(IamPlan, AnUnknownCommandIsOneLineWithASuggestion) {
  auto p = plan_iam_policy(nullptr, {"mount", "snapshots"});
  ASSERT_FALSE(p);
  EXPECT_TRUE(p.error().starts_with("--for: unknown command 'snapshots'; did you mean snapshot? (expected mount, "))
      << p.error();
  EXPECT_EQ(p.error().find('\n'), std::string::npos);
  EXPECT_FALSE(plan_iam_policy(nullptr, {"version"}));
  // freeze (DLM's pre-script) is known: it needs nothing, and says so.
  auto freeze = plan_iam_policy(nullptr, {"freeze"});
  ASSERT_FALSE(freeze);
  EXPECT_TRUE(freeze.error().starts_with("--for: freeze makes no EC2 call and needs no IAM permission"))
      << freeze.error();
  EXPECT_FALSE(plan_iam_policy(nullptr, {""}));
}

// Narrowed to what is asked: history reads snapshots, nothing else.
TEST(IamPolicyDocument, HistoryIsOneDescribe) {
  const auto policy = document(plan(nullptr, {"history"}));
  EXPECT_EQ(policy, Json::parse(R"({"Version":"2012-10-17","Statement":[{"Sid":"EbsnapDescribe","Effect":"Allow",
      "Action":"ec2:DescribeSnapshots","Resource":"*"}]})"));
}

// Tag on create: CreateVolume and the snapshots only with ebsnap:group in the request, CreateTags
// only for the create calls the commands make.
TEST(IamPolicyDocument, TagOnCreateOnlyForTheCreateCallsAsked) {
  auto policy = document(plan(nullptr, {"mount"}));
  const auto* tag = statement(policy, "EbsnapTagOnCreate");
  ASSERT_NE(tag, nullptr) << policy.dump(2);
  EXPECT_EQ((*tag)["Action"], "ec2:CreateTags");
  EXPECT_EQ((*tag)["Resource"], "arn:aws:ec2:*:*:volume/*");
  EXPECT_EQ((*tag)["Condition"]["StringEquals"]["ec2:CreateAction"], Json::array({"CreateVolume"}));
  const auto* create = statement(policy, "EbsnapCreateTaggedVolumes");
  ASSERT_NE(create, nullptr);
  EXPECT_EQ((*create)["Condition"]["Null"]["aws:RequestTag/ebsnap:group"], "false");
  EXPECT_EQ(statement(policy, "EbsnapTagAfterCreate"), nullptr);
  EXPECT_FALSE(actions_of(policy).contains("ec2:CreateSnapshots"));
  EXPECT_TRUE(actions_of(policy).contains("kms:CreateGrant"));  // encryption by default is invisible to the config

  policy = document(plan(nullptr, {"snapshot"}));
  tag = statement(policy, "EbsnapTagOnCreate");
  ASSERT_NE(tag, nullptr) << policy.dump(2);
  EXPECT_EQ((*tag)["Resource"], "arn:aws:ec2:*:*:snapshot/*");
  EXPECT_EQ((*tag)["Condition"]["StringEquals"]["ec2:CreateAction"],
            Json::array({"CreateSnapshot", "CreateSnapshots", "CopySnapshot"}));  // copy_after_snapshot
  // After the thaw: ebsnap's keys and Name, on ebsnap's snapshots only.
  const auto* after = statement(policy, "EbsnapTagAfterCreate");
  ASSERT_NE(after, nullptr);
  EXPECT_EQ((*after)["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"], Json::array({"ebsnap:*", "Name"}));
  EXPECT_EQ((*after)["Condition"]["Null"]["aws:ResourceTag/ebsnap:group"], "false");
  EXPECT_FALSE(actions_of(policy).contains("ec2:CreateVolume"));
  // Without copy_after_snapshot, no copy and no KMS.
  Config config;
  config.groups.push_back(GroupConfig{.name = "solr"});
  policy = document(plan(&config, {"snapshot"}));
  EXPECT_FALSE(actions_of(policy).contains("ec2:CopySnapshot"));
  EXPECT_FALSE(actions_of(policy).contains("kms:Decrypt"));
}

// Issue 14: copy calls CopySnapshot tagged at creation, from the lineage's snapshots, and EC2 asks
// KMS on its behalf for encrypted copies (CreateGrant only for AWS resources).
TEST(IamPolicyDocument, CopySnapshotIsTaggedAtCreationFromOwnSnapshotsWithKmsForEncryptedCopies) {
  const auto policy = document({P::CopySnapshot});
  EXPECT_EQ(actions_of(policy), (std::set<std::string>{"ec2:CopySnapshot", "ec2:CreateTags", "kms:CreateGrant",
                                                       "kms:Decrypt", "kms:DescribeKey",
                                                       "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*"}));
  const auto* grants = statement(policy, "EbsnapEncryptedVolumesGrants");
  ASSERT_NE(grants, nullptr);
  EXPECT_EQ((*grants)["Action"], "kms:CreateGrant");
  EXPECT_EQ((*grants)["Condition"]["Bool"]["kms:GrantIsForAWSResource"], "true");
  const auto* keys = statement(policy, "EbsnapEncryptedVolumes");
  ASSERT_NE(keys, nullptr);
  EXPECT_FALSE(keys->contains("Condition")) << keys->dump();  // GrantIsForAWSResource would never match there
  const auto* tag = statement(policy, "EbsnapTagOnCreate");
  ASSERT_NE(tag, nullptr) << policy.dump(2);
  EXPECT_EQ((*tag)["Condition"]["StringEquals"]["ec2:CreateAction"], Json::array({"CopySnapshot"}));
  EXPECT_NE(statement(policy, "EbsnapCopyFromSnapshots"), nullptr);
}

// Whatever the set: every action that removes or detaches something, or attaches a volume, or
// changes tags after creation, is granted only on resources carrying an ownership tag; CreateTags
// otherwise only at creation.
TEST(IamPolicyDocument, DestructiveActionsOnlyOnOwnedResources) {
  const auto policy = document(every());
  for (const auto& st : policy["Statement"]) {
    const auto& a = st["Action"];
    for (const auto& x : a.is_array() ? a : Json::array({a})) {
      const std::string action = x.get<std::string>();
      const bool sensitive = action.starts_with("ec2:Delete") || action == "ec2:DetachVolume" ||
                             action == "ec2:AttachVolume" || action == "ec2:CreateTags";
      if (!sensitive) continue;
      const Json resources = st["Resource"].is_array() ? st["Resource"] : Json::array({st["Resource"]});
      for (const auto& r : resources) {
        const std::string resource = r.get<std::string>();
        EXPECT_NE(resource, "*") << st.dump();
        if (resource.ends_with(":instance/*")) continue;  // the instance side of attach and detach
        const auto conditions = st.value("Condition", Json::object());
        const bool owned = conditions.contains("Null") &&
                           (conditions["Null"].value("aws:ResourceTag/ebsnap:group", "") == "false" ||
                            conditions["Null"].value("aws:ResourceTag/mount_point", "") == "false");
        const bool on_create = conditions.contains("StringEquals") && conditions["StringEquals"].contains("ec2:CreateAction");
        EXPECT_TRUE(owned || (action == "ec2:CreateTags" && on_create)) << action << " on " << resource << ": " << st.dump();
      }
    }
  }
  EXPECT_FALSE(actions_of(policy).contains("ec2:DeleteTags"));  // nothing calls it
}

TEST(IamPolicyDocument, CheckAdviceIsTheStatementsOfTheMissingActions) {
  const auto advice = Json::parse(iam_policy_json({"ec2:DeleteVolume"}));
  ASSERT_EQ(advice["Statement"].size(), 1U) << advice.dump(2);
  EXPECT_EQ(advice["Statement"][0]["Sid"], "EbsnapAttachDetachAndDeleteOwnVolumes");
  EXPECT_EQ(advice["Statement"][0]["Action"], "ec2:DeleteVolume");
  EXPECT_EQ(advice["Statement"][0]["Condition"]["Null"]["aws:ResourceTag/ebsnap:group"], "false");
  // CreateTags as check probes it: after creation.
  EXPECT_EQ(Json::parse(iam_policy_json({"CreateTags"})), document({P::RetagSnapshot}));
}

// The command line: nothing runs, nothing is asked of EC2 or IMDS.
class NothingRuns final : public Commands {
 public:
  ec2::Result<std::optional<std::string>> instance_userdata() override { return called("IMDS userdata"); }
  RunReport mount(const CommandContext&, const GroupRefs&, const MountOptions&) override { return ran("mount"); }
  RunReport snapshot(const CommandContext&, const GroupRefs&) override { return ran("snapshot"); }
  RunReport unmount(const CommandContext&, const GroupRefs&, const UnmountOptions&) override { return ran("unmount"); }
  RunReport list(const CommandContext&, const GroupRefs&) override { return ran("list"); }
  RunReport check(const CommandContext&) override { return ran("check"); }
  RunReport prune(const CommandContext&, const GroupRefs&) override { return ran("prune"); }
  RunReport check_backups(const CommandContext&, const GroupRefs&, const CheckBackupsOptions&) override {
    return ran("check-backups");
  }
  RunReport gc(const CommandContext&, const GroupRefs&, const GcOptions&) override { return ran("gc"); }
  RunReport history(const CommandContext&, const GroupRefs&) override { return ran("history"); }
  RunReport prewarm(const CommandContext&, const GroupRefs&, const PrewarmRequest&) override { return ran("prewarm"); }
  RunReport shutdown(const CommandContext&, const GroupRefs&, const ShutdownRequest&) override { return ran("shutdown"); }
  RunReport watch(const CommandContext&, const GroupRefs&, const WatchRequest&) override { return ran("watch"); }
  RunReport thaw(const ThawRequest&) override { return ran("thaw"); }
  RunReport freeze(const CommandContext&, const GroupRefs&, const FreezeHoldOptions&) override { return ran("freeze"); }
  RunReport thaw_group(const CommandContext&, const GroupRefs&) override { return ran("thaw GROUP"); }
  RunReport copy(const CommandContext&, const GroupRefs&, const CopyOptions&) override { return ran("copy"); }

 private:
  static ec2::Result<std::optional<std::string>> called(const char* what) {
    ADD_FAILURE() << what << " asked";
    return std::optional<std::string>{};
  }
  static RunReport ran(const char* what) {
    ADD_FAILURE() << what << " ran";
    return RunReport{};
  }
};

class IamPolicyCli : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = (dir_.path() / "ebsnap.json").string();
    std::ofstream(config_) << R"({"groups":{"solr":{"volumes":[
        {"device":"/dev/sdf","mount_point":"/mnt/solr","size_gib":10,"delete_on_termination":true}]}}})";
  }
  int run(std::vector<std::string> words, CliEnvironment env = {}) {
    std::vector<const char*> args{"ebsnap"};
    for (const auto& w : words) args.push_back(w.c_str());
    out_.str("");
    err_.str("");
    return run_cli(args, nothing_, out_, err_, env);
  }
  testsupport::TempDir dir_;
  std::string config_;
  NothingRuns nothing_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(IamPolicyCli, PrintsThePolicyForTheConfigWithoutImdsOrEc2) {
  ASSERT_EQ(run({"--config", config_, "iam-policy"}), 0) << err_.str();
  Config c;
  GroupConfig g{.name = "solr"};
  g.volumes.push_back({.device = "/dev/sdf", .mount_point = "/mnt/solr", .size_gib = 10, .delete_on_termination = true});
  c.groups.push_back(g);
  EXPECT_EQ(out_.str(), iam_policy_text(plan(&c, {})));
  EXPECT_TRUE(Json::parse(out_.str())["Statement"].is_array());
  // --json: the same document; --dry-run: nothing to change.
  const std::string text = out_.str();
  ASSERT_EQ(run({"--config", config_, "--json", "--dry-run", "iam-policy"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), text);
  // The config from $EBSNAP_CONFIG too.
  ASSERT_EQ(run({"iam-policy"}, CliEnvironment{.config_env = config_.c_str()}), 0) << err_.str();
  EXPECT_EQ(out_.str(), text);
}

TEST_F(IamPolicyCli, ForNarrowsAndTakesSeveralCommands) {
  ASSERT_EQ(run({"--config", config_, "iam-policy", "--for", "history", "check-backups"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), iam_policy_text({P::DescribeSnapshots}));
  ASSERT_EQ(run({"--config", config_, "iam-policy", "--for", "history,gc"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), iam_policy_text({P::DescribeSnapshots, P::DescribeVolumes, P::DeleteVolume}));
  ASSERT_EQ(run({"iam-policy", "--for", "gc", "--for", "history", "--config", config_}), 0) << err_.str();
  EXPECT_EQ(out_.str(), iam_policy_text({P::DescribeSnapshots, P::DescribeVolumes, P::DeleteVolume}));
}

TEST_F(IamPolicyCli, ForAllReadsNoConfig) {
  ASSERT_EQ(run({"--config", "/nonexistent/ebsnap.json", "iam-policy", "--for", "all"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), slurp(std::string(EBSNAP_SOURCE_DIR) + "/etc/iam-policy.json"));
}

TEST_F(IamPolicyCli, ANamedConfigThatDoesNotLoadIsOneUsageLine) {
  EXPECT_EQ(run({"--config", (dir_.path() / "missing.json").string(), "iam-policy"}), 2);
  EXPECT_TRUE(out_.str().empty());
  EXPECT_EQ(std::ranges::count(err_.str(), '\n'), 1) << err_.str();
  EXPECT_TRUE(err_.str().starts_with("ebsnap: ")) << err_.str();
}

TEST_F(IamPolicyCli, ABadForIsOneUsageLine) {
  EXPECT_EQ(run({"--config", config_, "iam-policy", "--for", "mount", "snapshots"}), 2);
  EXPECT_TRUE(out_.str().empty());
  EXPECT_EQ(err_.str().find("ebsnap: iam-policy: --for: unknown command 'snapshots'; did you mean snapshot?"), 0U)
      << err_.str();
  EXPECT_EQ(std::ranges::count(err_.str(), '\n'), 1) << err_.str();
  EXPECT_EQ(run({"--config", config_, "iam-policy", "--for"}), 2);
  EXPECT_TRUE(out_.str().empty());
}

TEST_F(IamPolicyCli, UserdataIsAppliedWhenGiven) {
  // The userdata overlay turns delete_on_termination off: no ModifyInstanceAttribute.
  ASSERT_EQ(run({"--config", config_, "--userdata",
                 R"({"role":"r","cluster":"c","environment":"e","ebsnap":{"groups":{"solr":{"volumes":[
                     {"device":"/dev/sdf","mount_point":"/mnt/solr","size_gib":10}]}}}})",
                 "iam-policy", "--for", "mount"}),
            0)
      << err_.str();
  EXPECT_FALSE(actions_of(Json::parse(out_.str())).contains("ec2:ModifyInstanceAttribute")) << out_.str();
  ASSERT_EQ(run({"--config", config_, "iam-policy", "--for", "mount"}), 0) << err_.str();
  EXPECT_TRUE(actions_of(Json::parse(out_.str())).contains("ec2:ModifyInstanceAttribute")) << out_.str();
}

}  // namespace
}  // namespace agent
