// Micro-benchmarks of the CPU work on ebsnap's paths: signing a request, parsing a page of
// DescribeSnapshots, choosing the newest snapshot per mount point, planning a prune. Google
// Benchmark; bench/run reads the JSON output (--benchmark_format=json) and puts the figures in
// its table.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <pugixml.hpp>

#include "agent/commands/prune_decide.h"
#include "agent/core/restore_points.h"
#include "agent/core/tags.h"
#include "ec2/clock.h"
#include "ec2/ec2_xml.h"
#include "ec2/query.h"
#include "ec2/secret.h"
#include "ec2/sigv4.h"
#include "ec2/types.h"

namespace {

using namespace std::chrono_literals;

// The request ebsnap sends most and the largest one on the freeze path: CreateSnapshots of a
// group's volumes with the group's tags at creation, signed with instance-role credentials
// (so with a session token).
std::string create_snapshots_body() {
  ec2::QueryParams p;
  p.add("InstanceSpecification.InstanceId", "i-0123456789abcdef0");
  p.add("InstanceSpecification.ExcludeBootVolume", true);
  p.add("InstanceSpecification.ExcludeDataVolumeIds.1", "vol-0aaaaaaaaaaaaaaa1");
  p.add("CopyTagsFromSource", "volume");
  p.add("Description", "ebsnap solr 20261123T120000-1a2b3c4d");
  std::vector<ec2::Tag> tags = {{"role", "solr"},
                                {"cluster", "search-eu"},
                                {"environment", "production"},
                                {"team", "search"},
                                {"ebsnap:group", "solr"},
                                {"ebsnap:instance-id", "i-0123456789abcdef0"},
                                {"ebsnap:consistency", "frozen"},
                                {"ebsnap:run-id", "20261123T120000-1a2b3c4d"}};
  p.add_tag_specifications({{"snapshot", tags}});
  return p.body("CreateSnapshots");
}

void BM_SigV4SignCreateSnapshots(benchmark::State& state) {
  const std::string body = create_snapshots_body();
  const ec2::SecretString secret(std::string("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
  const ec2::SecretString token(std::string(
      "IQoJb3JpZ2luX2VjEJr//////////wEaCWV1LXdlc3QtMSJHMEUCIQD6EXAMPLEtokenEXAMPLEtokenEXAMPLEtoken"
      "EXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLE"
      "tokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtoken=="));
  ec2::sigv4::Request request{
      .method = "POST",
      .host = "ec2.eu-west-1.amazonaws.com",
      .path = "/",
      .query = "",
      .headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
      .body = body,
  };
  ec2::sigv4::SigningInput input{
      .access_key_id = "ASIAIOSFODNN7EXAMPLE",
      .secret_access_key = &secret,
      .session_token = &token,
      .region = "eu-west-1",
      .service = "ec2",
      .time = ec2::TimePoint(std::chrono::sys_days(std::chrono::year(2026) / 11 / 23)) + 12h,
  };
  for (auto _ : state) {
    auto headers = ec2::sigv4::sign(request, input);
    benchmark::DoNotOptimize(headers);
  }
  state.counters["body_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_SigV4SignCreateSnapshots)->Unit(benchmark::kMicrosecond);

// The floor under signing: what SigV4 cannot avoid (SHA-256 of the body and of the canonical
// request, five HMACs), without building any strings.
void BM_SigV4Floor(benchmark::State& state) {
  const std::string body = create_snapshots_body();
  const std::string canonical(400, 'c');  // a canonical request is about this long
  for (auto _ : state) {
    auto a = ec2::sigv4::sha256_hex(body);
    auto b = ec2::sigv4::sha256_hex(canonical);
    auto k = ec2::sigv4::hmac_sha256("AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20261123");
    for (int i = 0; i < 4; ++i) {
      k = ec2::sigv4::hmac_sha256(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()), b);
    }
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(BM_SigV4Floor)->Unit(benchmark::kMicrosecond);

// A page as EC2 writes it (MaxResults=1000): every snapshot of ebsnap carries its lineage tags.
std::string describe_snapshots_page(int count) {
  std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<DescribeSnapshotsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
      "    <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>\n"
      "    <snapshotSet>\n";
  for (int i = 0; i < count; ++i) {
    const int mount = i % 8;
    xml += fmt::format(
        "        <item>\n"
        "            <snapshotId>snap-{:017x}</snapshotId>\n"
        "            <volumeId>vol-{:017x}</volumeId>\n"
        "            <status>completed</status>\n"
        "            <startTime>2026-{:02}-{:02}T{:02}:{:02}:{:02}.000Z</startTime>\n"
        "            <progress>100%</progress>\n"
        "            <ownerId>123456789012</ownerId>\n"
        "            <volumeSize>20</volumeSize>\n"
        "            <description>ebsnap solr /mnt/solr{} 20261123T120000-1a2b3c4d</description>\n"
        "            <encrypted>true</encrypted>\n"
        "            <kmsKeyId>arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab</kmsKeyId>\n"
        "            <storageTier>standard</storageTier>\n"
        "            <tagSet>\n"
        "                <item><key>role</key><value>solr</value></item>\n"
        "                <item><key>cluster</key><value>search-eu</value></item>\n"
        "                <item><key>environment</key><value>production</value></item>\n"
        "                <item><key>ebsnap:group</key><value>solr</value></item>\n"
        "                <item><key>ebsnap:mount-point</key><value>/mnt/solr{}</value></item>\n"
        "                <item><key>ebsnap:device</key><value>/dev/sd{}</value></item>\n"
        "                <item><key>ebsnap:instance-id</key><value>i-0123456789abcdef0</value></item>\n"
        "                <item><key>ebsnap:volume-id</key><value>vol-{:017x}</value></item>\n"
        "                <item><key>ebsnap:consistency</key><value>frozen</value></item>\n"
        "                <item><key>Name</key><value>solr /mnt/solr{}</value></item>\n"
        "            </tagSet>\n"
        "        </item>\n",
        0x1000000 + i, 0x2000 + mount, 1 + (i / 28 / 24 / 60) % 12, 1 + (i / 24 / 60) % 28, (i / 60) % 24,
        i % 60, (i * 7) % 60, mount, mount, static_cast<char>('f' + mount), 0x2000 + mount, mount);
  }
  xml +=
      "    </snapshotSet>\n"
      "    <nextToken>eyJ2IjoyLCJjIjoiZXhhbXBsZSJ9EXAMPLE==</nextToken>\n"
      "</DescribeSnapshotsResponse>\n";
  return xml;
}

void BM_ParseDescribeSnapshots1000(benchmark::State& state) {
  const std::string page = describe_snapshots_page(1000);
  std::size_t items = 0;
  for (auto _ : state) {
    auto parsed = ec2::xml::parse_describe_snapshots(page);
    if (!parsed || parsed->items.size() != 1000) {
      state.SkipWithError("the page did not parse into 1,000 snapshots");
      break;
    }
    items = parsed->items.size();
    benchmark::DoNotOptimize(parsed);
  }
  state.counters["page_bytes"] = static_cast<double>(page.size());
  state.counters["snapshots"] = static_cast<double>(items);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(page.size()));
}
BENCHMARK(BM_ParseDescribeSnapshots1000)->Unit(benchmark::kMillisecond);

// The floor under parsing: pugixml building its DOM of the same page, nothing converted.
void BM_ParseFloorPugixml1000(benchmark::State& state) {
  const std::string page = describe_snapshots_page(1000);
  for (auto _ : state) {
    pugi::xml_document doc;
    auto ok = doc.load_buffer(page.data(), page.size());
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(page.size()));
}
BENCHMARK(BM_ParseFloorPugixml1000)->Unit(benchmark::kMillisecond);

// 100,000 snapshots (one DescribeSnapshots answer, every page) over 16 mount points: 6,250
// hourly runs of the group, shuffled (EC2 promises no order); about one in 200 in state error and
// the newest run pending, as a busy account would have. Grouped into restore points, and the
// newest complete one chosen, as mount does.
void BM_ChooseSnapshots100k(benchmark::State& state) {
  constexpr int k_snapshots = 100'000;
  constexpr int k_mounts = 16;
  const agent::FilterValues filters = {{"role", "solr"}, {"cluster", "search-eu"}, {"environment", "production"}};
  std::vector<std::string> mount_points;
  for (int m = 0; m < k_mounts; ++m) mount_points.push_back(fmt::format("/mnt/data{}", m));
  std::vector<ec2::Snapshot> snapshots;
  snapshots.reserve(k_snapshots);
  const ec2::TimePoint base = ec2::TimePoint(std::chrono::sys_days(std::chrono::year(2025) / 1 / 1));
  for (int i = 0; i < k_snapshots; ++i) {
    const int run = i / k_mounts;
    const int m = i % k_mounts;
    ec2::Snapshot s;
    s.id.value = fmt::format("snap-{:017x}", 0x1000000 + i);
    s.volume_id.value = fmt::format("vol-{:017x}", 0x2000 + m);
    s.state = i % 199 == 0 ? ec2::SnapshotState::Error
                           : (run == k_snapshots / k_mounts - 1 ? ec2::SnapshotState::Pending : ec2::SnapshotState::Completed);
    s.start_time = base + std::chrono::hours(run) + std::chrono::milliseconds(m * 40);
    s.owner_id = "123456789012";
    s.volume_size_gib = 20;
    s.tags = {{"role", "solr"},
              {"cluster", "search-eu"},
              {"environment", "production"},
              {"ebsnap:group", "solr"},
              {std::string(agent::k_tag_mount_point), mount_points[static_cast<std::size_t>(m)]},
              {std::string(agent::k_tag_device), fmt::format("/dev/sd{}", static_cast<char>('f' + m))},
              {std::string(agent::k_tag_consistency), "frozen"},
              {std::string(agent::k_tag_run_id), fmt::format("{:%Y%m%dT%H%M%S}-0a1b2c3d", base + std::chrono::hours(run))},
              {"Name", "solr " + mount_points[static_cast<std::size_t>(m)]}};
    snapshots.push_back(std::move(s));
  }
  std::uint64_t lcg = 12345;
  for (std::size_t i = snapshots.size() - 1; i > 0; --i) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    std::swap(snapshots[i], snapshots[(lcg >> 33) % (i + 1)]);
  }
  for (auto _ : state) {
    const auto history = agent::restore_points(
        {.snapshots = snapshots, .group = "solr", .filters = filters, .mount_points = mount_points});
    const auto choice = agent::choose_restore_point(history, {});
    if (!choice.point || history.points.size() != static_cast<std::size_t>(k_snapshots / k_mounts)) {
      state.SkipWithError("expected one restore point per run, and a complete one");
      break;
    }
    benchmark::DoNotOptimize(choice);
  }
  state.counters["snapshots"] = k_snapshots;
  state.counters["mount_points"] = k_mounts;
}
BENCHMARK(BM_ChooseSnapshots100k)->Unit(benchmark::kMillisecond);

// The floor under choosing: one pass over the 100,000 snapshots, looking up the mount-point tag
// and keeping the newest per mount point (no lineage check, no error/pending handling).
void BM_ChooseFloor100k(benchmark::State& state) {
  constexpr int k_snapshots = 100'000;
  std::vector<ec2::Snapshot> snapshots(k_snapshots);
  const ec2::TimePoint base = ec2::TimePoint(std::chrono::sys_days(std::chrono::year(2025) / 1 / 1));
  std::uint64_t lcg = 12345;
  for (int i = 0; i < k_snapshots; ++i) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    auto& s = snapshots[static_cast<std::size_t>(i)];
    s.start_time = base + std::chrono::seconds((lcg >> 20) % (365LL * 24 * 3600));
    s.tags = {{"role", "solr"}, {"cluster", "search-eu"}, {"environment", "production"}, {"ebsnap:group", "solr"},
              {std::string(agent::k_tag_mount_point), fmt::format("/mnt/data{}", (lcg >> 33) % 16)}};
  }
  for (auto _ : state) {
    std::map<std::string, const ec2::Snapshot*, std::less<>> newest;
    for (const auto& s : snapshots) {
      for (const auto& t : s.tags) {
        if (t.key != agent::k_tag_mount_point) continue;
        auto [it, inserted] = newest.try_emplace(t.value, &s);
        if (!inserted && *it->second->start_time < *s.start_time) it->second = &s;
      }
    }
    benchmark::DoNotOptimize(newest);
  }
}
BENCHMARK(BM_ChooseFloor100k)->Unit(benchmark::kMillisecond);

// prune's planner over 100,000 snapshots of one group (one lineage set): 4 mount points, 25,000
// hourly runs (almost three years), the example config's policy. About one run in 200 has a
// member in error, one in 1,000 is pinned, the newest is pending, every snapshot carries
// ebsnap:expires (400 days), and the answer is in no particular order. Issue 12's limit: 100 ms
// of CPU (bench/run reads cpu_time).
void BM_PlanPrune100k(benchmark::State& state) {
  constexpr int k_mounts = 4;
  constexpr int k_runs = 25'000;
  const agent::FilterValues filters = {{"role", "solr"}, {"cluster", "search-eu"}, {"environment", "production"}};
  const agent::RetentionPolicy policy{.keep_last = 3, .hourly = 24, .daily = 7, .weekly = 4, .monthly = 12,
                                      .yearly = 2, .min_age = 1h, .expire_after = 400 * 24h,
                                      .max_deletes_per_run = 500};
  const ec2::TimePoint base = ec2::TimePoint(std::chrono::sys_days(std::chrono::year(2024) / 1 / 1));
  const ec2::TimePoint now = base + std::chrono::hours(k_runs) + 30min;
  // EC2 promises no order: the snapshots come in a random one, and are built in that order, as
  // parsing the pages would build them (their strings lie in memory in the order of the answer).
  std::vector<int> order(k_runs * k_mounts);
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::mt19937 rng(12345);
  std::ranges::shuffle(order, rng);
  std::vector<ec2::Snapshot> snapshots;
  snapshots.reserve(order.size());
  for (const int i : order) {
    const int r = i / k_mounts;
    const int m = i % k_mounts;
    const auto run_id = fmt::format("2024{:06}T0000-{:08x}", r, 0x1a2b3c4d + r);
    const auto start = base + std::chrono::hours(r) + std::chrono::seconds(r % 50);
    ec2::Snapshot s;
    s.id.value = fmt::format("snap-{:017x}", 0x1000000 + r * k_mounts + m);
    s.volume_id.value = fmt::format("vol-{:017x}", 0x2000 + m);
    s.state = r == k_runs - 1                  ? ec2::SnapshotState::Pending
              : (r % 199 == 0 && m == 1)       ? ec2::SnapshotState::Error
                                               : ec2::SnapshotState::Completed;
    s.start_time = start + std::chrono::milliseconds(137 * m);
    s.owner_id = "123456789012";
    s.volume_size_gib = 20;
    const auto mount_point = fmt::format("/mnt/data{}", m);
    s.tags = {{"role", "solr"},
              {"cluster", "search-eu"},
              {"environment", "production"},
              {std::string(agent::k_tag_group), "solr"},
              {std::string(agent::k_tag_mount_point), mount_point},
              {std::string(agent::k_tag_device), fmt::format("/dev/sd{}", static_cast<char>('f' + m))},
              {std::string(agent::k_tag_instance_id), "i-0123456789abcdef0"},
              {std::string(agent::k_tag_volume_id), s.volume_id.value},
              {std::string(agent::k_tag_consistency), "frozen"},
              {std::string(agent::k_tag_run_id), run_id},
              {std::string(agent::k_tag_expires), agent::expires_tag_value(start, *policy.expire_after)},
              {"Name", "ebsnap solr " + mount_point}};
    if (r % 1000 == 7 && m == 0) s.tags.push_back({std::string(agent::k_tag_keep), "audit"});
    snapshots.push_back(std::move(s));
  }
  std::size_t deletes = 0;
  for (auto _ : state) {
    auto plan = agent::plan_prune({.snapshots = snapshots,
                                   .owner = {.group = "solr", .filters = filters},
                                   .policy = policy,
                                   .now = now});
    if (plan.runs.size() != static_cast<std::size_t>(k_runs) || plan.lineages.size() != k_mounts) {
      state.SkipWithError("not one run per hour over four mount points");
      break;
    }
    deletes = plan.deletes.size();
    benchmark::DoNotOptimize(plan);
  }
  state.counters["snapshots"] = static_cast<double>(snapshots.size());
  state.counters["runs"] = k_runs;
  state.counters["deletes"] = static_cast<double>(deletes);
}
BENCHMARK(BM_PlanPrune100k)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
