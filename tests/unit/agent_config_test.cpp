#include <gtest/gtest.h>

#include "agent/config/config.h"
#include "agent/config/validate_rules.h"

namespace agent {
namespace {

TEST(ConfigNames, EveryPhaseRoundTrips) {
  for (const auto phase : k_hook_phases) {
    EXPECT_EQ(parse_hook_phase(to_string(phase)), phase) << to_string(phase);
  }
  EXPECT_FALSE(parse_hook_phase("pre_snapshotz").has_value());
  EXPECT_TRUE(is_pre_phase(HookPhase::PreSnapshots));
  EXPECT_FALSE(is_pre_phase(HookPhase::PostSnapshot));
  EXPECT_FALSE(is_pre_phase(HookPhase::OnFailure));
  EXPECT_EQ(parse_hook_phase("on_success"), HookPhase::OnSuccess);
  EXPECT_FALSE(is_pre_phase(HookPhase::OnSuccess));
}

TEST(ConfigNames, VolumeTypesAndFilesystemsRoundTrip) {
  for (const auto type : {VolumeType::Gp2, VolumeType::Gp3, VolumeType::Io1, VolumeType::Io2,
                          VolumeType::St1, VolumeType::Sc1, VolumeType::Standard}) {
    EXPECT_EQ(parse_volume_type(to_string(type)), type);
  }
  EXPECT_EQ(parse_fs_type("xfs"), FsType::Xfs);
  EXPECT_EQ(parse_fs_type("ext4"), FsType::Ext4);
  EXPECT_FALSE(parse_fs_type("btrfs").has_value());
  EXPECT_FALSE(parse_volume_type("gp4").has_value());
}

TEST(ConfigError, DescribeIsOneLineWithFileAndPath) {
  const ConfigError e{.file = "/etc/ebsnap/ebsnap.json",
                      .json_path = "$.groups.solr.volumes[0].size_gib",
                      .message = "expected an integer 1..16384, got 0"};
  EXPECT_EQ(e.describe(),
            "/etc/ebsnap/ebsnap.json: $.groups.solr.volumes[0].size_gib: expected an integer "
            "1..16384, got 0");
  const ConfigError whole{.file = "f.json", .message = "no such file"};
  EXPECT_EQ(whole.describe(), "f.json: no such file");
}

TEST(Config, FindGroupByName) {
  Config config;
  config.groups.push_back(GroupConfig{.name = "solr"});
  config.groups.push_back(GroupConfig{.name = "pg"});
  ASSERT_NE(config.find_group("pg"), nullptr);
  EXPECT_EQ(config.find_group("pg")->name, "pg");
  EXPECT_EQ(config.find_group("nope"), nullptr);
  EXPECT_TRUE(config.groups[0].freeze);
}

}  // namespace
}  // namespace agent

namespace agent {
namespace {

// Issue 11: a volume over a system directory is root for whoever controls the volume.
TEST(MountPointRule, SystemDirectoriesAreRefusedWithOneLine) {
  for (const auto* mp : {"/etc", "/etc/ebsnap", "/usr/local/data", "/bin", "/sbin/x", "/lib", "/lib64/x", "/boot/efi",
                         "/proc/x", "/sys", "/dev/shm", "/run", "/var", "/home", "/root"}) {
    const auto problem = rules::mount_point_problem(mp);
    ASSERT_TRUE(problem) << mp;
    EXPECT_EQ(problem->find('\n'), std::string::npos);
  }
  for (const auto* mp : {"/run/ebsnap/x", "/var/lib/postgresql", "/home/solr", "/root/data", "/mnt/solr", "/data",
                         "/srv/x", "/opt/x", "/tmp/x"}) {
    EXPECT_FALSE(rules::mount_point_problem(mp)) << mp << ": " << rules::mount_point_problem(mp).value_or("");
  }
}

}  // namespace
}  // namespace agent

namespace agent {
namespace {

// Issue 12: durations in the config (retention.min_age, expire_after).
TEST(DurationRule, UnitsLargestFirstEachOnce) {
  using std::chrono::seconds;
  EXPECT_EQ(rules::parse_duration("0s"), seconds(0));
  EXPECT_EQ(rules::parse_duration("90m"), seconds(5400));
  EXPECT_EQ(rules::parse_duration("1h"), seconds(3600));
  EXPECT_EQ(rules::parse_duration("400d"), seconds(400 * 86400));
  EXPECT_EQ(rules::parse_duration("2w"), seconds(14 * 86400));
  EXPECT_EQ(rules::parse_duration("1d12h"), seconds(36 * 3600));
  EXPECT_EQ(rules::parse_duration("1w1d1h1m1s"), seconds(8 * 86400 + 3661));
  EXPECT_EQ(rules::parse_duration("36500d"), seconds(36500LL * 86400));
  for (const auto* bad : {"", "1", "h", "1y", "1mo", "1H", " 1h", "1h ", "-1h", "+1h", "1.5h", "1h1d", "1h1h",
                          "36501d", "99999999999999999999s", "1h30"}) {
    EXPECT_FALSE(rules::parse_duration(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace agent
