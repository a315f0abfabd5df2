// prune's deletes against the sandbox's EC2-like token bucket for DeleteSnapshot (100 burst, 5/s
// refill, as EC2 per account and region). A group with `count` + 1 runs of one snapshot each and
// "keep_last": 0 (every run but the newest goes); `ebsnap prune` at delete_rate_per_s = `rate`.
//
// The bucket-bound ideal is the fastest any client could delete `count` snapshots: the burst at
// once, the rest at the refill rate, (count − burst) / refill. ebsnap deliberately does not spend
// the burst (the bucket is shared with everything else in the account), so its own bound is
// count / rate. Figures: the wall time against both, the throttled answers, the give-ups (planned
// deletes not carried out) and the deletions outside the plan (from the sandbox's call log
// against `prune --dry-run`'s plan); targets: wall ≤ count / rate + 5%, zero give-ups, zero
// deletions outside the plan.
//
//   prune_bench --ebsnap BIN --rows FILE --work DIR [--count 1000] [--rate 5] [--contended-count 150]
//
// A second row: the bucket shared with others who spend 3/s of it (20 burst, 2/s left): ebsnap's
// 5/s is throttled and must back off, slow down and give nothing up.
#include <cstdio>
#include <exception>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_support.h"
#include "ec2/types.h"
#include "tests/support/sandbox.h"

namespace {

constexpr int k_burst = 100;
constexpr double k_refill_per_s = 5.0;

// `runs` runs of group `group` on `mount_point`, one snapshot each, a minute apart, the newest
// a day old.
void add_runs(const testsupport::Sandbox& sandbox, const std::string& group, const std::string& mount_point, int runs) {
  auto client = bench::sandbox_client(sandbox);
  auto volume = client->create_volume({.availability_zone = sandbox.availability_zone(), .size_gib = 1});
  if (!volume) throw std::runtime_error(volume.error().describe());
  const auto userdata = nlohmann::json::parse(bench::bench_userdata());
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  nlohmann::json start_times = nlohmann::json::object();
  for (int i = 0; i < runs; ++i) {
    nlohmann::json tags = userdata;
    tags["ebsnap:group"] = group;
    tags["ebsnap:mount-point"] = mount_point;
    tags["ebsnap:run-id"] = fmt::format("bench-{:05}", i);
    const auto made = sandbox.control("/snapshots/bulk", {{"volume_id", volume->id.value}, {"count", 1}, {"tags", tags}});
    const std::string id = made.at("snapshot_ids").at(0);
    start_times[id] = ec2::format_iso8601(now - std::chrono::hours(24) - std::chrono::minutes(runs - i));
  }
  (void)sandbox.control("/snapshots/start-time", {{"start_times", start_times}});
}

// One prune of `count` snapshots at `rate` against a DeleteSnapshot bucket of `burst` and
// `refill` per second; one row.
struct Scenario {
  std::string group;
  int count = 0;
  int rate = 0;
  int burst = k_burst;
  double refill = k_refill_per_s;
  std::string what;
};

void measure(const testsupport::Sandbox& sandbox, const std::filesystem::path& binary, const std::filesystem::path& work,
             const Scenario& sc, bench::RowWriter& rows) {
  const std::string call_log = sandbox.env("EBSNAP_SANDBOX_CALL_LOG");
  auto env = sandbox.environment();
  env["EBSNAP_RUN_DIR"] = (work / "run").string();
  const std::string mount_point = (work / "mnt" / sc.group).string();
  const auto config = work / (sc.group + ".json");
  std::ofstream(config) << nlohmann::ordered_json{
      {"delete_rate_per_s", sc.rate},
      {"groups",
       {{sc.group,
         {{"volumes", {{{"device", "/dev/sdf"}, {"mount_point", mount_point}, {"size_gib", 1}}}},
          {"retention", {{"keep_last", 0}, {"min_age", "0s"}, {"max_deletes_per_run", sc.count}}}}}}}}
                               .dump(2);
  add_runs(sandbox, sc.group, mount_point, sc.count + 1);
  bench::Ebsnap ebsnap(binary, env, config, work / "child");

  const auto dry = nlohmann::json::parse(ebsnap.run_ok({"--json", "--dry-run", "prune", sc.group}).out);
  const auto planned = dry.at("prune").at(0).at("planned").get<std::vector<std::string>>();
  if (static_cast<int>(planned.size()) != sc.count) {
    throw std::runtime_error(fmt::format("the plan deletes {} snapshots, not {}", planned.size(), sc.count));
  }
  // The bucket, full.
  sandbox.configure({{"throttling", {{"enabled", true},
                                     {"buckets", {{"DeleteSnapshot", {{"burst", sc.burst}, {"rate", sc.refill}}}}}}}});
  const std::size_t from = bench::count_lines(call_log);
  const bench::ChildResult run = ebsnap.run({"--json", "prune", sc.group});
  const auto log = bench::read_call_log(call_log, from);
  sandbox.configure({{"throttling", {{"enabled", false}}}});

  const std::set<std::string> plan(planned.begin(), planned.end());
  int calls = 0;
  int throttled = 0;
  int outside = 0;
  std::set<std::string> deleted;
  for (const auto& c : log) {
    if (c.value("action", "") != "DeleteSnapshot") continue;
    ++calls;
    const std::string id = c.contains("params") ? c["params"].value("SnapshotId", "") : "";
    if (c.contains("error") && !c["error"].is_null()) {
      if (c["error"] == "RequestLimitExceeded") ++throttled;
      continue;
    }
    deleted.insert(id);
    if (!plan.contains(id)) ++outside;
  }
  const int give_ups = sc.count - static_cast<int>(deleted.size()) + outside;
  const double wall_s = bench::ms(run.wall) / 1000.0;
  // The fastest any client could go: the burst at once, the rest at the refill rate.
  const double ideal_s = std::max(0, sc.count - sc.burst) / sc.refill;
  // ebsnap's own bound: its pace, or the refill when that is slower (it does not spend the burst).
  const double own_bound_s = sc.count / std::min(static_cast<double>(sc.rate), sc.refill);
  const double target_s = own_bound_s * 1.05;
  const bool ok = run.exit_code == 0 && give_ups == 0 && outside == 0 && wall_s <= target_s;
  rows.write({"prune", sc.what, fmt::format("{:.1f} s", wall_s), fmt::format("{:.1f} s (bucket-bound ideal)", ideal_s),
              fmt::format("≤ {:.1f} s ({} at {:g}/s + 5%)", target_s, sc.count,
                          std::min(static_cast<double>(sc.rate), sc.refill)),
              bench::verdict(ok),
              fmt::format("exit {}; {} calls, {} throttled, {} give-ups, {} deleted outside the plan", run.exit_code,
                          calls, throttled, give_ups, outside)});
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const bench::Args args = bench::parse_args(argc, argv);
    bench::RowWriter rows(args.get("rows", "/dev/stdout"));
    const std::filesystem::path work = args.get("work");
    const std::filesystem::path binary = args.get("ebsnap");
    if (work.empty() || binary.empty()) throw std::runtime_error("--work DIR and --ebsnap BIN are required");
    const int count = std::stoi(args.get("count", "1000"));
    const int rate = std::stoi(args.get("rate", "5"));
    const int contended = std::stoi(args.get("contended-count", "150"));
    std::filesystem::create_directories(work);
    testsupport::Sandbox sandbox(testsupport::SandboxOptions{.data_plane = false});
    measure(sandbox, binary, work,
            {.group = "prune",
             .count = count,
             .rate = rate,
             .what = fmt::format("prune: {} DeleteSnapshot at {}/s vs EC2's bucket ({} burst, {:g}/s)", count, rate,
                                 k_burst, k_refill_per_s)},
            rows);
    // Others in the account spend 3/s of the refill: the bucket gives ebsnap 2/s and a burst of 20,
    // and its 5/s pace is throttled: it must back off, slow down, and still give nothing up.
    measure(sandbox, binary, work,
            {.group = "contended",
             .count = contended,
             .rate = rate,
             .burst = 20,
             .refill = 2.0,
             .what = fmt::format("prune: {} DeleteSnapshot at {}/s, the bucket shared (20 burst, 2/s left)", contended,
                                 rate)},
            rows);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "prune_bench: %s\n", e.what());
    return 1;
  }
}
