#include "agent/core/restore_points.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "agent/config/validate_rules.h"
#include "agent/core/tags.h"

namespace agent {
namespace {

// A snapshot that is not settled yet (pending, recoverable, recovering, unknown) is waited for,
// never passed over for older data: restore treats them all as pending.
MemberState state_of(const ec2::Snapshot& s) {
  switch (s.state) {
    case ec2::SnapshotState::Completed:
      return MemberState::Completed;
    case ec2::SnapshotState::Error:
      return MemberState::Error;
    default:
      return MemberState::Pending;
  }
}

// Two snapshots of one mount point in one run (a retried call, a page boundary): the most usable
// one, then the newest, then by id, so the answer's order does not matter.
bool better(const ec2::Snapshot& a, const ec2::Snapshot& b) {
  const auto rank = [](const ec2::Snapshot& s) {
    switch (state_of(s)) {
      case MemberState::Completed:
        return 0;
      case MemberState::Pending:
        return 1;
      default:
        return 2;
    }
  };
  if (rank(a) != rank(b)) return rank(a) < rank(b);
  const auto ta = point_time(a).value_or(ec2::TimePoint{});
  const auto tb = point_time(b).value_or(ec2::TimePoint{});
  if (ta != tb) return ta > tb;
  return a.id.value > b.id.value;
}

int consistency_rank(std::string_view c) {
  if (c == to_string(Consistency::Frozen)) return 2;
  if (c == to_string(Consistency::Unfrozen)) return 1;
  return 0;
}

// A snapshot's consistency rank: its ebsnap:consistency, else what DLM's script tags say of a
// snapshot it took around `ebsnap freeze --hold` / `ebsnap thaw` (etc/ssm/ebsnap-dlm-scripts.yaml):
// both SUCCESS: frozen until the post-script; the post-script FAILED (the hold ended at its bound,
// or the guardian died): watchdog-thawed; the pre-script FAILED: unfrozen (crash-consistent).
// -1: unknown.
int snapshot_consistency_rank(const ec2::Snapshot& snapshot) {
  if (const auto* c = ec2::find_tag_value(snapshot.tags, k_tag_consistency)) return consistency_rank(*c);
  const auto* pre = ec2::find_tag_value(snapshot.tags, k_tag_dlm_pre_script);
  const auto* post = ec2::find_tag_value(snapshot.tags, k_tag_dlm_post_script);
  if (pre == nullptr) return -1;
  if (*pre != "SUCCESS") return consistency_rank(to_string(Consistency::Unfrozen));
  if (post == nullptr) return -1;
  return *post == "SUCCESS" ? consistency_rank(to_string(Consistency::Frozen))
                            : consistency_rank(to_string(Consistency::WatchdogThawed));
}

struct Draft {
  std::string run_id;
  bool tagged = true;
  ec2::TimePoint time = ec2::TimePoint::max();
  std::size_t run_size = 0;  // the largest ebsnap:run-size of its members (copies)
  // By index into mount_points; a few per run, so a vector searched in place beats a map.
  std::vector<std::pair<std::size_t, const ec2::Snapshot*>> by_mount_point;

  [[nodiscard]] const ec2::Snapshot* member(std::size_t mp) const {
    const auto it = std::ranges::find(by_mount_point, mp, &std::pair<std::size_t, const ec2::Snapshot*>::first);
    return it == by_mount_point.end() ? nullptr : it->second;
  }
};

void add(Draft& d, std::size_t mp, const ec2::Snapshot& s, ec2::TimePoint time) {
  d.time = std::min(d.time, time);
  d.run_size = std::max(d.run_size, run_size_tag(s));
  const auto it = std::ranges::find(d.by_mount_point, mp, &std::pair<std::size_t, const ec2::Snapshot*>::first);
  if (it == d.by_mount_point.end()) {
    d.by_mount_point.emplace_back(mp, &s);
  } else if (better(s, *it->second)) {
    it->second = &s;
  }
}

}  // namespace

std::string_view to_string(MemberState state) {
  switch (state) {
    case MemberState::Completed:
      return "completed";
    case MemberState::Pending:
      return "pending";
    case MemberState::Error:
      return "error";
    case MemberState::Missing:
      return "missing";
    case MemberState::NotYet:
      return "not-yet";
  }
  return "missing";
}

std::expected<ec2::TimePoint, std::string> parse_point_in_time(std::string_view text, ec2::TimePoint now) {
  const auto expected = [&] {
    return std::unexpected(
        fmt::format("expected an ISO 8601 time with a zone (2026-12-03T14:00:00Z, "
                    "2026-12-03T15:00+01:00) or a time back from now (-6h, -1d), got '{}'",
                    text));
  };
  if (text.starts_with('-')) {
    const auto back = rules::parse_duration(text.substr(1));
    if (!back || *back <= std::chrono::seconds{0}) return expected();
    return now - *back;
  }
  // The zone: "Z", or an offset "+HH:MM" / "+HHMM" / "-HH:MM" after the time of day.
  std::chrono::minutes offset{0};
  std::string_view base = text;
  if (text.ends_with('Z') || text.ends_with('z')) {
    base.remove_suffix(1);
  } else {
    const auto sign = text.find_last_of("+-");
    if (sign == std::string_view::npos || sign < 16) {
      return std::unexpected(
          fmt::format("'{}' has no time zone: add Z (UTC) or an offset such as +01:00", text));
    }
    std::string digits;
    for (char ch : text.substr(sign + 1)) {
      if (ch != ':') digits += ch;
    }
    if (digits.size() != 4 || !std::ranges::all_of(digits, [](char ch) { return ch >= '0' && ch <= '9'; }))
      return expected();
    const int hours = std::stoi(digits.substr(0, 2));
    const int minutes = std::stoi(digits.substr(2));
    if (hours > 23 || minutes > 59) return expected();
    offset = std::chrono::hours{hours} + std::chrono::minutes{minutes};
    if (text[sign] == '-') offset = -offset;
    base = text.substr(0, sign);
  }
  std::string utc(base);
  if (utc.size() == 16) utc += ":00";  // no seconds
  utc += "Z";
  const auto local = ec2::parse_iso8601(utc);
  if (!local) return expected();
  return *local - offset;
}

std::string compact_utc(ec2::TimePoint t) {
  return fmt::format("{:%Y%m%dT%H%M%SZ}", std::chrono::floor<std::chrono::seconds>(t));
}

std::size_t RestorePoint::held() const {
  return static_cast<std::size_t>(std::ranges::count_if(members, [](const PointMember& m) { return m.snapshot != nullptr; }));
}

bool RestorePoint::complete() const {
  if (run_size > held()) return false;
  bool any = false;
  for (const auto& m : members) {
    if (m.state == MemberState::Error || m.state == MemberState::Missing) return false;
    any = any || m.snapshot != nullptr;
  }
  return any;
}

bool RestorePoint::has_pending() const {
  return std::ranges::any_of(members, [](const PointMember& m) { return m.state == MemberState::Pending; });
}

std::string RestorePoint::problem() const {
  std::string out;
  for (const auto& m : members) {
    std::string line;
    if (m.state == MemberState::Error)
      line = fmt::format("{}: {} in state error", m.mount_point, m.snapshot->id.value);
    if (m.state == MemberState::Missing) line = fmt::format("{}: no snapshot", m.mount_point);
    if (line.empty()) continue;
    if (!out.empty()) out += "; ";
    out += line;
  }
  if (run_size > held()) {
    if (!out.empty()) out += "; ";
    out += fmt::format("half-copied: {} of its {} snapshots are here", held(), run_size);
  }
  return out;
}

const PointMember* RestorePoint::member(std::string_view mount_point) const {
  const auto it = std::ranges::find(members, mount_point, &PointMember::mount_point);
  return it == members.end() ? nullptr : &*it;
}

std::int64_t RestorePoint::size_gib() const {
  std::int64_t total = 0;
  for (const auto& m : members) {
    if (m.snapshot) total += m.snapshot->volume_size_gib;
  }
  return total;
}

GroupHistory restore_points(const HistoryInputs& in) {
  GroupHistory out{.group = std::string(in.group)};
  std::map<std::string, Draft, std::less<>> runs;  // by run id
  // With each snapshot's point in time (point_time: a copy's is its source's), read once.
  std::vector<std::tuple<std::size_t, const ec2::Snapshot*, ec2::TimePoint>> untagged;
  std::vector<ec2::TimePoint> first(in.mount_points.size(), ec2::TimePoint::max());
  for (const auto& s : in.snapshots) {
    const auto* mp = ec2::find_tag_value(s.tags, k_tag_mount_point);
    if (mp == nullptr || !in_lineage(s.tags, in.filters, *mp)) continue;
    const auto at = std::ranges::find(in.mount_points, *mp);
    if (at == in.mount_points.end()) continue;
    const auto index = static_cast<std::size_t>(at - in.mount_points.begin());
    if (const auto* group = ec2::find_tag_value(s.tags, k_tag_group); group != nullptr && *group != in.group) {
      auto f = std::ranges::find(out.foreign, *mp, &ForeignSnapshots::mount_point);
      if (f == out.foreign.end())
        f = out.foreign.insert(out.foreign.end(), {.mount_point = *mp, .group = *group});
      ++f->count;
      continue;
    }
    const auto time = point_time(s).value_or(ec2::TimePoint{});
    first[index] = std::min(first[index], time);
    if (const auto* run = ec2::find_tag_value(s.tags, k_tag_run_id); run != nullptr && !run->empty()) {
      auto it = runs.find(*run);
      if (it == runs.end()) it = runs.emplace(*run, Draft{.run_id = *run}).first;
      add(it->second, index, s, time);
    } else {
      untagged.emplace_back(index, &s, time);
    }
  }
  std::vector<Draft> drafts;
  drafts.reserve(runs.size());
  for (auto& [id, d] : runs) drafts.push_back(std::move(d));
  // Untagged ones by StartTime (then id, so that the answer's order does not matter).
  std::ranges::sort(untagged, [](const auto& a, const auto& b) {
    const auto ta = std::get<2>(a);
    const auto tb = std::get<2>(b);
    return ta != tb ? ta < tb : std::get<1>(a)->id.value < std::get<1>(b)->id.value;
  });
  std::optional<Draft> open;
  for (const auto& [index, s, t] : untagged) {
    if (open && (t - open->time > in.untagged_window || open->member(index) != nullptr)) {
      drafts.push_back(std::move(*open));
      open.reset();
    }
    if (!open) open = Draft{.run_id = std::string(k_untagged_run_prefix) + compact_utc(t), .tagged = false};
    add(*open, index, *s, t);
  }
  if (open) drafts.push_back(std::move(*open));

  for (const auto& d : drafts) {
    RestorePoint p{.run_id = d.run_id, .tagged = d.tagged, .time = d.time, .run_size = d.run_size};
    p.members.reserve(in.mount_points.size());
    int weakest = 3;
    for (std::size_t i = 0; i < in.mount_points.size(); ++i) {
      PointMember m{.mount_point = in.mount_points[i]};
      if (const auto* snapshot = d.member(i)) {
        m.state = state_of(*snapshot);
        m.snapshot = snapshot;
        weakest = std::min(weakest, snapshot_consistency_rank(*snapshot));
      } else {
        m.state = first[i] <= d.time ? MemberState::Missing : MemberState::NotYet;
      }
      p.members.push_back(std::move(m));
    }
    if (weakest >= 0 && weakest <= 2) {
      static constexpr std::array k_names = {Consistency::WatchdogThawed, Consistency::Unfrozen,
                                             Consistency::Frozen};
      p.consistency = std::string(to_string(k_names[static_cast<std::size_t>(weakest)]));
    }
    out.points.push_back(std::move(p));
  }
  std::ranges::sort(out.points, [](const RestorePoint& a, const RestorePoint& b) {
    return a.time != b.time ? a.time > b.time : a.run_id > b.run_id;
  });
  std::ranges::sort(out.foreign, {}, &ForeignSnapshots::mount_point);
  return out;
}

PointChoice choose_restore_point(const GroupHistory& history, const PointSelector& selector) {
  PointChoice out;
  if (selector.run_id) {
    const auto it = std::ranges::find(history.points, *selector.run_id, &RestorePoint::run_id);
    if (it == history.points.end()) {
      out.refusal = fmt::format("group {} has no restore point {}", history.group, *selector.run_id);
    } else if (!it->complete()) {
      out.refusal = fmt::format("restore point {} of group {} is incomplete: {}", it->run_id, history.group,
                                it->problem());
    } else {
      out.point = static_cast<std::size_t>(it - history.points.begin());
    }
    return out;
  }
  for (std::size_t i = 0; i < history.points.size(); ++i) {
    const auto& p = history.points[i];
    if (selector.as_of && p.time > *selector.as_of) continue;
    if (p.complete()) {
      out.point = i;
      return out;
    }
    out.skipped.push_back({.run_id = p.run_id, .time = p.time, .reason = p.problem()});
  }
  if (selector.as_of) {
    out.refusal = history.points.empty()
                      ? fmt::format("group {} has no restore point", history.group)
                      : fmt::format("group {} has no complete restore point at or before {:%FT%TZ}",
                                    history.group, std::chrono::floor<std::chrono::seconds>(*selector.as_of));
  } else if (!history.points.empty()) {
    out.refusal = fmt::format(
        "group {} has snapshots but no complete restore point (newest {}: {}); refusing to "
        "create empty volumes in their place",
        history.group, history.points.front().run_id, history.points.front().problem());
  }
  return out;
}

}  // namespace agent
