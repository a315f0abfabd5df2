// The fleet simulation's scenario table (issue 16): K simulated instances, each running one of
// ebsnap's own commands (its EC2 client, retries, pacing, waiters and tasks) on its group of N
// volumes, against one simulated account with EC2's token buckets, on virtual time:
//   boot-K, rolling-1000: `ebsnap mount` at boot (agent::mount: restore from the latest run);
//   snapshot-1000: `ebsnap snapshot` as ebsnap-snapshot@.timer starts it (agent::snapshot:
//     freeze, one CreateSnapshots, thaw, per-snapshot tags), the group mounted already;
//   prune-1000: `ebsnap prune` (agent::prune: one DescribeSnapshots, the plan, DeleteSnapshot
//     paced at delete_rate_per_s) over a history of daily runs.
//
// For each scenario one row: makespan, p50 and p99 time to done, calls by action, throttled
// calls, give-ups (instances whose command failed, or outlived its unit's TimeoutStartSec), and
// the bucket-bound ideal (bench/fleet/ideal.h) with the ratio to it. The ideal: the least time
// EC2's buckets allow for the mutating calls every instance must make, each bucket draining its
// burst then its rate, and never less than any instance's start plus EC2's own time on its
// critical path:
//   mount: K×N CreateVolume, K×N AttachVolume, plus one volume's median create and attach; the
//     critical path is its slowest volume's create and attach, as the account drew them;
//   snapshot: K CreateSnapshots; the starts' spread (the timers' RandomizedDelaySec) bounds it;
//   prune: the DeleteSnapshot calls the planner (agent::plan_prune) asks of the seeded histories.
// ebsnap's share: an instance's time to done less EC2's time on its critical path (the requests'
// round trips, its polls noticing a change, and with K > 1 its wait for the buckets); for
// snapshot and prune, whose answers are the end, its whole time to done.
//
//   fleet_bench [--only NAME[,NAME...]] [--seed N] [--pacing on|off] [--fleet-size told|N]
//               [--fleet-window S] [--rows FILE]
//               [--pacing-base MS] [--pacing-max MS] [--pacing-ease F]
// --rows FILE: also the targets, each figure beside its limit and target, as rows of
// bench/run's table (`bench/run fleet`): at K >= 100, makespan <= 1.2x the ideal, throttled
// calls <= 5%; everywhere, no give-up.
// --fleet-size N: each instance's config has fleet_size N (default 1, ebsnap's default).
// --fleet-size told: each instance's config has fleet_size = the scenario's K (ec2/pacing.h: a
// share of the buckets from the first call) and fleet_window_s = the spread of its starts
// (rolling-1000: 300 s), which mount and prune apply and snapshot does not (its timer spreads
// the fleet: agent::RuntimeOptions::fleet_share).
// --fleet-window S: fleet_window_s S instead (a wrong one: what it costs).
// --pacing off: the client without ec2/pacing.h (throttles retried as other errors): the figures
// before it.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/cli/agent_commands.h"
#include "agent/config/config.h"
#include "agent/core/runtime.h"
#include "bench/bench_support.h"
#include "bench/fleet/account.h"
#include "bench/fleet/ideal.h"
#include "bench/fleet/instance.h"
#include "bench/fleet/world.h"

namespace {

using fleet::Duration;

enum class Command { Mount, Snapshot, Prune };

struct Scenario {
  std::string name;
  Command command = Command::Mount;
  int instances = 1;
  int volumes = 4;
  Duration spread{0};    // starts spread uniformly over [0, spread] (0: all at once), seeded
  Duration deadline{0};  // the unit's TimeoutStartSec: an instance that takes longer gives up (0: none)
  // prune: each instance's history, `runs` complete daily runs, and the retention it applies.
  int runs = 0;
  std::optional<agent::RetentionPolicy> retention;
};

struct Outcome {
  double makespan_s = 0;
  double p50_s = 0;
  double p99_s = 0;
  double ideal_s = 0;
  double share_p50_ms = 0;
  int done = 0;
  int give_ups = 0;
  std::string first_failure;
  std::uint64_t calls = 0;
  std::uint64_t throttled = 0;
  std::map<std::string, fleet::ActionStats> by_action;
  double wall_s = 0;
  std::size_t peak_fibers = 0;
  int fleet_size = 1;                      // as the instances applied them: snapshot's are 1 and 0
  std::chrono::seconds fleet_window{0};
};

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::ranges::sort(v);
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// The calls every instance must make, as the scenario's ideal counts them (bench/fleet/ideal.h).
fleet::IdealInputs ideal_inputs(const Scenario& s, const fleet::AccountOptions& a,
                                std::size_t planned_deletes) {
  const double k = s.instances;
  switch (s.command) {
    case Command::Mount:
      return {.calls_by_bucket = {{"CreateVolume", k * s.volumes}, {"mutating", k * s.volumes}},
              .tail_s = a.volume_create.median_s + a.attach.median_s,
              .floors_s = {}};
    case Command::Snapshot:
      return {.calls_by_bucket = {{"CreateSnapshots", k}}, .tail_s = 0, .floors_s = {}};
    case Command::Prune:
      return {.calls_by_bucket = {{"DeleteSnapshot", static_cast<double>(planned_deletes)}},
              .tail_s = 0,
              .floors_s = {}};
  }
  return {};
}

// The instances' fleet_window_s: as given, or told with the size (the scenario's spread).
std::chrono::seconds told_window(const Scenario& s, int fleet_size,
                                 std::optional<std::chrono::seconds> fleet_window) {
  if (fleet_window) return *fleet_window;
  return fleet_size == 0 ? std::chrono::duration_cast<std::chrono::seconds>(s.spread) : std::chrono::seconds{0};
}

Outcome run(const Scenario& s, std::uint64_t seed, bool pacing, const std::optional<ec2::PacingOptions>& tuned,
            int fleet_size, std::optional<std::chrono::seconds> fleet_window, const std::filesystem::path& scratch) {
  // 0: told (the scenario's K). Applied as `ebsnap` applies it: only by the commands a fleet
  // starts together (the Instance builds its client without agent::Runtime).
  const char* command = s.command == Command::Mount ? "mount" : s.command == Command::Snapshot ? "snapshot" : "prune";
  const int told = !agent::fleet_starts_together(command) ? 1 : fleet_size == 0 ? s.instances : fleet_size;
  const auto window = agent::fleet_starts_together(command) ? told_window(s, fleet_size, fleet_window)
                                                            : std::chrono::seconds{0};
  const auto wall_began = std::chrono::steady_clock::now();
  fleet::World world(std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 57));
  fleet::AccountOptions account_options;
  account_options.seed = seed;
  fleet::Account account(account_options, world);
  std::mt19937_64 starts(seed);
  std::vector<std::unique_ptr<fleet::Instance>> instances;
  std::vector<fleet::CommandResult> results(static_cast<std::size_t>(s.instances));
  std::vector<Duration> started(static_cast<std::size_t>(s.instances));
  std::size_t planned_deletes = 0;  // prune: what the planner asks of the seeded histories
  for (int i = 0; i < s.instances; ++i) {
    const auto dir = scratch / fmt::format("i{}", i);
    std::filesystem::create_directories(dir);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
    instances.push_back(std::make_unique<fleet::Instance>(world, account,
                                                          fleet::InstanceOptions{.index = i,
                                                                                 .volumes = s.volumes,
                                                                                 .run_dir = dir,
                                                                                 .pacing = pacing,
                                                                                 .pacing_override = tuned,
                                                                                 .fleet_size = told,
                                                                                 .fleet_window = window,
                                                                                 .retention = s.retention}));
    auto& instance = *instances.back();
    switch (s.command) {
      case Command::Mount:
        instance.seed_snapshots();
        break;
      case Command::Snapshot:
        instance.seed_mounted_group();
        break;
      case Command::Prune:
        planned_deletes += instance.seed_history(s.runs, std::chrono::hours(24));
        break;
    }
    // Uniform over the spread, to the millisecond, as systemd draws RandomizedDelaySec
    // (FixedRandomDelay=yes: one offset per machine and timer; here one per instance, seeded).
    const auto at = s.spread.count() == 0
                        ? Duration{0}
                        : Duration{std::uniform_int_distribution<std::int64_t>(0, s.spread.count())(starts)};
    started[static_cast<std::size_t>(i)] = at;
    world.spawn(
        [&, i] {
          auto& self = *instances[static_cast<std::size_t>(i)];
          auto& r = results[static_cast<std::size_t>(i)];
          switch (s.command) {
            case Command::Mount:
              r = self.mount();
              break;
            case Command::Snapshot:
              r = self.snapshot();
              break;
            case Command::Prune:
              r = self.prune();
              break;
          }
        },
        at);
  }
  world.run();

  Outcome o{.fleet_size = told, .fleet_window = window};
  auto ideal = ideal_inputs(s, account_options, planned_deletes);
  std::vector<double> took;
  std::vector<double> share;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const auto path = account.ec2_path(instances[i]->id());
    o.makespan_s = std::max(o.makespan_s, seconds(started[i] + r.took));
    ideal.floors_s.push_back(seconds(started[i] + path));
    took.push_back(seconds(r.took));
    share.push_back(std::chrono::duration<double, std::milli>(r.took - path).count());
    const bool late = s.deadline.count() != 0 && r.took > s.deadline;
    if (r.ok && !late) {
      ++o.done;
    } else {
      ++o.give_ups;
      if (o.first_failure.empty()) {
        o.first_failure = late ? fmt::format("took {:.0f} s, past the unit's {:.0f} s", seconds(r.took),
                                             seconds(s.deadline))
                               : r.failure;
      }
    }
  }
  o.ideal_s = fleet::ideal_s(ideal, account_options);
  o.p50_s = percentile(took, 0.50);
  o.p99_s = percentile(took, 0.99);
  o.share_p50_ms = percentile(share, 0.50);
  o.by_action = account.stats();
  for (const auto& [action, st] : o.by_action) {
    o.calls += st.calls;
    o.throttled += st.throttled;
  }
  o.peak_fibers = world.peak_fibers();
  o.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_began).count();
  return o;
}

std::string short_name(const std::string& action) {
  static const std::map<std::string, std::string> names{
      {"DescribeSnapshots", "DS"}, {"DescribeVolumes", "DV"},   {"CreateVolume", "CV"},
      {"AttachVolume", "AV"},      {"DescribeInstances", "DI"}, {"ModifyInstanceAttribute", "MIA"},
      {"CreateSnapshots", "CSs"},  {"CreateTags", "CT"},        {"DeleteSnapshot", "DelS"}};
  const auto it = names.find(action);
  return it == names.end() ? action : it->second;
}

std::string calls_text(const Outcome& o) {
  std::string out;
  for (const auto& [action, st] : o.by_action) {
    if (!out.empty()) out += " ";
    out += fmt::format("{} {}", short_name(action), st.calls);
    if (st.throttled != 0) out += fmt::format(" ({}t)", st.throttled);
  }
  return out;
}

// A run that was killed leaves its scratch (ebsnap-fleet-PID, the instances' run dirs) behind:
// removed by the next run once that PID is gone.
void sweep_scratch_of_dead_runs(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("ebsnap-fleet-")) continue;
    const std::string digits = name.substr(std::string_view("ebsnap-fleet-").size());
    if (digits.empty() || !std::ranges::all_of(digits, [](char c) { return c >= '0' && c <= '9'; })) continue;
    const auto pid = static_cast<pid_t>(std::stol(digits));
    if (::kill(pid, 0) != 0 && errno == ESRCH) std::filesystem::remove_all(entry.path(), ec);
  }
}

// The scenario against issue 16's targets, as bench/run's rows. told: --fleet-size told.
void write_rows(const std::filesystem::path& path, const Scenario& s, const Outcome& o, bool told) {
  bench::RowWriter rows(path);
  const bool fleet = s.instances >= 100;  // the makespan and throttling targets are for K >= 100
  const double ratio = o.makespan_s / o.ideal_s;
  const double throttled_pct =
      o.calls == 0 ? 0.0 : 100.0 * static_cast<double>(o.throttled) / static_cast<double>(o.calls);
  const std::string name = fmt::format("fleet {} (K={}, N={}{}{})", s.name, s.instances, s.volumes,
                                       o.fleet_size == 1 ? ""
                                       : told            ? ", fleet_size K"
                                                         : fmt::format(", fleet_size {}", o.fleet_size),
                                       o.fleet_window.count() == 0
                                           ? ""
                                           : fmt::format(", fleet_window_s {}", o.fleet_window.count()));
  rows.write({.part = "fleet",
              .figure = name + ": makespan",
              .value = fmt::format("{:.1f} s ({:.2f}x)", o.makespan_s, ratio),
              .limit = fmt::format("{:.1f} s (the buckets' ideal)", o.ideal_s),
              .target = fleet ? "<= 1.2x the ideal" : "-",
              .verdict = fleet ? bench::verdict(ratio <= 1.2) : "info",
              .note = fmt::format("p50 {:.1f} s, p99 {:.1f} s to done", o.p50_s, o.p99_s)});
  rows.write({.part = "fleet",
              .figure = name + ": throttled calls",
              .value = fmt::format("{:.1f}%", throttled_pct),
              .limit = "0%",
              .target = fleet ? "<= 5%" : "-",
              .verdict = fleet ? bench::verdict(throttled_pct <= 5.0) : "info",
              .note = fmt::format("{} of {} calls; {}", o.throttled, o.calls, calls_text(o))});
  rows.write({.part = "fleet",
              .figure = name + ": give-ups",
              .value = fmt::format("{} of {}", o.give_ups, s.instances),
              .limit = "0",
              .target = "0",
              .verdict = bench::verdict(o.give_ups == 0),
              .note = o.first_failure.empty() ? "virtual time; wall " + fmt::format("{:.0f} s", o.wall_s)
                                              : "first: " + o.first_failure});
}

}  // namespace

int main(int argc, char** argv) try {
  std::set<std::string> only;
  std::uint64_t seed = 1;
  bool pacing = true;
  std::optional<std::filesystem::path> rows;
  std::optional<ec2::PacingOptions> tuned;
  int fleet_size = 1;  // 0: told, each scenario's K
  std::optional<std::chrono::seconds> fleet_window;  // none: told with the size (or 0)
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--only" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string name; std::getline(list, name, ',');) only.insert(name);
    } else if (a == "--pacing" && i + 1 < argc) {
      pacing = std::string(argv[++i]) != "off";
    } else if (a.starts_with("--pacing-") && i + 1 < argc) {
      if (!tuned) tuned = agent::pacing_policy(agent::Config{}, /*fleet_share=*/false);
      const double v = std::stod(argv[++i]);
      if (a == "--pacing-base") tuned->base = std::chrono::milliseconds(static_cast<long long>(v));
      if (a == "--pacing-max") tuned->max_spacing = std::chrono::milliseconds(static_cast<long long>(v));
      if (a == "--pacing-ease") tuned->ease = v;
    } else if (a == "--fleet-size" && i + 1 < argc) {
      const std::string v = argv[++i];
      fleet_size = v == "told" ? 0 : std::stoi(v);
    } else if (a == "--fleet-window" && i + 1 < argc) {
      fleet_window = std::chrono::seconds(std::stoi(argv[++i]));
    } else if (a == "--rows" && i + 1 < argc) {
      rows = argv[++i];
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::stoull(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: fleet_bench [--only NAME[,NAME...]] [--seed N] [--pacing on|off] [--fleet-size told|N] "
                   "[--fleet-window S] [--rows FILE]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::off);  // thousands of instances' log lines: none

  const std::vector<Scenario> scenarios{
      {.name = "boot-1", .instances = 1},
      {.name = "boot-100", .instances = 100},
      {.name = "boot-1000", .instances = 1'000},
      {.name = "boot-10000", .instances = 10'000},
      {.name = "rolling-1000", .instances = 1'000, .spread = std::chrono::minutes(5)},
      // init/ebsnap-snapshot@.timer: OnCalendar=hourly, RandomizedDelaySec=45min,
      // FixedRandomDelay=yes; the service's TimeoutStartSec=15min is the deadline.
      {.name = "snapshot-1000",
       .command = Command::Snapshot,
       .instances = 1'000,
       .spread = std::chrono::minutes(45),
       .deadline = std::chrono::minutes(15)},
      // ebsnap ships no prune timer (prune_after_snapshot would follow the snapshot timer's
      // spread): this is a fleet-wide `ebsnap prune data` started on every instance at once (one
      // cron minute, one SSM Run Command), the worst case for the DeleteSnapshot bucket. 30 daily
      // runs, daily 28 kept: each instance deletes its 2 oldest runs, 8 snapshots.
      {.name = "prune-1000",
       .command = Command::Prune,
       .instances = 1'000,
       .runs = 30,
       .retention = agent::RetentionPolicy{.daily = 28}},
  };
  const auto scratch = std::filesystem::path("/dev/shm") / fmt::format("ebsnap-fleet-{}", ::getpid());
  sweep_scratch_of_dead_runs(scratch.parent_path());
  std::printf("| scenario | K | N | makespan | p50 | p99 | ideal | ratio | throttled | give-ups | ebsnap's share p50 | calls (t: throttled) | wall |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& s : scenarios) {
    if (!only.empty() && !only.contains(s.name)) continue;
    std::filesystem::remove_all(scratch);
    const auto o = run(s, seed, pacing, tuned, fleet_size, fleet_window, scratch);
    std::filesystem::remove_all(scratch);
    std::printf("| %s | %d | %d | %.1f s | %.1f s | %.1f s | %.1f s | %.2f× | %llu (%.1f%%) | %d | %.0f ms | %s | %.0f s |\n",
                s.name.c_str(), s.instances, s.volumes, o.makespan_s, o.p50_s, o.p99_s, o.ideal_s,
                o.makespan_s / o.ideal_s, static_cast<unsigned long long>(o.throttled),
                o.calls == 0 ? 0.0 : 100.0 * static_cast<double>(o.throttled) / static_cast<double>(o.calls),
                o.give_ups, o.share_p50_ms, calls_text(o).c_str(), o.wall_s);
    if (!o.first_failure.empty()) std::printf("|   first give-up: %s |\n", o.first_failure.c_str());
    if (rows) write_rows(*rows, s, o, /*told=*/fleet_size == 0);
    std::fflush(stdout);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "fleet_bench: %s\n", e.what());
  return 1;
}
