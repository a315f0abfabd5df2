// The decide step of prune (agent/commands/prune_decide.h): synthetic timelines for each rule, and
// a property test over random histories for the safety rules no policy overrides.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "agent/commands/prune_decide.h"
#include "agent/core/tags.h"

namespace agent {
namespace {

using namespace std::chrono_literals;
using ec2::SnapshotState;
using ec2::TimePoint;

const FilterValues k_filters{{"role", "search"}, {"environment", "prod"}};
constexpr std::string_view k_group = "solr";

TimePoint at(int y, unsigned m, unsigned d, int h = 0, int min = 0, int s = 0) {
  return TimePoint(std::chrono::sys_days(std::chrono::year(y) / std::chrono::month(m) / std::chrono::day(d))) + std::chrono::hours(h) +
         std::chrono::minutes(min) + std::chrono::seconds(s);
}

struct Member {
  std::string mount_point = "/mnt/a";
  SnapshotState state = SnapshotState::Completed;
  std::vector<ec2::Tag> extra;       // ebsnap:keep, ebsnap:expires, ...
  std::optional<FilterValues> filters;  // another set than k_filters: not owned
  TimePoint::duration offset{};      // after the run's time
};

// A history of one group: runs of snapshots tagged as `snapshot` tags them.
class History {
 public:
  // A run of one completed snapshot per mount point.
  History& run(const std::string& id, TimePoint t, std::vector<std::string> mount_points = {"/mnt/a"}) {
    std::vector<Member> members;
    for (auto& mp : mount_points) members.push_back({.mount_point = std::move(mp)});
    return run_with(id, t, std::move(members));
  }
  History& run_with(const std::string& id, TimePoint t, std::vector<Member> members) {
    for (auto& m : members) {
      ec2::Snapshot s;
      s.id = ec2::SnapshotId{fmt::format("snap-{}-{}", id, snapshots.size())};
      s.state = m.state;
      s.start_time = t + m.offset;
      for (const auto& f : m.filters.value_or(k_filters)) s.tags.push_back({f.key, f.value});
      s.tags.push_back({std::string(k_tag_group), std::string(k_group)});
      s.tags.push_back({std::string(k_tag_mount_point), m.mount_point});
      s.tags.push_back({std::string(k_tag_run_id), id});
      for (auto& t2 : m.extra) s.tags.push_back(t2);
      snapshots.push_back(std::move(s));
    }
    return *this;
  }
  std::vector<ec2::Snapshot> snapshots;
};

RetentionPolicy policy(std::function<void(RetentionPolicy&)> set = {}) {
  RetentionPolicy p;
  p.min_age = 0s;
  if (set) set(p);
  return p;
}

PrunePlan plan(const std::vector<ec2::Snapshot>& snapshots, const RetentionPolicy& p, TimePoint now) {
  return plan_prune({.snapshots = snapshots, .owner = {.group = k_group, .filters = k_filters}, .policy = p, .now = now});
}

const PlannedRun& run_of(const PrunePlan& plan, std::string_view id) {
  for (const auto& r : plan.runs) {
    if (r.run_id == id) return r;
  }
  ADD_FAILURE() << "no run " << id;
  static const PlannedRun none;
  return none;
}

std::vector<std::string> words(const PlannedRun& run) {
  std::vector<std::string> out;
  for (const auto r : run.reasons.list()) out.push_back(describe(r, run.time));
  return out;
}

// The runs kept, by id, oldest first.
std::vector<std::string> kept(const PrunePlan& plan) {
  std::vector<std::string> out;
  for (const auto& r : plan.runs) {
    if (r.verdict == RunVerdict::Keep) out.push_back(r.run_id);
  }
  return out;
}

using Words = std::vector<std::string>;
using Ids = std::vector<std::string>;

// ---- bucket names ----------------------------------------------------------------------------

TEST(PruneBuckets, NamesInUtc) {
  EXPECT_EQ(hour_bucket(at(2026, 12, 3, 14, 59, 59)), "2026-12-03T14");
  EXPECT_EQ(day_bucket(at(2026, 12, 2, 23, 59)), "2026-12-02");
  EXPECT_EQ(month_bucket(at(2026, 12, 31, 23, 59)), "2026-12");
  EXPECT_EQ(year_bucket(at(2027, 1, 1)), "2027");
  EXPECT_EQ(day_bucket(at(2028, 2, 29, 12)), "2028-02-29");
  EXPECT_EQ(iso_week_bucket(at(2026, 12, 3)), "2026-W49");
}

TEST(PruneBuckets, IsoWeekYearAtYearBoundaries) {
  EXPECT_EQ(iso_week_bucket(at(2026, 12, 31)), "2026-W53");  // a Thursday
  EXPECT_EQ(iso_week_bucket(at(2027, 1, 1)), "2026-W53");    // Friday: still 2026's last week
  EXPECT_EQ(iso_week_bucket(at(2027, 1, 3, 23, 59)), "2026-W53");  // Sunday
  EXPECT_EQ(iso_week_bucket(at(2027, 1, 4)), "2027-W01");    // Monday
  EXPECT_EQ(iso_week_bucket(at(2024, 12, 30)), "2025-W01");  // Monday of 2025's first week
  EXPECT_EQ(iso_week_bucket(at(2026, 1, 1)), "2026-W01");    // a Thursday
  EXPECT_EQ(iso_week_bucket(at(2021, 1, 3)), "2020-W53");
  EXPECT_EQ(iso_week_bucket(at(2028, 1, 2)), "2027-W52");
}

TEST(PruneBuckets, EveryReasonHasItsWord) {
  const auto t = at(2026, 12, 3, 14, 5);
  EXPECT_EQ(describe(PruneReason::Newest, t), "newest");
  EXPECT_EQ(describe(PruneReason::Hourly, t), "hourly 2026-12-03T14");
  EXPECT_EQ(describe(PruneReason::Daily, t), "daily 2026-12-03");
  EXPECT_EQ(describe(PruneReason::Weekly, t), "weekly 2026-W49");
  EXPECT_EQ(describe(PruneReason::Monthly, t), "monthly 2026-12");
  EXPECT_EQ(describe(PruneReason::Yearly, t), "yearly 2026");
  EXPECT_EQ(describe(PruneReason::KeepLast, t), "keep_last");
  EXPECT_EQ(describe(PruneReason::KeepTag, t), "keep tag");
  EXPECT_EQ(describe(PruneReason::Pending, t), "pending");
  EXPECT_EQ(describe(PruneReason::Unsettled, t), "unsettled");
  EXPECT_EQ(describe(PruneReason::NotOwned, t), "not owned");
  EXPECT_EQ(describe(PruneReason::MinAge, t), "min_age");
  EXPECT_EQ(describe(PruneReason::Expired, t), "expired");
  EXPECT_EQ(describe(PruneReason::Error, t), "error");
  EXPECT_EQ(describe(PruneReason::NoKeepRule, t), "no keep rule");
  EXPECT_EQ(describe(PruneReason::MaxDeletes, t), "max_deletes_per_run");
  EXPECT_EQ(to_string(RunVerdict::Defer), "defer");
}

// ---- GFS over synthetic timelines --------------------------------------------------------------

TEST(PrunePlan, HourlyKeepsTheNewestRunOfEachOfTheLastHours) {
  History h;
  for (int i = 0; i < 8; ++i) h.run(fmt::format("r{}", i), at(2026, 12, 3, 10 + i / 2, (i % 2) * 30));  // two per hour
  const auto p = plan(h.snapshots, policy([](auto& r) { r.hourly = 3; }), at(2026, 12, 3, 20));
  EXPECT_EQ(kept(p), (Ids{"r3", "r5", "r7"}));
  EXPECT_EQ(words(run_of(p, "r7")), (Words{"newest", "hourly 2026-12-03T13"}));
  EXPECT_EQ(words(run_of(p, "r3")), (Words{"hourly 2026-12-03T11"}));
  EXPECT_EQ(words(run_of(p, "r2")), (Words{"no keep rule"}));
  EXPECT_EQ(run_of(p, "r2").verdict, RunVerdict::Delete);
  EXPECT_EQ(p.deletes.size(), 5u);
}

TEST(PrunePlan, MonthBoundary) {
  History h;
  h.run("jan-a", at(2026, 1, 31, 12)).run("jan-b", at(2026, 1, 31, 23, 30)).run("feb", at(2026, 2, 1, 0, 30));
  const auto p = plan(h.snapshots, policy([](auto& r) { r.monthly = 2; }), at(2026, 3, 1));
  EXPECT_EQ(kept(p), (Ids{"jan-b", "feb"}));
  EXPECT_EQ(words(run_of(p, "jan-b")), (Words{"monthly 2026-01"}));
  EXPECT_EQ(words(run_of(p, "feb")), (Words{"newest", "monthly 2026-02"}));
}

TEST(PrunePlan, YearBoundaryAndIsoWeek53) {
  History h;
  // 2026-12-28 (Monday) .. 2027-01-03 (Sunday) is 2026-W53; 2027-01-04 starts 2027-W01.
  h.run("dec27", at(2026, 12, 27, 12))   // 2026-W52
      .run("dec30", at(2026, 12, 30, 12))
      .run("dec31", at(2026, 12, 31, 23))
      .run("jan01", at(2027, 1, 1, 1))
      .run("jan03", at(2027, 1, 3, 22))
      .run("jan04", at(2027, 1, 4, 1));
  const auto p = plan(h.snapshots, policy([](auto& r) {
                        r.weekly = 3;
                        r.yearly = 2;
                      }),
                      at(2027, 1, 10));
  EXPECT_EQ(kept(p), (Ids{"dec27", "dec31", "jan03", "jan04"}));
  EXPECT_EQ(words(run_of(p, "jan03")), (Words{"weekly 2026-W53"}));
  EXPECT_EQ(words(run_of(p, "dec27")), (Words{"weekly 2026-W52"}));
  EXPECT_EQ(words(run_of(p, "dec31")), (Words{"yearly 2026"}));  // same ISO week as jan03, other year
  EXPECT_EQ(words(run_of(p, "jan04")), (Words{"newest", "weekly 2027-W01", "yearly 2027"}));
}

TEST(PrunePlan, LeapDay) {
  History h;
  for (unsigned d = 26; d <= 29; ++d) h.run(fmt::format("feb{}", d), at(2028, 2, d, 6)).run(fmt::format("feb{}pm", d), at(2028, 2, d, 18));
  h.run("mar01", at(2028, 3, 1, 6));
  const auto p = plan(h.snapshots, policy([](auto& r) { r.daily = 3; }), at(2028, 3, 2));
  EXPECT_EQ(kept(p), (Ids{"feb28pm", "feb29pm", "mar01"}));
  EXPECT_EQ(words(run_of(p, "feb29pm")), (Words{"daily 2028-02-29"}));
  EXPECT_EQ(run_of(p, "feb29").verdict, RunVerdict::Delete);
}

// "The last N days" are the N most recent days that hold a run: a two-week outage does not make
// daily 3 keep nothing.
TEST(PrunePlan, GapsInTheHistoryCountOnlyBucketsWithARun) {
  History h;
  h.run("d1", at(2026, 5, 1, 3)).run("d2", at(2026, 5, 2, 3)).run("d3", at(2026, 5, 3, 3));
  h.run("d17", at(2026, 5, 17, 3)).run("d18", at(2026, 5, 18, 3));
  const auto p = plan(h.snapshots, policy([](auto& r) { r.daily = 3; }), at(2026, 6, 1));
  EXPECT_EQ(kept(p), (Ids{"d3", "d17", "d18"}));
  EXPECT_EQ(words(run_of(p, "d3")), (Words{"daily 2026-05-03"}));
}

TEST(PrunePlan, KeepLastCountsCompleteRunsAndRulesCountIndependently) {
  History h;
  for (int i = 0; i < 6; ++i) h.run(fmt::format("r{}", i), at(2026, 6, 1 + static_cast<unsigned>(i), 12));
  const auto p = plan(h.snapshots, policy([](auto& r) {
                        r.keep_last = 2;
                        r.daily = 3;
                        r.monthly = 1;
                      }),
                      at(2026, 7, 1));
  EXPECT_EQ(kept(p), (Ids{"r3", "r4", "r5"}));
  EXPECT_EQ(words(run_of(p, "r5")), (Words{"newest", "keep_last", "daily 2026-06-06", "monthly 2026-06"}));
  EXPECT_EQ(words(run_of(p, "r4")), (Words{"keep_last", "daily 2026-06-05"}));
  EXPECT_EQ(words(run_of(p, "r3")), (Words{"daily 2026-06-04"}));
}

// A run's time is its earliest StartTime: its snapshots were all fixed by one freeze before it.
TEST(PrunePlan, ARunsTimeIsItsEarliestStart) {
  History h;
  h.run_with("late", at(2026, 3, 1, 23, 59, 58),
        std::vector<Member>{{.mount_point = "/mnt/a"}, {.mount_point = "/mnt/b", .offset = 4s}});
  h.run("next", at(2026, 3, 2, 12), {"/mnt/a", "/mnt/b"});
  const auto p = plan(h.snapshots, policy([](auto& r) { r.daily = 2; }), at(2026, 3, 5));
  EXPECT_EQ(run_of(p, "late").time, at(2026, 3, 1, 23, 59, 58));
  EXPECT_EQ(words(run_of(p, "late")), (Words{"daily 2026-03-01"}));
}

// ---- error, pending, pins, ownership, expiry, min_age --------------------------------------------

TEST(PrunePlan, AllRunsInErrorAreDeletedOnceOlderThanMinAge) {
  History h;
  for (int i = 0; i < 4; ++i) {
    h.run_with(fmt::format("e{}", i), at(2026, 4, 1, i),
          std::vector<Member>{{.state = SnapshotState::Error}, {.mount_point = "/mnt/b", .state = SnapshotState::Error}});
  }
  const auto p = plan(h.snapshots, policy([](auto& r) {
                        r.keep_last = 5;
                        r.hourly = 5;
                        r.min_age = 90min;
                      }),
                      at(2026, 4, 1, 4));  // e3 is an hour old, e2 two hours
  EXPECT_EQ(kept(p), (Ids{"e3"}));
  EXPECT_EQ(words(run_of(p, "e3")), (Words{"min_age", "error"}));
  EXPECT_EQ(words(run_of(p, "e0")), (Words{"error"}));
  EXPECT_EQ(p.deletes.size(), 6u);
  for (const auto& l : p.lineages) EXPECT_FALSE(l.newest) << l.mount_point;
}

// A run with one member in error is no restore point of the group (not counted by keep_last or a
// bucket), but its completed member is still the newest of its mount point, so it is kept whole.
TEST(PrunePlan, ARunWithOneMemberInError) {
  History h;
  h.run("old", at(2026, 4, 1, 1), {"/mnt/a", "/mnt/b"});
  h.run("mid", at(2026, 4, 1, 2), {"/mnt/a", "/mnt/b"});
  h.run_with("half-old", at(2026, 4, 1, 3),
        std::vector<Member>{{.mount_point = "/mnt/a"}, {.mount_point = "/mnt/b", .state = SnapshotState::Error}});
  h.run_with("half", at(2026, 4, 1, 4),
        std::vector<Member>{{.mount_point = "/mnt/a"}, {.mount_point = "/mnt/b", .state = SnapshotState::Error}});
  const auto p = plan(h.snapshots, policy([](auto& r) { r.keep_last = 1; }), at(2026, 4, 2));
  EXPECT_EQ(kept(p), (Ids{"mid", "half"}));
  EXPECT_EQ(words(run_of(p, "half")), (Words{"newest", "error"}));         // newest of /mnt/a
  EXPECT_EQ(words(run_of(p, "mid")), (Words{"newest", "keep_last"}));      // newest of /mnt/b
  EXPECT_EQ(words(run_of(p, "half-old")), (Words{"error"}));               // deleted whole
  EXPECT_EQ(run_of(p, "half-old").verdict, RunVerdict::Delete);
  EXPECT_EQ(p.lineages.at(0).mount_point, "/mnt/a");
  EXPECT_EQ(p.lineages.at(0).newest, 3u);
  EXPECT_EQ(p.lineages.at(1).newest, 1u);
  EXPECT_EQ(p.deletes.size(), 4u);  // old and half-old, both members each
}

TEST(PrunePlan, APendingMemberKeepsItsRunAndTheNewestCompletedStays) {
  History h;
  h.run("a", at(2026, 4, 1, 1), {"/mnt/a", "/mnt/b"});
  h.run("b", at(2026, 4, 1, 2), {"/mnt/a", "/mnt/b"});
  h.run_with("stuck", at(2026, 4, 1, 3),
        std::vector<Member>{{.mount_point = "/mnt/a", .state = SnapshotState::Pending}, {.mount_point = "/mnt/b"}});
  h.run_with("c", at(2026, 4, 1, 4), std::vector<Member>{{.mount_point = "/mnt/a", .state = SnapshotState::Pending},
                                                    {.mount_point = "/mnt/b", .state = SnapshotState::Pending}});
  const auto p = plan(h.snapshots, policy(), at(2026, 5, 1));
  EXPECT_EQ(kept(p), (Ids{"b", "stuck", "c"}));
  EXPECT_EQ(words(run_of(p, "c")), (Words{"pending"}));
  EXPECT_EQ(words(run_of(p, "stuck")), (Words{"newest", "pending"}));  // newest of /mnt/b
  EXPECT_EQ(words(run_of(p, "b")), (Words{"newest"}));                 // newest of /mnt/a
}

TEST(PrunePlan, StatesOtherThanCompletedErrorAndPendingKeepTheRun) {
  History h;
  h.run_with("odd", at(2026, 4, 1, 1), std::vector<Member>{{.state = SnapshotState::Recoverable}});
  h.run_with("unknown", at(2026, 4, 1, 2), std::vector<Member>{{.state = SnapshotState::Unknown}});
  h.run("new", at(2026, 4, 1, 3));
  h.run("no-start", at(2026, 4, 1, 0));
  h.snapshots.back().start_time.reset();
  const auto p = plan(h.snapshots, policy(), at(2026, 5, 1));
  EXPECT_EQ(kept(p), (Ids{"no-start", "odd", "unknown", "new"}));
  EXPECT_EQ(words(run_of(p, "odd")), (Words{"unsettled"}));
  EXPECT_EQ(words(run_of(p, "no-start")), (Words{"unsettled"}));
}

TEST(PrunePlan, AKeepTagPinsTheWholeRun) {
  History h;
  h.run_with("pinned", at(2025, 1, 1),
        std::vector<Member>{{.mount_point = "/mnt/a"},
                            {.mount_point = "/mnt/b", .extra = {{std::string(k_tag_keep), ""}}}});
  h.run_with("pinned-error", at(2025, 1, 2),
        std::vector<Member>{{.state = SnapshotState::Error, .extra = {{std::string(k_tag_keep), "why"}}}});
  h.run("old", at(2025, 1, 3), {"/mnt/a", "/mnt/b"});
  h.run("new", at(2026, 1, 1), {"/mnt/a", "/mnt/b"});
  const auto p = plan(h.snapshots, policy(), at(2026, 5, 1));
  EXPECT_EQ(kept(p), (Ids{"pinned", "pinned-error", "new"}));
  EXPECT_EQ(words(run_of(p, "pinned")), (Words{"keep tag"}));
  EXPECT_EQ(words(run_of(p, "pinned-error")), (Words{"keep tag", "error"}));
  EXPECT_TRUE(run_of(p, "pinned").members.at(1).pinned);
  EXPECT_FALSE(run_of(p, "pinned").members.at(0).pinned);
}

TEST(PrunePlan, ExpiredRunsAreDeletedEvenInABucketButNotWhenNewestOrYoung) {
  const auto expires = [](TimePoint t) { return ec2::Tag{std::string(k_tag_expires), ec2::format_iso8601(t)}; };
  History h;
  h.run_with("expired", at(2026, 1, 1), std::vector<Member>{{.extra = {expires(at(2026, 2, 1))}}});
  h.run_with("later", at(2026, 1, 2), std::vector<Member>{{.extra = {expires(at(2026, 9, 1))}}});
  h.run_with("one-tag", at(2026, 1, 3), std::vector<Member>{{.extra = {expires(at(2026, 2, 1))}}, {.mount_point = "/mnt/b"}});
  h.run_with("newest", at(2026, 1, 4), std::vector<Member>{{.extra = {expires(at(2026, 2, 1))}}, {.mount_point = "/mnt/b", .extra = {expires(at(2026, 2, 1))}}});
  const auto p = plan(h.snapshots, policy([](auto& r) {
                        r.keep_last = 10;
                        r.daily = 10;
                      }),
                      at(2026, 3, 1));
  EXPECT_EQ(run_of(p, "expired").verdict, RunVerdict::Delete);
  EXPECT_EQ(words(run_of(p, "expired")), (Words{"keep_last", "daily 2026-01-01", "expired"}));
  EXPECT_EQ(run_of(p, "later").verdict, RunVerdict::Keep);
  EXPECT_EQ(run_of(p, "one-tag").verdict, RunVerdict::Keep);  // a member without the tag never expires
  EXPECT_FALSE(run_of(p, "one-tag").expires);
  EXPECT_EQ(run_of(p, "newest").verdict, RunVerdict::Keep);
  EXPECT_EQ(words(run_of(p, "newest")), (Words{"newest", "keep_last", "daily 2026-01-04", "expired"}));
  EXPECT_EQ(run_of(p, "newest").expires, at(2026, 2, 1));

  // min_age keeps a run whose tag (edited by hand) expired before it.
  History young;
  young.run_with("x", at(2026, 3, 1), std::vector<Member>{{.extra = {expires(at(2026, 3, 1))}}});
  young.run("y", at(2026, 3, 2));
  const auto q = plan(young.snapshots, policy([](auto& r) { r.min_age = 48h; }), at(2026, 3, 2, 12));
  EXPECT_EQ(words(run_of(q, "x")), (Words{"min_age", "expired"}));
  EXPECT_EQ(run_of(q, "x").verdict, RunVerdict::Keep);
}

TEST(PrunePlan, ExpiresTagRoundTrips) {
  const auto value = expires_tag_value(at(2026, 1, 1, 12, 0, 0) + 250ms, std::chrono::hours(24 * 400));
  EXPECT_EQ(value, "2027-02-05T12:00:00.000Z");
  EXPECT_EQ(parse_expires_tag(value), at(2027, 2, 5, 12));
  EXPECT_EQ(parse_expires_tag("2027-02-05T12:00:00Z"), at(2027, 2, 5, 12));
  EXPECT_FALSE(parse_expires_tag("next year"));
}

TEST(PrunePlan, MinAgeKeepsYoungRuns) {
  History h;
  h.run("a", at(2026, 4, 1, 10)).run("b", at(2026, 4, 1, 11, 30)).run("c", at(2026, 4, 1, 11, 45)).run("d", at(2026, 4, 1, 12));
  const auto p = plan(h.snapshots, policy([](auto& r) { r.min_age = 1h; }), at(2026, 4, 1, 12, 30));
  EXPECT_EQ(kept(p), (Ids{"c", "d"}));  // b is exactly min_age old: no longer young
  EXPECT_EQ(words(run_of(p, "c")), (Words{"min_age"}));
  EXPECT_EQ(words(run_of(p, "d")), (Words{"newest", "min_age"}));
}

TEST(PrunePlan, MaxDeletesPerRunDefersTheNewerDeletesWholeRunsOnly) {
  History h;
  for (int i = 0; i < 6; ++i) h.run(fmt::format("r{}", i), at(2026, 1, 1 + static_cast<unsigned>(i)), {"/mnt/a", "/mnt/b"});
  const auto p = plan(h.snapshots, policy([](auto& r) { r.max_deletes_per_run = 5; }), at(2026, 2, 1));
  // r0..r4 are to go (r5 is the newest): r0 and r1 fit (4 snapshots), r2 would make 6.
  EXPECT_EQ(p.deletes, (std::vector<ec2::SnapshotId>{{"snap-r0-0"}, {"snap-r0-1"}, {"snap-r1-2"}, {"snap-r1-3"}}));
  for (const auto* id : {"r2", "r3", "r4"}) {
    EXPECT_EQ(run_of(p, id).verdict, RunVerdict::Defer) << id;
    EXPECT_EQ(words(run_of(p, id)), (Words{"no keep rule", "max_deletes_per_run"})) << id;
  }
  EXPECT_EQ(p.deferred, 6u);
  EXPECT_EQ(run_of(p, "r5").verdict, RunVerdict::Keep);
}

TEST(PrunePlan, UnownedSnapshotsAreNeverPlanned) {
  History h;
  h.run("old", at(2026, 1, 1), {"/mnt/a"});
  // Another group of the same `snapshot` invocation shares the run id: not part of this group's run.
  h.snapshots.push_back(h.snapshots.back());
  h.snapshots.back().id.value = "snap-other-group";
  for (auto& t : h.snapshots.back().tags) {
    if (t.key == k_tag_group) t.value = "pg";
  }
  // A run of this group with a member whose filter tag says another environment.
  h.run_with("mixed", at(2026, 1, 2),
        std::vector<Member>{{.mount_point = "/mnt/a"},
                            {.mount_point = "/mnt/b", .filters = FilterValues{{"role", "search"}, {"environment", "dev"}}}});
  // Wholly another environment's, and newer than any of ours: not our newest.
  h.run_with("theirs", at(2026, 1, 4), std::vector<Member>{{.filters = FilterValues{{"role", "search"}}}});
  h.run("ours", at(2026, 1, 3), {"/mnt/a"});
  // No run id, no mount point.
  h.run("no-mp", at(2026, 1, 1), {"/mnt/a"});
  std::erase_if(h.snapshots.back().tags, [](const ec2::Tag& t) { return t.key == k_tag_mount_point; });
  h.snapshots.push_back(h.snapshots.front());
  h.snapshots.back().id.value = "snap-no-run";
  std::erase_if(h.snapshots.back().tags, [](const ec2::Tag& t) { return t.key == k_tag_run_id; });

  const auto p = plan(h.snapshots, policy(), at(2026, 2, 1));
  EXPECT_EQ(p.deletes, (std::vector<ec2::SnapshotId>{{"snap-old-0"}}));
  EXPECT_EQ(kept(p), (Ids{"no-mp", "mixed", "ours", "theirs"}));
  EXPECT_EQ(words(run_of(p, "mixed")), (Words{"not owned"}));
  EXPECT_EQ(words(run_of(p, "theirs")), (Words{"not owned"}));
  EXPECT_EQ(words(run_of(p, "no-mp")), (Words{"not owned"}));
  EXPECT_EQ(words(run_of(p, "ours")), (Words{"newest"}));
  EXPECT_EQ(run_of(p, "no-mp").members.at(0).lineage, k_no_lineage);
  EXPECT_EQ(p.skipped, (std::vector<SkippedSnapshot>{{{"snap-no-run"}, SkipReason::NoRunId},
                                                     {{"snap-other-group"}, SkipReason::OtherGroup}}));
}

TEST(PrunePlan, LineagesListTheirRunsOldestFirst) {
  History h;
  h.run("r1", at(2026, 1, 1), {"/mnt/b"}).run("r2", at(2026, 1, 2), {"/mnt/a", "/mnt/b"}).run("r3", at(2026, 1, 3), {"/mnt/a"});
  const auto p = plan(h.snapshots, policy(), at(2026, 2, 1));
  ASSERT_EQ(p.lineages.size(), 2u);
  EXPECT_EQ(p.lineages[0].mount_point, "/mnt/a");
  EXPECT_EQ(p.lineages[0].runs, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(p.lineages[0].newest, 2u);
  EXPECT_EQ(p.lineages[1].runs, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(p.lineages[1].newest, 1u);
  EXPECT_EQ(kept(p), (Ids{"r2", "r3"}));
}

TEST(PrunePlan, ASnapshotListedTwiceIsPlannedOnce) {
  History h;
  h.run("a", at(2026, 1, 1)).run("b", at(2026, 1, 2));
  h.snapshots.push_back(h.snapshots.front());
  const auto p = plan(h.snapshots, policy(), at(2026, 2, 1));
  EXPECT_EQ(p.deletes, (std::vector<ec2::SnapshotId>{{"snap-a-0"}}));
  ASSERT_EQ(run_of(p, "a").members.size(), 1u);
  EXPECT_EQ(run_of(p, "a").members[0].snapshot->id.value, "snap-a-0");
}

TEST(PrunePlan, TheSameWhateverTheInputOrder) {
  History h;
  for (int i = 0; i < 30; ++i) {
    h.run(fmt::format("r{:02}", i), at(2026, 1, 1) + std::chrono::hours(7 * i), {"/mnt/a", "/mnt/b", "/mnt/c"});
  }
  h.run("tie-b", at(2026, 1, 1, 5)).run("tie-a", at(2026, 1, 1, 5));  // same time: by run id
  const auto p = policy([](auto& r) {
    r.daily = 3;
    r.weekly = 2;
    r.max_deletes_per_run = 20;
  });
  const auto expected = plan(h.snapshots, p, at(2026, 3, 1));
  EXPECT_EQ(expected.runs.at(1).run_id, "tie-a");
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    auto shuffled = h.snapshots;
    std::ranges::shuffle(shuffled, rng);
    EXPECT_EQ(plan(shuffled, p, at(2026, 3, 1)), expected);
  }
}

// ---- the property test ---------------------------------------------------------------------------

// A random history of one group as a busy account holds it: runs over a year and more, mount
// points added and removed, members in error or pending, pins, expiry tags, and snapshots that
// are not this group's (another group in the same run, another environment, no mount point, no
// run id).
std::vector<ec2::Snapshot> random_history(std::mt19937& rng, TimePoint now) {
  const auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::vector<std::string> mount_points = {"/mnt/a", "/mnt/b", "/mnt/c"};
  std::vector<ec2::Snapshot> out;
  const int runs = pick(0, 60);
  const auto span_h = pick(1, 24 * 800);
  for (int r = 0; r < runs; ++r) {
    const auto run_id = fmt::format("run{:03}", pick(0, 400));  // ids may repeat: one run then
    const auto t = now - std::chrono::hours(pick(0, span_h)) - std::chrono::minutes(pick(0, 59));
    for (const auto& mp : mount_points) {
      if (!chance(0.7)) continue;
      ec2::Snapshot s;
      s.id.value = fmt::format("snap-{}-{}", out.size(), r);
      s.start_time = t + std::chrono::seconds(pick(0, 20));
      const double state = std::uniform_real_distribution<double>(0, 1)(rng);
      s.state = state < 0.06   ? SnapshotState::Error
                : state < 0.09 ? SnapshotState::Pending
                : state < 0.10 ? SnapshotState::Unknown
                               : SnapshotState::Completed;
      if (chance(0.01)) s.start_time.reset();
      FilterValues filters = k_filters;
      if (chance(0.03)) filters[1].value = "dev";
      if (chance(0.02)) filters.pop_back();
      for (const auto& f : filters) s.tags.push_back({f.key, f.value});
      s.tags.push_back({std::string(k_tag_group), chance(0.05) ? "pg" : std::string(k_group)});
      if (!chance(0.02)) s.tags.push_back({std::string(k_tag_mount_point), mp});
      if (!chance(0.02)) s.tags.push_back({std::string(k_tag_run_id), run_id});
      if (chance(0.03)) s.tags.push_back({std::string(k_tag_keep), "x"});
      if (chance(0.4)) {
        s.tags.push_back({std::string(k_tag_expires), ec2::format_iso8601(t + std::chrono::hours(pick(0, 24 * 400)))});
      }
      out.push_back(std::move(s));
      if (chance(0.01)) out.push_back(out.back());  // a page boundary listed it twice
    }
  }
  return out;
}

RetentionPolicy random_policy(std::mt19937& rng) {
  const auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  RetentionPolicy p;
  p.keep_last = pick(0, 4);
  p.hourly = pick(0, 6);
  p.daily = pick(0, 5);
  p.weekly = pick(0, 4);
  p.monthly = pick(0, 3);
  p.yearly = pick(0, 2);
  p.min_age = std::chrono::minutes(pick(0, 3000));
  p.max_deletes_per_run = pick(1, 40);
  return p;
}

bool owned(const ec2::Snapshot& s) {
  return ec2::find_tag(s.tags, k_tag_group) == k_group && ec2::find_tag(s.tags, k_tag_mount_point) &&
         std::ranges::all_of(k_filters, [&](const FilterValue& f) { return ec2::find_tag(s.tags, f.key) == f.value; });
}

// Checks the safety rules against the input itself, never against what the plan says of it.
void check_properties(const std::vector<ec2::Snapshot>& snapshots, const RetentionPolicy& policy, TimePoint now,
                      const PrunePlan& plan) {
  const std::set<ec2::SnapshotId> deleted(plan.deletes.begin(), plan.deletes.end());
  EXPECT_EQ(deleted.size(), plan.deletes.size()) << "a snapshot planned twice";
  EXPECT_LE(plan.deletes.size(), static_cast<std::size_t>(policy.max_deletes_per_run));

  // This group's runs as the tags say: run id → its snapshots.
  std::map<std::string, std::vector<const ec2::Snapshot*>> runs;
  for (const auto& s : snapshots) {
    const bool ours = ec2::find_tag(s.tags, k_tag_group) == k_group;
    const auto run = ec2::find_tag(s.tags, k_tag_run_id);
    if (ours && run) runs[*run].push_back(&s);
    if (!deleted.contains(s.id)) continue;
    EXPECT_TRUE(owned(s)) << s.id << " is not owned";
    EXPECT_FALSE(ec2::find_tag(s.tags, k_tag_keep)) << s.id << " is pinned";
    EXPECT_NE(s.state, SnapshotState::Pending) << s.id;
    ASSERT_TRUE(ours && run) << s.id << " is in no run of the group";
  }
  const auto time_of = [](const std::vector<const ec2::Snapshot*>& members) {
    std::optional<TimePoint> time;
    for (const auto* s : members) {
      if (s->start_time) time = std::min(time.value_or(TimePoint::max()), *s->start_time);
    }
    return time.value_or(TimePoint{});
  };
  for (const auto& [id, members] : runs) {
    const auto n = std::ranges::count_if(members, [&](const ec2::Snapshot* s) { return deleted.contains(s->id); });
    if (n == 0) continue;
    // Never split, and nothing of a run that holds something unowned, pinned or pending.
    EXPECT_TRUE(std::ranges::all_of(members, [&](const ec2::Snapshot* s) { return deleted.contains(s->id); }))
        << "run " << id << " split";
    for (const auto* s : members) {
      EXPECT_TRUE(owned(*s)) << "run " << id << " deleted with " << s->id << " not owned";
      EXPECT_FALSE(ec2::find_tag(s->tags, k_tag_keep)) << "run " << id << " deleted with " << s->id << " pinned";
      EXPECT_NE(s->state, SnapshotState::Pending) << "run " << id << " deleted with " << s->id << " pending";
      EXPECT_TRUE(s->start_time) << s->id;
    }
    EXPECT_GE(now - time_of(members), policy.min_age) << "run " << id << " younger than min_age";
  }
  // The newest run of each mount point whose snapshots there are all completed (among runs
  // wholly owned) keeps every snapshot.
  std::map<std::string, std::pair<TimePoint, std::string>> newest;
  for (const auto& [id, members] : runs) {
    if (!std::ranges::all_of(members, [](const ec2::Snapshot* s) { return owned(*s); })) continue;
    const auto time = time_of(members);
    std::map<std::string, bool> usable;
    for (const auto* s : members) {
      const auto mp = *ec2::find_tag(s->tags, k_tag_mount_point);
      usable.try_emplace(mp, true);
      usable[mp] = usable[mp] && s->state == SnapshotState::Completed && s->start_time;
    }
    for (const auto& [mp, ok] : usable) {
      if (!ok) continue;
      auto [it, inserted] = newest.try_emplace(mp, time, id);
      if (!inserted && std::tie(time, id) > std::tie(it->second.first, it->second.second)) it->second = {time, id};
    }
  }
  for (const auto& [mp, run] : newest) {
    for (const auto* s : runs[run.second]) EXPECT_FALSE(deleted.contains(s->id)) << "the newest of " << mp << " deleted";
  }
}

// A new seed each run; EBSNAP_PRUNE_SEED=N replays the history a failure names first.
TEST(PrunePlanProperty, SafetyRulesHoldOverRandomHistories) {
  const char* fixed = std::getenv("EBSNAP_PRUNE_SEED");
  const auto base_seed = fixed != nullptr ? static_cast<std::uint32_t>(std::strtoul(fixed, nullptr, 10))
                                          : static_cast<std::uint32_t>(std::random_device{}());
  std::size_t deletes = 0, defers = 0;
  for (std::uint32_t i = 0; i < 2000; ++i) {
    const auto seed = base_seed + i;
    SCOPED_TRACE(fmt::format("seed {} (EBSNAP_PRUNE_SEED={} replays it)", seed, seed));
    std::mt19937 rng(seed);
    const auto now = at(2027, 1, 1) + std::chrono::hours(std::uniform_int_distribution<int>(0, 24 * 365)(rng));
    const auto snapshots = random_history(rng, now);
    const auto policy = random_policy(rng);
    const auto p = plan(snapshots, policy, now);
    check_properties(snapshots, policy, now, p);
    auto shuffled = snapshots;
    std::ranges::shuffle(shuffled, rng);
    EXPECT_EQ(plan(shuffled, policy, now), p) << "the plan depends on the order of the input";
    deletes += p.deletes.size();
    defers += p.deferred;
    if (HasFailure()) break;
  }
  // The histories are not all trivial: the property held over real deletions and deferrals.
  EXPECT_GT(deletes, 5'000u);
  EXPECT_GT(defers, 500u);
}

}  // namespace
}  // namespace agent
