// The pre-warm reader's throughput (platform/prewarm_reader.h: O_DIRECT, 1 MiB reads, 4 in flight)
// on a loop device, against its floor on the same device: `dd if=DEV of=/dev/null bs=1M
// iflag=direct`, one 1 MiB read at a time, what an operator would otherwise run. Target: at least
// 90% of the floor (issue 13). Rounds interleave dd and the reader; medians.
//
//   prewarm_bench --rows FILE --work DIR [--size-mib 1024] [--rounds 5] [--direct-io]
//
// The loop device is backed by a file in --work (bench/run: its tmpfs), filled with data (not
// holes), so both read the same pages through the same loop driver: the figure is what the
// reader's own work costs against dd's, not EBS's speed, which no local device can stand for. A
// row beside it, as information: the reader with one read in flight. --direct-io (a --work on a
// disk, not tmpfs) has the loop driver read its file with O_DIRECT (losetup --direct-io=on): every
// read then reaches the disk, the nearest a local device comes to a latency-bound EBS volume.
#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "platform/prewarm_reader.h"
#include "tests/support/loop_device.h"
#include "tests/support/shell.h"

namespace {

constexpr std::uint64_t k_mib = 1ULL << 20;

double seconds_since(bench::Clock::time_point start) {
  return std::chrono::duration<double>(bench::Clock::now() - start).count();
}

// dd's MiB/s over the whole device.
double dd_floor(const std::string& devnode, std::uint64_t size) {
  const auto start = bench::Clock::now();
  testsupport::shell_ok("dd if=" + devnode + " of=/dev/null bs=1M iflag=direct status=none");
  return static_cast<double>(size / k_mib) / seconds_since(start);
}

// The reader's MiB/s over the whole device, opened as ebsnap prewarm opens it.
double reader(const std::string& devnode, int in_flight) {
  const auto start = bench::Clock::now();
  auto device = platform::open_direct_device(devnode);
  if (!device) throw std::runtime_error(device.error().describe());
  auto r = platform::read_through(device->fd.get(), device->size_bytes, {.in_flight = in_flight});
  if (!r) throw std::runtime_error(r.error().describe());
  if (!r->complete() || r->bytes_read != device->size_bytes)
    throw std::runtime_error("the reader did not read it all");
  return static_cast<double>(r->bytes_read / k_mib) / seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const bench::Args args = bench::parse_args(argc, argv);
    bench::RowWriter rows(args.get("rows", "/dev/stdout"));
    const std::filesystem::path work = args.get("work");
    if (work.empty()) throw std::runtime_error("--work DIR is required");
    const auto size_mib = std::stoull(args.get("size-mib", "1024"));
    const int rounds = std::stoi(args.get("rounds", "5"));
    std::filesystem::create_directories(work);
    const auto image = work / "prewarm.img";
    {
      std::string chunk(k_mib, '\0');
      for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>((i * 131 + 7) & 0xff);
      std::ofstream out(image, std::ios::binary);
      for (std::uint64_t i = 0; i < size_mib; ++i) out << chunk;
    }
    testsupport::LoopDevice loop(image, size_mib);
    const bool direct_io = !args.get("direct-io").empty();
    if (direct_io) testsupport::shell_ok("losetup --direct-io=on " + loop.devnode());
    const auto size = size_mib * k_mib;
    std::vector<double> floor;
    std::vector<double> four;
    std::vector<double> one;
    for (int i = 0; i < rounds; ++i) {
      floor.push_back(dd_floor(loop.devnode(), size));
      four.push_back(reader(loop.devnode(), platform::k_prewarm_in_flight));
      one.push_back(reader(loop.devnode(), 1));
      std::fprintf(stderr, "prewarm round %d: dd %.0f, reader %.0f, one in flight %.0f MiB/s\n", i + 1,
                   floor.back(), four.back(), one.back());
    }
    const double f = bench::median(floor);
    const double r = bench::median(four);
    rows.write({.part = "prewarm",
                .figure = fmt::format(
                    "prewarm reader: {} MiB loop device{}, 1 MiB reads, {} in flight (O_DIRECT)", size_mib,
                    direct_io ? " (direct-io: reads reach the disk)" : "", platform::k_prewarm_in_flight),
                .value = fmt::format("{:.0f} MiB/s", r),
                .limit = fmt::format("{:.0f} MiB/s (dd bs=1M iflag=direct)", f),
                .target = fmt::format(">= {:.0f} MiB/s (90% of the floor)", 0.9 * f),
                .verdict = bench::verdict(r >= 0.9 * f),
                .note = fmt::format("{:.0f}% of the floor; medians of {} rounds", 100.0 * r / f, rounds)});
    rows.write({.part = "prewarm",
                .figure = fmt::format("prewarm reader, 1 read in flight (what the 4 buy){}",
                                      direct_io ? ", direct-io" : ""),
                .value = fmt::format("{:.0f} MiB/s", bench::median(one)),
                .limit = "-",
                .target = "-",
                .verdict = "info",
                .note = fmt::format("{:.0f}% of the floor", 100.0 * bench::median(one) / f)});
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "prewarm_bench: %s\n", e.what());
    return 1;
  }
}
