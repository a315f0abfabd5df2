// The command line in-process, with a recording fake of the Commands seam.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "agent/cli/cli.h"
#include "agent/version.h"
#include "tests/support/temp_dir.h"

namespace agent {
namespace {

using Json = nlohmann::ordered_json;

class FakeCommands final : public Commands {
 public:
  ec2::Result<std::optional<std::string>> instance_userdata() override {
    ++userdata_calls;
    return instance_userdata_result;
  }
  RunReport mount(const CommandContext& c, const GroupRefs& g, const MountOptions& o) override {
    mount_options = o;
    return record("mount", c, g);
  }
  RunReport history(const CommandContext& c, const GroupRefs& g) override { return record("history", c, g); }
  RunReport snapshot(const CommandContext& c, const GroupRefs& g) override { return record("snapshot", c, g); }
  RunReport unmount(const CommandContext& c, const GroupRefs& g, const UnmountOptions& o) override {
    unmount_options = o;
    return record("unmount", c, g);
  }
  RunReport list(const CommandContext& c, const GroupRefs& g) override { return record("list", c, g); }
  RunReport check(const CommandContext& c) override { return record("check", c, {}); }
  RunReport prune(const CommandContext& c, const GroupRefs& g) override { return record("prune", c, g); }
  RunReport check_backups(const CommandContext& c, const GroupRefs& g, const CheckBackupsOptions& o) override {
    check_backups_options = o;
    return record("check-backups", c, g);
  }
  RunReport gc(const CommandContext& c, const GroupRefs& g, const GcOptions& o) override {
    gc_options = o;
    return record("gc", c, g);
  }
  RunReport prewarm(const CommandContext& c, const GroupRefs& g, const PrewarmRequest& r) override {
    prewarm_request = r;
    return record("prewarm", c, g);
  }
  RunReport shutdown(const CommandContext& c, const GroupRefs& g, const ShutdownRequest& r) override {
    shutdown_request = r;
    return record("shutdown", c, g);
  }
  RunReport watch(const CommandContext& c, const GroupRefs& g, const WatchRequest& r) override {
    watch_request = r;
    // What the real watch does with a notice's report: prints it as it happens.
    RunReport notice{.command = "watch", .trigger = "spot"};
    notice.notice = NoticeReport{.kind = "spot", .action = "terminate", .time = "2026-12-06T08:22:00Z"};
    r.print(notice);
    return record("watch", c, g);
  }
  RunReport thaw(const ThawRequest& r) override {
    called = "thaw";
    thaw_request = r;
    return RunReport{.command = "thaw"};
  }
  RunReport freeze(const CommandContext& c, const GroupRefs& g, const FreezeHoldOptions& o) override {
    freeze_options = o;
    return record("freeze", c, g);
  }
  RunReport thaw_group(const CommandContext& c, const GroupRefs& g) override { return record("thaw-group", c, g); }
  RunReport copy(const CommandContext& c, const GroupRefs& g, const CopyOptions& o) override {
    copy_options = o;
    return record("copy", c, g);
  }
  CopyOptions copy_options;

  ec2::Result<std::optional<std::string>> instance_userdata_result = std::optional<std::string>{};
  int userdata_calls = 0;
  std::string called;
  std::vector<std::string> groups;
  std::optional<FilterValues> filter_values;
  std::optional<std::string> region;
  bool dry_run = false;
  UnmountOptions unmount_options;
  MountOptions mount_options;
  std::optional<CheckBackupsOptions> check_backups_options;
  GcOptions gc_options;
  ThawRequest thaw_request;
  std::optional<FreezeHoldOptions> freeze_options;
  std::optional<PrewarmRequest> prewarm_request;
  std::optional<ShutdownRequest> shutdown_request;
  std::optional<WatchRequest> watch_request;
  RunReport next_report;

 private:
  RunReport record(const std::string& name, const CommandContext& c, const GroupRefs& g) {
    called = name;
    groups.clear();
    for (const auto* group : g) groups.push_back(group->name);
    if (c.filter_values) filter_values = *c.filter_values;
    region = c.region;
    dry_run = c.dry_run;
    auto report = next_report;
    report.command = name;
    return report;
  }
};

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    config_path_ = (dir_.path() / "ebsnap.json").string();
    std::ofstream(config_path_) << R"({"region":"eu-west-1","groups":{
        "solr":{"volumes":[{"device":"/dev/sdf","mount_point":"/mnt/solr","size_gib":10}]},
        "pg":{"volumes":[{"device":"/dev/sdg","mount_point":"/mnt/pg","size_gib":10}],
              "retention":{"keep_last":3}}}})";
  }

  int run(std::vector<std::string> words, CliEnvironment env = {}) {
    std::vector<const char*> args{"ebsnap"};
    for (const auto& w : words) args.push_back(w.c_str());
    out_.str("");
    err_.str("");
    return run_cli(args, fake_, out_, err_, env);
  }
  std::vector<std::string> with_config(std::vector<std::string> words) {
    words.insert(words.begin(), {"--config", config_path_, "--userdata", k_userdata});
    return words;
  }

  static constexpr const char* k_userdata = R"({"role":"search","cluster":"eu1","environment":"prod"})";
  testsupport::TempDir dir_;
  std::string config_path_;
  FakeCommands fake_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(Cli, AliasesReachTheSameCommands) {
  const std::pair<const char*, const char*> cases[] = {
      {"mount", "mount"}, {"mount-snapshots", "mount"}, {"snapshot", "snapshot"}, {"make-snapshots", "snapshot"},
      {"unmount", "unmount"}, {"unmount-snapshots", "unmount"}, {"list", "list"}, {"list-volumes", "list"}};
  for (const auto& [word, command] : cases) {
    fake_.called.clear();
    EXPECT_EQ(run(with_config({word, "solr"})), 0) << word << err_.str();
    EXPECT_EQ(fake_.called, command) << word;
  }
  EXPECT_EQ(run(with_config({"test"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "check");
}

TEST_F(Cli, GroupsInCommandLineOrderWithoutDuplicates) {
  ASSERT_EQ(run(with_config({"snapshot", "pg", "solr", "pg"})), 0) << err_.str();
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"pg", "solr"}));
}

TEST_F(Cli, ListWithoutGroupsListsAllInConfigOrder) {
  ASSERT_EQ(run(with_config({"list"})), 0) << err_.str();
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"solr", "pg"}));
}

TEST_F(Cli, FilterValuesRegionAndDryRunReachTheCommand) {
  ASSERT_EQ(run(with_config({"--region", "us-east-2", "--dry-run", "mount", "solr"})), 0) << err_.str();
  ASSERT_TRUE(fake_.filter_values.has_value());
  EXPECT_EQ(*fake_.filter_values, (FilterValues{{"role", "search"}, {"cluster", "eu1"}, {"environment", "prod"}}));
  EXPECT_EQ(fake_.region, "us-east-2");
  EXPECT_TRUE(fake_.dry_run);
  EXPECT_EQ(fake_.userdata_calls, 0);
}

TEST_F(Cli, GlobalOptionsMayFollowTheCommand) {
  ASSERT_EQ(run(with_config({"mount", "solr", "--json"})), 0) << err_.str();
  EXPECT_TRUE(Json::parse(out_.str()).is_object());
}

TEST_F(Cli, UnmountOptions) {
  ASSERT_EQ(run(with_config({"unmount", "solr", "--delete-volumes", "--yes"})), 0) << err_.str();
  EXPECT_TRUE(fake_.unmount_options.delete_volumes);
  EXPECT_TRUE(fake_.unmount_options.assume_yes);
}

TEST_F(Cli, PruneTakesGroupsWithARetentionPolicyOnly) {
  ASSERT_EQ(run(with_config({"prune", "pg", "--dry-run"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "prune");
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"pg"}));
  EXPECT_TRUE(fake_.dry_run);
  ASSERT_TRUE(fake_.filter_values.has_value());

  fake_.called.clear();
  EXPECT_EQ(run(with_config({"prune", "pg", "solr"})), 2);
  EXPECT_EQ(err_.str(), "ebsnap: " + config_path_ +
                            ": prune: group \"solr\" has no \"retention\" policy; nothing would be kept or deleted\n");
  EXPECT_TRUE(fake_.called.empty());
  EXPECT_EQ(run(with_config({"prune"})), 2);
  EXPECT_NE(err_.str().find("prune: expected at least one GROUP"), std::string::npos) << err_.str();
  // Like snapshot, it cannot know its lineage without the userdata's filter values.
  EXPECT_EQ(run({"--config", config_path_, "--userdata", "#!/bin/sh", "prune", "pg"}), 2);
  EXPECT_TRUE(fake_.called.empty());
}

TEST_F(Cli, CopyTakesGroupsWithCopyToOrAToRegion) {
  std::ofstream(config_path_) << R"({"region":"eu-west-1","groups":{
        "solr":{"volumes":[{"device":"/dev/sdf","mount_point":"/mnt/solr","size_gib":10}]},
        "pg":{"volumes":[{"device":"/dev/sdg","mount_point":"/mnt/pg","size_gib":10}],
              "copy_to":[{"region":"us-west-2"}]}}})";
  ASSERT_EQ(run(with_config({"copy", "pg"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "copy");
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"pg"}));
  EXPECT_FALSE(fake_.copy_options.to_region);

  fake_.called.clear();
  EXPECT_EQ(run(with_config({"copy", "solr"})), 2);
  EXPECT_EQ(err_.str(), "ebsnap: " + config_path_ +
                            ": copy: group \"solr\" has no \"copy_to\"; nowhere to copy to (or name a region with "
                            "--to-region)\n");
  EXPECT_TRUE(fake_.called.empty());
  ASSERT_EQ(run(with_config({"copy", "solr", "--to-region", "us-east-2"})), 0) << err_.str();
  EXPECT_EQ(fake_.copy_options.to_region, "us-east-2");
  fake_.called.clear();
  EXPECT_EQ(run(with_config({"copy", "pg", "--to-region", "mars-1"})), 2);
  EXPECT_NE(err_.str().find("--to-region: expected a region"), std::string::npos) << err_.str();
  EXPECT_TRUE(fake_.called.empty());
}

TEST_F(Cli, PruneInACopyToRegionNeedsThatCopyTosRetention) {
  std::ofstream(config_path_) << R"({"region":"eu-west-1","groups":{
        "pg":{"volumes":[{"device":"/dev/sdg","mount_point":"/mnt/pg","size_gib":10}],
              "retention":{"keep_last":3},
              "copy_to":[{"region":"us-west-2"}, {"region":"us-east-2", "retention":{"daily":7}}]}}})";
  ASSERT_EQ(run(with_config({"prune", "pg", "--region", "us-east-2"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "prune");
  fake_.called.clear();
  EXPECT_EQ(run(with_config({"prune", "pg", "--region", "us-west-2"})), 2);
  EXPECT_EQ(err_.str(), "ebsnap: " + config_path_ +
                            ": prune: group \"pg\" has no \"retention\" in its copy_to entry for us-west-2; nothing "
                            "would be kept or deleted there\n");
  EXPECT_TRUE(fake_.called.empty());
}

TEST_F(Cli, GcWithoutGroupsRunsForAllWithTheDefaultBound) {
  ASSERT_EQ(run(with_config({"gc"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "gc");
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"solr", "pg"}));
  EXPECT_EQ(fake_.gc_options.older_than, std::chrono::hours(24));
  EXPECT_FALSE(fake_.gc_options.assume_yes);
  ASSERT_TRUE(fake_.filter_values.has_value());
  EXPECT_EQ(fake_.filter_values->size(), 3U);
}

TEST_F(Cli, GcOptions) {
  ASSERT_EQ(run(with_config({"gc", "pg", "--older-than", "1d12h", "--yes"})), 0) << err_.str();
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"pg"}));
  EXPECT_EQ(fake_.gc_options.older_than, std::chrono::hours(36));
  EXPECT_TRUE(fake_.gc_options.assume_yes);
  ASSERT_EQ(run(with_config({"gc", "--older-than", "0s"})), 0) << err_.str();
  EXPECT_EQ(fake_.gc_options.older_than, std::chrono::seconds(0));
}

TEST_F(Cli, GcBadDurationIsOneUsageLine) {
  fake_.called.clear();
  EXPECT_EQ(run(with_config({"gc", "--older-than", "3 days"})), 2);
  EXPECT_EQ(fake_.called, "");
  EXPECT_TRUE(out_.str().empty());
  const auto err = err_.str();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_TRUE(err.contains("--older-than")) << err;
}

TEST_F(Cli, GcNeedsTheFilterValues) {
  fake_.called.clear();
  EXPECT_EQ(run({"--config", config_path_, "--userdata", R"({"role":"search"})", "gc", "--yes"}), 2);
  EXPECT_EQ(fake_.called, "");
}

TEST_F(Cli, GcIsInTheHelp) {
  EXPECT_EQ(run({"--help"}), 0);
  EXPECT_TRUE(out_.str().contains("gc")) << out_.str();
  EXPECT_EQ(run({"gc", "--help"}), 0);
  EXPECT_TRUE(out_.str().contains("--older-than")) << out_.str();
  EXPECT_TRUE(out_.str().contains("never any other volume")) << out_.str();
}

TEST_F(Cli, PrewarmTakesGroupsAndWait) {
  ASSERT_EQ(run(with_config({"prewarm", "solr", "pg"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "prewarm");
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"solr", "pg"}));
  ASSERT_TRUE(fake_.prewarm_request);
  EXPECT_FALSE(fake_.prewarm_request->wait);
  ASSERT_TRUE(fake_.filter_values.has_value());

  ASSERT_EQ(run(with_config({"prewarm", "--wait", "solr", "--dry-run"})), 0) << err_.str();
  EXPECT_TRUE(fake_.prewarm_request->wait);
  EXPECT_TRUE(fake_.dry_run);

  fake_.called.clear();
  EXPECT_EQ(run(with_config({"prewarm"})), 2);
  EXPECT_NE(err_.str().find("prewarm: expected at least one GROUP"), std::string::npos) << err_.str();
  // It finds its volumes by their lineage: without the userdata's filter values it cannot.
  EXPECT_EQ(run({"--config", config_path_, "--userdata", "#!/bin/sh", "prewarm", "solr"}), 2);
  EXPECT_TRUE(fake_.called.empty());
  EXPECT_EQ(run({"--help"}), 0);
  EXPECT_TRUE(out_.str().contains("prewarm")) << out_.str();
  EXPECT_EQ(run({"prewarm", "--help"}), 0);
  EXPECT_TRUE(out_.str().contains("--wait")) << out_.str();
}

TEST_F(Cli, ShutdownTakesGroupsAndABound) {
  ASSERT_EQ(run(with_config({"shutdown", "solr"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "shutdown");
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"solr"}));
  ASSERT_TRUE(fake_.shutdown_request);
  EXPECT_EQ(fake_.shutdown_request->timeout, std::chrono::seconds{120});
  ASSERT_EQ(run(with_config({"shutdown", "solr", "pg", "--timeout", "90s"})), 0) << err_.str();
  EXPECT_EQ(fake_.shutdown_request->timeout, std::chrono::seconds{90});

  fake_.called.clear();
  EXPECT_EQ(run(with_config({"shutdown"})), 2);
  EXPECT_NE(err_.str().find("shutdown: expected at least one GROUP"), std::string::npos) << err_.str();
  for (const char* bad : {"0s", "2h", "soon"}) {
    EXPECT_EQ(run(with_config({"shutdown", "solr", "--timeout", bad})), 2) << bad;
    EXPECT_EQ(std::ranges::count(err_.str(), '\n'), 1) << err_.str();
    EXPECT_TRUE(err_.str().contains("--timeout")) << err_.str();
  }
  EXPECT_TRUE(fake_.called.empty());
  EXPECT_EQ(run({"shutdown", "--help"}), 0);
  EXPECT_TRUE(out_.str().contains("--timeout")) << out_.str();
}

TEST_F(Cli, WatchDefaultsToEveryGroupAndPrintsEachNotice) {
  ASSERT_EQ(run(with_config({"watch"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "watch");
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"solr", "pg"}));
  ASSERT_TRUE(fake_.watch_request);
  EXPECT_EQ(fake_.watch_request->interval, std::chrono::seconds{5});
  EXPECT_TRUE(out_.str().contains("notice: spot terminate at 2026-12-06T08:22:00Z")) << out_.str();

  ASSERT_EQ(run(with_config({"--json", "watch", "pg", "--interval", "2s"})), 0) << err_.str();
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"pg"}));
  EXPECT_EQ(fake_.watch_request->interval, std::chrono::seconds{2});
  // One JSON document per notice, then the run's.
  const auto first = nlohmann::json::parse(out_.str().substr(0, out_.str().find("\n}\n") + 3));
  EXPECT_EQ(first["notice"]["kind"], "spot");
  EXPECT_EQ(first["trigger"], "spot");

  // Metrics: --metrics-dir, else the config's metrics_dir; a relative directory is a usage error.
  ASSERT_EQ(run(with_config({"--metrics-dir", "/run/m", "watch"})), 0) << err_.str();
  EXPECT_EQ(fake_.watch_request->metrics_dir, std::filesystem::path("/run/m"));
  fake_.called.clear();
  EXPECT_EQ(run(with_config({"watch", "--metrics-dir", "m"})), 2);
  EXPECT_TRUE(err_.str().contains("--metrics-dir: expected an absolute directory")) << err_.str();
  EXPECT_TRUE(fake_.called.empty());

  fake_.called.clear();
  EXPECT_EQ(run(with_config({"watch", "--interval", "0s"})), 2);
  EXPECT_EQ(run(with_config({"watch", "--interval", "10m"})), 2);
  EXPECT_TRUE(err_.str().contains("--interval")) << err_.str();
  EXPECT_TRUE(fake_.called.empty());
}

TEST_F(Cli, ThawNeedsNoConfig) {
  ASSERT_EQ(run({"--config", "/nonexistent.json", "thaw", "--all"}), 0) << err_.str();
  EXPECT_EQ(fake_.called, "thaw");
  EXPECT_TRUE(fake_.thaw_request.all);
  ASSERT_EQ(run({"thaw", "/mnt/a", "/mnt/b"}), 0);
  EXPECT_EQ(fake_.thaw_request.mount_points, (std::vector<std::string>{"/mnt/a", "/mnt/b"}));
  EXPECT_EQ(run({"thaw"}), 2);
  EXPECT_EQ(run({"thaw", "/mnt/a", "--all"}), 2);
  EXPECT_EQ(run({"thaw", "relative"}), 2);
}

TEST_F(Cli, InstanceUserdataIsFetchedWithoutTheOption) {
  fake_.instance_userdata_result = std::optional<std::string>{k_userdata};
  ASSERT_EQ(run({"--config", config_path_, "mount", "solr"}), 0) << err_.str();
  EXPECT_EQ(fake_.userdata_calls, 1);
  ASSERT_TRUE(fake_.filter_values.has_value());
}

TEST_F(Cli, InstanceUserdataFailureIsAnOperationalError) {
  fake_.instance_userdata_result = ec2::fail(ec2::ErrorKind::Imds, "IMDS unreachable");
  EXPECT_EQ(run({"--config", config_path_, "mount", "solr"}), 1);
  EXPECT_EQ(err_.str(), "ebsnap: userdata from IMDS: imds: IMDS unreachable\n");
  EXPECT_TRUE(out_.str().empty());
  EXPECT_TRUE(fake_.called.empty());
}

TEST_F(Cli, ConfigFromEnvironmentVariable) {
  ASSERT_EQ(run({"--userdata", k_userdata, "list"}, CliEnvironment{.config_env = config_path_.c_str()}), 0) << err_.str();
  EXPECT_EQ(fake_.called, "list");
  EXPECT_EQ(config_path_for(Invocation{}, nullptr), "/etc/ebsnap/ebsnap.json");
  EXPECT_EQ(config_path_for(Invocation{.config_path = "/x"}, "/y"), "/x");
  EXPECT_EQ(config_path_for(Invocation{}, "/y"), "/y");
  EXPECT_EQ(config_path_for(Invocation{}, ""), "/etc/ebsnap/ebsnap.json");
}

TEST_F(Cli, FailedVolumeMeansExitOneAndTheReportSaysWhich) {
  fake_.next_report.groups.push_back(GroupReport{
      .name = "solr",
      .volumes = {VolumeReport{.mount_point = "/mnt/solr", .device = "/dev/sdf", .outcome = Outcome::Failed,
                               .reason = "device did not appear within 120 s"}}});
  EXPECT_EQ(run(with_config({"--json", "mount", "solr"})), 1);
  const auto doc = Json::parse(out_.str());
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["groups"][0]["volumes"][0]["outcome"], "failed");
  EXPECT_EQ(doc["groups"][0]["volumes"][0]["reason"], "device did not appear within 120 s");
}

TEST_F(Cli, MountAsOfAndRun) {
  ASSERT_EQ(run(with_config({"mount", "pg", "--as-of", "2026-12-03T15:30:00+01:00"})), 0) << err_.str();
  ASSERT_TRUE(fake_.mount_options.point.as_of);
  EXPECT_EQ(format_utc(*fake_.mount_options.point.as_of), "2026-12-03T14:30:00.000Z");
  EXPECT_FALSE(fake_.mount_options.point.run_id);
  const auto before = std::chrono::system_clock::now();
  ASSERT_EQ(run(with_config({"mount", "pg", "--as-of", "-6h"})), 0) << err_.str();
  const auto six_hours_ago = *fake_.mount_options.point.as_of;
  EXPECT_LE(six_hours_ago, std::chrono::system_clock::now() - std::chrono::hours(6));
  EXPECT_GE(six_hours_ago, before - std::chrono::hours(6));
  ASSERT_EQ(run(with_config({"mount-snapshots", "pg", "--run", "20261203T140000-0a1b2c3d"})), 0) << err_.str();
  EXPECT_EQ(fake_.mount_options.point.run_id, "20261203T140000-0a1b2c3d");
  EXPECT_FALSE(fake_.mount_options.point.as_of);
  ASSERT_EQ(run(with_config({"mount", "pg"})), 0) << err_.str();
  EXPECT_FALSE(fake_.mount_options.point.explicit_choice());
}

TEST_F(Cli, MountAsOfWithoutAZoneOrWithRunIsOneUsageLine) {
  for (const auto& words : {std::vector<std::string>{"mount", "pg", "--as-of", "2026-12-03T14:00:00"},
                            std::vector<std::string>{"mount", "pg", "--as-of", "yesterday"},
                            std::vector<std::string>{"mount", "pg", "--as-of", "-1d", "--run", "r1"}}) {
    fake_.called.clear();
    EXPECT_EQ(run(with_config(words)), 2) << words[3];
    EXPECT_EQ(fake_.called, "");
    EXPECT_TRUE(out_.str().empty());
    const auto err = err_.str();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
}

TEST_F(Cli, ARefusalIsExitTwoAndOneLine) {
  fake_.next_report.refused = true;
  fake_.next_report.error = "/mnt/pg of group pg is mounted";
  EXPECT_EQ(run(with_config({"mount", "pg", "--as-of", "-1d"})), 2);
  EXPECT_TRUE(out_.str().empty()) << out_.str();
  EXPECT_EQ(err_.str(), "ebsnap: mount: /mnt/pg of group pg is mounted\n");
  EXPECT_EQ(run(with_config({"--json", "mount", "pg", "--as-of", "-1d"})), 2);
  EXPECT_EQ(Json::parse(out_.str())["refused"], true);
}

TEST_F(Cli, HistoryAndItsAlias) {
  ASSERT_EQ(run(with_config({"history", "pg", "solr"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "history");
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"pg", "solr"}));
  ASSERT_EQ(run(with_config({"list-snapshots", "solr"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "history");
  fake_.called.clear();
  EXPECT_EQ(run(with_config({"history"})), 2);
  EXPECT_EQ(fake_.called, "");
  EXPECT_EQ(run({"--help"}), 0);
  EXPECT_TRUE(out_.str().contains("history")) << out_.str();
  EXPECT_EQ(run({"mount", "--help"}), 0);
  EXPECT_TRUE(out_.str().contains("--as-of")) << out_.str();
  EXPECT_TRUE(out_.str().contains("--run")) << out_.str();
}

TEST_F(Cli, UnmountAndCheckDoNotNeedFilterValues) {
  ASSERT_EQ(run({"--config", config_path_, "--userdata", "#!/bin/sh", "unmount", "solr"}), 0) << err_.str();
  EXPECT_EQ(fake_.called, "unmount");
  ASSERT_EQ(run({"--config", config_path_, "--userdata", "#!/bin/sh", "check"}), 0) << err_.str();
  EXPECT_EQ(fake_.called, "check");
}

TEST_F(Cli, VerboseAndQuietExcludeEachOther) {
  EXPECT_EQ(run(with_config({"-v", "-q", "list"})), 2);
  auto inv = parse_command_line(std::vector<const char*>{"ebsnap", "-vv", "list"});
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->verbosity, 2);
  inv = parse_command_line(std::vector<const char*>{"ebsnap", "-q", "list"});
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->verbosity, -1);
}

TEST_F(Cli, BadRegionIsAUsageError) {
  EXPECT_EQ(run(with_config({"--region", "mars", "list"})), 2);
  EXPECT_NE(err_.str().find("--region"), std::string::npos);
  EXPECT_TRUE(fake_.called.empty());
}

TEST_F(Cli, UnknownGroupSuggests) {
  EXPECT_EQ(run(with_config({"mount", "solar"})), 2);
  EXPECT_NE(err_.str().find("unknown group \"solar\"; did you mean solr?"), std::string::npos) << err_.str();
  EXPECT_TRUE(fake_.called.empty());
}

TEST_F(Cli, UnknownCommandSuggests) {
  EXPECT_EQ(run({"snapshto", "solr"}), 2);
  EXPECT_NE(err_.str().find("unknown command 'snapshto'; did you mean snapshot?"), std::string::npos) << err_.str();
}

TEST_F(Cli, CheckBackupsTakesGroupsAndMaxAge) {
  ASSERT_EQ(run(with_config({"check-backups", "--max-age", "26h", "solr"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "check-backups");
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"solr"}));
  ASSERT_TRUE(fake_.check_backups_options.has_value());
  EXPECT_EQ(fake_.check_backups_options->max_age, std::chrono::hours(26));
  EXPECT_EQ(fake_.check_backups_options->max_age_text, "26h");
  ASSERT_TRUE(fake_.filter_values.has_value());
  ASSERT_EQ(run(with_config({"check-backups", "--max-age", "1d12h"})), 0) << err_.str();
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"solr", "pg"}));  // all, in config order
  EXPECT_EQ(fake_.check_backups_options->max_age, std::chrono::hours(36));
}

TEST_F(Cli, CheckBackupsWithoutMaxAgeIsAUsageError) {
  EXPECT_EQ(run(with_config({"check-backups", "solr"})), 2);
  EXPECT_EQ(err_.str(), "ebsnap: check-backups: --max-age DURATION is required (e.g. --max-age 26h); see 'ebsnap --help'\n");
  EXPECT_TRUE(out_.str().empty());
  EXPECT_TRUE(fake_.called.empty());
}

TEST_F(Cli, CheckBackupsWithABadDurationIsAUsageError) {
  for (const char* bad : {"26", "1y", "h", "0s", "26h5"}) {
    fake_.called.clear();
    EXPECT_EQ(run(with_config({"check-backups", "--max-age", bad})), 2) << bad;
    EXPECT_NE(err_.str().find("--max-age: expected a duration such as 26h"), std::string::npos) << bad << err_.str();
    const auto err = err_.str();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_TRUE(fake_.called.empty()) << bad;
  }
}

TEST_F(Cli, CheckWithMaxAgeIsCheckBackupsForEveryGroup) {
  ASSERT_EQ(run(with_config({"check", "--max-age", "1d"})), 0) << err_.str();
  EXPECT_EQ(fake_.called, "check-backups");
  EXPECT_EQ(fake_.groups, (std::vector<std::string>{"solr", "pg"}));
  ASSERT_TRUE(fake_.check_backups_options.has_value());
  EXPECT_EQ(fake_.check_backups_options->max_age, std::chrono::hours(24));
  fake_.next_report.groups.push_back(GroupReport{
      .name = "solr",
      .volumes = {VolumeReport{.mount_point = "/mnt/solr", .device = "/dev/sdf", .outcome = Outcome::Stale,
                               .reason = "older than --max-age 1d"}}});
  EXPECT_EQ(run(with_config({"check", "--max-age", "1d"})), 1);  // a stale volume: exit 1
  EXPECT_NE(out_.str().find("[FAIL] solr /mnt/solr"), std::string::npos) << out_.str();
  EXPECT_EQ(run(with_config({"check", "--max-age", "soon"})), 2);
  fake_.next_report = {};
  ASSERT_EQ(run(with_config({"check"})), 0) << err_.str();  // plain check unchanged
  EXPECT_EQ(fake_.called, "check");
}

TEST_F(Cli, CheckBackupsNeedsFilterValues) {
  EXPECT_EQ(run({"--config", config_path_, "--userdata", "#!/bin/sh", "check-backups", "--max-age", "26h"}), 2);
  EXPECT_TRUE(fake_.called.empty());
}

TEST_F(Cli, VersionNeedsNothing) {
  EXPECT_EQ(run({"--config", "/nonexistent", "version"}), 0);
  EXPECT_EQ(out_.str(), std::string("ebsnap ") + k_version + "\n");
  EXPECT_EQ(run({"--version"}), 0);
  EXPECT_EQ(out_.str(), std::string("ebsnap ") + k_version + "\n");
  EXPECT_EQ(fake_.userdata_calls, 0);
}

}  // namespace
}  // namespace agent
