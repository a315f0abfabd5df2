// What one request to the simulated account costs (issue 16): a fleet of 10,000 instances × 4
// volumes and as many snapshots, then the calls `ebsnap mount` makes, through the real Ec2Client
// (sign, serve, parse) and to Account::serve alone. Prints a table; wall time of this process,
// never an assertion. Buckets are unbounded here: the figure is the cost, not EC2's limits.
#include <fmt/format.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/tags.h"
#include "bench/fleet/account.h"
#include "ec2/ec2_client.h"
#include "ec2/query.h"
#include "ec2/testing/manual_clock.h"

namespace {

using Wall = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int k_instances = 10'000;
constexpr int k_volumes_per_instance = 4;

struct Timed {
  std::string figure;
  long count = 0;
  double seconds = 0;      // wall
  double cpu_seconds = 0;  // this process's CPU: the figure to read on a shared machine
};

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

template <class F>
Timed timed(std::string figure, long count, F&& f) {
  const auto start = Wall::now();
  const double cpu_start = cpu_now();
  for (long i = 0; i < count; ++i) f(i);
  return {std::move(figure), count, std::chrono::duration<double>(Wall::now() - start).count(),
          cpu_now() - cpu_start};
}

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "account_bench: %s\n", what.c_str());
    std::exit(1);
  }
}

std::string mount_point(int v) {
  return fmt::format("/data{}", v);
}

}  // namespace

int main() {
  ec2::ManualClock clock;
  fleet::AccountOptions options;
  for (auto& [name, bucket] : options.buckets) bucket = {.burst = 1e15, .rate = 1e15};
  fleet::Account account(options, clock);

  ec2::SequenceRandom random({0.5});
  const auto client = fleet::direct_client(account, clock, clock, random, /*max_attempts=*/1);
  auto& c = *client;

  const std::string group(agent::k_tag_group);
  const std::string mp(agent::k_tag_mount_point);
  std::vector<ec2::InstanceId> instances;
  std::vector<ec2::VolumeId> volumes;
  std::vector<Timed> rows;

  for (int i = 0; i < k_instances; ++i) instances.push_back(account.add_instance("us-east-1a"));
  for (int i = 0; i < k_instances; ++i) {
    for (int v = 0; v < k_volumes_per_instance; ++v) {
      account.add_snapshot(
          100, {{group, "db"}, {mp, mount_point(v)}, {"host", fmt::format("h{}", i)}}, clock.now() - 1h);
    }
  }
  rows.push_back(timed("CreateVolume (Ec2Client)", k_instances * k_volumes_per_instance, [&](long n) {
    const auto i = static_cast<int>(n / k_volumes_per_instance);
    const auto v = static_cast<int>(n % k_volumes_per_instance);
    auto r = c.create_volume({.availability_zone = "us-east-1a",
                              .size_gib = 100,
                              .volume_type = "gp3",
                              .tag_specifications = {{"volume",
                                                      {{group, "db"},
                                                       {mp, mount_point(v)},
                                                       {"host", fmt::format("h{}", i)}}}},
                              .client_token = fmt::format("t{}", n)});
    check(r.has_value(), "create_volume");
    volumes.push_back(r->id);
  }));
  clock.advance(10s);
  rows.push_back(timed("AttachVolume (Ec2Client)", k_instances * k_volumes_per_instance, [&](long n) {
    const auto i = static_cast<std::size_t>(n / k_volumes_per_instance);
    const auto v = static_cast<char>('f' + n % k_volumes_per_instance);
    auto r = c.attach_volume({.volume_id = volumes[static_cast<std::size_t>(n)],
                              .instance_id = instances[i],
                              .device = fmt::format("/dev/sd{}", v)});
    check(r.has_value(), "attach_volume");
  }));
  clock.advance(10s);

  const auto four_ids = [&](long n) {
    const auto i = static_cast<std::size_t>((n * 7919) % k_instances) * k_volumes_per_instance;
    return std::vector<ec2::VolumeId>(volumes.begin() + static_cast<long>(i),
                                      volumes.begin() + static_cast<long>(i + k_volumes_per_instance));
  };
  rows.push_back(timed("DescribeVolumes, 4 ids (Ec2Client)", 100'000, [&](long n) {
    auto r = c.describe_volumes({.volume_ids = four_ids(n)});
    check(r.has_value() && r->size() == k_volumes_per_instance, "describe_volumes ids");
  }));
  std::vector<std::string> bodies;
  for (long n = 0; n < 1000; ++n) {
    ec2::QueryParams p;
    p.add_ids("VolumeId", four_ids(n));
    bodies.push_back(p.body("DescribeVolumes"));
  }
  rows.push_back(timed("DescribeVolumes, 4 ids (Account::serve alone)", 100'000, [&](long n) {
    const auto r = account.serve({.method = "POST",
                                  .url = "http://ec2.sim/",
                                  .headers = {},
                                  .body = bodies[static_cast<std::size_t>(n % 1000)]});
    check(r.status == 200, "serve");
  }));
  std::vector<std::string> mount_points;
  for (int v = 0; v < k_volumes_per_instance; ++v) mount_points.push_back(mount_point(v));
  rows.push_back(timed("DescribeSnapshots, lineage filters (Ec2Client)", 20'000, [&](long n) {
    const agent::FilterValues filters{{"host", fmt::format("h{}", (n * 7919) % k_instances)}};
    auto r = c.describe_snapshots({.owner_ids = {"self"}, .filters = agent::lineage_filters(filters, mount_points)});
    check(r.has_value() && r->size() == k_volumes_per_instance, "describe_snapshots lineage");
  }));
  rows.push_back(timed("DescribeVolumes, our_volume_filters (Ec2Client)", 20'000, [&](long n) {
    const agent::FilterValues filters{{"host", fmt::format("h{}", (n * 7919) % k_instances)}};
    auto r = c.describe_volumes({.filters = agent::our_volume_filters(filters, mount_points)});
    check(r.has_value() && r->size() == k_volumes_per_instance, "describe_volumes filters");
  }));
  rows.push_back(timed("DescribeVolumes, attachment.instance-id (Ec2Client)", 20'000, [&](long n) {
    const auto& i = instances[static_cast<std::size_t>((n * 7919) % k_instances)];
    auto r = c.describe_volumes({.filters = {{"attachment.instance-id", {i.value}}}});
    check(r.has_value() && r->size() == k_volumes_per_instance + 1, "describe_volumes attachment");
  }));

  fmt::print("fleet account: {} instances, {} volumes, {} snapshots\n", k_instances, account.volume_count(),
             account.snapshot_count());
  fmt::print("{:<55} {:>9} {:>8} {:>8} {:>14}\n", "figure", "requests", "wall s", "cpu s", "cpu µs/request");
  for (const auto& r : rows) {
    fmt::print("{:<55} {:>9} {:>8.2f} {:>8.2f} {:>14.1f}\n", r.figure, r.count, r.seconds, r.cpu_seconds,
               1e6 * r.cpu_seconds / static_cast<double>(r.count));
  }
  return 0;
}
