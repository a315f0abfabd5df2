// ebsnap prune (act and report) against the in-process EC2: it deletes exactly the planner's
// deletes, in order, paced; throttling backs off; an AMI's snapshot is kept; IAM refusing stops.
// The planner's own rules are tests/unit/agent_prune_decide_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "agent/commands/prune.h"
#include "agent/core/compat.h"
#include "agent/core/tags.h"
#include "tests/unit/agent_restore_fixture.h"
#include "tests/unit/agent_snapshot_fixture.h"

namespace agent {
namespace {

using namespace std::chrono_literals;
using testing::FakeInstance;

class PruneTest : public ::testing::Test {
 protected:
  PruneTest() {
    f_.add_group("db", {f_.volume("/dev/sdf", "/data/a"), f_.volume("/dev/sdg", "/data/b")});
    f_.config.groups[0].retention = RetentionPolicy{.keep_last = 2, .min_age = 1h};
    f_.config.delete_rate_per_s = 2;
  }

  // A completed run of group `group` over both mount points, `age` old: its two snapshot ids.
  std::vector<std::string> add_run(const std::string& run_id, std::chrono::hours age, const std::string& group = "db",
                                   ec2::SnapshotState state = ec2::SnapshotState::Completed) {
    std::vector<std::string> ids;
    for (const std::string mount_point : {"/data/a", "/data/b"}) {
      ec2::Snapshot s{.state = state, .start_time = f_.clock.now() - age, .volume_size_gib = 10};
      for (const auto& fv : f_.filters) s.tags.push_back({fv.key, fv.value});
      s.tags.push_back({std::string(k_tag_group), group});
      s.tags.push_back({std::string(k_tag_mount_point), mount_point});
      s.tags.push_back({std::string(k_tag_run_id), run_id});
      ids.push_back(f_.ec2.add_snapshot(s).value);
    }
    return ids;
  }

  [[nodiscard]] std::set<std::string> remaining() const {
    std::set<std::string> ids;
    for (const auto& s : f_.ec2.snapshots()) ids.insert(s.id.value);
    return ids;
  }

  RunReport prune(bool dry_run = false) {
    f_.services.options.dry_run = dry_run;
    auto c = f_.context();
    return agent::prune(c);
  }

  FakeInstance f_;
};

TEST_F(PruneTest, DeletesExactlyThePlanOldestFirstAndKeepsTheRest) {
  const auto r1 = add_run("run-1", 50h);
  const auto r2 = add_run("run-2", 40h);
  const auto r3 = add_run("run-3", 30h);
  const auto r4 = add_run("run-4", 20h);
  const auto r5 = add_run("run-5", 10h);
  const auto other = add_run("run-0", 90h, "web");  // another group's: never touched

  auto r = prune();
  ASSERT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(r.prune.size(), 1U);
  const auto& p = r.prune[0];
  std::vector<std::string> expected;
  for (const auto* run : {&r1, &r2, &r3}) expected.insert(expected.end(), run->begin(), run->end());
  EXPECT_EQ(p.planned, expected);
  EXPECT_EQ(p.deleted, expected);  // in the plan's order
  EXPECT_EQ(f_.ec2.call_count("DeleteSnapshot"), 6);
  std::set<std::string> left(r4.begin(), r4.end());
  left.insert(r5.begin(), r5.end());
  left.insert(other.begin(), other.end());
  EXPECT_EQ(remaining(), left);

  ASSERT_EQ(p.runs.size(), 5U);
  EXPECT_EQ(p.runs[0].run_id, "run-1");
  EXPECT_EQ(p.runs[0].verdict, "delete");
  EXPECT_EQ(p.runs[0].reasons, (std::vector<std::string>{"no keep rule"}));
  EXPECT_EQ(p.runs[4].verdict, "keep");
  EXPECT_EQ(p.runs[4].reasons, (std::vector<std::string>{"newest", "keep_last"}));
  EXPECT_EQ(p.runs[4].mount_points, (std::vector<std::string>{"/data/a", "/data/b"}));
  ASSERT_EQ(p.lineages.size(), 2U);
  EXPECT_EQ(p.lineages[0].mount_point, "/data/a");
  EXPECT_EQ(p.lineages[0].newest, "run-5");

  const auto text = render_text(r);
  EXPECT_NE(text.find("prune db: 5 run(s): 2 kept, 3 to delete (6 snapshot(s)), 0 deferred (0 snapshot(s))"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  /data/a\n"), std::string::npos) << text;
  EXPECT_NE(text.find("run-5  newest, keep_last"), std::string::npos) << text;
  EXPECT_NE(text.find("deleted 6 of 6 snapshot(s)"), std::string::npos) << text;

  // Pruned to the policy: a second prune has nothing to do.
  auto again = prune();
  ASSERT_TRUE(again.ok()) << render_text(again);
  EXPECT_TRUE(again.prune[0].planned.empty());
  EXPECT_EQ(f_.ec2.call_count("DeleteSnapshot"), 6);
}

TEST_F(PruneTest, DryRunPrintsTheSamePlanAndChangesNothing) {
  for (int i = 0; i < 6; ++i) add_run("run-" + std::to_string(i), std::chrono::hours(60 - 10 * i));
  const auto before = remaining();
  auto dry = prune(true);
  ASSERT_TRUE(dry.ok()) << render_text(dry);
  EXPECT_EQ(remaining(), before);
  EXPECT_EQ(f_.ec2.call_count("DeleteSnapshot"), 0);
  EXPECT_TRUE(dry.prune[0].deleted.empty());
  EXPECT_EQ(dry.prune[0].planned.size(), 8U);
  EXPECT_EQ(render_text(dry).find("deleted "), std::string::npos);

  auto real = prune();
  ASSERT_TRUE(real.ok()) << render_text(real);
  EXPECT_EQ(real.prune[0].deleted, dry.prune[0].planned);
  EXPECT_EQ(to_json(real)["prune"][0]["runs"], to_json(dry)["prune"][0]["runs"]);
}

TEST_F(PruneTest, DeletesArePacedAtTheConfiguredRate) {
  for (int i = 0; i < 5; ++i) add_run("run-" + std::to_string(i), std::chrono::hours(60 - 10 * i));
  const auto start = f_.clock.monotonic();
  const auto sleeps_before = f_.clock.sleeps().size();
  auto r = prune();
  ASSERT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(r.prune[0].deleted.size(), 6U);
  // 2/s: one call every 500 ms, the first at once.
  const auto sleeps = f_.clock.sleeps();
  std::vector<std::chrono::milliseconds> mine(sleeps.begin() + static_cast<std::ptrdiff_t>(sleeps_before), sleeps.end());
  EXPECT_EQ(mine, std::vector<std::chrono::milliseconds>(5, 500ms));
  EXPECT_EQ(f_.clock.monotonic() - start, 2500ms);
  EXPECT_EQ(r.prune[0].delete_rate_per_s, 2);
}

// Throttling is the client's to wait out (ec2/pacing.h; the sandbox tests and the fault matrix run
// prune under throttling through the real client). A throttle that reaches prune means the client
// gave up on it: the group stops after that one call, keeps what it deleted, and leaves the rest.
TEST_F(PruneTest, AThrottleTheClientGaveUpOnStopsTheGroupAndLeavesTheRestForTheNextPrune) {
  const auto old = add_run("run-1", 50h);
  add_run("run-2", 40h);
  add_run("run-3", 30h);
  add_run("run-4", 20h);
  const auto before = remaining();
  int deletes = 0;  // the second DeleteSnapshot is throttled
  f_.ec2.on_call([&](std::string_view action) {
    if (action == "DeleteSnapshot" && ++deletes == 2) {
      f_.ec2.fail_next("DeleteSnapshot",
                       ec2::Error{.message = "Request limit exceeded.", .aws_code = "RequestLimitExceeded"});
    }
  });
  auto r = prune();
  EXPECT_FALSE(r.ok());
  const auto& p = r.prune[0];
  ASSERT_EQ(p.planned.size(), 4U) << render_text(r);
  EXPECT_EQ(p.deleted, (std::vector<std::string>{old[0]}));
  EXPECT_EQ(p.not_attempted, (std::vector<std::string>(p.planned.begin() + 1, p.planned.end())));
  EXPECT_TRUE(p.failed.empty());
  EXPECT_EQ(p.throttled, 1);
  EXPECT_EQ(remaining().size(), before.size() - 1);
  ASSERT_TRUE(r.groups[0].error.has_value());
  EXPECT_NE(r.groups[0].error->find("still throttled DeleteSnapshot"), std::string::npos) << *r.groups[0].error;
  EXPECT_EQ(f_.ec2.call_count("DeleteSnapshot"), 2);
}

TEST_F(PruneTest, ASnapshotAnAmiUsesIsKeptAndIsNotAFailure) {
  const auto old = add_run("run-1", 50h);
  add_run("run-2", 40h);
  add_run("run-3", 30h);
  f_.ec2.fail_next("DeleteSnapshot",
                   ec2::Error{.message = "The snapshot " + old[0] + " is currently in use by ami-0123",
                              .aws_code = "InvalidSnapshot.InUse"});
  auto r = prune();
  ASSERT_TRUE(r.ok()) << render_text(r);
  const auto& p = r.prune[0];
  EXPECT_EQ(p.in_use, (std::vector<std::string>{old[0]}));
  EXPECT_EQ(p.deleted, (std::vector<std::string>{old[1]}));
  EXPECT_TRUE(remaining().contains(old[0]));
  EXPECT_NE(render_text(r).find("kept, in use by an AMI: " + old[0]), std::string::npos) << render_text(r);
  EXPECT_EQ(to_json(r)["prune"][0]["in_use"], nlohmann::ordered_json::array({old[0]}));
}

TEST_F(PruneTest, ASnapshotAlreadyGoneIsNotAFailure) {
  const auto old = add_run("run-1", 50h);
  add_run("run-2", 40h);
  add_run("run-3", 30h);
  f_.ec2.fail_next("DeleteSnapshot", ec2::Error{.message = "gone", .aws_code = "InvalidSnapshot.NotFound"});
  auto r = prune();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(r.prune[0].already_gone, (std::vector<std::string>{old[0]}));
  EXPECT_EQ(r.prune[0].deleted, (std::vector<std::string>{old[1]}));
}

TEST_F(PruneTest, IamRefusingDeleteSnapshotStopsTheGroupAtOnce) {
  add_run("run-1", 50h);
  add_run("run-2", 40h);
  add_run("run-3", 30h);
  add_run("run-4", 20h);
  f_.ec2.fail_next("DeleteSnapshot", ec2::Error{.message = "not authorized", .aws_code = "UnauthorizedOperation"}, 10);
  auto r = prune();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(f_.ec2.call_count("DeleteSnapshot"), 1);
  const auto& p = r.prune[0];
  ASSERT_EQ(p.failed.size(), 1U);
  EXPECT_EQ(p.not_attempted.size(), p.planned.size() - 1);
  ASSERT_TRUE(r.groups[0].error.has_value());
  EXPECT_NE(r.groups[0].error->find("DeleteSnapshot refused"), std::string::npos) << *r.groups[0].error;
}

TEST_F(PruneTest, OtherFailuresGoOnUntilFiveInARow) {
  for (int i = 0; i < 6; ++i) add_run("run-" + std::to_string(i), std::chrono::hours(90 - 10 * i));
  f_.ec2.fail_next("DeleteSnapshot", ec2::Error{.message = "boom", .aws_code = "InternalError", .http_status = 500}, 2);
  auto r = prune();
  EXPECT_FALSE(r.ok());  // a failed delete is a failed prune: never silent
  const auto& p = r.prune[0];
  EXPECT_EQ(p.failed.size(), 2U);
  EXPECT_EQ(p.deleted.size(), p.planned.size() - 2);
  EXPECT_TRUE(p.not_attempted.empty());

  f_.ec2.fail_next("DeleteSnapshot", ec2::Error{.message = "boom", .aws_code = "InternalError", .http_status = 500}, 9);
  add_run("run-a", 80h);
  add_run("run-b", 81h);
  add_run("run-c", 82h);
  r = prune();
  EXPECT_EQ(r.prune[0].failed.size(), static_cast<std::size_t>(k_prune_max_failures_in_a_row));
  EXPECT_EQ(r.prune[0].not_attempted.size(), 8U - k_prune_max_failures_in_a_row);
  EXPECT_NE(r.groups[0].error->find("5 DeleteSnapshot failures in a row"), std::string::npos) << *r.groups[0].error;
}

TEST_F(PruneTest, ADescribeFailureDeletesNothing) {
  add_run("run-1", 50h);
  f_.ec2.fail_next("DescribeSnapshots", ec2::Error{.message = "denied", .aws_code = "UnauthorizedOperation"});
  auto r = prune();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.prune.empty());
  EXPECT_EQ(f_.ec2.call_count("DeleteSnapshot"), 0);
  EXPECT_NE(r.groups[0].error->find("DescribeSnapshots failed"), std::string::npos);
}

TEST_F(PruneTest, TheQueryIsOwnerSelfOnThisGroupAndTheFilterValues) {
  add_run("run-1", 50h);
  // Another environment's run of the same group name: not this instance's lineage.
  ec2::Snapshot s{.state = ec2::SnapshotState::Completed, .start_time = f_.clock.now() - 70h};
  s.tags = {{"role", "other"}, {std::string(k_tag_group), "db"}, {std::string(k_tag_mount_point), "/data/a"},
            {std::string(k_tag_run_id), "run-x"}};
  const auto foreign = f_.ec2.add_snapshot(s);
  add_run("run-2", 40h);
  add_run("run-3", 30h);
  auto r = prune();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(remaining().contains(foreign.value));
  for (const auto& run : r.prune[0].runs) EXPECT_NE(run.run_id, "run-x");
}

// What the command line passes to snapshot (agent/cli/agent_commands.cpp).
void prune_group_after(const RunContext& c, const GroupConfig& g, RunReport& r) { prune_group(c, g, {}, r); }

TEST(PruneAfterSnapshot, ASuccessfulSnapshotPrunesTheGroupAndTagsExpiry) {
  testing::SnapshotMachine m;
  auto& g = m.config.groups.front();
  g.retention = RetentionPolicy{.keep_last = 1, .min_age = 1h, .expire_after = std::chrono::hours(24 * 400),
                                .prune_after_snapshot = true};
  // Two older runs of this group: keep_last 1 plus the new run (min_age) leaves one of them.
  std::vector<ec2::SnapshotId> old;
  for (int i = 0; i < 2; ++i) {
    for (const std::string mount_point : {"/mnt/a", "/mnt/b"}) {
      ec2::Snapshot s{.state = ec2::SnapshotState::Completed, .start_time = m.clock.now() - std::chrono::hours(48 - i)};
      s.tags = snapshot_tags(g, m.filters, {g.name, mount_point, "/dev/sdf"}, m.instance.instance_id,
                             ec2::VolumeId{"vol-0"}, Consistency::Frozen, "old-" + std::to_string(i));
      old.push_back(m.ec2.add_snapshot(s));
    }
  }
  auto r = m.snapshot({"solr"}, false, prune_group_after);
  ASSERT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(r.prune.size(), 1U);
  EXPECT_EQ(r.prune[0].deleted, (std::vector<std::string>{old[0].value, old[1].value}));
  EXPECT_FALSE(m.ec2.snapshot(old[0]));
  EXPECT_TRUE(m.ec2.snapshot(old[2]));
  // The new snapshots carry ebsnap:expires = now + 400 days, set at creation.
  for (const auto& v : r.groups[0].volumes) {
    ASSERT_TRUE(v.snapshot_id) << render_text(r);
    const auto s = m.ec2.snapshot(ec2::SnapshotId{*v.snapshot_id});
    ASSERT_TRUE(s);
    const auto expires = ec2::find_tag(s->tags, k_tag_expires);
    ASSERT_TRUE(expires);
    EXPECT_EQ(parse_expires_tag(*expires),
              std::chrono::floor<std::chrono::seconds>(m.clock.now()) + std::chrono::hours(24 * 400));
  }
  EXPECT_NE(render_text(r).find("prune solr: 3 run(s): 2 kept, 1 to delete"), std::string::npos) << render_text(r);
}

TEST(PruneAfterSnapshot, NotAfterAFailedSnapshotNorWithoutTheSetting) {
  testing::SnapshotMachine m;
  auto& g = m.config.groups.front();
  g.retention = RetentionPolicy{.keep_last = 1, .min_age = 1h};
  ec2::Snapshot s{.state = ec2::SnapshotState::Completed, .start_time = m.clock.now() - 48h};
  s.tags = snapshot_tags(g, m.filters, {g.name, "/mnt/a", "/dev/sdf"}, m.instance.instance_id, ec2::VolumeId{"vol-0"},
                         Consistency::Frozen, "old");
  const auto old = m.ec2.add_snapshot(s);
  auto r = m.snapshot({"solr"}, false, prune_group_after);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(r.prune.empty());
  EXPECT_TRUE(m.ec2.snapshot(old));

  g.retention->prune_after_snapshot = true;
  m.failing_hooks[HookPhase::PreSnapshots] = "refused";
  g.hooks.by_phase[HookPhase::PreSnapshots] = {{"/bin/true"}};
  r = m.snapshot({"solr"}, false, prune_group_after);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.prune.empty());
  EXPECT_TRUE(m.ec2.snapshot(old));
  EXPECT_EQ(m.ec2.call_count("DeleteSnapshot"), 0);
}

}  // namespace
}  // namespace agent

namespace agent {
namespace {

using namespace std::chrono_literals;

// Issue 12: lineages from Snaptastic ("compat": {"snaptastic": true}).
class SnaptasticCompat : public ::testing::Test {
 protected:
  SnaptasticCompat() {
    f_.add_group("db", {f_.volume("/dev/sdf", "/data/a")});
    f_.config.groups[0].retention = RetentionPolicy{.keep_last = 1, .min_age = 1h};
    f_.config.compat_snaptastic = true;
  }

  // A snapshot as Snaptastic tagged it: filter values, mount_point, instance_id, expires, created.
  ec2::SnapshotId snaptastic(std::chrono::hours age, std::string expires, const FilterValues& filters = {},
                             const std::string& mount_point = "/data/a") {
    ec2::Snapshot s{.state = ec2::SnapshotState::Completed, .start_time = f_.clock.now() - age, .volume_size_gib = 10};
    for (const auto& fv : filters.empty() ? f_.filters : filters) s.tags.push_back({fv.key, fv.value});
    s.tags.push_back({"mount_point", mount_point});
    s.tags.push_back({"instance_id", "i-0old"});
    s.tags.push_back({"expires", std::move(expires)});
    s.tags.push_back({"created", "2026-01-01 00:00:00.000001"});
    return f_.ec2.add_snapshot(s);
  }

  // "YYYY-MM-DD HH:MM:SS.ffffff", `from_now` after the clock (negative: past).
  std::string python_time(std::chrono::hours from_now) const {
    auto iso = ec2::format_iso8601(f_.clock.now() + from_now);  // 2027-01-15T08:00:00.000Z
    iso[10] = ' ';
    return iso.substr(0, 19) + ".123456";
  }

  ec2::SnapshotId ebsnap_run(std::chrono::hours age) {
    ec2::Snapshot s{.state = ec2::SnapshotState::Completed, .start_time = f_.clock.now() - age, .volume_size_gib = 10};
    s.tags = snapshot_tags(f_.config.groups[0], f_.filters, {"db", "/data/a", "/dev/sdf"}, f_.instance.instance_id,
                           ec2::VolumeId{"vol-0"}, Consistency::Frozen, "run-" + std::to_string(age.count()));
    return f_.ec2.add_snapshot(s);
  }

  FakeInstance f_;
};

TEST_F(SnaptasticCompat, TheirTimesParseAsUtc) {
  EXPECT_EQ(parse_snaptastic_time("2013-05-08 10:11:12.123456"), ec2::parse_iso8601("2013-05-08T10:11:12.123456Z"));
  EXPECT_EQ(parse_snaptastic_time("2013-05-08 10:11:12"), ec2::parse_iso8601("2013-05-08T10:11:12Z"));
  for (const auto* bad : {"", "2013-05-08", "2013-05-08T10:11:12Z", "2013-05-08 10:11:12+02:00", "next week"}) {
    EXPECT_FALSE(parse_snaptastic_time(bad)) << bad;
  }
}

TEST_F(SnaptasticCompat, PruneAppliesTheirExpiresAndNeverTheNewestOfTheLineage) {
  const auto expired_old = snaptastic(300h, python_time(-100h));
  const auto expired_newest = snaptastic(200h, python_time(-10h));
  const auto not_expired = snaptastic(250h, python_time(+100h));
  const auto unparsable = snaptastic(260h, "soon");
  const auto other_env = snaptastic(400h, python_time(-100h), {{"role", "search"}, {"cluster", "eu1"}, {"environment", "dev"}});
  const auto other_mount = snaptastic(400h, python_time(-100h), {}, "/data/zzz");
  auto r = agent::prune(f_.context());
  ASSERT_TRUE(r.ok()) << render_text(r);
  const auto& p = r.prune.at(0);
  // The newest of the lineage stays even when expired; expired ones go even when keep_last 1 would
  // not keep them anyway; one whose expires does not parse falls to the policy (no keep rule).
  std::set<std::string> deleted(p.deleted.begin(), p.deleted.end());
  EXPECT_EQ(deleted, (std::set<std::string>{expired_old.value, not_expired.value, unparsable.value}));
  for (const auto& id : {expired_newest, other_env, other_mount}) EXPECT_TRUE(f_.ec2.snapshot(id)) << id.value;
  bool seen = false;
  for (const auto& run : p.runs) {
    if (run.run_id == "snaptastic-" + expired_old.value) {
      seen = true;
      EXPECT_EQ(run.verdict, "delete");
      EXPECT_EQ(run.reasons, (std::vector<std::string>{"expired"}));
      EXPECT_EQ(run.mount_points, (std::vector<std::string>{"/data/a"}));
    }
  }
  EXPECT_TRUE(seen);
}

TEST_F(SnaptasticCompat, OnceEbsnapHasANewerRunTheirExpiredNewestGoesToo) {
  const auto theirs = snaptastic(200h, python_time(-10h));
  const auto ours = ebsnap_run(20h);
  auto r = agent::prune(f_.context());
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(r.prune.at(0).deleted, (std::vector<std::string>{theirs.value}));
  EXPECT_TRUE(f_.ec2.snapshot(ours));
}

TEST_F(SnaptasticCompat, WithoutCompatTheyAreNeverReadOrTouched) {
  f_.config.compat_snaptastic = false;
  const auto theirs = snaptastic(300h, python_time(-100h));
  (void)ebsnap_run(20h);
  auto r = agent::prune(f_.context());
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(f_.ec2.snapshot(theirs));
  EXPECT_EQ(f_.ec2.call_count("DescribeSnapshots"), 1);
  for (const auto& run : r.prune.at(0).runs) EXPECT_FALSE(run.run_id.starts_with("snaptastic-"));
}

}  // namespace
}  // namespace agent
