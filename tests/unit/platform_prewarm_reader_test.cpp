// The pre-warm reader over a regular file (no root, no device): what it reads, its pace under an
// injected clock (no real time passes), resuming from an offset, its progress calls and its stop.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <vector>

#include "platform/fd.h"
#include "platform/prewarm_reader.h"
#include "tests/support/temp_dir.h"

namespace platform {
namespace {

using namespace std::chrono_literals;
constexpr std::uint64_t k_mib = 1ULL << 20;

// A clock that moves only when someone sleeps (to the latest time asked for).
class FakeClock {
 public:
  ReadClock clock() {
    return ReadClock{.now = [this] { return now(); },
                     .sleep_until =
                         [this](SteadyTime t) {
                           std::lock_guard lock(mutex_);
                           now_ = std::max(now_, t);
                         }};
  }
  SteadyTime now() {
    std::lock_guard lock(mutex_);
    return now_;
  }
  [[nodiscard]] std::chrono::duration<double> elapsed() { return now() - SteadyTime{}; }

 private:
  std::mutex mutex_;
  SteadyTime now_{};
};

class PrewarmReader : public ::testing::Test {
 protected:
  // A file of `size` bytes, opened read-only.
  Fd file(std::uint64_t size) {
    const auto path = dir_.path() / "image";
    {
      std::ofstream out(path, std::ios::binary);
      out.seekp(static_cast<std::streamoff>(size - 1));
      out.put('x');
    }
    return Fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  }

  testsupport::TempDir dir_{"ebsnap-prewarm-reader"};
};

TEST(ReadPace, ABurstThenTheRate) {
  const SteadyTime t0{};
  ReadPace pace(10 * k_mib, 2 * k_mib, t0);
  EXPECT_EQ(pace.take(k_mib, t0), t0);
  EXPECT_EQ(pace.take(k_mib, t0), t0);
  // The bucket is empty: one more MiB at 10 MiB/s is 100 ms away, the next 200 ms.
  EXPECT_EQ(pace.take(k_mib, t0), t0 + 100ms);
  EXPECT_EQ(pace.take(k_mib, t0), t0 + 200ms);
  // Later, the debt is paid back before the bucket refills: at 1 s it holds 1 MiB again...
  EXPECT_EQ(pace.take(k_mib, t0 + 1s), t0 + 1s);
  // ...and never more than its burst, however long it waited.
  EXPECT_EQ(pace.take(2 * k_mib, t0 + 100s), t0 + 100s);
  EXPECT_EQ(pace.take(k_mib, t0 + 100s), t0 + 100s + 100ms);
}

TEST_F(PrewarmReader, ReadsEveryByteOfAnOddSizeOnce) {
  const std::uint64_t size = 5 * k_mib + 8192;
  auto fd = file(size);
  ASSERT_TRUE(fd);
  auto r = read_through(fd.get(), size, {});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->from, 0U);
  EXPECT_EQ(r->offset, size);
  EXPECT_EQ(r->bytes_read, size);
  EXPECT_TRUE(r->complete());
  EXPECT_FALSE(r->stopped);
}

TEST_F(PrewarmReader, ResumesFromTheOffsetGivenRoundedDownTo4KiB) {
  const std::uint64_t size = 8 * k_mib;
  auto fd = file(size);
  auto r = read_through(fd.get(), size, {.from = 3 * k_mib + 100});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->from, 3 * k_mib);
  EXPECT_EQ(r->bytes_read, 5 * k_mib);
  EXPECT_TRUE(r->complete());

  auto done = read_through(fd.get(), size, {.from = size});
  ASSERT_TRUE(done);
  EXPECT_EQ(done->bytes_read, 0U);
  EXPECT_TRUE(done->complete());
}

TEST_F(PrewarmReader, ProgressIsTheContiguousOffsetRisingToTheEnd) {
  const std::uint64_t size = 16 * k_mib + 4096;
  auto fd = file(size);
  std::vector<std::uint64_t> calls;
  auto r = read_through(
      fd.get(), size,
      {.chunk_bytes = k_mib, .in_flight = 4, .progress = [&](std::uint64_t offset, std::uint64_t total) {
         EXPECT_EQ(total, size);
         calls.push_back(offset);
       }});
  ASSERT_TRUE(r) << r.error().describe();
  ASSERT_FALSE(calls.empty());
  EXPECT_TRUE(std::is_sorted(calls.begin(), calls.end()));
  EXPECT_EQ(std::adjacent_find(calls.begin(), calls.end()), calls.end()) << "an offset reported twice";
  for (auto c : calls) EXPECT_TRUE(c % k_mib == 0 || c == size) << c;
  EXPECT_EQ(calls.back(), size);
}

TEST_F(PrewarmReader, ThePaceHoldsTheRateOnTheInjectedClock) {
  const std::uint64_t size = 64 * k_mib;
  auto fd = file(size);
  for (const int in_flight : {1, 4}) {
    FakeClock fake;
    auto r = read_through(fd.get(), size,
                          {.in_flight = in_flight, .bytes_per_second = 16 * k_mib, .clock = fake.clock()});
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_TRUE(r->complete());
    // The burst (one chunk per reader) goes at once; the rest at 16 MiB/s. The last read starts
    // when its tokens are there: (64 - burst) MiB / 16 MiB/s after the start.
    const double expected = (64.0 - in_flight) / 16.0;
    EXPECT_NEAR(fake.elapsed().count(), expected, 0.001) << "in_flight=" << in_flight;
  }
}

TEST_F(PrewarmReader, AStopFlagEndsItWithTheOffsetReachedAndAResumeFinishesTheRest) {
  const std::uint64_t size = 32 * k_mib;
  auto fd = file(size);
  std::atomic<bool> stop{false};
  std::uint64_t last_progress = 0;
  auto r = read_through(fd.get(), size,
                        {.in_flight = 4,
                         .progress =
                             [&](std::uint64_t offset, std::uint64_t) {
                               last_progress = offset;
                               if (offset >= 10 * k_mib) stop = true;
                             },
                         .stop = &stop});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_TRUE(r->stopped);
  EXPECT_FALSE(r->complete());
  EXPECT_GE(r->offset, 10 * k_mib);
  EXPECT_LT(r->offset, size);
  EXPECT_EQ(r->offset, last_progress);
  // The readers in flight finish their chunk and take no other, and none ran more than its window
  // (2 chunks per reader) ahead of the offset: that is all a resume reads again.
  EXPECT_LE(r->bytes_read, r->offset + 8 * k_mib);

  auto rest = read_through(fd.get(), size, {.from = r->offset});
  ASSERT_TRUE(rest) << rest.error().describe();
  EXPECT_EQ(rest->from, r->offset);
  EXPECT_EQ(r->offset + rest->bytes_read, size);
  EXPECT_TRUE(rest->complete());
}

TEST_F(PrewarmReader, AStopDuringThePaceWaitReadsNothingMore) {
  const std::uint64_t size = 16 * k_mib;
  auto fd = file(size);
  std::atomic<bool> stop{false};
  FakeClock fake;
  ReadClock clock = fake.clock();
  auto sleep = clock.sleep_until;
  clock.sleep_until = [&](SteadyTime t) {
    sleep(t);
    stop = true;  // as if SIGTERM came while waiting
  };
  auto r = read_through(fd.get(), size,
                        {.in_flight = 1, .bytes_per_second = k_mib, .stop = &stop, .clock = clock});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_TRUE(r->stopped);
  EXPECT_EQ(r->bytes_read, k_mib) << "only the burst, before the first wait";
  EXPECT_EQ(r->offset, k_mib);
}

TEST_F(PrewarmReader, AFileShorterThanItsSizeIsAnError) {
  auto fd = file(2 * k_mib);
  auto r = read_through(fd.get(), 4 * k_mib, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Mismatch);
  EXPECT_NE(r.error().message.find("ended at"), std::string::npos) << r.error().describe();
}

TEST_F(PrewarmReader, ARegularFileIsNotADevice) {
  file(k_mib);
  auto d = open_direct_device((dir_.path() / "image").string());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind, ErrorKind::Refused);
  EXPECT_NE(d.error().message.find("not a block device"), std::string::npos) << d.error().describe();
  EXPECT_FALSE(open_direct_device((dir_.path() / "missing").string()));
}

}  // namespace
}  // namespace platform
