#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "agent/config/config.h"
#include "agent/config/userdata.h"
#include "tests/support/temp_dir.h"

namespace agent {
namespace {

using Json = nlohmann::ordered_json;

Config config_with_filter_tags(std::vector<std::string> tags) {
  Config c;
  c.filter_tags = std::move(tags);
  return c;
}

TEST(Userdata, TopLevelStringsFeedFilterValuesInConfigOrder) {
  auto userdata = parse_userdata(R"({"environment":"prod","role":"solr","cluster":"eu1","count":3})", "userdata");
  ASSERT_TRUE(userdata.has_value());
  auto values = resolve_filter_values(Config{}, *userdata);
  ASSERT_TRUE(values.has_value()) << values.error().describe();
  EXPECT_EQ(*values, (FilterValues{{"role", "solr"}, {"cluster", "eu1"}, {"environment", "prod"}}));
}

TEST(Userdata, CloudInitScriptIsFineUntilFilterValuesAreNeeded) {
  const std::string script = "#!/bin/bash\nexport DB_PASSWORD=hunter2\n";
  auto userdata = parse_userdata(script, "userdata");
  ASSERT_TRUE(userdata.has_value());
  EXPECT_TRUE(userdata->problem.has_value());
  // No filter tags: nothing needs it.
  EXPECT_TRUE(resolve_filter_values(config_with_filter_tags({}), *userdata).has_value());
  auto values = resolve_filter_values(Config{}, *userdata);
  ASSERT_FALSE(values.has_value());
  const auto line = values.error().describe();
  EXPECT_NE(line.find("not JSON"), std::string::npos) << line;
  EXPECT_NE(line.find("line 1, column 1"), std::string::npos) << line;
  EXPECT_NE(line.find("role, cluster, environment"), std::string::npos) << line;
  EXPECT_EQ(line.find("hunter2"), std::string::npos) << line;
  EXPECT_EQ(line.find("#!/bin/bash"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(Userdata, FilterTagThatUserdataLacks) {
  auto userdata = parse_userdata(R"({"role":"solr","cluster":"eu1"})", "--userdata");
  ASSERT_TRUE(userdata.has_value());
  auto values = resolve_filter_values(Config{}, *userdata);
  ASSERT_FALSE(values.has_value());
  EXPECT_EQ(values.error().file, "--userdata");
  EXPECT_EQ(values.error().json_path, "$.environment");
  EXPECT_NE(values.error().message.find("missing"), std::string::npos);
}

TEST(Userdata, FilterTagWithANonStringOrEmptyValue) {
  auto userdata = parse_userdata(R"({"role":"solr","cluster":7,"environment":"prod"})", "userdata");
  ASSERT_TRUE(userdata.has_value());
  auto values = resolve_filter_values(Config{}, *userdata);
  ASSERT_FALSE(values.has_value());
  EXPECT_EQ(values.error().json_path, "$.cluster");
  EXPECT_NE(values.error().message.find("expected a string"), std::string::npos);
  userdata = parse_userdata(R"({"role":"","cluster":"c","environment":"prod"})", "userdata");
  values = resolve_filter_values(Config{}, *userdata);
  ASSERT_FALSE(values.has_value());
  EXPECT_EQ(values.error().json_path, "$.role");
}

TEST(Userdata, AbsentUserdataWhenFilterValuesAreNeeded) {
  auto userdata = parse_userdata(std::nullopt, "userdata");
  ASSERT_TRUE(userdata.has_value());
  EXPECT_FALSE(userdata->present);
  auto values = resolve_filter_values(Config{}, *userdata);
  ASSERT_FALSE(values.has_value());
  EXPECT_NE(values.error().message.find("no userdata"), std::string::npos);
}

TEST(Userdata, JsonThatIsNotAnObject) {
  auto userdata = parse_userdata("[1,2]", "userdata");
  ASSERT_TRUE(userdata.has_value());
  ASSERT_TRUE(userdata->problem.has_value());
  EXPECT_NE(userdata->problem->find("not a JSON object"), std::string::npos);
}

TEST(Userdata, EbsnapMemberMustBeAnObject) {
  auto userdata = parse_userdata(R"({"role":"x","ebsnap":"yes"})", "userdata");
  ASSERT_FALSE(userdata.has_value());
  EXPECT_EQ(userdata.error().json_path, "$.ebsnap");
}

TEST(UserdataOption, InlineJsonAndAtFile) {
  auto inline_text = read_userdata_option(R"({"role":"r"})");
  ASSERT_TRUE(inline_text.has_value());
  EXPECT_EQ(inline_text->origin, "--userdata");
  EXPECT_EQ(inline_text->text, R"({"role":"r"})");

  testsupport::TempDir dir;
  const auto path = dir.path() / "userdata.json";
  std::ofstream(path) << R"({"role":"from-file"})";
  auto from_file = read_userdata_option("@" + path.string());
  ASSERT_TRUE(from_file.has_value());
  EXPECT_EQ(from_file->origin, "@" + path.string());
  EXPECT_EQ(from_file->text, R"({"role":"from-file"})");
}

TEST(UserdataOption, MissingFile) {
  auto result = read_userdata_option("@/nonexistent/ebsnap-userdata.json");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().file, "--userdata");
  EXPECT_NE(result.error().message.find("/nonexistent/ebsnap-userdata.json"), std::string::npos);
  EXPECT_NE(result.error().message.find("No such file"), std::string::npos) << result.error().message;
  EXPECT_FALSE(read_userdata_option("@").has_value());
}

class Overlay : public ::testing::Test {
 protected:
  Config base(bool allow_userdata_hooks = false) {
    const auto path = dir_.path() / "ebsnap.json";
    std::ofstream(path) << (allow_userdata_hooks ? R"({"allow_userdata_hooks":true,)" : "{") << R"("region":"eu-west-1","freeze_timeout_s":10,"groups":{
        "solr":{"volumes":[{"device":"/dev/sdf","mount_point":"/mnt/solr","size_gib":10}]},
        "pg":{"volumes":[{"device":"/dev/sdg","mount_point":"/mnt/pg","size_gib":10}]}}})";
    auto config = load_config_file(path);
    EXPECT_TRUE(config.has_value()) << config.error().describe();
    return *config;
  }
  std::expected<Config, ConfigError> with(const std::string& userdata_text, bool allow_userdata_hooks = false) {
    auto userdata = parse_userdata(userdata_text, "--userdata");
    if (!userdata) return std::unexpected(userdata.error());
    return apply_userdata(base(allow_userdata_hooks), *userdata);
  }
  testsupport::TempDir dir_;
};

TEST_F(Overlay, ScalarsOverrideAndGroupsReplaceOrAppend) {
  auto config = with(R"({"role":"r","ebsnap":{"freeze_timeout_s":30,"groups":{
      "pg":{"volumes":[{"device":"/dev/sdh","mount_point":"/mnt/pg2","size_gib":5}]},
      "kafka":{"volumes":[{"device":"/dev/sdi","mount_point":"/mnt/kafka","size_gib":5}]}}}})");
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  EXPECT_EQ(config->freeze_timeout, std::chrono::seconds(30));
  EXPECT_EQ(config->region, "eu-west-1");
  ASSERT_EQ(config->groups.size(), 3u);
  EXPECT_EQ(config->groups[0].name, "solr");
  EXPECT_EQ(config->groups[1].name, "pg");
  EXPECT_EQ(config->groups[1].volumes.at(0).mount_point, "/mnt/pg2");
  EXPECT_EQ(config->groups[1].source_file, "--userdata");
  EXPECT_EQ(config->groups[2].name, "kafka");
}

TEST_F(Overlay, ErrorsInTheOverlayNameUserdataAndTheEbsnapPath) {
  auto config = with(R"({"ebsnap":{"groups":{"x":{"volumes":[{"device":"/dev/sdj","mount_pont":"/m","size_gib":1}]}}}})");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().file, "--userdata");
  EXPECT_EQ(config.error().json_path, "$.ebsnap.groups.x.volumes[0].mount_pont");
  EXPECT_NE(config.error().message.find("did you mean mount_point?"), std::string::npos);
}

TEST_F(Overlay, DuplicateAcrossFileAndUserdataNamesBoth) {
  auto config = with(R"({"ebsnap":{"groups":{"x":{"volumes":[{"device":"/dev/xvdf","mount_point":"/mnt/x","size_gib":1}]}}}})");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().file, "--userdata");
  EXPECT_EQ(config.error().json_path, "$.ebsnap.groups.x.volumes[0].device");
  EXPECT_NE(config.error().message.find("$.groups.solr.volumes[0]"), std::string::npos) << config.error().describe();
}

TEST_F(Overlay, CredentialsAreRefusedInUserdata) {
  auto config = with(R"({"ebsnap":{"credentials":{"access_key_id":"A","secret_access_key":"S"}}})");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().json_path, "$.ebsnap.credentials");
}

// Issue 11: anyone allowed to change the instance's userdata (ModifyInstanceAttribute) would
// choose what ebsnap runs as root. Hooks in the overlay need the config file's consent.
TEST_F(Overlay, HooksInUserdataNeedTheConfigFilesConsent) {
  const std::string with_hooks =
      R"({"ebsnap":{"groups":{"pg":{"volumes":[{"device":"/dev/sdg","mount_point":"/mnt/pg","size_gib":10}],)"
      R"("hooks":{"pre_snapshot":"/bin/true"}}}}})";
  auto refused = with(with_hooks);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().json_path, "$.ebsnap.groups.pg.hooks");
  EXPECT_NE(refused.error().message.find("allow_userdata_hooks"), std::string::npos) << refused.error().describe();
  auto allowed = with(with_hooks, /*allow_userdata_hooks=*/true);
  ASSERT_TRUE(allowed.has_value()) << allowed.error().describe();
  EXPECT_EQ(allowed->groups[1].hooks.of(HookPhase::PreSnapshot).size(), 1u);
  // The overlay cannot give itself the consent.
  auto self_granted = with(R"({"ebsnap":{"allow_userdata_hooks":true}})");
  ASSERT_FALSE(self_granted.has_value());
  EXPECT_EQ(self_granted.error().json_path, "$.ebsnap.allow_userdata_hooks");
}

// Issue 15: on_success is a hook like the others: the overlay needs the same consent for it.
TEST_F(Overlay, OnSuccessInUserdataNeedsTheConfigFilesConsentToo) {
  const std::string with_hook =
      R"({"ebsnap":{"groups":{"pg":{"volumes":[{"device":"/dev/sdg","mount_point":"/mnt/pg","size_gib":10}],)"
      R"("hooks":{"on_success":[["/bin/true","--notify"]]}}}}})";
  auto refused = with(with_hook);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().json_path, "$.ebsnap.groups.pg.hooks");
  auto allowed = with(with_hook, /*allow_userdata_hooks=*/true);
  ASSERT_TRUE(allowed.has_value()) << allowed.error().describe();
  EXPECT_EQ(allowed->groups[1].hooks.of(HookPhase::OnSuccess), (std::vector<HookCommand>{{"/bin/true", "--notify"}}));
}

// The launch template knows how many instances its Auto Scaling group starts at once.
TEST_F(Overlay, FleetSizeAndWindowComeFromTheConfigFileOrTheUserdata) {
  EXPECT_EQ(base().fleet_size, 1);
  auto config = with(R"({"role":"r","ebsnap":{"fleet_size":500}})");
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  EXPECT_EQ(config->fleet_size, 500);
  auto refused = with(R"({"ebsnap":{"fleet_size":0}})");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().json_path, "$.ebsnap.fleet_size");
  EXPECT_NE(refused.error().message.find("1..100000"), std::string::npos) << refused.error().message;
  // The window over which the group starts comes with it (a rolling deploy's launch template).
  EXPECT_EQ(base().fleet_window, std::chrono::seconds{0});
  config = with(R"({"role":"r","ebsnap":{"fleet_size":500,"fleet_window_s":300}})");
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  EXPECT_EQ(config->fleet_window, std::chrono::seconds{300});
}

// Retention deletes snapshots: whoever may change the userdata would otherwise choose a policy
// that keeps only the newest run. A group's retention in the overlay needs the config file's
// consent, which the overlay cannot give itself.
// prune's pace is the account's business, not the userdata's.
TEST_F(Overlay, DeleteRateAndCompatAreAcceptedInTheConfigFileOnly) {
  auto refused = with(R"({"ebsnap":{"delete_rate_per_s":5}})");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().json_path, "$.ebsnap.delete_rate_per_s");
  EXPECT_NE(refused.error().message.find("accepted in the config file only"), std::string::npos);
  // Which snapshots prune may delete is not the userdata's to widen either.
  refused = with(R"({"ebsnap":{"compat":{"snaptastic":true}}})");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().json_path, "$.ebsnap.compat");
  // Nor which snapshots form a restore point.
  refused = with(R"({"ebsnap":{"untagged_run_window_s":3600}})");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().json_path, "$.ebsnap.untagged_run_window_s");
  // Nor where files are written as root.
  refused = with(R"({"ebsnap":{"metrics_dir":"/etc"}})");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().json_path, "$.ebsnap.metrics_dir");
}

TEST_F(Overlay, RetentionInUserdataNeedsTheConfigFilesConsent) {
  const std::string with_retention =
      R"({"ebsnap":{"groups":{"pg":{"volumes":[{"device":"/dev/sdg","mount_point":"/mnt/pg","size_gib":10}],)"
      R"("retention":{"keep_last":1}}}}})";
  auto refused = with(with_retention);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().json_path, "$.ebsnap.groups.pg.retention");
  EXPECT_NE(refused.error().message.find("allow_userdata_retention"), std::string::npos) << refused.error().describe();

  auto self_granted = with(R"({"ebsnap":{"allow_userdata_retention":true}})");
  ASSERT_FALSE(self_granted.has_value());
  EXPECT_EQ(self_granted.error().json_path, "$.ebsnap.allow_userdata_retention");

  const auto path = dir_.path() / "consent.json";
  std::ofstream(path) << R"({"allow_userdata_retention":true,"region":"eu-west-1","groups":{}})";
  auto base = load_config_file(path);
  ASSERT_TRUE(base.has_value()) << base.error().describe();
  auto userdata = parse_userdata(with_retention, "userdata");
  ASSERT_TRUE(userdata.has_value());
  auto allowed = apply_userdata(*base, *userdata);
  ASSERT_TRUE(allowed.has_value()) << allowed.error().describe();
  ASSERT_EQ(allowed->groups.size(), 1u);
  ASSERT_TRUE(allowed->groups[0].retention.has_value());
  EXPECT_EQ(allowed->groups[0].retention->keep_last, 1);
}

TEST_F(Overlay, NonJsonUserdataLeavesTheConfigAlone) {
  auto config = with("#!/bin/sh\necho hi\n");
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->groups.size(), 2u);
}

}  // namespace
}  // namespace agent
