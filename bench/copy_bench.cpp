// ebsnap copy (issue 14) against the sandbox's two regions: eu-west-1 (home) → us-west-2 (DR),
// every copy pending for T = timing.copy_complete_s, at most copy.max_pending (EC2: 20) pending
// per destination. The source runs are made with the sandbox's bulk control (no images: copy
// reads none), tagged as ebsnap's runs are: the filter tags, ebsnap:group, ebsnap:mount-point,
// ebsnap:volume-id, one ebsnap:run-id per run, ebsnap:consistency.
//
// - A run of `volumes` (16) volumes, at copies_in_flight = each of `in-flight` (10, the default,
//   and 20, EC2's limit); `rounds` rounds, each copying one new run. The ideal under the
//   concurrency limit: ceil(volumes / min(copies_in_flight, max_pending)) waves of T.
// - A backlog of `backlog-runs` (100) runs of `backlog-volumes` (2) volumes, copied by one
//   `ebsnap copy`. Each lineage's copies go one after the other (EC2 copies incrementally from
//   the previous copy of the lineage), so the ideal is max(runs, ceil(copies / limit)) × T.
//
// Figures: the wall time of `ebsnap --json copy` beside the ideal, and the poll schedule's own
// bound (each wave lasts until the first poll round at or after T: rounds 500 ms apart, each
// quiet round half as long again, back to 500 ms after a completion); the EC2 calls by region and
// action from the sandbox's call log (checked against the report's ec2_requests), DescribeSnapshots
// per copy. From the call log too: the peak of copies pending at once, how late each completion
// was seen (the next DescribeSnapshots in the destination after it), how long after a lineage's
// copy was seen its next one was sent.
//
//   copy_bench --ebsnap BIN --rows FILE --work DIR [--volumes 16] [--in-flight 10,20] [--copy-s 2]
//              [--rounds 3] [--backlog-runs 100] [--backlog-volumes 2] [--backlog-copy-s 1]
//
// Targets (never asserted: bench/run prints them beside the figures):
// - wall ≤ 1.5 × ideal. The poll schedule alone costs up to half a wave: a quiet round is 1.5×
//   the one before, so a copy that completes just after a round is seen at the next, when the
//   copy is up to 1.5× T (+ 0.5 s) old (at T = 2 s the rounds fall at 0.5, 1.25, 2.375 s: 1.19×;
//   at T = 1 s, 0.5 and 1.25 s: 1.25×). Start-up, the two DescribeSnapshots before the first copy
//   and a wave's CopySnapshot calls, sent one after the other, come on top. Real copies take
//   minutes, where the 15 s ceiling of the rounds bounds the same loss to 15 s a wave.
// - DescribeSnapshots per copy ≤ the poll schedule's count + 10%: one call per poll round serves
//   every copy in flight, so the calls grow with the waves and the rounds each takes, not with the
//   copies. The count: the 2 observes (source and destination) + waves × the rounds until T (3 at
//   T = 2 s: 0.5, 1.25, 2.375 s; 2 at T = 1 s). A run of 16 at copies_in_flight 10: 2 + 2 × 3 = 8,
//   0.5 per copy; the backlog of 100 × 2: 2 + 100 × 2 = 202, 1.01 per copy (both lineages' copies
//   move in step, one round serving both). The 10% leaves a round of slack per ten waves (a
//   completion seen one round late when the sandbox answers slowly).
// - no ResourceLimitExceeded, no give-up: every copy made once, the report's runs all "copied".
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/config/config.h"
#include "bench/bench_support.h"
#include "ec2/types.h"
#include "tests/support/sandbox.h"

namespace {

constexpr int k_max_pending = 20;  // EC2's concurrent copies per destination (the sandbox's default)
constexpr double k_wall_factor = 1.5;

// The poll schedule of agent/commands/copy.cpp (k_first_poll, k_max_poll, quiet rounds × 1.5):
// the first round at or after `t` seconds, counted from the copy's start: when it falls, and how
// many rounds it takes.
struct PollRound {
  double at_s = 0;
  int rounds = 0;
};
PollRound first_poll_at_or_after(double t) {
  PollRound p;
  double interval = 0.5;
  while (p.at_s < t) {
    p.at_s += interval;
    ++p.rounds;
    interval = std::min(15.0, interval * 1.5);
  }
  return p;
}

// "2026-12-07T02:31:35.123Z" → milliseconds since the epoch (the call log's clock, UTC).
double epoch_ms(const std::string& t) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(t.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &ms) != 7) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) * 1000.0 + ms;
}

double now_ms() {
  using namespace std::chrono;
  return static_cast<double>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

struct Volume {
  std::string id;
  std::string mount_point;
};

// The source side: `count` volumes in the home region (their ids tag the snapshots, as ebsnap's).
std::vector<Volume> make_volumes(const testsupport::Sandbox& sandbox, const std::string& group, int count,
                                 const std::filesystem::path& mount_root) {
  auto client = bench::sandbox_client(sandbox);
  std::vector<Volume> out;
  for (int k = 0; k < count; ++k) {
    auto v = client->create_volume({.availability_zone = sandbox.availability_zone(), .size_gib = 1});
    if (!v) throw std::runtime_error(v.error().describe());
    out.push_back({v->id.value, (mount_root / group / fmt::format("v{}", k)).string()});
  }
  return out;
}

// One run of the group over `volumes`, completed, with ebsnap's tags: source snapshot id → the
// mount point. One bulk request per volume (each carries its own ebsnap:mount-point).
std::map<std::string, std::string> add_run(const testsupport::Sandbox& sandbox, const std::string& group,
                                           const std::vector<Volume>& volumes, const std::string& run_id,
                                           nlohmann::json& start_times, const std::string& start_time) {
  std::map<std::string, std::string> out;
  const auto userdata = nlohmann::json::parse(bench::bench_userdata());
  for (const auto& v : volumes) {
    nlohmann::json tags = userdata;
    tags["ebsnap:group"] = group;
    tags["ebsnap:mount-point"] = v.mount_point;
    tags["ebsnap:volume-id"] = v.id;
    tags["ebsnap:run-id"] = run_id;
    tags["ebsnap:consistency"] = "frozen";
    const auto made = sandbox.control("/snapshots/bulk", {{"volume_id", v.id}, {"count", 1}, {"tags", tags}});
    const std::string id = made.at("snapshot_ids").at(0);
    out[id] = v.mount_point;
    start_times[id] = start_time;
  }
  return out;
}

void write_config(const std::filesystem::path& file, const std::string& group, const std::vector<Volume>& volumes,
                  int in_flight, const std::string& dr_region) {
  nlohmann::ordered_json vols = nlohmann::ordered_json::array();
  for (std::size_t k = 0; k < volumes.size(); ++k) {
    vols.push_back({{"device", fmt::format("/dev/sd{}", static_cast<char>('f' + k))},
                    {"mount_point", volumes[k].mount_point},
                    {"size_gib", 1}});
  }
  nlohmann::ordered_json config = {{"filter_tags", {"role", "cluster", "environment"}},
                                   {"copies_in_flight", in_flight},
                                   {"groups", {{group, {{"volumes", vols}, {"copy_to", {{{"region", dr_region}}}}}}}}};
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file) << config.dump(2) << "\n";
  std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// What one `ebsnap copy` did, from the sandbox's call log and its report.
struct Measured {
  double wall_ms = 0;
  std::map<std::string, std::map<std::string, int>> calls;  // region → action → count
  int total_calls = 0;
  int describe_snapshots = 0;
  int copy_calls = 0;
  int copies_ok = 0;
  int limit_exceeded = 0;
  int errors = 0;
  int duplicates = 0;              // sources copied more than once
  int peak_pending = 0;
  int max_sources_per_poll = 0;    // source ids in one DescribeSnapshots (the batched wait)
  std::vector<double> seen_late;   // ms: a completion → the next DescribeSnapshots in the destination
  std::vector<double> next_after;  // ms: a lineage's copy seen → its next CopySnapshot sent
  std::vector<double> served;      // ms: the sandbox's time for each CopySnapshot
  double first_wave_spread = 0;    // ms: the first wave's CopySnapshot calls, first → last sent
  double start_to_first_copy = 0;  // ms
  double last_seen_to_exit = 0;    // ms
  std::string report_problem;      // the report disagrees with what was expected
  std::string requests_mismatch;   // the report's ec2_requests against the call log
};

Measured measure(const bench::Ebsnap& ebsnap, const std::string& group, const std::string& call_log,
                 const std::map<std::string, std::string>& sources, double copy_s, const std::string& dr_region,
                 int wave_size) {
  Measured m;
  const std::size_t from = bench::count_lines(call_log);
  const double started = now_ms();
  const bench::ChildResult run = ebsnap.run({"--json", "copy", group});
  const double ended = now_ms();
  m.wall_ms = bench::ms(run.wall);
  const auto log = bench::read_call_log(call_log, from);

  std::vector<double> describe_dr;        // arrival times of DescribeSnapshots in the destination
  std::map<std::string, double> done_at;  // source → its copy completed (sandbox's clock)
  std::map<std::string, int> copies_of;
  std::vector<std::pair<double, int>> edges;  // pending copies: +1 at creation, −1 at completion
  double first_copy = 0;
  int copies_sent = 0;
  for (const auto& c : log) {
    const std::string action = c.value("action", "?");
    const std::string region = c.contains("region") && c["region"].is_string() ? c["region"].get<std::string>() : "?";
    ++m.calls[region][action];
    ++m.total_calls;
    const double at = epoch_ms(c.value("time", ""));
    const double latency = c.value("latency_ms", 0.0);
    const bool failed = c.contains("error") && !c["error"].is_null();
    if (failed) {
      ++m.errors;
      if (c["error"] == "ResourceLimitExceeded") ++m.limit_exceeded;
    }
    if (action == "DescribeSnapshots") {
      ++m.describe_snapshots;
      if (region == dr_region) describe_dr.push_back(at);
      int ids = 0;
      std::string values;
      for (const auto& [key, value] : c["params"].items()) {
        if (key.starts_with("Filter.") && key.ends_with(".Name") && value == "tag:ebsnap:source-snapshot") {
          values = key.substr(0, key.size() - 4) + "Value.";
        }
      }
      if (!values.empty()) {
        for (const auto& [key, value] : c["params"].items()) ids += key.starts_with(values) ? 1 : 0;
      }
      m.max_sources_per_poll = std::max(m.max_sources_per_poll, ids);
    }
    if (action == "CopySnapshot") {
      ++m.copy_calls;
      if (failed) continue;
      const std::string source = c["params"].value("SourceSnapshotId", "");
      if (++copies_of[source] > 1) ++m.duplicates;
      if (first_copy == 0) first_copy = at;
      if (++copies_sent <= wave_size) m.first_wave_spread = at - first_copy;
      m.served.push_back(latency);
      // The copy is made as the call is served: pending from then for T.
      const double made = at + latency;
      done_at[source] = made + copy_s * 1000.0;
      edges.emplace_back(made, +1);
      edges.emplace_back(made + copy_s * 1000.0, -1);
    }
  }
  std::sort(edges.begin(), edges.end());  // a completion (−1) sorts before a creation at the same ms
  int pending = 0;
  for (const auto& [at, d] : edges) m.peak_pending = std::max(m.peak_pending, pending += d);

  // Seen: the first DescribeSnapshots in the destination at or after the completion.
  std::map<std::string, double> seen_at;
  double last_seen = 0;
  for (const auto& [source, done] : done_at) {
    const auto it = std::lower_bound(describe_dr.begin(), describe_dr.end(), done);
    if (it == describe_dr.end()) continue;
    seen_at[source] = *it;
    m.seen_late.push_back(*it - done);
    last_seen = std::max(last_seen, *it);
  }
  // A lineage's next copy: sent how long after the previous one was seen.
  std::map<std::string, std::vector<std::pair<double, std::string>>> by_lineage;  // mount point → (sent, source)
  for (const auto& c : log) {
    if (c.value("action", "") != "CopySnapshot" || (c.contains("error") && !c["error"].is_null())) continue;
    const std::string source = c["params"].value("SourceSnapshotId", "");
    const auto it = sources.find(source);
    if (it != sources.end()) by_lineage[it->second].emplace_back(epoch_ms(c.value("time", "")), source);
  }
  for (auto& [mount_point, sent] : by_lineage) {
    for (std::size_t k = 1; k < sent.size(); ++k) {
      const auto prev = seen_at.find(sent[k - 1].second);
      if (prev != seen_at.end()) m.next_after.push_back(sent[k].first - prev->second);
    }
  }
  if (first_copy > 0) m.start_to_first_copy = first_copy - started;
  if (last_seen > 0) m.last_seen_to_exit = ended - last_seen;

  if (run.exit_code != 0) {
    const auto tail = run.err.size() > 300 ? run.err.size() - 300 : 0;
    m.report_problem = fmt::format("exit {}: {}", run.exit_code, run.err.substr(tail));
    return m;
  }
  const auto doc = nlohmann::json::parse(run.out);
  const auto& copy = doc.at("copy").at(0);
  if (copy.contains("error") && !copy["error"].is_null()) {
    m.report_problem = "error: " + copy["error"].get<std::string>();
  }
  for (const auto& r : copy.at("runs")) {
    for (const auto& s : r.at("snapshots")) {
      if (s.value("state", "") == "copied" && sources.contains(s.value("source_snapshot_id", ""))) ++m.copies_ok;
    }
  }
  // The report's own count of what it sent, against the sandbox's.
  std::map<std::string, int> logged;
  for (const auto& [region, actions] : m.calls) {
    for (const auto& [action, n] : actions) logged[action] += n;
  }
  for (const auto& [action, r] : doc.at("ec2_requests").items()) {
    const int sent = r.value("requests", 0);
    if (logged[action] != sent) m.requests_mismatch += fmt::format(" {} {} (log {})", action, sent, logged[action]);
    logged.erase(action);
  }
  for (const auto& [action, n] : logged) {
    if (n != 0) m.requests_mismatch += fmt::format(" {} missing (log {})", action, n);
  }
  return m;
}

std::string calls_summary(const Measured& m) {
  std::string out;
  for (const auto& [region, actions] : m.calls) {
    std::string line;
    for (const auto& [action, n] : actions) line += fmt::format("{}{} {}", line.empty() ? "" : ", ", action, n);
    out += fmt::format("{}{}: {}", out.empty() ? "" : "; ", region, line);
  }
  return out;
}

std::string checks(const Measured& m, int expected) {
  std::string out;
  if (!m.report_problem.empty()) out += "; " + m.report_problem;
  if (m.copies_ok != expected) out += fmt::format("; {} of {} copied", m.copies_ok, expected);
  if (m.duplicates != 0) out += fmt::format("; {} sources copied twice", m.duplicates);
  if (m.limit_exceeded != 0) out += fmt::format("; {} ResourceLimitExceeded", m.limit_exceeded);
  if (m.errors != m.limit_exceeded) out += fmt::format("; {} other error answers", m.errors - m.limit_exceeded);
  if (!m.requests_mismatch.empty()) out += "; the report's ec2_requests differ:" + m.requests_mismatch;
  return out;
}

bool clean(const Measured& m, int expected) {
  return m.report_problem.empty() && m.copies_ok == expected && m.duplicates == 0 && m.errors == 0 &&
         m.requests_mismatch.empty();
}

// The wall-time row and the calls row of one scenario (the last round's calls; the median wall).
void write_rows(bench::RowWriter& rows, const std::string& what, const std::vector<Measured>& rounds, int copies,
                int wave_size, int waves, double copy_s, const std::string& ideal_why) {
  const double ideal_s = waves * copy_s;
  const PollRound wave = first_poll_at_or_after(copy_s);
  const double poll_bound_s = waves * wave.at_s;
  const int schedule_describes = 2 + waves * wave.rounds;
  const double describes_per_copy_target = std::ceil(schedule_describes * 1.1) / copies;
  std::vector<double> walls;
  bool ok = true;
  std::string problems;
  for (const auto& m : rounds) {
    walls.push_back(m.wall_ms / 1000.0);
    ok = ok && clean(m, copies);
    problems += checks(m, copies);
  }
  const double wall = bench::median(walls);
  const double target = ideal_s * k_wall_factor;
  const Measured& last = rounds.back();
  rows.write({"copy", what + ": wall time", fmt::format("{:.2f} s", wall), fmt::format("{:.2f} s (ideal)", ideal_s),
              fmt::format("≤ {:.2f} s ({:g} × ideal)", target, k_wall_factor), bench::verdict(ok && wall <= target),
              fmt::format("{:.2f}× the ideal ({}); the poll schedule's own bound {:.2f} s; {} round(s), worst {:.2f} s; "
                          "last round: peak {} pending; completions seen {:.0f} ms late (median, max {:.0f}){}; start → "
                          "first CopySnapshot {:.0f} ms; first wave's {} CopySnapshot calls sent over {:.0f} ms "
                          "(served in {:.0f} ms median, max {:.0f}); last seen → exit {:.0f} ms{}",
                          wall / ideal_s, ideal_why, poll_bound_s, walls.size(), bench::max_of(walls), last.peak_pending,
                          bench::median(last.seen_late), bench::max_of(last.seen_late),
                          last.next_after.empty()
                              ? std::string()
                              : fmt::format("; a lineage's next copy sent {:.0f} ms after the previous was seen (median)",
                                            bench::median(last.next_after)),
                          last.start_to_first_copy, wave_size, last.first_wave_spread,
                          bench::median(last.served), bench::max_of(last.served), last.last_seen_to_exit, problems)});
  int worst_describes = 0;
  for (const auto& m : rounds) worst_describes = std::max(worst_describes, m.describe_snapshots);
  const double per_copy = static_cast<double>(worst_describes) / copies;
  rows.write({"copy", what + ": EC2 calls", std::to_string(last.total_calls),
              fmt::format("{} CopySnapshot + {} DescribeSnapshots (2 + {} waves × {} rounds)", copies,
                          schedule_describes, waves, wave.rounds),
              fmt::format("DescribeSnapshots per copy ≤ {:.2f}", describes_per_copy_target),
              bench::verdict(ok && last.copy_calls == copies && per_copy <= describes_per_copy_target),
              fmt::format("{:.2f} DescribeSnapshots per copy ({} for {} copies, worst round); {}; up to {} copies per "
                          "DescribeSnapshots poll",
                          per_copy, worst_describes, copies, calls_summary(last), last.max_sources_per_poll)});
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const bench::Args args = bench::parse_args(argc, argv);
    bench::RowWriter rows(args.get("rows", "/dev/stdout"));
    const std::filesystem::path work = args.get("work");
    const std::filesystem::path binary = args.get("ebsnap");
    if (work.empty() || binary.empty()) throw std::runtime_error("--work DIR and --ebsnap BIN are required");
    const int volumes = std::stoi(args.get("volumes", "16"));
    const double copy_s = std::stod(args.get("copy-s", "2"));
    const int rounds = std::stoi(args.get("rounds", "3"));
    const int backlog_runs = std::stoi(args.get("backlog-runs", "100"));
    const int backlog_volumes = std::stoi(args.get("backlog-volumes", "2"));
    const double backlog_copy_s = std::stod(args.get("backlog-copy-s", "1"));
    if (volumes < 1 || volumes > 21 || backlog_volumes < 1 || backlog_volumes > 21) {
      throw std::runtime_error("a group holds 1..21 volumes (/dev/sdf../dev/sdz)");
    }
    std::filesystem::create_directories(work);

    testsupport::Sandbox sandbox(testsupport::SandboxOptions{.data_plane = false});
    const std::string call_log = sandbox.env("EBSNAP_SANDBOX_CALL_LOG");
    const std::string dr = sandbox.dr_region();
    auto env = sandbox.environment();
    bench::make_run_dir(work / "run");
    env["EBSNAP_RUN_DIR"] = (work / "run").string();
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());

    // A run of `volumes`, one new run per round, at each copies_in_flight.
    {
      const std::string group = "run";
      const auto vols = make_volumes(sandbox, group, volumes, work / "mnt");
      int round_no = 0;
      for (int in_flight : args.ints("in-flight", "10,20")) {
        const auto config = work / fmt::format("copy-{}.json", in_flight);
        write_config(config, group, vols, in_flight, dr);
        bench::Ebsnap ebsnap(binary, env, config, work / "child");
        const int limit = std::min(in_flight, k_max_pending);
        const int waves = (volumes + limit - 1) / limit;  // ceil(volumes / limit)
        const int wave_size = std::min(limit, volumes);
        std::vector<Measured> measured;
        for (int r = 0; r < rounds; ++r) {
          // Each round's run a second after the last: the newest is the one to copy.
          const int run_no = round_no++;
          nlohmann::json start_times = nlohmann::json::object();
          const auto sources = add_run(sandbox, group, vols, fmt::format("bench-run-{:03}", run_no), start_times,
                                       ec2::format_iso8601(now - std::chrono::hours(1) + std::chrono::seconds(run_no)));
          (void)sandbox.control("/snapshots/start-time", {{"start_times", start_times}});
          sandbox.configure({{"timing", {{"copy_complete_s", copy_s}}}});
          measured.push_back(measure(ebsnap, group, call_log, sources, copy_s, dr, wave_size));
          sandbox.configure({{"timing", {{"copy_complete_s", 0}}}});
        }
        write_rows(rows,
                   fmt::format("copy a run of {} volumes, copies_in_flight {}, T = {:g} s", volumes, in_flight, copy_s),
                   measured, volumes, wave_size, waves, copy_s,
                   fmt::format("{} wave(s) of ≤ {} × {:g} s", waves, limit, copy_s));
      }
    }

    // A backlog: `backlog_runs` runs of `backlog_volumes`, a minute apart, the newest an hour old.
    {
      const std::string group = "backlog";
      const auto vols = make_volumes(sandbox, group, backlog_volumes, work / "mnt");
      const auto config = work / "copy-backlog.json";
      const int in_flight = agent::k_default_copies_in_flight;
      const int copies = backlog_runs * backlog_volumes;
      const int limit = std::min(in_flight, k_max_pending);
      // Each lineage's copies one after the other: a wave per run, unless the limit is the narrower.
      const int waves = std::max(backlog_runs, (copies + limit - 1) / limit);
      const int wave_size = std::min(limit, backlog_volumes);
      write_config(config, group, vols, in_flight, dr);
      nlohmann::json start_times = nlohmann::json::object();
      std::map<std::string, std::string> sources;
      for (int r = 0; r < backlog_runs; ++r) {
        const auto time = now - std::chrono::hours(1) - std::chrono::minutes(backlog_runs - r);
        const auto run = add_run(sandbox, group, vols, fmt::format("bench-backlog-{:03}", r), start_times,
                                 ec2::format_iso8601(time));
        sources.insert(run.begin(), run.end());
      }
      (void)sandbox.control("/snapshots/start-time", {{"start_times", start_times}});
      bench::Ebsnap ebsnap(binary, env, config, work / "child");
      sandbox.configure({{"timing", {{"copy_complete_s", backlog_copy_s}}}});
      std::vector<Measured> measured{measure(ebsnap, group, call_log, sources, backlog_copy_s, dr, wave_size)};
      sandbox.configure({{"timing", {{"copy_complete_s", 0}}}});
      write_rows(rows,
                 fmt::format("copy a backlog of {} runs × {} volumes, copies_in_flight {}, T = {:g} s", backlog_runs,
                             backlog_volumes, in_flight, backlog_copy_s),
                 measured, copies, wave_size, waves, backlog_copy_s,
                 fmt::format("max({} runs per lineage, ceil({} / {})) × {:g} s", backlog_runs, copies, limit,
                             backlog_copy_s));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "copy_bench: %s\n", e.what());
    return 1;
  }
}
