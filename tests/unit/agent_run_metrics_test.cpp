// The metrics of ebsnap's runs (agent/report/run_metrics.h): one file per command, a run's groups
// replaced, the other groups kept, counters carried on; and the files (watch's too) pass promtool.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/commands/watch.h"
#include "agent/report/metrics.h"
#include "agent/report/run_metrics.h"
#include "tests/support/shell.h"
#include "tests/support/temp_dir.h"

namespace agent {
namespace {

using namespace std::chrono_literals;

RunReport snapshot_report(const std::string& group, bool ok, std::chrono::system_clock::time_point started) {
  RunReport r = new_report("snapshot", false, {group});
  r.started_at = started;
  r.duration_ms = 1500;
  auto& g = r.group(group);
  g.freeze_window_ms = 120;
  g.volumes.push_back({.mount_point = "/mnt/" + group, .outcome = ok ? Outcome::Snapshotted : Outcome::Failed,
                       .consistency = ok ? "frozen" : "watchdog-thawed"});
  r.ec2_requests = {{"CreateSnapshots", {.requests = 1, .throttled = 0}},
                    {"DescribeVolumes", {.requests = 3, .throttled = 1}}};
  return r;
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr auto k_t1 = std::chrono::sys_seconds{std::chrono::seconds{1796545320}};  // 2026-12-06T08:22:00Z

TEST(RunMetrics, ARunReplacesItsGroupsKeepsTheOthersAndCountersGoOn) {
  auto samples = merge_run_metrics(snapshot_report("solr", true, k_t1), {});
  samples = merge_run_metrics(snapshot_report("pg", true, k_t1 + 10s), samples);
  samples = merge_run_metrics(snapshot_report("solr", false, k_t1 + 1h), samples);
  // What the file says is what the next run reads back.
  EXPECT_EQ(parse_metric_samples(render_run_metrics(samples)), samples);
  const auto at = [&samples](const std::string& key) { return samples.contains(key) ? samples.at(key) : -1.0; };
  const std::string solr = R"({command="snapshot",group="solr"})";
  const std::string pg = R"({command="snapshot",group="pg"})";
  EXPECT_EQ(at("ebsnap_runs_total" + solr), 2);
  EXPECT_EQ(at("ebsnap_run_failures_total" + solr), 1);
  EXPECT_EQ(at("ebsnap_last_success_timestamp_seconds" + solr), 1796545320);
  EXPECT_EQ(at("ebsnap_last_failure_timestamp_seconds" + solr), 1796545320 + 3600);
  EXPECT_EQ(at("ebsnap_last_run_timestamp_seconds" + solr), 1796545320 + 3600);
  EXPECT_EQ(at("ebsnap_watchdog_thawed_total" + solr), 1);
  EXPECT_EQ(at("ebsnap_last_freeze_window_seconds" + solr), 0.12);
  EXPECT_EQ(at("ebsnap_last_run_duration_seconds" + solr), 1.5);
  EXPECT_EQ(at("ebsnap_runs_total" + pg), 1);  // kept
  EXPECT_EQ(at("ebsnap_run_failures_total" + pg), 0);
  EXPECT_EQ(at("ebsnap_last_success_timestamp_seconds" + pg), 1796545330);
  EXPECT_FALSE(samples.contains("ebsnap_last_failure_timestamp_seconds" + pg));
}

TEST(RunMetrics, PruneCountsDeletesAndCheckBackupsTheNewestSnapshots) {
  RunReport prune = new_report("prune", false, {"pg"});
  prune.started_at = k_t1;
  prune.prune.push_back({.group = "pg", .deleted = {"snap-1", "snap-2"}});
  auto samples = merge_run_metrics(prune, {});
  samples = merge_run_metrics(prune, samples);
  EXPECT_EQ(samples.at(R"(ebsnap_snapshots_deleted_total{command="prune",group="pg"})"), 4);

  RunReport backups = new_report("check-backups", false, {"pg"});
  backups.started_at = k_t1;
  backups.group("pg").volumes.push_back(
      {.mount_point = "/mnt/pg \"main\"", .outcome = Outcome::Fresh, .latest_snapshot_age_s = 22 * 60});
  samples = merge_run_metrics(backups, {});
  EXPECT_EQ(samples.at(R"(ebsnap_newest_snapshot_timestamp_seconds{group="pg",mount_point="/mnt/pg \"main\""})"),
            1796545320 - 22 * 60);
}

// Issue 14: check-backups --region R checks a copy_to region's copies (the copy lag): its series
// carry the region, beside home's; the unlabelled series an older ebsnap wrote for the group go.
TEST(RunMetrics, CheckBackupsOfEachRegionAreSeriesOfTheirOwn) {
  const auto backups = [](const std::string& region, std::int64_t age_s) {
    RunReport r = new_report("check-backups", false, {"pg"});
    r.started_at = k_t1;
    r.region = region;
    r.group("pg").volumes.push_back({.mount_point = "/mnt/pg", .outcome = Outcome::Fresh, .latest_snapshot_age_s = age_s});
    return r;
  };
  // What an older ebsnap wrote: no region label.
  RunReport old = backups("", 60);
  auto samples = merge_run_metrics(old, {});
  ASSERT_TRUE(samples.contains(R"(ebsnap_newest_snapshot_timestamp_seconds{group="pg",mount_point="/mnt/pg"})"));
  samples = merge_run_metrics(backups("eu-west-1", 60), samples);
  samples = merge_run_metrics(backups("us-west-2", 3 * 3600), samples);
  EXPECT_EQ(samples.at(R"(ebsnap_newest_snapshot_timestamp_seconds{group="pg",mount_point="/mnt/pg",region="eu-west-1"})"),
            1796545320 - 60);
  EXPECT_EQ(samples.at(R"(ebsnap_newest_snapshot_timestamp_seconds{group="pg",mount_point="/mnt/pg",region="us-west-2"})"),
            1796545320 - 3 * 3600);
  EXPECT_EQ(samples.at(R"(ebsnap_runs_total{command="check-backups",group="pg",region="us-west-2"})"), 1);
  for (const auto& [key, value] : samples) {
    if (key.find(R"(group="pg")") == std::string::npos) continue;
    EXPECT_NE(key.find("region=\""), std::string::npos) << key;
  }
  // Other commands keep their series as they were.
  auto snapshot = snapshot_report("pg", true, k_t1);
  snapshot.region = "eu-west-1";
  const auto theirs = merge_run_metrics(snapshot, {});
  EXPECT_TRUE(theirs.contains(R"(ebsnap_runs_total{command="snapshot",group="pg"})"));
}

TEST(RunMetrics, Ec2RequestsAndThrottlesAddUpByActionAndPrewarmReportsItsShare) {
  auto samples = merge_run_metrics(snapshot_report("solr", true, k_t1), {});
  samples = merge_run_metrics(snapshot_report("pg", true, k_t1 + 10s), samples);
  EXPECT_EQ(samples.at(R"(ebsnap_ec2_requests_total{command="snapshot",action="DescribeVolumes"})"), 6);
  EXPECT_EQ(samples.at(R"(ebsnap_ec2_throttled_total{command="snapshot",action="DescribeVolumes"})"), 2);
  EXPECT_EQ(samples.at(R"(ebsnap_ec2_requests_total{command="snapshot",action="CreateSnapshots"})"), 2);
  EXPECT_EQ(samples.at(R"(ebsnap_ec2_throttled_total{command="snapshot",action="CreateSnapshots"})"), 0);

  RunReport prewarm = new_report("prewarm", false, {"pg"});
  prewarm.started_at = k_t1;
  prewarm.group("pg").volumes.push_back(
      {.mount_point = "/mnt/pg", .outcome = Outcome::Interrupted, .prewarm_percent = 45});
  prewarm.group("pg").volumes.push_back({.mount_point = "/mnt/wal", .outcome = Outcome::Failed});
  samples = merge_run_metrics(prewarm, {});
  EXPECT_EQ(samples.at(R"(ebsnap_prewarm_progress_ratio{group="pg",mount_point="/mnt/pg"})"), 0.45);
  EXPECT_FALSE(samples.contains(R"(ebsnap_prewarm_progress_ratio{group="pg",mount_point="/mnt/wal"})"));
}

// DLM's pre and post scripts: a hold's window is thaw GROUP's, and a hold that ended at its bound
// is thaw's failure (the post-script came too late).
TEST(RunMetrics, FreezeAndThawOfAGroupAreCountedWithTheHoldsWindow) {
  EXPECT_TRUE(has_run_metrics("freeze"));
  EXPECT_TRUE(has_run_metrics("thaw"));
  EXPECT_FALSE(has_run_metrics("list"));
  RunReport thaw = new_report("thaw", false, {"pg"});
  thaw.started_at = k_t1;
  thaw.group("pg").freeze_window_ms = 2400;
  thaw.group("pg").volumes.push_back({.mount_point = "/mnt/pg", .outcome = Outcome::Thawed});
  auto samples = merge_run_metrics(thaw, {});
  RunReport late = new_report("thaw", false, {"pg"});
  late.started_at = k_t1 + 1h;
  late.group("pg").volumes.push_back(
      {.mount_point = "/mnt/pg", .outcome = Outcome::Failed, .reason = "not frozen until now (not-frozen)"});
  samples = merge_run_metrics(late, samples);
  const std::string pg = R"({command="thaw",group="pg"})";
  EXPECT_EQ(samples.at("ebsnap_last_freeze_window_seconds" + pg), 2.4);
  EXPECT_EQ(samples.at("ebsnap_runs_total" + pg), 2);
  EXPECT_EQ(samples.at("ebsnap_run_failures_total" + pg), 1);
  EXPECT_EQ(samples.at("ebsnap_last_failure_timestamp_seconds" + pg), 1796545320 + 3600);
}

TEST(RunMetrics, ALineThatIsNotASampleIsSkipped) {
  const auto samples = parse_metric_samples("# HELP x y\n\nebsnap_a{g=\"a b\"} 2\nebsnap_b 1x\nebsnap_c\nebsnap_d 0.5");
  EXPECT_EQ(samples, (MetricSamples{{"ebsnap_a{g=\"a b\"}", 2}, {"ebsnap_d", 0.5}}));
}

// The fuzzer found it (run_records, with float-cast-overflow): a previous file's sample of 1.8e20
// was cast to long long to print it, which is undefined beyond 9.2e18.
TEST(RunMetrics, ValuesBeyondALongLongAreWrittenAsDoublesAndNonNumbersAreSkipped) {
  EXPECT_EQ(metric_value(3), "3");
  EXPECT_EQ(metric_value(-2), "-2");
  EXPECT_EQ(metric_value(0.5), "0.5");
  EXPECT_EQ(metric_value(9007199254740991.0), "9007199254740991");
  EXPECT_EQ(metric_value(1.79661961796796619600e20), "1.796619617967966e+20");
  EXPECT_EQ(metric_value(-1e300), "-1e+300");
  const std::string big = "ebsnap_ec2_requests_total{command=\"copy\",action=\"CopySnapshot\"}";
  const std::string one = "ebsnap_runs_total{command=\"copy\",group=\"e\"}";
  const auto samples = parse_metric_samples(big + " 179661961796796619600\n" +
                                            "ebsnap_runs_total{command=\"copy\",group=\"b\"} nan\n" +
                                            "ebsnap_runs_total{command=\"copy\",group=\"c\"} inf\n" +
                                            "ebsnap_runs_total{command=\"copy\",group=\"d\"} -inf\n" + one + " 1\n");
  EXPECT_EQ(samples, (MetricSamples{{big, 1.79661961796796619600e20}, {one, 1}}));
  EXPECT_EQ(parse_metric_samples(render_run_metrics(samples)), samples);
}

TEST(RunMetrics, PublishedFilesKeepEachOthersGroupsAndPassPromtool) {
  testsupport::TempDir dir;
  ASSERT_TRUE(publish_run_metrics(dir.path(), snapshot_report("solr", true, k_t1)));
  ASSERT_TRUE(publish_run_metrics(dir.path(), snapshot_report("pg", false, k_t1 + 1s)));
  const auto text = slurp(dir.path() / "ebsnap-snapshot.prom");
  EXPECT_TRUE(text.contains(R"(ebsnap_runs_total{command="snapshot",group="solr"} 1)")) << text;
  EXPECT_TRUE(text.contains(R"(ebsnap_runs_total{command="snapshot",group="pg"} 1)")) << text;
  EXPECT_EQ(std::filesystem::status(dir.path() / "ebsnap-snapshot.prom").permissions() & std::filesystem::perms::all,
            std::filesystem::perms(0644));
  // Prometheus' own checker, on this file and on watch's.
  WatchMemory watch{.imds_errors = 3, .notices = {{"spot", 1}}, .outcomes = {{{"pg", "snapshotted"}, 1}}};
  watch.last_notice["spot"] = k_t1;
  ASSERT_TRUE(write_metrics_file(dir.path(), "ebsnap-watch", render_watch_metrics(watch)));
  const auto promtool = std::string(EBSNAP_PROMTOOL);
  ASSERT_TRUE(std::filesystem::exists(promtool)) << promtool << " is missing: run scripts/deps";
  for (const char* name : {"ebsnap-snapshot.prom", "ebsnap-watch.prom"}) {
    const auto checked = testsupport::shell(promtool + " check metrics < '" + (dir.path() / name).string() + "'");
    EXPECT_EQ(checked.exit_code, 0) << name << "\n" << checked.output << slurp(dir.path() / name);
    EXPECT_EQ(checked.output, "") << name << "\n" << slurp(dir.path() / name);
  }
}

}  // namespace
}  // namespace agent
