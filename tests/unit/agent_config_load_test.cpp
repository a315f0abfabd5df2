// The configuration error catalog at the loader level: each case gives one ConfigError naming
// the file, the JSON path and what was expected.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/config/config.h"
#include "agent/config/userdata.h"
#include "agent/core/runtime.h"
#include "tests/support/temp_dir.h"

namespace agent {
namespace {

using Json = nlohmann::ordered_json;

Json valid_volume(std::string device = "/dev/sdf", std::string mount_point = "/mnt/solr") {
  return Json{{"device", device}, {"mount_point", mount_point}, {"size_gib", 20},
              {"filesystem", "xfs"}, {"mount_options", "noatime"}, {"volume_type", "gp3"},
              {"iops", 3000}, {"throughput_mibps", 125}, {"encrypted", true},
              {"kms_key_id", "alias/data"}};
}

Json valid_config() {
  Json config = {{"region", "eu-west-1"},
                 {"filter_tags", {"role", "cluster", "environment"}},
                 {"freeze_timeout_s", 10},
                 {"groups", Json::object()}};
  config["groups"]["solr"] = {{"volumes", Json::array({valid_volume()})},
                              {"tags", {{"team", "search"}}},
                              {"freeze", true}};
  return config;
}

class ConfigLoad : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& text, mode_t mode = 0644) {
    const auto path = dir_.path() / "ebsnap.json";
    std::filesystem::remove(path);
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::filesystem::path write(const Json& doc, mode_t mode = 0644) { return write(doc.dump(2), mode); }

  // Loads and expects an error at json_path whose message contains each fragment.
  ConfigError expect_error(const Json& doc, const std::string& json_path,
                           std::initializer_list<std::string_view> fragments) {
    const auto path = write(doc);
    auto result = load_config_file(path);
    EXPECT_FALSE(result.has_value()) << "expected an error at " << json_path;
    if (result) return {};
    const auto& e = result.error();
    EXPECT_EQ(e.file, path.string());
    EXPECT_EQ(e.json_path, json_path) << e.describe();
    for (auto f : fragments) EXPECT_NE(e.message.find(f), std::string::npos) << e.describe() << " lacks " << f;
    EXPECT_EQ(e.describe().find('\n'), std::string::npos);
    return e;
  }

  testsupport::TempDir dir_;
};

// The example the package installs as /etc/ebsnap/ebsnap.json loads as it is, hook files checked:
// a fresh install's `ebsnap check` must not fail on it.
TEST_F(ConfigLoad, TheExampleConfigLoads) {
  const auto example = std::filesystem::path(EBSNAP_SOURCE_DIR) / "etc" / "ebsnap.json";
  auto result = load_config_file(example);
  ASSERT_TRUE(result.has_value()) << result.error().describe();
  EXPECT_FALSE(result->groups.empty());
}

TEST_F(ConfigLoad, ValidConfigLoadsEveryField) {
  auto doc = valid_config();
  doc["timeouts"] = {{"volume_available_s", 30}, {"hook_s", 5}, {"throttled_s", 0}};
  doc["groups"]["pg"] = {{"volumes", Json::array({valid_volume("/dev/xvdg", "/var/lib/postgresql")})},
                         {"freeze", false}};
  auto config = load_config_file(write(doc));
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  EXPECT_EQ(config->region, "eu-west-1");
  EXPECT_EQ(config->freeze_timeout, std::chrono::seconds(10));
  EXPECT_EQ(config->timeouts.volume_available, std::chrono::seconds(30));
  EXPECT_EQ(config->timeouts.hook, std::chrono::seconds(5));
  EXPECT_EQ(config->timeouts.device_wait, std::chrono::seconds(120));
  EXPECT_EQ(config->timeouts.throttled, std::chrono::seconds(0));  // 0: throttles retried as other errors
  ASSERT_EQ(config->groups.size(), 2u);
  EXPECT_EQ(config->groups[0].name, "solr");  // file order, not alphabetical
  EXPECT_EQ(config->groups[1].name, "pg");
  EXPECT_FALSE(config->groups[1].freeze);
  const auto& v = config->groups[0].volumes.at(0);
  EXPECT_EQ(v.device, "/dev/sdf");
  EXPECT_EQ(v.mount_point, "/mnt/solr");
  EXPECT_EQ(v.size_gib, 20);
  EXPECT_EQ(v.filesystem, FsType::Xfs);
  EXPECT_EQ(v.volume_type, VolumeType::Gp3);
  EXPECT_EQ(v.iops, 3000);
  EXPECT_EQ(v.throughput_mibps, 125);
  EXPECT_TRUE(v.encrypted);
  EXPECT_EQ(v.kms_key_id, "alias/data");
  EXPECT_EQ(config->groups[0].tags.at("team"), "search");
  EXPECT_EQ(config->groups[0].json_path, "$.groups.solr");
}

TEST_F(ConfigLoad, DefaultsApplyWhenKeysAreAbsent) {
  Json doc = {{"groups", {{"g", {{"volumes", Json::array({{{"device", "/dev/sdf"}, {"mount_point", "/data"}, {"size_gib", 1}}})}}}}}};
  auto config = load_config_file(write(doc));
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  EXPECT_FALSE(config->region.has_value());
  EXPECT_EQ(config->filter_tags, (std::vector<std::string>{"role", "cluster", "environment"}));
  EXPECT_EQ(config->freeze_timeout, std::chrono::seconds(10));
  const auto& v = config->groups[0].volumes[0];
  EXPECT_EQ(v.filesystem, FsType::Ext4);
  EXPECT_EQ(v.volume_type, VolumeType::Gp3);
  EXPECT_EQ(v.mount_options, "defaults");
  EXPECT_FALSE(v.encrypted);
  EXPECT_TRUE(config->groups[0].freeze);
  EXPECT_FALSE(config->groups[0].snapshot_on_shutdown);
  EXPECT_FALSE(config->groups[0].unmount_on_shutdown);
}

TEST_F(ConfigLoad, ShutdownKeysAreBooleansOfTheGroup) {
  Json doc = valid_config();
  doc["groups"]["solr"]["snapshot_on_shutdown"] = true;
  doc["groups"]["solr"]["unmount_on_shutdown"] = true;
  auto config = load_config_file(write(doc));
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  EXPECT_TRUE(config->groups[0].snapshot_on_shutdown);
  EXPECT_TRUE(config->groups[0].unmount_on_shutdown);
  doc["groups"]["solr"]["snapshot_on_shutdown"] = "yes";
  expect_error(doc, "$.groups.solr.snapshot_on_shutdown", {"true or false"});
  doc["groups"]["solr"]["snapshot_on_shutdown"] = true;
  doc["groups"]["solr"]["unmount_on_shutdown"] = 1;
  expect_error(doc, "$.groups.solr.unmount_on_shutdown", {"true or false"});
}

TEST_F(ConfigLoad, MetricsDirIsAnAbsoluteDirectory) {
  Json doc = valid_config();
  doc["metrics_dir"] = "/var/lib/prometheus/node-exporter";
  auto config = load_config_file(write(doc));
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  EXPECT_EQ(config->metrics_dir, "/var/lib/prometheus/node-exporter");
  doc["metrics_dir"] = "metrics";
  expect_error(doc, "$.metrics_dir", {"absolute directory"});
  doc["metrics_dir"] = 3;
  expect_error(doc, "$.metrics_dir", {"absolute directory"});
}

TEST_F(ConfigLoad, MissingFileIsRefused) {
  auto result = load_config_file(dir_.path() / "absent.json");
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("no such file"), std::string::npos);
  EXPECT_EQ(result.error().file, (dir_.path() / "absent.json").string());
}

// Root can open a file of mode 0000: the loader refuses it by its mode (root only: suites
// named *AsRoot are labelled e2e).
class ConfigLoadAsRoot : public ConfigLoad {
 protected:
  void SetUp() override { ASSERT_EQ(::geteuid(), 0U) << "run as root (label e2e)"; }
};

TEST_F(ConfigLoadAsRoot, AConfigOrADirectoryOwnedByAnotherUserIsRefused) {
  const auto path = write(valid_config(), 0644);
  ASSERT_EQ(::chown(path.c_str(), 1000, 1000), 0);
  auto result = load_config_file(path);
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("owned by uid 1000"), std::string::npos) << result.error().describe();
  ASSERT_EQ(::chown(path.c_str(), 0, 0), 0);
  ASSERT_EQ(::chown(dir_.path().c_str(), 1000, 1000), 0);
  result = load_config_file(path);
  ASSERT_EQ(::chown(dir_.path().c_str(), 0, 0), 0);
  ASSERT_FALSE(result.has_value()) << "the owner of the directory can swap the file";
  EXPECT_NE(result.error().message.find("directory " + dir_.path().string() + " is owned by uid 1000"),
            std::string::npos)
      << result.error().describe();
}

TEST_F(ConfigLoadAsRoot, ModeZeroFileIsUnreadableEvenForRoot) {
  auto result = load_config_file(write(valid_config(), 0));
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("unreadable"), std::string::npos) << result.error().describe();
  EXPECT_NE(result.error().message.find("0000"), std::string::npos);
}

// Issue 11: the config names the programs ebsnap runs as root, so whoever can change it (or a
// directory above it) is root. These were accepted before.
TEST_F(ConfigLoad, AConfigGroupOrOthersCanWriteIsRefused) {
  for (const mode_t mode : {0664u, 0646u, 0666u, 0620u}) {
    auto result = load_config_file(write(valid_config(), mode));
    ASSERT_FALSE(result.has_value()) << std::oct << mode;
    EXPECT_NE(result.error().message.find("group or others can write it (mode 0"), std::string::npos)
        << result.error().describe();
  }
  EXPECT_TRUE(load_config_file(write(valid_config(), 0644)).has_value());
}

TEST_F(ConfigLoad, AConfigInADirectoryOthersCanWriteIsRefused) {
  const auto open_dir = dir_.path() / "open";
  std::filesystem::create_directory(open_dir);
  std::filesystem::permissions(open_dir, std::filesystem::perms(0777));  // not sticky
  const auto path = open_dir / "ebsnap.json";
  std::ofstream(path) << valid_config().dump();
  std::filesystem::permissions(path, std::filesystem::perms(0644));
  auto result = load_config_file(path);
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("directory " + open_dir.string() + " is writable by group or others"),
            std::string::npos)
      << result.error().describe();
  // Sticky, like /tmp: others cannot replace an entry they do not own, so it is accepted.
  std::filesystem::permissions(open_dir, std::filesystem::perms(01777));
  EXPECT_TRUE(load_config_file(path).has_value());
}

TEST_F(ConfigLoad, AConfigReachedThroughASymlinkInAnOpenDirectoryIsRefused) {
  const auto safe = dir_.path() / "ebsnap.json";
  std::ofstream(safe) << valid_config().dump();
  std::filesystem::permissions(safe, std::filesystem::perms(0644));
  const auto open_dir = dir_.path() / "open";
  std::filesystem::create_directory(open_dir);
  std::filesystem::permissions(open_dir, std::filesystem::perms(0777));
  std::filesystem::create_symlink(safe, open_dir / "link.json");
  auto result = load_config_file(open_dir / "link.json");
  ASSERT_FALSE(result.has_value()) << "whoever can write the open directory chooses the file";
  EXPECT_NE(result.error().message.find("writable by group or others"), std::string::npos) << result.error().describe();
}

// Issue 11: without filter tags every instance with the same mount point shares one lineage.
TEST_F(ConfigLoad, EmptyFilterTagsNeedTheConfigFilesConsent) {
  auto doc = valid_config();
  doc["filter_tags"] = Json::array();
  auto refused = load_config_file(write(doc, 0644));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().json_path, "$.filter_tags");
  EXPECT_NE(refused.error().message.find("allow_empty_filter_tags"), std::string::npos) << refused.error().describe();
  doc["allow_empty_filter_tags"] = true;
  auto allowed = load_config_file(write(doc, 0644));
  ASSERT_TRUE(allowed.has_value()) << allowed.error().describe();
  EXPECT_TRUE(allowed->filter_tags.empty());
}

TEST_F(ConfigLoad, CredentialsReadableByOthersAreRefused) {
  auto doc = valid_config();
  doc["credentials"] = {{"access_key_id", "AKIAEXAMPLE"}, {"secret_access_key", "s3cr3t-never-shown"}};
  for (const mode_t mode : {0644u, 0640u, 0604u, 0660u}) {
    auto result = load_config_file(write(doc, mode));
    ASSERT_FALSE(result.has_value()) << std::oct << mode;
    // 0660 is refused before: a config file group can write is refused whatever it holds.
    EXPECT_EQ(result.error().json_path, mode == 0660u ? "" : "$.credentials");
    EXPECT_NE(result.error().message.find("group or others"), std::string::npos);
    EXPECT_EQ(result.error().describe().find("s3cr3t"), std::string::npos);
  }
  auto ok = load_config_file(write(doc, 0600));
  ASSERT_TRUE(ok.has_value()) << ok.error().describe();
  ASSERT_TRUE(ok->credentials.has_value());
  EXPECT_EQ(ok->credentials->access_key_id, "AKIAEXAMPLE");
}

TEST_F(ConfigLoad, WithoutCredentialsAWorldReadableFileIsFine) {
  EXPECT_TRUE(load_config_file(write(valid_config(), 0644)).has_value());
}

TEST_F(ConfigLoad, MalformedJsonGivesLineAndColumnWithoutQuotingInput) {
  auto result = load_config_file(write(std::string("{\n  \"region\": \"eu-west-1\",\n  \"groups\": secret}\n")));
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("malformed JSON at line 3, column"), std::string::npos)
      << result.error().describe();
  EXPECT_EQ(result.error().message.find("secret"), std::string::npos) << result.error().describe();
}

TEST_F(ConfigLoad, RepeatedKeyIsRefusedWithItsPath) {
  auto result = load_config_file(write(std::string(
      R"({"groups":{"solr":{"volumes":[{"device":"/dev/sdf","mount_point":"/a","size_gib":1},)"
      R"({"device":"/dev/sdg","mount_point":"/b","size_gib":1,"size_gib":2}]}}})")));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().json_path, "$.groups.solr.volumes[1].size_gib");
  EXPECT_NE(result.error().message.find("repeated"), std::string::npos);
  result = load_config_file(write(std::string(R"({"region":"eu-west-1","region":"eu-west-2","groups":{}})")));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().json_path, "$.region");
  // The same key in sibling objects is fine.
  EXPECT_TRUE(load_config_file(write(valid_config())).has_value());
}

TEST_F(ConfigLoad, ANumberBeyondADoubleIsMalformedNotACrash) {
  // nlohmann threw out_of_range (406) here, which escaped to std::terminate (tests/fuzz/config).
  auto result = load_config_file(write(std::string(R"({"region": "eu-west-1", "freeze_timeout_s": 4e99999})")));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message, "malformed JSON: a number too large for a double") << result.error().describe();
  auto userdata = parse_userdata(std::string(R"({"role": "solr", "count": -1e400})"), "userdata");
  ASSERT_TRUE(userdata.has_value());
  EXPECT_NE(userdata->problem.value_or("").find("a number too large"), std::string::npos);
}

TEST_F(ConfigLoad, EmptyFileIsMalformed) {
  auto result = load_config_file(write(std::string()));
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("malformed JSON"), std::string::npos);
}

TEST_F(ConfigLoad, TopLevelMustBeAnObject) {
  expect_error(Json::array(), "$", {"expected a configuration object", "array"});
}

TEST_F(ConfigLoad, MissingGroups) {
  auto doc = valid_config();
  doc.erase("groups");
  expect_error(doc, "$.groups", {"missing", "group"});
}

TEST_F(ConfigLoad, MisspelledKeySuggestsTheRightOne) {
  auto doc = valid_config();
  auto& v = doc["groups"]["solr"]["volumes"][0];
  v["mount_pont"] = v["mount_point"];
  v.erase("mount_point");
  expect_error(doc, "$.groups.solr.volumes[0].mount_pont", {"unknown key \"mount_pont\"", "did you mean mount_point?"});
}

TEST_F(ConfigLoad, UnknownKeyWithoutNearMatchListsTheKeys) {
  auto doc = valid_config();
  doc["colour"] = "blue";
  expect_error(doc, "$.colour", {"unknown key \"colour\"", "expected one of: region, filter_tags"});
}

TEST_F(ConfigLoad, MisspelledTopLevelAndGroupKeys) {
  auto doc = valid_config();
  doc["freeze_timeout"] = 5;
  expect_error(doc, "$.freeze_timeout", {"did you mean freeze_timeout_s?"});
  doc = valid_config();
  doc["groups"]["solr"]["volume"] = doc["groups"]["solr"]["volumes"];
  expect_error(doc, "$.groups.solr.volume", {"did you mean volumes?"});
}

TEST_F(ConfigLoad, SizeZeroOrNegativeOrTooLarge) {
  for (const int size : {0, -5, 16385}) {
    auto doc = valid_config();
    doc["groups"]["solr"]["volumes"][0]["size_gib"] = size;
    expect_error(doc, "$.groups.solr.volumes[0].size_gib", {"expected an integer 1..16384", std::to_string(size)});
  }
}

TEST_F(ConfigLoad, SizeMustBeAnInteger) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"][0]["size_gib"] = "20";
  expect_error(doc, "$.groups.solr.volumes[0].size_gib", {"expected an integer", "\"20\""});
  doc["groups"]["solr"]["volumes"][0]["size_gib"] = 20.5;
  expect_error(doc, "$.groups.solr.volumes[0].size_gib", {"expected an integer", "20.5"});
}

TEST_F(ConfigLoad, SizeRangeDependsOnVolumeType) {
  auto doc = valid_config();
  auto& v = doc["groups"]["solr"]["volumes"][0];
  v.erase("iops");
  v.erase("throughput_mibps");
  v["volume_type"] = "st1";
  v["size_gib"] = 100;
  expect_error(doc, "$.groups.solr.volumes[0].size_gib", {"125..16384", "st1"});
}

TEST_F(ConfigLoad, UnknownFilesystem) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"][0]["filesystem"] = "btrfs";
  expect_error(doc, "$.groups.solr.volumes[0].filesystem", {"expected \"ext4\" or \"xfs\"", "btrfs"});
}

TEST_F(ConfigLoad, UnknownVolumeType) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"][0]["volume_type"] = "gp4";
  expect_error(doc, "$.groups.solr.volumes[0].volume_type", {"expected one of gp2, gp3", "gp4"});
}

TEST_F(ConfigLoad, IopsOnATypeThatTakesNone) {
  for (const auto* type : {"gp2", "st1", "sc1", "standard"}) {
    auto doc = valid_config();
    auto& v = doc["groups"]["solr"]["volumes"][0];
    v["volume_type"] = type;
    v["size_gib"] = 500;
    v.erase("throughput_mibps");
    expect_error(doc, "$.groups.solr.volumes[0].iops", {"expected no iops", type});
  }
}

TEST_F(ConfigLoad, IopsRangesPerType) {
  const struct {
    const char* type;
    int bad;
    const char* range;
  } cases[] = {{"gp3", 2999, "3000..16000"}, {"gp3", 16001, "3000..16000"}, {"io1", 99, "100..64000"},
               {"io1", 64001, "100..64000"}, {"io2", 256001, "100..256000"}};
  for (const auto& c : cases) {
    auto doc = valid_config();
    auto& v = doc["groups"]["solr"]["volumes"][0];
    v["volume_type"] = c.type;
    v["iops"] = c.bad;
    if (std::string(c.type) != "gp3") v.erase("throughput_mibps");
    expect_error(doc, "$.groups.solr.volumes[0].iops", {c.range});
  }
}

TEST_F(ConfigLoad, ProvisionedIopsTypesNeedIops) {
  auto doc = valid_config();
  auto& v = doc["groups"]["solr"]["volumes"][0];
  v["volume_type"] = "io2";
  v.erase("iops");
  v.erase("throughput_mibps");
  expect_error(doc, "$.groups.solr.volumes[0].iops", {"missing", "io2 needs iops 100..256000"});
}

TEST_F(ConfigLoad, ThroughputOnlyOnGp3AndInRange) {
  auto doc = valid_config();
  auto& v = doc["groups"]["solr"]["volumes"][0];
  v["throughput_mibps"] = 1001;
  expect_error(doc, "$.groups.solr.volumes[0].throughput_mibps", {"125..1000"});
  v["volume_type"] = "io1";
  v["throughput_mibps"] = 200;
  expect_error(doc, "$.groups.solr.volumes[0].throughput_mibps", {"only gp3"});
}

TEST_F(ConfigLoad, InitializationRateLoadsAtBothEndsOfItsRange) {
  for (const int rate : {100, 300}) {
    auto doc = valid_config();
    doc["groups"]["solr"]["volumes"][0]["initialization_rate_mibps"] = rate;
    auto config = load_config_file(write(doc));
    ASSERT_TRUE(config.has_value()) << config.error().describe();
    EXPECT_EQ(config->groups[0].volumes[0].initialization_rate_mibps, rate);
  }
  auto absent = load_config_file(write(valid_config()));
  ASSERT_TRUE(absent.has_value()) << absent.error().describe();
  EXPECT_FALSE(absent->groups[0].volumes[0].initialization_rate_mibps.has_value());
}

TEST_F(ConfigLoad, InitializationRateOutOfRange) {
  for (const int rate : {0, 99, 301, 1000}) {
    auto doc = valid_config();
    doc["groups"]["solr"]["volumes"][0]["initialization_rate_mibps"] = rate;
    expect_error(doc, "$.groups.solr.volumes[0].initialization_rate_mibps",
                 {"expected an integer 100..300 (MiB/s)", "got " + std::to_string(rate)});
  }
}

TEST_F(ConfigLoad, InitializationRateMustBeAnInteger) {
  const struct {
    Json value;
    const char* shown;
  } cases[] = {{"200", "\"200\""}, {150.5, "150.5"}, {true, "true"}, {Json::array({200}), "array"}};
  for (const auto& c : cases) {
    auto doc = valid_config();
    doc["groups"]["solr"]["volumes"][0]["initialization_rate_mibps"] = c.value;
    expect_error(doc, "$.groups.solr.volumes[0].initialization_rate_mibps",
                 {"expected an integer 100..300", c.shown});
  }
}

TEST_F(ConfigLoad, MisspelledInitializationRateSuggestsTheKey) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"][0]["initialisation_rate_mibps"] = 200;
  expect_error(doc, "$.groups.solr.volumes[0].initialisation_rate_mibps",
               {"unknown key \"initialisation_rate_mibps\"", "did you mean initialization_rate_mibps?"});
}

TEST_F(ConfigLoad, KmsKeyNeedsEncryption) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"][0]["encrypted"] = false;
  expect_error(doc, "$.groups.solr.volumes[0].kms_key_id", {"\"encrypted\": true"});
  doc["groups"]["solr"]["volumes"][0]["encrypted"] = "yes";
  expect_error(doc, "$.groups.solr.volumes[0].encrypted", {"expected true or false"});
}

TEST_F(ConfigLoad, PrewarmAndItsRate) {
  auto doc = valid_config();
  auto& v = doc["groups"]["solr"]["volumes"][0];
  {
    auto loaded = load_config_file(write(doc));
    ASSERT_TRUE(loaded) << loaded.error().describe();
    EXPECT_FALSE(loaded->groups[0].volumes[0].prewarm);
    EXPECT_FALSE(loaded->groups[0].volumes[0].prewarm_mibps);
  }
  v["prewarm"] = true;
  v["prewarm_mibps"] = 200;
  {
    auto loaded = load_config_file(write(doc));
    ASSERT_TRUE(loaded) << loaded.error().describe();
    EXPECT_TRUE(loaded->groups[0].volumes[0].prewarm);
    EXPECT_EQ(loaded->groups[0].volumes[0].prewarm_mibps, 200);
  }
  for (const Json& bad : {Json(0), Json(-5), Json(100001), Json(1.5), Json("fast")}) {
    v["prewarm_mibps"] = bad;
    expect_error(doc, "$.groups.solr.volumes[0].prewarm_mibps", {"1..100000", "MiB/s"});
  }
  v["prewarm_mibps"] = 200;
  v["prewarm"] = false;
  expect_error(doc, "$.groups.solr.volumes[0].prewarm_mibps", {"\"prewarm\": true"});
  v.erase("prewarm");
  expect_error(doc, "$.groups.solr.volumes[0].prewarm_mibps", {"\"prewarm\": true"});
  v["prewarm"] = "yes";
  expect_error(doc, "$.groups.solr.volumes[0].prewarm", {"expected true or false"});
}

TEST_F(ConfigLoad, DeleteOnTerminationIsABooleanOffByDefault) {
  auto doc = valid_config();
  auto& v = doc["groups"]["solr"]["volumes"][0];
  {
    auto loaded = load_config_file(write(doc));
    ASSERT_TRUE(loaded) << loaded.error().describe();
    EXPECT_FALSE(loaded->groups[0].volumes[0].delete_on_termination);
  }
  v["delete_on_termination"] = true;
  {
    auto loaded = load_config_file(write(doc));
    ASSERT_TRUE(loaded) << loaded.error().describe();
    EXPECT_TRUE(loaded->groups[0].volumes[0].delete_on_termination);
  }
  for (const Json& bad : {Json("true"), Json(1), Json(nullptr), Json::array()}) {
    v["delete_on_termination"] = bad;
    expect_error(doc, "$.groups.solr.volumes[0].delete_on_termination", {"expected true or false"});
  }
  v.erase("delete_on_termination");
  v["delete_on_terminaton"] = true;
  expect_error(doc, "$.groups.solr.volumes[0].delete_on_terminaton", {"delete_on_termination"});
}

TEST_F(ConfigLoad, DeviceOutsideTheAllowedNames) {
  for (const auto* device : {"/dev/sda", "/dev/sde", "/dev/xvda", "/dev/nvme1n1", "sdf", "/dev/sdf1", "/dev/sdff"}) {
    auto doc = valid_config();
    doc["groups"]["solr"]["volumes"][0]["device"] = device;
    expect_error(doc, "$.groups.solr.volumes[0].device", {"/dev/sd[f-z] or /dev/xvd[f-z]", device});
  }
}

TEST_F(ConfigLoad, TwoVolumesOnOneDeviceAcrossGroups) {
  auto doc = valid_config();
  doc["groups"]["pg"] = {{"volumes", Json::array({valid_volume("/dev/xvdf", "/mnt/pg")})}};
  expect_error(doc, "$.groups.pg.volumes[0].device", {"/dev/xvdf is also the device of $.groups.solr.volumes[0]"});
}

TEST_F(ConfigLoad, TwoVolumesOnOneMountPoint) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"].push_back(valid_volume("/dev/sdg", "/mnt/solr"));
  expect_error(doc, "$.groups.solr.volumes[1].mount_point", {"also the mount point of $.groups.solr.volumes[0]"});
}

TEST_F(ConfigLoad, MountPointRelativeRootOrNotNormalised) {
  const struct {
    const char* mount_point;
    const char* fragment;
  } cases[] = {{"mnt/solr", "absolute"},         {"/", "other than /"},       {"/mnt/../etc", "no . or .."},
               {"/mnt/./solr", "no . or .."},    {"/mnt//solr", "no //"},     {"/mnt/solr/", "trailing /"},
               {"", "empty"}};
  for (const auto& c : cases) {
    auto doc = valid_config();
    doc["groups"]["solr"]["volumes"][0]["mount_point"] = c.mount_point;
    expect_error(doc, "$.groups.solr.volumes[0].mount_point", {c.fragment});
  }
}

TEST_F(ConfigLoad, RegionFormat) {
  auto doc = valid_config();
  doc["region"] = "Europe";
  expect_error(doc, "$.region", {"expected a region such as eu-west-1", "Europe"});
  for (const auto* good : {"us-east-1", "us-gov-west-1", "ap-southeast-3", "cn-north-1"}) {
    doc["region"] = good;
    EXPECT_TRUE(load_config_file(write(doc)).has_value()) << good;
  }
}

TEST_F(ConfigLoad, TagKeyRules) {
  const struct {
    std::string key;
    const char* fragment;
  } cases[] = {{"aws:team", "aws:"}, {"AWS:team", "aws:"}, {"ebsnap:group", "ebsnap:"},
               {std::string(129, 'k'), "128"}};
  for (const auto& c : cases) {
    auto doc = valid_config();
    doc["groups"]["solr"]["tags"] = {{c.key, "x"}};
    expect_error(doc, "$.groups.solr.tags" + (c.key.find(':') != std::string::npos ? "[\"" + c.key + "\"]" : "." + c.key),
                 {c.fragment});
  }
  auto doc = valid_config();
  doc["groups"]["solr"]["tags"] = {{"team", std::string(257, 'v')}};
  expect_error(doc, "$.groups.solr.tags.team", {"256"});
  doc["groups"]["solr"]["tags"] = {{"team", 3}};
  expect_error(doc, "$.groups.solr.tags.team", {"expected a string"});
}

TEST_F(ConfigLoad, GroupTagThatIsAFilterTag) {
  auto doc = valid_config();
  doc["groups"]["solr"]["tags"] = {{"role", "x"}};
  expect_error(doc, "$.groups.solr.tags.role", {"not a filter tag"});
}

TEST_F(ConfigLoad, FilterTagRules) {
  auto doc = valid_config();
  doc["filter_tags"] = {"role", "role"};
  expect_error(doc, "$.filter_tags[1]", {"unique"});
  doc["filter_tags"] = {"role", "aws:x"};
  expect_error(doc, "$.filter_tags[1]", {"aws:"});
  doc["filter_tags"] = "role";
  expect_error(doc, "$.filter_tags", {"expected an array"});
}

TEST_F(ConfigLoad, GroupNames) {
  auto doc = valid_config();
  doc["groups"]["bad name"] = doc["groups"]["solr"];
  doc["groups"].erase("solr");
  expect_error(doc, "$.groups[\"bad name\"]", {"[A-Za-z0-9_.-]"});
}

TEST_F(ConfigLoad, FreezeTimeoutRange) {
  for (const int t : {0, 121}) {
    auto doc = valid_config();
    doc["freeze_timeout_s"] = t;
    expect_error(doc, "$.freeze_timeout_s", {"1..120"});
  }
}

TEST_F(ConfigLoad, TimeoutsAreCheckedToo) {
  auto doc = valid_config();
  doc["timeouts"] = {{"hook_s", 0}};
  expect_error(doc, "$.timeouts.hook_s", {"1..3600"});
  doc["timeouts"] = {{"hooks_s", 3}};
  expect_error(doc, "$.timeouts.hooks_s", {"did you mean hook_s?"});
  doc["timeouts"] = {{"throttled_s", 86401}};
  expect_error(doc, "$.timeouts.throttled_s", {"0..86400"});
}

TEST_F(ConfigLoad, FleetSize) {
  auto doc = valid_config();
  doc["fleet_size"] = 1000;
  auto config = load_config_file(write(doc));
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  EXPECT_EQ(config->fleet_size, 1000);
  EXPECT_EQ(pacing_policy(*config, /*fleet_share=*/true).fleet, 1000);
  EXPECT_EQ(pacing_policy(*config, /*fleet_share=*/false).fleet, 1) << "snapshot's: its timer spreads the fleet";
  for (const Json& bad : {Json(0), Json(100001), Json("1000"), Json(2.5)}) {
    doc["fleet_size"] = bad;
    expect_error(doc, "$.fleet_size", {"1..100000"});
  }
}

TEST_F(ConfigLoad, FleetWindow) {
  auto doc = valid_config();
  doc["fleet_size"] = 1000;
  doc["fleet_window_s"] = 300;
  auto config = load_config_file(write(doc));
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  EXPECT_EQ(config->fleet_window, std::chrono::seconds{300});
  EXPECT_EQ(pacing_policy(*config, /*fleet_share=*/true).fleet_window, std::chrono::seconds{300});
  EXPECT_EQ(pacing_policy(*config, /*fleet_share=*/false).fleet_window, std::chrono::seconds{0});
  // A fleet's share of Describe*: poll rounds a second apart, not 150 ms; by hand, as before.
  EXPECT_EQ(poll_policy(*config, /*fleet_share=*/true).initial_delay, std::chrono::milliseconds{1000});
  EXPECT_EQ(poll_policy(*config, /*fleet_share=*/false).initial_delay, RunOptions{}.waiter.initial_delay);
  config->fleet_size = 1;
  EXPECT_EQ(poll_policy(*config, /*fleet_share=*/true).initial_delay, RunOptions{}.waiter.initial_delay);
  for (const Json& bad : {Json(-1), Json(3601), Json("300"), Json(1.5)}) {
    doc["fleet_window_s"] = bad;
    expect_error(doc, "$.fleet_window_s", {"0..3600"});
  }
}

// Issue 14: copy_to, copy_after_snapshot and copies_in_flight.
TEST_F(ConfigLoad, CopyToLoadsEveryKey) {
  auto doc = valid_config();
  doc["copies_in_flight"] = 5;
  doc["groups"]["solr"]["copy_to"] = Json::array(
      {{{"region", "us-west-2"}, {"kms_key_id", "alias/dr"}, {"retention", {{"daily", 14}}},
        {"prune_after_copy", true}, {"completion_minutes", 120}},
       {{"region", "eu-central-1"}, {"kms_key_id", "arn:aws:kms:eu-central-1:123456789012:key/abc"}}});
  doc["groups"]["solr"]["copy_after_snapshot"] = true;
  auto config = load_config_file(write(doc));
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  EXPECT_EQ(config->copies_in_flight, 5);
  const auto& g = config->groups[0];
  EXPECT_TRUE(g.copy_after_snapshot);
  ASSERT_EQ(g.copy_to.size(), 2U);
  EXPECT_EQ(g.copy_to[0].region, "us-west-2");
  EXPECT_EQ(g.copy_to[0].kms_key_id, "alias/dr");
  ASSERT_TRUE(g.copy_to[0].retention);
  EXPECT_EQ(g.copy_to[0].retention->daily, 14);
  EXPECT_TRUE(g.copy_to[0].prune_after_copy);
  EXPECT_EQ(g.copy_to[0].completion_minutes, 120);
  EXPECT_FALSE(g.copy_to[1].retention);
  EXPECT_EQ(find_copy_destination(g, "eu-central-1"), &g.copy_to[1]);
  EXPECT_EQ(find_copy_destination(g, "eu-west-1"), nullptr);
  auto plain = load_config_file(write(valid_config()));
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->copies_in_flight, k_default_copies_in_flight);
  EXPECT_TRUE(plain->groups[0].copy_to.empty());
}

TEST_F(ConfigLoad, CopyToMistakesAreOneLineEach) {
  const auto with = [](Json copy_to) {
    auto doc = valid_config();
    doc["groups"]["solr"]["copy_to"] = std::move(copy_to);
    return doc;
  };
  const std::string at = "$.groups.solr.copy_to";
  expect_error(with(Json::array()), at, {"non-empty array"});
  expect_error(with({{"region", "us-west-2"}}), at, {"non-empty array", "object"});
  // The group's volume is encrypted: a key does not cross regions.
  expect_error(with(Json::array({{{"region", "us-west-2"}}})), at + "[0].kms_key_id", {"encrypted", "us-west-2"});
  expect_error(with(Json::array({{{"kms_key_id", "alias/dr"}}})), at + "[0].region", {"missing"});
  expect_error(with(Json::array({{{"region", "Mars"}, {"kms_key_id", "k"}}})), at + "[0].region", {"us-west-2"});
  expect_error(with(Json::array({{{"region", "us-west-2"}, {"kms_key_id", "k"}},
                                 {{"region", "us-west-2"}, {"kms_key_id", "k"}}})),
               at + "[1].region", {"listed twice"});
  expect_error(with(Json::array({{{"region", "us-west-2"}, {"kms_key_id", "k"}, {"completion_minutes", 20}}})),
               at + "[0].completion_minutes", {"multiple of 15"});
  expect_error(with(Json::array({{{"region", "us-west-2"}, {"kms_key_id", "k"}, {"completion_minutes", 3000}}})),
               at + "[0].completion_minutes", {"15..2880"});
  expect_error(with(Json::array({{{"region", "us-west-2"}, {"kms_key_id", "k"}, {"prune_after_copy", true}}})),
               at + "[0].prune_after_copy", {"retention"});
  expect_error(with(Json::array({{{"region", "us-west-2"}, {"kms_key_id", "k"},
                                  {"retention", {{"daily", 7}, {"prune_after_snapshot", true}}}}})),
               at + "[0].retention.prune_after_snapshot", {"prune_after_copy"});
  expect_error(with(Json::array({{{"region", "us-west-2"}, {"kms_key_id", "k"},
                                  {"retention", {{"daily", 7}, {"expire_after", "30d"}}}}})),
               at + "[0].retention.expire_after", {"ebsnap:expires"});
  expect_error(with(Json::array({{{"region", "us-west-2"}, {"kms_key_id", "k"}, {"copy", true}}})),
               at + "[0].copy", {"unknown key"});
  auto doc = valid_config();
  doc["groups"]["solr"]["copy_after_snapshot"] = true;
  expect_error(doc, "$.groups.solr.copy_after_snapshot", {"copy_to"});
  doc = valid_config();
  doc["copies_in_flight"] = 21;
  expect_error(doc, "$.copies_in_flight", {"1..20"});
}

// Issue 12: the retention policy, per group.
TEST_F(ConfigLoad, RetentionLoadsEveryKey) {
  auto doc = valid_config();
  doc["groups"]["solr"]["retention"] = {{"keep_last", 3}, {"hourly", 24}, {"daily", 7}, {"weekly", 4},
                                        {"monthly", 12}, {"yearly", 2}, {"min_age", "1h"}, {"expire_after", "400d"},
                                        {"max_deletes_per_run", 500}, {"prune_after_snapshot", true}};
  doc["delete_rate_per_s"] = 4;
  doc["groups"]["pg"] = {{"volumes", Json::array({valid_volume("/dev/xvdg", "/var/lib/postgresql")})},
                         {"retention", {{"daily", 0}}}};
  auto config = load_config_file(write(doc));
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  const auto& r = config->groups[0].retention;
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->keep_last, 3);
  EXPECT_EQ(r->hourly, 24);
  EXPECT_EQ(r->daily, 7);
  EXPECT_EQ(r->weekly, 4);
  EXPECT_EQ(r->monthly, 12);
  EXPECT_EQ(r->yearly, 2);
  EXPECT_EQ(r->min_age, std::chrono::hours(1));
  EXPECT_EQ(r->expire_after, std::chrono::hours(24 * 400));
  EXPECT_EQ(r->max_deletes_per_run, 500);
  EXPECT_TRUE(r->prune_after_snapshot);
  EXPECT_EQ(config->delete_rate_per_s, 4);
  // Defaults: counts 0, min_age 1h, no expiry, 500 deletes per run.
  const auto& d = config->groups[1].retention;
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(*d, RetentionPolicy{});
  EXPECT_EQ(d->min_age, std::chrono::hours(1));
  EXPECT_FALSE(d->expire_after);
  EXPECT_EQ(d->max_deletes_per_run, 500);
  auto none = valid_config();
  auto without = load_config_file(write(none));
  ASSERT_TRUE(without.has_value());
  EXPECT_FALSE(without->groups[0].retention.has_value());
  EXPECT_EQ(without->delete_rate_per_s, 2);
  EXPECT_FALSE(d->prune_after_snapshot);
}

// Lineages from Snaptastic: an object, so that other tools can join it.
TEST_F(ConfigLoad, CompatSnaptastic) {
  auto doc = valid_config();
  auto off = load_config_file(write(doc));
  ASSERT_TRUE(off.has_value());
  EXPECT_FALSE(off->compat_snaptastic);
  doc["compat"] = {{"snaptastic", true}};
  auto on = load_config_file(write(doc));
  ASSERT_TRUE(on.has_value()) << on.error().describe();
  EXPECT_TRUE(on->compat_snaptastic);
  doc["compat"] = true;
  expect_error(doc, "$.compat", {"expected an object such as {\"snaptastic\": true}"});
  doc["compat"] = {{"snaptastik", true}};
  expect_error(doc, "$.compat.snaptastik", {"unknown key", "did you mean snaptastic?"});
  doc["compat"] = {{"snaptastic", "yes"}};
  expect_error(doc, "$.compat.snaptastic", {"expected true or false"});
}

// prune's pace: EC2 refills DeleteSnapshot at 5/s for the whole account; whole calls per second.
TEST_F(ConfigLoad, DeleteRateIsOneToFivePerSecond) {
  auto doc = valid_config();
  for (const Json& bad : {Json(0), Json(6), Json(2.5), Json("2")}) {
    doc["delete_rate_per_s"] = bad;
    expect_error(doc, "$.delete_rate_per_s", {"expected an integer 1..5 (DeleteSnapshot calls per second"});
  }
  doc["delete_rate_per_s"] = 5;
  EXPECT_TRUE(load_config_file(write(doc)).has_value());
}

// Issue 13: snapshots without a run id within this many seconds are one restore point.
TEST_F(ConfigLoad, UntaggedRunWindowIsOneSecondToAnHour) {
  auto doc = valid_config();
  EXPECT_EQ(load_config_file(write(doc))->untagged_run_window, std::chrono::seconds(10));
  for (const Json& bad : {Json(0), Json(3601), Json(2.5), Json("10")}) {
    doc["untagged_run_window_s"] = bad;
    expect_error(doc, "$.untagged_run_window_s", {"expected an integer 1..3600 (seconds)"});
  }
  doc["untagged_run_window_s"] = 30;
  EXPECT_EQ(load_config_file(write(doc))->untagged_run_window, std::chrono::seconds(30));
}

TEST_F(ConfigLoad, RetentionRefusesBadTypesRangesAndKeys) {
  const auto with = [&](Json retention) {
    auto doc = valid_config();
    doc["groups"]["solr"]["retention"] = std::move(retention);
    return doc;
  };
  const std::string at = "$.groups.solr.retention";
  expect_error(with(7), at, {"expected a retention policy (a JSON object), got integer"});
  expect_error(with({{"daily", "7"}}), at + ".daily", {"expected an integer 0..100000 (days)", "\"7\""});
  expect_error(with({{"daily", 1.5}}), at + ".daily", {"expected an integer 0..100000", "1.5"});
  expect_error(with({{"keep_last", -1}}), at + ".keep_last", {"expected an integer 0..100000 (runs)", "-1"});
  expect_error(with({{"yearly", 100001}}), at + ".yearly", {"0..100000", "100001"});
  expect_error(with({{"weekly", 2}, {"hourley", 3}}), at + ".hourley", {"unknown key \"hourley\"", "did you mean hourly?"});
  expect_error(with({{"daily", 7}, {"keep", 1}}), at + ".keep", {"unknown key \"keep\""});
  expect_error(with({{"daily", 7}, {"max_deletes_per_run", 0}}), at + ".max_deletes_per_run", {"1..100000", "got 0"});
  expect_error(with({{"daily", 7}, {"max_deletes_per_run", true}}), at + ".max_deletes_per_run", {"expected an integer", "true"});
  expect_error(with({{"daily", 7}, {"prune_after_snapshot", "yes"}}), at + ".prune_after_snapshot", {"expected true or false"});
}

TEST_F(ConfigLoad, RetentionNeedsACountWrittenOut) {
  auto doc = valid_config();
  doc["groups"]["solr"]["retention"] = Json::object();
  expect_error(doc, "$.groups.solr.retention", {"at least one of keep_last, hourly, daily, weekly, monthly, yearly",
                                                 "\"keep_last\": 0"});
  doc["groups"]["solr"]["retention"] = {{"min_age", "1h"}, {"expire_after", "30d"}};
  expect_error(doc, "$.groups.solr.retention", {"at least one of keep_last"});
  doc["groups"]["solr"]["retention"] = {{"keep_last", 0}};
  EXPECT_TRUE(load_config_file(write(doc)).has_value());  // the newest run of each mount point only
}

TEST_F(ConfigLoad, RetentionDurations) {
  const auto with = [&](Json retention) {
    auto doc = valid_config();
    doc["groups"]["solr"]["retention"] = std::move(retention);
    return doc;
  };
  const std::string at = "$.groups.solr.retention";
  for (const Json& bad : {Json("1y"), Json("1 h"), Json(""), Json("h"), Json("10"), Json("1h1d"), Json(3600), Json("-1h")}) {
    expect_error(with({{"daily", 7}, {"min_age", bad}}), at + ".min_age",
                 {"expected a duration such as \"90m\", \"1h\"", "(units s, m, h, d, w)"});
  }
  expect_error(with({{"daily", 7}, {"expire_after", "3mo"}}), at + ".expire_after", {"expected a duration", "\"3mo\""});
  expect_error(with({{"daily", 7}, {"expire_after", "30m"}}), at + ".expire_after", {"at least 1h", "\"30m\""});
  expect_error(with({{"daily", 7}, {"min_age", "2d"}, {"expire_after", "1d"}}), at + ".expire_after",
               {"at least min_age (\"2d\"", "\"1d\""});
  auto ok = load_config_file(write(with({{"daily", 7}, {"min_age", "0s"}, {"expire_after", "1w2d"}})));
  ASSERT_TRUE(ok.has_value()) << ok.error().describe();
  EXPECT_EQ(ok->groups[0].retention->min_age, std::chrono::seconds(0));
  EXPECT_EQ(ok->groups[0].retention->expire_after, std::chrono::hours(24 * 9));
}

// A run is deleted whole: a bound below the group's volume count would defer every run forever.
TEST_F(ConfigLoad, MaxDeletesPerRunCoversAWholeRun) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"].push_back(valid_volume("/dev/sdg", "/mnt/solr2"));
  doc["groups"]["solr"]["retention"] = {{"daily", 7}, {"max_deletes_per_run", 1}};
  expect_error(doc, "$.groups.solr.retention.max_deletes_per_run", {"2..100000", "a run of this group is 2"});
  doc["groups"]["solr"]["retention"]["max_deletes_per_run"] = 2;
  EXPECT_TRUE(load_config_file(write(doc)).has_value());
}

TEST_F(ConfigLoad, GroupNeedsVolumes) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"] = Json::array();
  expect_error(doc, "$.groups.solr.volumes", {"non-empty array"});
  doc["groups"]["solr"].erase("volumes");
  expect_error(doc, "$.groups.solr.volumes", {"missing"});
}

TEST_F(ConfigLoad, VolumeNeedsDeviceMountPointAndSize) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"][0].erase("size_gib");
  expect_error(doc, "$.groups.solr.volumes[0].size_gib", {"missing"});
}

TEST_F(ConfigLoad, EmptyGroupsAreAcceptedInTheFileButNotInTheEnd) {
  auto doc = valid_config();
  doc["groups"] = Json::object();
  auto config = load_config_file(write(doc));
  ASSERT_TRUE(config.has_value());
  auto final_config = apply_userdata(*config, Userdata{});
  ASSERT_FALSE(final_config.has_value());
  EXPECT_EQ(final_config.error().json_path, "$.groups");
  EXPECT_NE(final_config.error().message.find("at least one group"), std::string::npos);
}

TEST_F(ConfigLoad, CredentialsNeedBothKeysAndNeverEchoValues) {
  auto doc = valid_config();
  doc["credentials"] = {{"access_key_id", "AKIA"}};
  auto result = load_config_file(write(doc, 0600));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().json_path, "$.credentials.secret_access_key");
  doc["credentials"] = {{"access_key_id", "AKIA"}, {"secret_access_key", 42}};
  result = load_config_file(write(doc, 0600));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message.find("42"), std::string::npos) << result.error().describe();
}

// Hook programs must be root-owned: needs root (suites named *AsRoot are labelled e2e).
class ConfigHooksAsRoot : public ConfigLoad {
 protected:
  void SetUp() override { ASSERT_EQ(::geteuid(), 0U) << "hook programs must be root-owned: run as root (label e2e)"; }
  std::string hook_file(const std::string& name, mode_t mode) {
    const auto path = dir_.path() / name;
    std::ofstream(path) << "#!/bin/sh\ntrue\n";
    ::chmod(path.c_str(), mode);
    return path.string();
  }
  Json with_hook(const Json& hook) {
    auto doc = valid_config();
    doc["groups"]["solr"]["hooks"] = {{"pre_snapshot", Json::array({hook})}};
    return doc;
  }
};

TEST_F(ConfigHooksAsRoot, ValidHooksAsPathOrArgv) {
  const auto hook = hook_file("flush", 0755);
  auto doc = valid_config();
  doc["groups"]["solr"]["hooks"] = {{"pre_snapshot", Json::array({hook, Json::array({hook, "--fast"})})},
                                    {"post_mounts", hook},
                                    {"on_success", Json::array({Json::array({hook, "--notify"})})}};
  auto config = load_config_file(write(doc));
  ASSERT_TRUE(config.has_value()) << config.error().describe();
  const auto& hooks = config->groups[0].hooks;
  ASSERT_EQ(hooks.of(HookPhase::PreSnapshot).size(), 2u);
  EXPECT_EQ(hooks.of(HookPhase::PreSnapshot)[1], (HookCommand{hook, "--fast"}));
  EXPECT_EQ(hooks.of(HookPhase::PostMounts), (std::vector<HookCommand>{{hook}}));
  EXPECT_TRUE(hooks.of(HookPhase::OnFailure).empty());
  EXPECT_EQ(hooks.of(HookPhase::OnSuccess), (std::vector<HookCommand>{{hook, "--notify"}}));
}

TEST_F(ConfigHooksAsRoot, MissingHook) {
  expect_error(with_hook((dir_.path() / "nope").string()), "$.groups.solr.hooks.pre_snapshot[0]", {"does not exist"});
}

TEST_F(ConfigHooksAsRoot, HookNotExecutable) {
  expect_error(with_hook(hook_file("h", 0644)), "$.groups.solr.hooks.pre_snapshot[0]", {"not executable"});
}

TEST_F(ConfigHooksAsRoot, HookNotRootOwned) {
  const auto hook = hook_file("h", 0755);
  ASSERT_EQ(::chown(hook.c_str(), 1000, 1000), 0);
  expect_error(with_hook(hook), "$.groups.solr.hooks.pre_snapshot[0]", {"owned by root"});
}

TEST_F(ConfigHooksAsRoot, HookWritableByOthersOrGroup) {
  expect_error(with_hook(hook_file("h", 0757)), "$.groups.solr.hooks.pre_snapshot[0]", {"not writable by group or others"});
  expect_error(with_hook(hook_file("h2", 0775)), "$.groups.solr.hooks.pre_snapshot[0]", {"not writable by group or others"});
}

TEST_F(ConfigHooksAsRoot, ArgvHookPointsAtItsProgram) {
  expect_error(with_hook(Json::array({hook_file("h", 0757), "x"})), "$.groups.solr.hooks.pre_snapshot[0][0]",
               {"not writable"});
  expect_error(with_hook(Json::array({"relative", "x"})), "$.groups.solr.hooks.pre_snapshot[0][0]", {"absolute path"});
  expect_error(with_hook(Json::array({hook_file("h3", 0755), 3})), "$.groups.solr.hooks.pre_snapshot[0][1]",
               {"expected a string"});
}

TEST_F(ConfigLoad, UnknownHookPhaseSuggests) {
  auto doc = valid_config();
  doc["groups"]["solr"]["hooks"] = {{"pre_snapshto", Json::array()}};
  expect_error(doc, "$.groups.solr.hooks.pre_snapshto", {"did you mean pre_snapshot?"});
}

}  // namespace
}  // namespace agent
