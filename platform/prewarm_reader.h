#pragma once
// Pre-warming: reading every block of a device once, from an offset to its end, so that a volume
// restored from a snapshot (whose blocks EBS loads lazily from S3 on first read) is at full speed
// afterwards. The reads go to a buffer that is thrown away; the device is opened read-only and
// never written.
//
// How: `in_flight` threads, each taking the next `chunk_bytes` of the device and reading it with
// pread(2) into its own aligned buffer, with O_DIRECT. O_DIRECT so that the page cache neither
// keeps gigabytes of a volume nobody asked for nor serves a block EBS has not fetched; a few reads
// in flight because one read at a time leaves an EBS volume (and its S3 fetches) idle for a
// request's round trip between reads. Threads over one pread each are the simplest way to keep N
// reads in flight without io_uring or libaio. On a loop device, which has no such round trip, the
// reader runs at the `dd bs=1M iflag=direct` floor with 4 in flight as with 1 (bench/: prewarm).
//
// Resumable: chunks complete out of order, so progress is the *contiguous* offset below which
// every byte was read, and no chunk is taken more than 2 x in_flight chunks above it: a caller
// that saves the offset and passes it back as `from` reads at most that window again. Pace: a
// token bucket (ReadPace), its clock injected so that tests need no real time. Stop: a flag
// checked before each chunk and after each wait of the pace.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "platform/error.h"
#include "platform/fd.h"

namespace platform {

using SteadyTime = std::chrono::steady_clock::time_point;

inline constexpr std::uint64_t k_prewarm_chunk_bytes = 1ULL << 20;
inline constexpr int k_prewarm_in_flight = 4;

// A token bucket of bytes: `bytes_per_second` refill, `burst_bytes` capacity, full at `start`.
// Pure: take() says when a read of `bytes` may start; the caller waits until then. Tokens may go
// negative (a read is never split), which later reads pay back.
class ReadPace {
 public:
  ReadPace(std::uint64_t bytes_per_second, std::uint64_t burst_bytes, SteadyTime start);

  [[nodiscard]] SteadyTime take(std::uint64_t bytes, SteadyTime now);

 private:
  double rate_;   // bytes per second
  double burst_;  // bytes
  double tokens_;
  SteadyTime last_;
};

// Time as the reader sees it: the steady clock and a sleep, or a test's fake.
struct ReadClock {
  std::function<SteadyTime()> now;
  std::function<void(SteadyTime)> sleep_until;
};
[[nodiscard]] ReadClock real_read_clock();

struct ReadThroughOptions {
  std::uint64_t from = 0;  // rounded down to 4 KiB (O_DIRECT's alignment)
  std::uint64_t chunk_bytes = k_prewarm_chunk_bytes;
  int in_flight = k_prewarm_in_flight;
  std::uint64_t bytes_per_second = 0;  // 0: no pace
  // Called, one call at a time, each time the contiguous offset advances: (offset, size). It runs
  // while the other readers wait to report, so it must be quick (a state file every few seconds).
  std::function<void(std::uint64_t offset, std::uint64_t size)> progress;
  const std::atomic<bool>* stop = nullptr;  // set (e.g. by a signal handler): stop after the reads in flight
  ReadClock clock = real_read_clock();
};

struct ReadThrough {
  std::uint64_t from = 0;        // where reading started (after rounding)
  std::uint64_t offset = 0;      // every byte below it was read
  std::uint64_t size = 0;        // the device's size
  std::uint64_t bytes_read = 0;  // by this call, including chunks above `offset` when stopped
  bool stopped = false;          // the stop flag ended it before the end

  [[nodiscard]] bool complete() const { return offset == size; }
};

// Reads [from, size) of `fd` through `in_flight` threads. An error of any read stops all (the
// contiguous offset up to it is not returned then: the caller keeps its last progress call's).
[[nodiscard]] Result<ReadThrough> read_through(int fd, std::uint64_t size, const ReadThroughOptions& options);

// A block device opened for pre-warming: read-only, O_DIRECT.
struct DirectDevice {
  Fd fd;
  std::uint64_t size_bytes = 0;  // BLKGETSIZE64
};

// Opens `devnode` read-only with O_DIRECT; Refused when it is not a block device (checked on the
// descriptor opened, not the path), its size from BLKGETSIZE64.
[[nodiscard]] Result<DirectDevice> open_direct_device(const std::string& devnode);

}  // namespace platform
