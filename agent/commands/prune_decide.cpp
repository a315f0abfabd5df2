#include "agent/commands/prune_decide.h"

#include <algorithm>
#include <array>
#include <functional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "agent/core/tags.h"

namespace agent {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::sys_days;

constexpr std::array<std::string_view, k_prune_reason_count> k_reason_words = {
    "newest", "keep tag", "pending", "unsettled", "not owned", "min_age", "keep_last", "hourly",
    "daily",  "weekly",   "monthly", "yearly",    "expired",   "error",   "no keep rule", "max_deletes_per_run",
    "half-copied"};

// The UTC day of t, and the Thursday of its ISO 8601 week: the Thursday decides the week-year
// (a week belongs to the year holding its Thursday), and numbers the week within it.
sys_days day_of(ec2::TimePoint t) { return std::chrono::floor<days>(t); }
sys_days iso_thursday(sys_days d) {
  const auto iso_weekday = static_cast<int>(std::chrono::weekday(d).iso_encoding());  // Monday 1 .. Sunday 7
  return d + days(4 - iso_weekday);
}

// The bucket keys of a run's time: equal keys, same bucket. Integers, so the planner compares
// and never formats.
struct BucketKeys {
  std::array<std::int64_t, 5> of{};  // hour, day, ISO week (its Thursday), month, year
};
BucketKeys bucket_keys(ec2::TimePoint t) {
  const auto d = day_of(t);
  const std::chrono::year_month_day ymd{d};
  BucketKeys k;
  k.of[0] = std::chrono::floor<hours>(t).time_since_epoch().count();
  k.of[1] = d.time_since_epoch().count();
  k.of[2] = iso_thursday(d).time_since_epoch().count();
  k.of[3] = static_cast<std::int64_t>(static_cast<int>(ymd.year())) * 12 + static_cast<unsigned>(ymd.month()) - 1;
  k.of[4] = static_cast<int>(ymd.year());
  return k;
}
constexpr std::array<PruneReason, 5> k_bucket_reasons = {PruneReason::Hourly, PruneReason::Daily, PruneReason::Weekly,
                                                         PruneReason::Monthly, PruneReason::Yearly};

// One snapshot as the scan reads it: views into the input, nothing copied yet.
// The sort keys are copied in, so that sorting 100,000 of them never chases a pointer.
struct Scanned {
  const ec2::Snapshot* snapshot = nullptr;
  std::uint32_t run = 0;                  // index into the scan's runs
  std::uint32_t lineage = k_no_lineage;   // index into the scan's mount points, then the sorted ones
  ec2::TimePoint start = ec2::TimePoint::min();  // none: first
  std::string_view id;
  ec2::SnapshotState state = ec2::SnapshotState::Unknown;
  std::optional<ec2::TimePoint> expires;
  bool owned = false;
  bool pinned = false;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct ScannedRun {
  std::string_view id;
  ec2::TimePoint time = ec2::TimePoint::max();
  bool any_start = false;
  std::size_t run_size = 0;  // the largest ebsnap:run-size of its members (copies)
};

}  // namespace

std::string_view to_string(RunVerdict verdict) {
  switch (verdict) {
    case RunVerdict::Keep: return "keep";
    case RunVerdict::Delete: return "delete";
    case RunVerdict::Defer: return "defer";
  }
  return "keep";
}

std::string_view to_string(SkipReason reason) {
  switch (reason) {
    case SkipReason::OtherGroup: return "other group";
    case SkipReason::NoRunId: return "no run id";
  }
  return "other group";
}

std::vector<PruneReason> ReasonSet::list() const {
  std::vector<PruneReason> out;
  for (std::size_t i = 0; i < k_prune_reason_count; ++i) {
    if (has(static_cast<PruneReason>(i))) out.push_back(static_cast<PruneReason>(i));
  }
  return out;
}

std::string hour_bucket(ec2::TimePoint t) {
  const auto d = day_of(t);
  const std::chrono::year_month_day ymd{d};
  const auto hour = std::chrono::floor<hours>(t - d).count();
  return fmt::format("{:04}-{:02}-{:02}T{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()), hour);
}

std::string day_bucket(ec2::TimePoint t) {
  const std::chrono::year_month_day ymd{day_of(t)};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()));
}

std::string iso_week_bucket(ec2::TimePoint t) {
  const auto thursday = iso_thursday(day_of(t));
  const auto week_year = std::chrono::year_month_day{thursday}.year();
  const auto week = (thursday - sys_days{week_year / 1 / 1}).count() / 7 + 1;
  return fmt::format("{:04}-W{:02}", static_cast<int>(week_year), week);
}

std::string month_bucket(ec2::TimePoint t) {
  const std::chrono::year_month_day ymd{day_of(t)};
  return fmt::format("{:04}-{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()));
}

std::string year_bucket(ec2::TimePoint t) {
  return fmt::format("{:04}", static_cast<int>(std::chrono::year_month_day{day_of(t)}.year()));
}

std::string describe(PruneReason reason, ec2::TimePoint run_time) {
  const auto word = std::string(k_reason_words[static_cast<std::size_t>(reason)]);
  switch (reason) {
    case PruneReason::Hourly: return word + " " + hour_bucket(run_time);
    case PruneReason::Daily: return word + " " + day_bucket(run_time);
    case PruneReason::Weekly: return word + " " + iso_week_bucket(run_time);
    case PruneReason::Monthly: return word + " " + month_bucket(run_time);
    case PruneReason::Yearly: return word + " " + year_bucket(run_time);
    default: return word;
  }
}

PrunePlan plan_prune(const PruneInputs& in) {
  PrunePlan plan;
  const auto& filters = in.owner.filters;

  // 1. One pass over the answer: which run and mount point each snapshot belongs to, and whether
  //    it carries this group's ownership tags. Views only; runs and mount points by hash.
  std::vector<Scanned> scanned;
  scanned.reserve(in.snapshots.size());
  std::vector<ScannedRun> runs;
  // Owned keys, allocated together as runs are first seen: a lookup compares against them, not
  // against a tag somewhere in the answer (a cache miss per snapshot).
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> run_index;
  std::vector<std::string_view> mount_points;
  std::unordered_map<std::string_view, std::uint32_t> mount_index;
  for (const auto& s : in.snapshots) {
    const std::string* group = nullptr;
    const std::string* run_id = nullptr;
    const std::string* mount_point = nullptr;
    const std::string* expires = nullptr;
    const std::string* source_time = nullptr;
    bool pinned = false;
    std::size_t filters_matched = 0;
    for (const auto& t : s.tags) {
      if (t.key == k_tag_group) {
        group = &t.value;
      } else if (t.key == k_tag_run_id) {
        run_id = &t.value;
      } else if (t.key == k_tag_mount_point) {
        mount_point = &t.value;
      } else if (t.key == k_tag_expires) {
        expires = &t.value;
      } else if (t.key == k_tag_keep) {
        pinned = true;
      } else if (t.key == k_tag_source_time) {
        source_time = &t.value;
      } else {
        // EC2 allows one value per key, and validation one filter per key: each tag matches at
        // most one filter.
        for (const auto& f : filters) {
          if (t.key == f.key) {
            if (t.value == f.value) ++filters_matched;
            break;
          }
        }
      }
    }
    if (group == nullptr || *group != in.owner.group) {
      plan.skipped.push_back({s.id, SkipReason::OtherGroup});
      continue;
    }
    if (run_id == nullptr) {
      plan.skipped.push_back({s.id, SkipReason::NoRunId});
      continue;
    }
    // A copy's time is its source's (point_time, agent/core/tags.h), read in this same pass.
    const auto start = source_time != nullptr ? ec2::parse_iso8601(*source_time) : s.start_time;
    Scanned m{.snapshot = &s,
              .start = start.value_or(ec2::TimePoint::min()),
              .id = s.id.value,
              .state = s.state,
              .pinned = pinned};
    auto run_it = run_index.find(std::string_view(*run_id));
    if (run_it == run_index.end()) {
      run_it = run_index.emplace(*run_id, static_cast<std::uint32_t>(runs.size())).first;
      runs.push_back({.id = run_it->first});
    }
    m.run = run_it->second;
    auto& run = runs[m.run];
    if (start) {
      run.time = std::min(run.time, *start);
      run.any_start = true;
    }
    if (source_time != nullptr) run.run_size = std::max(run.run_size, run_size_tag(s));
    if (mount_point != nullptr) {
      const auto [mp_it, new_mp] = mount_index.try_emplace(*mount_point, static_cast<std::uint32_t>(mount_points.size()));
      if (new_mp) mount_points.push_back(*mount_point);
      m.lineage = mp_it->second;
    }
    m.owned = mount_point != nullptr && filters_matched == filters.size();
    if (expires != nullptr) m.expires = parse_expires_tag(*expires);
    scanned.push_back(m);
  }
  for (auto& run : runs) {
    if (!run.any_start) run.time = ec2::TimePoint{};
  }

  // 2. A total order, so that the plan does not depend on the order of the answer: mount points
  //    by name; runs by time, then id; members by run, mount point, StartTime, id, state.
  std::vector<std::uint32_t> mount_rank(mount_points.size());
  {
    std::vector<std::uint32_t> order(mount_points.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::ranges::sort(order, [&](std::uint32_t a, std::uint32_t b) { return mount_points[a] < mount_points[b]; });
    plan.lineages.resize(order.size());
    for (std::uint32_t r = 0; r < order.size(); ++r) {
      mount_rank[order[r]] = r;
      plan.lineages[r].mount_point = std::string(mount_points[order[r]]);
    }
  }
  std::vector<std::uint32_t> run_rank(runs.size());
  {
    std::vector<std::uint32_t> order(runs.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::ranges::sort(order, [&](std::uint32_t a, std::uint32_t b) {
      return std::tie(runs[a].time, runs[a].id) < std::tie(runs[b].time, runs[b].id);
    });
    for (std::uint32_t r = 0; r < order.size(); ++r) run_rank[order[r]] = r;
  }
  for (auto& m : scanned) {
    m.run = run_rank[m.run];
    if (m.lineage != k_no_lineage) m.lineage = mount_rank[m.lineage];
  }
  std::ranges::sort(scanned, [](const Scanned& a, const Scanned& b) {
    return std::tie(a.run, a.lineage, a.start, a.id, a.state) < std::tie(b.run, b.lineage, b.start, b.id, b.state);
  });
  // The same snapshot twice in one run (a page boundary): keep its first, least settled copy
  // (SnapshotState orders pending first).
  scanned.erase(std::unique(scanned.begin(), scanned.end(),
                            [](const Scanned& a, const Scanned& b) { return a.run == b.run && a.id == b.id; }),
                scanned.end());
  std::ranges::sort(plan.skipped, [](const SkippedSnapshot& a, const SkippedSnapshot& b) {
    return std::tie(a.id, a.reason) < std::tie(b.id, b.reason);
  });

  // 3. The runs, oldest first, with what each member says about its run.
  struct RunFacts {
    bool not_owned = false, pinned = false, pending = false, unsettled = false, error = false, half_copied = false;
    bool complete = true;  // owned, and every member completed
    bool all_expire = true;
  };
  std::vector<RunFacts> facts(runs.size());
  plan.runs.resize(runs.size());
  std::vector<std::uint32_t> by_rank(runs.size());  // plan.runs[r] is runs[by_rank[r]]
  for (std::uint32_t i = 0; i < runs.size(); ++i) by_rank[run_rank[i]] = i;
  {
    for (std::uint32_t r = 0; r < runs.size(); ++r) {
      plan.runs[r].run_id = std::string(runs[by_rank[r]].id);
      plan.runs[r].time = runs[by_rank[r]].time;
    }
  }
  for (std::size_t i = 0; i < scanned.size();) {  // a run's members are contiguous: reserve them
    std::size_t end = i;
    while (end < scanned.size() && scanned[end].run == scanned[i].run) ++end;
    plan.runs[scanned[i].run].members.reserve(end - i);
    i = end;
  }
  for (const auto& m : scanned) {
    auto& run = plan.runs[m.run];
    auto& f = facts[m.run];
    const auto& s = *m.snapshot;  // only its address: the keys were copied into m
    run.members.push_back({.snapshot = &s, .lineage = m.lineage, .owned = m.owned, .pinned = m.pinned});
    f.not_owned |= !m.owned;
    f.pinned |= m.pinned;
    switch (m.state) {
      case ec2::SnapshotState::Completed: break;
      case ec2::SnapshotState::Pending: f.pending = true; break;
      case ec2::SnapshotState::Error: f.error = true; break;
      case ec2::SnapshotState::Recoverable:
      case ec2::SnapshotState::Recovering:
      case ec2::SnapshotState::Unknown: f.unsettled = true; break;
    }
    const bool started = m.start != ec2::TimePoint::min();
    if (!started) f.unsettled = true;
    f.complete = f.complete && m.owned && m.state == ec2::SnapshotState::Completed && started;
    if (m.expires) {
      run.expires = run.expires ? std::max(*run.expires, *m.expires) : *m.expires;
    } else {
      f.all_expire = false;
    }
  }
  for (std::size_t r = 0; r < plan.runs.size(); ++r) {
    if (!facts[r].all_expire) plan.runs[r].expires.reset();
  }
  // A copy's run holding fewer snapshots than its source (ebsnap:run-size): the next copy finishes
  // it; until then it is no complete run (it would let a bucket drop a complete one).
  {
    for (std::size_t r = 0; r < plan.runs.size(); ++r) {
      const auto expected = runs[by_rank[r]].run_size;
      if (expected == 0) continue;
      std::size_t held = 0;
      std::uint32_t previous = k_no_lineage;
      for (const auto& m : plan.runs[r].members) {
        if (m.lineage != previous || m.lineage == k_no_lineage) ++held;
        previous = m.lineage;
      }
      if (held < expected) {
        facts[r].half_copied = true;
        facts[r].complete = false;
      }
    }
  }

  // 4. Newest first: the newest run of each mount point whose members there are all completed,
  //    and the buckets over the complete runs.
  const auto& policy = in.policy;
  const std::array<std::int64_t, 5> bucket_limits = {policy.hourly, policy.daily, policy.weekly, policy.monthly,
                                                     policy.yearly};
  std::array<std::int64_t, 5> bucket_used{};
  std::array<std::optional<std::int64_t>, 5> last_bucket{};
  std::int64_t kept_last = 0;
  for (std::size_t r = plan.runs.size(); r-- > 0;) {
    auto& run = plan.runs[r];
    const auto& f = facts[r];
    if (!f.not_owned) {
      const auto& members = run.members;
      for (std::size_t i = 0; i < members.size();) {
        const auto lineage = members[i].lineage;
        bool usable = true;
        for (; i < members.size() && members[i].lineage == lineage; ++i) {
          const auto& snapshot = *members[i].snapshot;
          usable = usable && snapshot.state == ec2::SnapshotState::Completed && snapshot.start_time.has_value();
        }
        auto& l = plan.lineages[lineage];
        if (usable && !l.newest) {
          l.newest = static_cast<std::uint32_t>(r);
          run.reasons.add(PruneReason::Newest);
        }
      }
    }
    if (!f.complete) continue;
    if (kept_last < policy.keep_last) {
      ++kept_last;
      run.reasons.add(PruneReason::KeepLast);
    }
    const auto keys = bucket_keys(run.time);
    for (std::size_t b = 0; b < keys.of.size(); ++b) {
      if (last_bucket[b] == keys.of[b]) continue;  // an older run of a bucket already counted
      last_bucket[b] = keys.of[b];
      if (bucket_used[b] < bucket_limits[b]) {
        ++bucket_used[b];
        run.reasons.add(k_bucket_reasons[b]);
      }
    }
  }

  // 5. Verdicts, oldest first, so that max_deletes_per_run defers the newest of the deletes.
  std::size_t deleting = 0;
  bool capped = false;
  for (std::size_t r = 0; r < plan.runs.size(); ++r) {
    auto& run = plan.runs[r];
    const auto& f = facts[r];
    auto& reasons = run.reasons;
    if (f.not_owned) reasons.add(PruneReason::NotOwned);
    if (f.pinned) reasons.add(PruneReason::KeepTag);
    if (f.pending) reasons.add(PruneReason::Pending);
    if (f.unsettled) reasons.add(PruneReason::Unsettled);
    if (f.half_copied) reasons.add(PruneReason::HalfCopied);
    if (in.now - run.time < policy.min_age) reasons.add(PruneReason::MinAge);
    if (run.expires && *run.expires <= in.now) reasons.add(PruneReason::Expired);
    if (f.error) reasons.add(PruneReason::Error);
    const bool held = f.not_owned || f.pinned || f.pending || f.unsettled || f.half_copied ||
                      reasons.has(PruneReason::Newest) ||
                      reasons.has(PruneReason::MinAge);
    const bool kept_by_policy = reasons.has(PruneReason::KeepLast) ||
                                std::ranges::any_of(k_bucket_reasons, [&](PruneReason b) { return reasons.has(b); });
    if (held || (!f.error && !reasons.has(PruneReason::Expired) && kept_by_policy)) {
      run.verdict = RunVerdict::Keep;
      continue;
    }
    if (!f.error && !reasons.has(PruneReason::Expired)) reasons.add(PruneReason::NoKeepRule);
    if (capped || deleting + run.members.size() > static_cast<std::size_t>(policy.max_deletes_per_run)) {
      capped = true;
      run.verdict = RunVerdict::Defer;
      reasons.add(PruneReason::MaxDeletes);
      plan.deferred += run.members.size();
      continue;
    }
    run.verdict = RunVerdict::Delete;
    deleting += run.members.size();
    for (const auto& m : run.members) plan.deletes.push_back(m.snapshot->id);
  }

  // 6. Each mount point's runs, oldest first.
  for (std::uint32_t r = 0; r < plan.runs.size(); ++r) {
    std::uint32_t previous = k_no_lineage;
    for (const auto& m : plan.runs[r].members) {
      if (m.lineage == k_no_lineage || m.lineage == previous) continue;
      previous = m.lineage;
      plan.lineages[m.lineage].runs.push_back(r);
    }
  }
  return plan;
}

std::set<std::string> runs_not_kept(const PruneInputs& in) {
  std::set<std::string> out;
  for (const auto& run : plan_prune(in).runs) {
    if (run.verdict != RunVerdict::Keep) out.insert(run.run_id);
  }
  return out;
}

}  // namespace agent
