// ebsnap check-backups, the binary against the sandbox over HTTP: snapshots tagged as ebsnap tags
// them are made in the sandbox; fresh → exit 0; once the sandbox's start-time control moves the
// newest one's StartTime beyond --max-age → exit 1, and the line says why.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

#include "agent/core/tags.h"
#include "tests/integration/ec2_sandbox_fixture.h"
#include "tests/support/shell.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;

std::string iso_seconds(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class CheckBackupsSandbox : public ec2test::SandboxSuite {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(binary_)) << binary_ << " is missing: build the ebsnap target";
    config_ = (dir_.path() / "ebsnap.json").string();
    std::ofstream(config_) << R"({"region":")" << sandbox().region() << R"(","groups":{
        "solr":{"volumes":[{"device":"/dev/sdf","mount_point":"/mnt/solr","size_gib":1}]}}})";
  }

  struct Ran {
    int exit_code = -1;
    std::string out;
    std::string err;
  };

  Ran run(const std::vector<std::string>& words) {
    // In a subshell: shell() sends the command's stderr to its output, and the run's own
    // redirections must win.
    std::string command = "(env -u EBSNAP_CONFIG";
    for (const auto& [k, v] : sandbox().environment()) command += " " + k + "='" + v + "'";
    command += " " + binary_ + " --config " + config_ + " --userdata '" + k_userdata + "'";
    for (const auto& w : words) command += " " + w;
    command += " >" + (dir_.path() / "out").string() + " 2>" + (dir_.path() / "err").string() + ")";
    const auto r = testsupport::shell(command);
    return Ran{.exit_code = r.exit_code, .out = slurp(dir_.path() / "out"), .err = slurp(dir_.path() / "err")};
  }

  // One snapshot of a new volume, tagged as ebsnap's snapshot run `run_id` of solr tags it.
  std::string ebsnap_snapshot(const std::string& run_id, std::chrono::system_clock::time_point start,
                              const std::string& consistency = "frozen") {
    auto c = client();
    auto vol = c->create_volume({.availability_zone = sandbox().availability_zone(), .size_gib = 1});
    EXPECT_TRUE(vol) << vol.error().describe();
    const auto made = control_post("/snapshots/bulk",
                                   {{"volume_id", vol->id.value},
                                    {"count", 1},
                                    {"start_time", iso_seconds(start)},
                                    {"tags",
                                     {{"role", "search"},
                                      {"cluster", "eu1"},
                                      {"environment", "it"},
                                      {std::string(agent::k_tag_group), "solr"},
                                      {std::string(agent::k_tag_mount_point), "/mnt/solr"},
                                      {std::string(agent::k_tag_device), "/dev/sdf"},
                                      {std::string(agent::k_tag_run_id), run_id},
                                      {std::string(agent::k_tag_consistency), consistency}}}});
    return made["snapshot_ids"][0].get<std::string>();
  }

  static constexpr const char* k_userdata = R"({"role":"search","cluster":"eu1","environment":"it"})";
  std::string binary_ = EBSNAP_BINARY_DIR "/agent/ebsnap";
  testsupport::TempDir dir_;
  std::string config_;
};

TEST_F(CheckBackupsSandbox, FreshThenStaleOnceStartTimeMovesBeyondMaxAge) {
  // No snapshot yet: missing.
  auto r = run({"check-backups", "--max-age", "26h", "solr"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "[FAIL] solr /mnt/solr no completed snapshot\n") << r.err;

  const auto now = std::chrono::system_clock::now();
  const auto snap = ebsnap_snapshot("run-it-1", now - 2h);
  r = run({"check-backups", "--max-age", "26h", "solr"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(r.out.starts_with("[ok]   solr /mnt/solr newest completed " + snap + " ")) << r.out << r.err;
  EXPECT_NE(r.out.find("(2h0m old) frozen\n"), std::string::npos) << r.out;

  // check --max-age: every group, the same output and exit code.
  const auto via_check = run({"check", "--max-age", "26h"});
  EXPECT_EQ(via_check.exit_code, 0) << via_check.out << via_check.err;
  EXPECT_EQ(via_check.out, r.out);

  // 27 hours old now: stale, exit 1.
  control_post("/snapshots/start-time", {{"start_times", {{snap, iso_seconds(now - 27h)}}}});
  r = run({"check-backups", "--max-age", "26h"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(r.out.starts_with("[FAIL] solr /mnt/solr newest completed " + snap + " ")) << r.out;
  EXPECT_NE(r.out.find("(1d3h old) frozen: older than --max-age 26h\n"), std::string::npos) << r.out;
  EXPECT_EQ(run({"check", "--max-age", "26h"}).exit_code, 1);
  EXPECT_EQ(run({"check-backups", "--max-age", "28h"}).exit_code, 0);

  // --json: the verdict and the age, in the schema's keys.
  r = run({"--json", "check-backups", "--max-age", "26h"});
  EXPECT_EQ(r.exit_code, 1);
  const auto doc = nlohmann::json::parse(r.out);
  const auto& v = doc["groups"][0]["volumes"][0];
  EXPECT_EQ(v["outcome"], "stale");
  EXPECT_EQ(v["latest_snapshot_id"], snap);
  EXPECT_GE(v["latest_snapshot_age_s"].get<std::int64_t>(), 27 * 3600);

  // A newer snapshot that was taken unfrozen while the group freezes: not trusted either.
  const auto unfrozen = ebsnap_snapshot("run-it-2", std::chrono::system_clock::now() - 1h, "unfrozen");
  r = run({"check-backups", "--max-age", "26h"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(r.out.starts_with("[FAIL] solr /mnt/solr newest completed " + unfrozen + " ")) << r.out;
  EXPECT_NE(r.out.find("unfrozen: consistency unfrozen, but group solr freezes /mnt/solr"), std::string::npos) << r.out;
}

TEST_F(CheckBackupsSandbox, RefusedDescribeSnapshotsIsExitOneWithOneLine) {
  sandbox().configure({{"allowed_actions", {"DescribeInstances", "DescribeVolumes"}}});
  const auto r = run({"check-backups", "--max-age", "26h"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(r.out.starts_with("check-backups: error: DescribeSnapshots failed: ")) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

TEST_F(CheckBackupsSandbox, BadMaxAgeIsExitTwo) {
  const auto r = run({"check-backups", "--max-age", "tomorrow"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("--max-age: expected a duration such as 26h"), std::string::npos) << r.err;
}

}  // namespace
