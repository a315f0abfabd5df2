// The fleet simulation's scenario table (issue 16): K simulated instances, each restoring its
// group of N volumes at boot with ebsnap's own mount (its EC2 client, retries, waiters and
// tasks), against one simulated account with EC2's token buckets, on virtual time.
//
// For each scenario one row: makespan, p50 and p99 time to restored, calls by action, throttled
// calls, give-ups (instances whose mount failed), and the bucket-bound ideal with the ratio to it.
// The ideal: the least time EC2's buckets allow for the mutating calls every instance must make
// (K×N CreateVolume, K×N AttachVolume, each bucket draining its burst then its rate), plus one
// volume's median create and attach; and never less than any instance's own boot time plus EC2's
// time on its critical path (its slowest volume's create and attach, as the account drew them).
// ebsnap's share: an instance's time to restored less EC2's time on its critical path (the
// requests' round trips, its polls noticing a change, and with K > 1 its wait for the buckets).
//
//   fleet_bench [--only NAME[,NAME...]] [--seed N] [--pacing on|off]
// --pacing off: the client without ec2/pacing.h (throttles retried as other errors): the figures
// before it.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/runtime.h"
#include "bench/fleet/account.h"
#include "bench/fleet/instance.h"
#include "bench/fleet/world.h"

namespace {

using fleet::Duration;

struct Scenario {
  std::string name;
  int instances = 1;
  int volumes = 4;
  Duration boot_spread{0};  // boots spread uniformly over this (0: all at once)
};

struct Outcome {
  double makespan_s = 0;
  double p50_s = 0;
  double p99_s = 0;
  double ideal_s = 0;
  double share_p50_ms = 0;
  int restored = 0;
  int give_ups = 0;
  std::string first_failure;
  std::uint64_t calls = 0;
  std::uint64_t throttled = 0;
  std::map<std::string, fleet::ActionStats> by_action;
  double wall_s = 0;
  std::size_t peak_fibers = 0;
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

double bucket_time(double calls, const fleet::Bucket& b) {
  return std::max(0.0, (calls - b.burst) / b.rate);
}

double bucket_bound(const Scenario& s, const fleet::AccountOptions& a) {
  const double m = static_cast<double>(s.instances) * s.volumes;
  const double creates = bucket_time(m, a.buckets.at("CreateVolume"));
  const double attaches = bucket_time(m, a.buckets.at("mutating"));
  return std::max({creates, attaches, seconds(s.boot_spread)}) + a.volume_create.median_s + a.attach.median_s;
}

Outcome run(const Scenario& s, std::uint64_t seed, bool pacing, const std::optional<ec2::PacingOptions>& tuned,
            const std::filesystem::path& scratch) {
  const auto wall_began = std::chrono::steady_clock::now();
  fleet::World world(std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 57));
  fleet::AccountOptions account_options;
  account_options.seed = seed;
  fleet::Account account(account_options, world);
  std::mt19937_64 boots(seed);
  std::vector<std::unique_ptr<fleet::Instance>> instances;
  std::vector<fleet::RestoreResult> results(static_cast<std::size_t>(s.instances));
  std::vector<Duration> booted(static_cast<std::size_t>(s.instances));
  for (int i = 0; i < s.instances; ++i) {
    const auto dir = scratch / fmt::format("i{}", i);
    std::filesystem::create_directories(dir);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
    instances.push_back(std::make_unique<fleet::Instance>(
        world, account, fleet::InstanceOptions{.index = i, .volumes = s.volumes, .run_dir = dir, .pacing = pacing, .pacing_override = tuned}));
    instances.back()->seed_snapshots();
    const auto at = s.boot_spread.count() == 0
                        ? Duration{0}
                        : Duration{std::uniform_int_distribution<std::int64_t>(0, s.boot_spread.count())(boots)};
    booted[static_cast<std::size_t>(i)] = at;
    world.spawn([&, i] { results[static_cast<std::size_t>(i)] = instances[static_cast<std::size_t>(i)]->mount(); }, at);
  }
  world.run();

  Outcome o;
  o.ideal_s = bucket_bound(s, account_options);
  std::vector<double> took;
  std::vector<double> share;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const auto path = account.ec2_path(instances[i]->id());
    o.makespan_s = std::max(o.makespan_s, seconds(booted[i] + r.took));
    o.ideal_s = std::max(o.ideal_s, seconds(booted[i] + path));
    took.push_back(seconds(r.took));
    share.push_back(std::chrono::duration<double, std::milli>(r.took - path).count());
    if (r.restored) {
      ++o.restored;
    } else {
      ++o.give_ups;
      if (o.first_failure.empty()) o.first_failure = r.failure;
    }
  }
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
      {"DescribeSnapshots", "DS"}, {"DescribeVolumes", "DV"}, {"CreateVolume", "CV"}, {"AttachVolume", "AV"},
      {"DescribeInstances", "DI"}, {"ModifyInstanceAttribute", "MIA"}};
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

}  // namespace

int main(int argc, char** argv) try {
  std::set<std::string> only;
  std::uint64_t seed = 1;
  bool pacing = true;
  std::optional<ec2::PacingOptions> tuned;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--only" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string name; std::getline(list, name, ',');) only.insert(name);
    } else if (a == "--pacing" && i + 1 < argc) {
      pacing = std::string(argv[++i]) != "off";
    } else if (a.starts_with("--pacing-") && i + 1 < argc) {
      if (!tuned) tuned = agent::pacing_policy(agent::Config{});
      const double v = std::stod(argv[++i]);
      if (a == "--pacing-base") tuned->base = std::chrono::milliseconds(static_cast<long long>(v));
      if (a == "--pacing-max") tuned->max_spacing = std::chrono::milliseconds(static_cast<long long>(v));
      if (a == "--pacing-ease") tuned->ease = v;
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::stoull(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: fleet_bench [--only NAME[,NAME...]] [--seed N] [--pacing on|off]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::off);  // thousands of instances' log lines: none

  const std::vector<Scenario> scenarios{
      {.name = "boot-1", .instances = 1},
      {.name = "boot-100", .instances = 100},
      {.name = "boot-1000", .instances = 1'000},
      {.name = "boot-10000", .instances = 10'000},
      {.name = "rolling-1000", .instances = 1'000, .boot_spread = std::chrono::minutes(5)},
  };
  const auto scratch = std::filesystem::path("/dev/shm") / fmt::format("ebsnap-fleet-{}", ::getpid());
  std::printf("| scenario | K | N | makespan | p50 | p99 | ideal | ratio | throttled | give-ups | ebsnap's share p50 | calls (t: throttled) | wall |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& s : scenarios) {
    if (!only.empty() && !only.contains(s.name)) continue;
    std::filesystem::remove_all(scratch);
    const auto o = run(s, seed, pacing, tuned, scratch);
    std::filesystem::remove_all(scratch);
    std::printf("| %s | %d | %d | %.1f s | %.1f s | %.1f s | %.1f s | %.2f× | %llu (%.1f%%) | %d | %.0f ms | %s | %.0f s |\n",
                s.name.c_str(), s.instances, s.volumes, o.makespan_s, o.p50_s, o.p99_s, o.ideal_s,
                o.makespan_s / o.ideal_s, static_cast<unsigned long long>(o.throttled),
                o.calls == 0 ? 0.0 : 100.0 * static_cast<double>(o.throttled) / static_cast<double>(o.calls),
                o.give_ups, o.share_p50_ms, calls_text(o).c_str(), o.wall_s);
    if (!o.first_failure.empty()) std::printf("|   first give-up: %s |\n", o.first_failure.c_str());
    std::fflush(stdout);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "fleet_bench: %s\n", e.what());
  return 1;
}
