// ebsnap watch: the notices IMDS serves, one snapshot per group per notice, and the records that
// keep a restarted watch from taking a second one (agent/commands/watch.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "agent/commands/watch.h"
#include "agent/commands/snapshot.h"
#include "agent/core/notice_record.h"
#include "agent/report/metrics.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/agent_snapshot_fixture.h"

namespace agent {
namespace {

using testing::SnapshotMachine;

constexpr std::string_view k_spot = R"({"action": "terminate", "time": "2026-12-06T08:22:00Z"})";
constexpr std::string_view k_rebalance = R"({"noticeTime": "2026-12-06T08:20:00Z"})";

// IMDS with what a test serves: 404 for a path without a document, an error while `failing`.
class NoticeImds final : public ec2::Imds {
 public:
  ec2::Result<ec2::InstanceId> instance_id() override { return no(); }
  ec2::Result<std::string> region() override { return no(); }
  ec2::Result<std::string> availability_zone() override { return no(); }
  ec2::Result<std::optional<std::string>> user_data() override { return no(); }
  ec2::Result<ec2::InstanceIdentity> identity_document() override { return no(); }
  ec2::Result<std::string> role_name() override { return no(); }
  ec2::Result<ec2::Credentials> role_credentials(std::string_view) override { return no(); }
  ec2::Result<std::string> get(std::string_view path) override {
    ++gets;
    if (failing) return std::unexpected(ec2::Error{.kind = ec2::ErrorKind::Imds, .message = "connection refused"});
    const auto it = documents.find(std::string(path));
    if (it == documents.end()) {
      return std::unexpected(ec2::Error{.kind = ec2::ErrorKind::Imds, .message = "no such path", .http_status = 404});
    }
    return it->second;
  }

  std::map<std::string, std::string> documents;
  bool failing = false;
  int gets = 0;

 private:
  static std::unexpected<ec2::Error> no() { return ec2::fail(ec2::ErrorKind::Imds, "not in this test"); }
};

class Watch : public ::testing::Test {
 protected:
  Watch() {
    GroupConfig pg{.name = "pg"};
    pg.volumes.push_back({.device = "/dev/sdh", .mount_point = "/mnt/c", .size_gib = 10});
    m_.config.groups.push_back(pg);
    m_.add_our_volume(m_.config.groups.back(), 0, "/dev/nvme3n1");
  }

  // A watch of both groups that polls `polls` times (the wait says stop after that).
  std::vector<RunReport> watch(int polls) {
    auto services = m_.services();
    std::vector<const GroupConfig*> groups;
    for (const auto& g : m_.config.groups) groups.push_back(&g);
    const RunContext context{.services = services, .config = m_.config, .filters = m_.filters,
                             .instance = m_.instance, .groups = groups};
    std::vector<RunReport> printed;
    int left = polls;
    const WatchOptions options{
        .imds = &imds_,
        .wait = [&left](std::chrono::milliseconds) { return --left <= 0; },
        .snapshot = [this](const RunContext& run, const std::string& run_id, Trigger trigger) {
          ++snapshot_runs_;
          return agent::snapshot(run, SnapshotOptions{.run_id = run_id, .trigger = trigger});
        },
        .on_report = [&printed](const RunReport& r) { printed.push_back(r); },
        .publish_metrics = [this](const std::string& text) { published_.push_back(text); }};
    const auto report = agent::watch(context, options);
    EXPECT_EQ(report.command, "watch");
    return printed;
  }

  [[nodiscard]] std::vector<ec2::Snapshot> snapshots_with(std::string_view key, std::string_view value) const {
    std::vector<ec2::Snapshot> out;
    for (const auto& s : m_.ec2.snapshots()) {
      if (ec2::find_tag(s.tags, key) == value) out.push_back(s);
    }
    return out;
  }

  SnapshotMachine m_;
  NoticeImds imds_;
  int snapshot_runs_ = 0;
  std::vector<std::string> published_;
};

TEST(WatchNotice, ParsesTheSpotAndRebalanceDocuments) {
  auto spot = parse_notice(Trigger::Spot, k_spot);
  ASSERT_TRUE(spot) << spot.error();
  EXPECT_EQ(spot->key, "spot-20261206T082200Z");
  EXPECT_EQ(spot->action, "terminate");
  auto rebalance = parse_notice(Trigger::Rebalance, k_rebalance);
  ASSERT_TRUE(rebalance) << rebalance.error();
  EXPECT_EQ(rebalance->key, "rebalance-20261206T082000Z");
  EXPECT_FALSE(rebalance->action);
}

TEST(WatchNotice, RefusesWhatIsNotANoticeInOneLine) {
  const std::vector<std::pair<Trigger, std::string>> bad = {
      {Trigger::Spot, "<html>503</html>"},
      {Trigger::Spot, "[]"},
      {Trigger::Spot, R"({"time": "2026-12-06T08:22:00Z"})"},
      {Trigger::Spot, R"({"action": "reboot", "time": "2026-12-06T08:22:00Z"})"},
      {Trigger::Spot, R"({"action": "terminate", "time": "tomorrow"})"},
      {Trigger::Spot, R"({"action": "terminate", "time": 1765009320})"},
      {Trigger::Rebalance, R"({"time": "2026-12-06T08:22:00Z"})"},
      {Trigger::Rebalance, ""},
  };
  for (const auto& [kind, body] : bad) {
    auto n = parse_notice(kind, body);
    ASSERT_FALSE(n) << body;
    EXPECT_FALSE(n.error().contains('\n')) << n.error();
    EXPECT_TRUE(n.error().starts_with("meta-data/")) << n.error();
  }
}

TEST(WatchNotice, DecidesFromTheRecord) {
  EXPECT_EQ(decide_notice(std::nullopt), NoticeAction::Snapshot);
  EXPECT_EQ(decide_notice(NoticeRecord{.notice = "spot-x", .group = "pg"}), NoticeAction::Snapshot);
  EXPECT_EQ(decide_notice(NoticeRecord{.notice = "spot-x", .group = "pg", .run_ids = {"r1"}}),
            NoticeAction::LookForSnapshots);
  EXPECT_EQ(decide_notice(NoticeRecord{.notice = "spot-x", .group = "pg", .run_ids = {"r1"}, .done = true}),
            NoticeAction::Nothing);
}

TEST(WatchNotice, RecordsRoundTripAndRefuseOtherText) {
  const NoticeRecord r{.notice = "spot-20261206T082200Z", .group = "pg", .run_ids = {"20261206T082000-0a1b2c3d", "r-2"}, .done = true};
  EXPECT_EQ(parse_notice_record(format_notice_record(r)), r);
  for (const char* bad : {"", "notice=spot-x\n", "notice=spot-x\ngroup=pg\nrun_id=../etc\n", "notice=spot-x\ngroup=pg\nx=1\n",
                          "notice=spot-x\ngroup=p g\n", "notice=spot-x\ngroup=pg\ndone=yes\n"}) {
    EXPECT_FALSE(parse_notice_record(bad)) << bad;
  }
}

TEST_F(Watch, WithoutANoticeOnlyPollsIMDS) {
  EXPECT_TRUE(watch(3).empty());
  EXPECT_EQ(imds_.gets, 6);  // two documents a poll
  EXPECT_TRUE(m_.ec2.calls().empty());
  EXPECT_EQ(snapshot_runs_, 0);
}

TEST_F(Watch, ASpotNoticeGetsOneSnapshotPerGroupOnce) {
  imds_.documents[std::string(k_spot_notice_path)] = k_spot;
  const auto printed = watch(4);  // IMDS keeps serving the notice
  ASSERT_EQ(printed.size(), 1u);
  const auto& r = printed.front();
  ASSERT_TRUE(r.ok()) << render_text(r) << m_.log.dump();
  EXPECT_EQ(r.trigger, "spot");
  ASSERT_TRUE(r.notice);
  EXPECT_EQ(r.notice->action, "terminate");
  ASSERT_EQ(r.notice->groups.size(), 2u);
  for (const auto& g : r.notice->groups) {
    EXPECT_EQ(g.outcome, "snapshotted") << g.group;
    EXPECT_EQ(g.attempts, 1);
  }
  EXPECT_EQ(snapshot_runs_, 1);  // both groups in one run
  const auto spot = snapshots_with(k_tag_trigger, "spot");
  EXPECT_EQ(spot.size(), 3u);  // /mnt/a, /mnt/b (solr), /mnt/c (pg)
  for (const auto& s : spot) EXPECT_EQ(ec2::find_tag(s.tags, k_tag_run_id), r.notice->groups.front().run_id);
  EXPECT_TRUE(render_json(r).contains("\"notice\"")) << render_json(r);
}

TEST_F(Watch, ARestartedWatchFindsTheNoticeAnsweredAndTakesNoSecondSnapshot) {
  imds_.documents[std::string(k_spot_notice_path)] = k_spot;
  ASSERT_EQ(watch(1).size(), 1u);
  const auto calls = m_.ec2.call_count("CreateSnapshots") + m_.ec2.call_count("CreateSnapshot");
  const auto printed = watch(2);  // a new process: nothing in memory, the records on disk
  ASSERT_EQ(printed.size(), 1u);
  for (const auto& g : printed.front().notice->groups) EXPECT_EQ(g.outcome, "already-taken") << g.group;
  EXPECT_EQ(m_.ec2.call_count("CreateSnapshots") + m_.ec2.call_count("CreateSnapshot"), calls);
  EXPECT_EQ(snapshots_with(k_tag_trigger, "spot").size(), 3u);
}

TEST_F(Watch, AWatchKilledAfterTheCallFindsItsSnapshotsByRunId) {
  imds_.documents[std::string(k_spot_notice_path)] = k_spot;
  // The first watch recorded its run and made the call, and was killed before it wrote "done".
  ASSERT_EQ(watch(1).size(), 1u);
  const NoticeRecords records(m_.run_dir.path());
  for (const char* group : {"solr", "pg"}) {
    auto r = records.load("spot-20261206T082200Z", group);
    ASSERT_TRUE(r && *r) << group;
    auto undone = **r;
    undone.done = false;
    ASSERT_TRUE(records.save(undone));
  }
  const auto printed = watch(1);
  ASSERT_EQ(printed.size(), 1u);
  for (const auto& g : printed.front().notice->groups) EXPECT_EQ(g.outcome, "already-taken") << g.group;
  EXPECT_EQ(snapshot_runs_, 1);
  EXPECT_EQ(snapshots_with(k_tag_trigger, "spot").size(), 3u);
}

TEST_F(Watch, AWatchKilledBeforeTheCallSnapshotsWithANewRun) {
  imds_.documents[std::string(k_spot_notice_path)] = k_spot;
  const NoticeRecords records(m_.run_dir.path());
  for (const char* group : {"solr", "pg"}) {
    ASSERT_TRUE(records.save({.notice = "spot-20261206T082200Z", .group = group, .run_ids = {"20261206T082100-dead0000"}}));
  }
  const auto printed = watch(1);
  ASSERT_EQ(printed.size(), 1u);
  for (const auto& g : printed.front().notice->groups) {
    EXPECT_EQ(g.outcome, "snapshotted") << g.group;
    EXPECT_EQ(g.attempts, 2);
    EXPECT_NE(g.run_id, "20261206T082100-dead0000");
  }
  EXPECT_EQ(snapshots_with(k_tag_trigger, "spot").size(), 3u);
}

TEST_F(Watch, AFailedRunIsTriedAgainOnTheNextPollsThenGivenUp) {
  imds_.documents[std::string(k_spot_notice_path)] = k_spot;
  m_.ec2.fail_next("CreateSnapshots", ec2::Error{.kind = ec2::ErrorKind::Other, .message = "injected",
                                                 .aws_code = "InternalError", .http_status = 500},
                   10);
  m_.ec2.fail_next("CreateSnapshot", ec2::Error{.kind = ec2::ErrorKind::Other, .message = "injected",
                                                .aws_code = "InternalError", .http_status = 500},
                   10);
  const auto printed = watch(6);
  ASSERT_EQ(printed.size(), k_max_notice_attempts);
  for (std::size_t i = 0; i < printed.size(); ++i) {
    EXPECT_FALSE(printed[i].ok());
    for (const auto& g : printed[i].notice->groups) {
      EXPECT_EQ(g.outcome, "failed");
      EXPECT_EQ(g.attempts, static_cast<std::int64_t>(i + 1));
    }
  }
  EXPECT_EQ(snapshot_runs_, static_cast<int>(k_max_notice_attempts));
  EXPECT_TRUE(snapshots_with(k_tag_trigger, "spot").empty());
}

TEST_F(Watch, SurvivesIMDSErrorsAndIgnoresADocumentThatIsNotANotice) {
  imds_.failing = true;
  EXPECT_TRUE(watch(3).empty());
  imds_.failing = false;
  imds_.documents[std::string(k_spot_notice_path)] = "<html>not json</html>";
  EXPECT_TRUE(watch(2).empty());
  EXPECT_EQ(snapshot_runs_, 0);
  imds_.documents[std::string(k_spot_notice_path)] = k_spot;
  EXPECT_EQ(watch(1).size(), 1u);
  EXPECT_EQ(snapshot_runs_, 1);
}

TEST_F(Watch, ARebalanceAndASpotNoticeAreTwoNotices) {
  imds_.documents[std::string(k_rebalance_notice_path)] = k_rebalance;
  ASSERT_EQ(watch(2).size(), 1u);
  imds_.documents[std::string(k_spot_notice_path)] = k_spot;
  const auto printed = watch(2);
  ASSERT_EQ(printed.size(), 2u);  // a new watch: the spot notice, and the rebalance one found answered
  EXPECT_EQ(printed[0].trigger, "spot");
  for (const auto& g : printed[0].notice->groups) EXPECT_EQ(g.outcome, "snapshotted") << g.group;
  for (const auto& g : printed[1].notice->groups) EXPECT_EQ(g.outcome, "already-taken") << g.group;
  EXPECT_EQ(snapshots_with(k_tag_trigger, "rebalance").size(), 3u);
  EXPECT_EQ(snapshots_with(k_tag_trigger, "spot").size(), 3u);
}

TEST_F(Watch, AnUnreadableRecordLeavesTheGroupAlone) {
  imds_.documents[std::string(k_spot_notice_path)] = k_spot;
  const NoticeRecords records(m_.run_dir.path());
  ASSERT_TRUE(records.save({.notice = "spot-20261206T082200Z", .group = "pg", .run_ids = {"r1"}}));
  std::ofstream(records.path_for("spot-20261206T082200Z", "pg")) << "garbage\n";
  const auto printed = watch(1);
  ASSERT_EQ(printed.size(), 1u);
  const auto& groups = printed.front().notice->groups;
  EXPECT_EQ(groups[0].outcome, "snapshotted");
  EXPECT_EQ(groups[1].outcome, "failed");
  for (const auto& s : snapshots_with(k_tag_trigger, "spot")) EXPECT_EQ(ec2::find_tag(s.tags, k_tag_group), "solr");
}

TEST_F(Watch, MetricsAreWrittenWhenTheyChangeAndFollowPrometheusRules) {
  EXPECT_TRUE(watch(3).empty());
  ASSERT_EQ(published_.size(), 1u);  // at start; nothing changed on the next polls
  EXPECT_TRUE(published_.back().contains("ebsnap_watch_notices_total{kind=\"spot\"} 0\n")) << published_.back();
  EXPECT_TRUE(published_.back().contains("ebsnap_watch_imds_up 1\n")) << published_.back();
  published_.clear();
  imds_.failing = true;
  EXPECT_TRUE(watch(2).empty());
  ASSERT_EQ(published_.size(), 2u);  // each failing poll adds two errors (spot and rebalance GETs)
  EXPECT_TRUE(published_.back().contains("ebsnap_watch_imds_up 0\n")) << published_.back();
  EXPECT_TRUE(published_.back().contains("ebsnap_watch_imds_errors_total 4\n")) << published_.back();
  imds_.failing = false;
  published_.clear();
  imds_.documents[std::string(k_spot_notice_path)] = k_spot;
  ASSERT_EQ(watch(2).size(), 1u);
  const auto& text = published_.back();
  EXPECT_TRUE(text.contains("ebsnap_watch_notices_total{kind=\"spot\"} 1\n")) << text;
  EXPECT_TRUE(text.contains("ebsnap_watch_notice_time_seconds{kind=\"spot\"} 1796545320\n")) << text;
  EXPECT_TRUE(text.contains("ebsnap_watch_notice_groups_total{group=\"pg\",outcome=\"snapshotted\"} 1\n")) << text;
  // The exposition format: HELP and TYPE before a family's samples; names and labels as Prometheus
  // allows; counters end in _total.
  const std::regex help(R"(# HELP (ebsnap_[a-z_]+) .+)");
  const std::regex type(R"(# TYPE (ebsnap_[a-z_]+) (gauge|counter))");
  const std::regex sample(R"((ebsnap_[a-z_]+)(\{[a-z_]+="[^"\n]*"(,[a-z_]+="[^"\n]*")*\})? -?[0-9.e+]+)");
  std::istringstream lines(text);
  std::string family;
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      family = m[1];
    } else if (std::regex_match(line, m, type)) {
      EXPECT_EQ(m[1], family) << line;
      EXPECT_EQ(m[2] == "counter", family.ends_with("_total")) << line;
    } else {
      ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
      EXPECT_EQ(m[1], family) << line;
    }
  }
}

TEST(Metrics, LabelValuesAreEscapedAndTheFileIsReplacedAtOnce) {
  EXPECT_EQ(render_metrics({{.name = "ebsnap_x_total", .help = "X.", .type = "counter",
                             .samples = {{.labels = {{"group", "a\"b\\c\nd"}}, .value = 2}}}}),
            "# HELP ebsnap_x_total X.\n# TYPE ebsnap_x_total counter\nebsnap_x_total{group=\"a\\\"b\\\\c\\nd\"} 2\n");
  testsupport::TempDir dir;
  ASSERT_TRUE(write_metrics_file(dir.path(), "ebsnap-watch", "a 1\n"));
  ASSERT_TRUE(write_metrics_file(dir.path(), "ebsnap-watch", "a 2\n"));
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"ebsnap-watch.prom"});  // no temporary file left
  std::ifstream in(dir.path() / "ebsnap-watch.prom");
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(body, "a 2\n");
  EXPECT_EQ(std::filesystem::status(dir.path() / "ebsnap-watch.prom").permissions() & std::filesystem::perms::all,
            std::filesystem::perms(0644));
  EXPECT_FALSE(write_metrics_file(dir.path() / "missing", "ebsnap-watch", "a 1\n"));
  EXPECT_EQ(resolve_metrics_dir("/x", "/y"), std::filesystem::path("/x"));
  EXPECT_EQ(resolve_metrics_dir(std::nullopt, "/y"), std::filesystem::path("/y"));
}

}  // namespace
}  // namespace agent
