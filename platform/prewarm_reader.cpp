#include "platform/prewarm_reader.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace platform {

namespace {

constexpr std::uint64_t k_direct_alignment = 4096;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// The readers' shared state: the next chunk to take, the pace, which chunks completed.
//
// A reader takes a chunk only within a window above the contiguous offset: without it, one slow
// read (EBS fetching that block from S3) would let the others run arbitrarily far ahead, and a
// stop or a kill then would lose everything read past it, since only the contiguous offset is kept.
class Readers {
 public:
  Readers(int fd, std::uint64_t size, const ReadThroughOptions& options)
      : fd_(fd),
        options_(options),
        window_(options.chunk_bytes * 2 * static_cast<std::uint64_t>(std::max(options.in_flight, 1))),
        next_(options.from),
        offset_(options.from) {
    result_.from = options.from;
    result_.offset = options.from;
    result_.size = size;
    if (options.bytes_per_second > 0) {
      const auto in_flight = static_cast<std::uint64_t>(std::max(options.in_flight, 1));
      pace_.emplace(options.bytes_per_second, options.chunk_bytes * in_flight, options.clock.now());
    }
  }

  void run_one() {
    // A reader that leaves on a stop may leave its chunk unread: the others waiting for the window
    // to move must look at the stop flag then.
    struct WakeTheOthers {
      Readers& r;
      ~WakeTheOthers() {
        std::lock_guard lock(r.mutex_);
        r.advanced_.notify_all();
      }
    } const wake{*this};
    std::unique_ptr<void, FreeDeleter> buffer(std::aligned_alloc(k_direct_alignment, options_.chunk_bytes));
    if (!buffer) {
      fail_all(Error{
          .kind = ErrorKind::System, .message = "cannot allocate a read buffer", .errno_value = ENOMEM});
      return;
    }
    for (;;) {
      std::uint64_t start = 0;
      std::uint64_t length = 0;
      std::optional<SteadyTime> wait_until;
      {
        std::unique_lock lock(mutex_);
        advanced_.wait(lock, [this] {
          return error_ || stopped() || next_ >= result_.size || next_ < offset_ + window_;
        });
        if (error_ || stopped() || next_ >= result_.size) return;
        start = next_;
        length = std::min(options_.chunk_bytes, result_.size - start);
        next_ += length;
        if (pace_) {
          const auto now = options_.clock.now();
          if (const auto ready = pace_->take(length, now); ready > now) wait_until = ready;
        }
      }
      if (wait_until) {
        options_.clock.sleep_until(*wait_until);
        if (stopped()) return;
      }
      if (auto read = read_chunk(static_cast<char*>(buffer.get()), start, length); !read) {
        fail_all(read.error());
        return;
      }
      completed(start, length);
    }
  }

  [[nodiscard]] Result<ReadThrough> result() {
    if (error_) return std::unexpected(*error_);
    result_.offset = offset_;
    result_.stopped = offset_ < result_.size;
    return result_;
  }

 private:
  [[nodiscard]] bool stopped() const { return options_.stop != nullptr && options_.stop->load(); }

  [[nodiscard]] Result<void> read_chunk(char* buffer, std::uint64_t start, std::uint64_t length) const {
    std::uint64_t got = 0;
    while (got < length) {
      const auto n = ::pread(fd_, buffer + got, length - got, static_cast<off_t>(start + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail_errno("read at offset " + std::to_string(start + got), errno);
      if (n == 0) {
        return fail(ErrorKind::Mismatch, "the device ended at " + std::to_string(start + got) +
                                             " bytes, not " + std::to_string(result_.size) + " as it said");
      }
      got += static_cast<std::uint64_t>(n);
    }
    return {};
  }

  void completed(std::uint64_t start, std::uint64_t length) {
    std::lock_guard lock(mutex_);
    result_.bytes_read += length;
    done_.insert(start);
    const auto before = offset_;
    while (!done_.empty() && *done_.begin() == offset_) {
      offset_ += std::min(options_.chunk_bytes, result_.size - offset_);
      done_.erase(done_.begin());
    }
    if (offset_ == before) return;
    if (options_.progress) options_.progress(offset_, result_.size);
    advanced_.notify_all();
  }

  void fail_all(Error error) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = std::move(error);
    advanced_.notify_all();
  }

  int fd_;
  const ReadThroughOptions& options_;
  const std::uint64_t window_;  // 2 chunks per reader
  std::mutex mutex_;
  std::condition_variable advanced_;  // offset_ moved, or an error
  std::optional<ReadPace> pace_;
  std::uint64_t next_;
  std::uint64_t offset_;
  std::set<std::uint64_t> done_;  // completed chunks above offset_
  ReadThrough result_;
  std::optional<Error> error_;
};

}  // namespace

ReadPace::ReadPace(std::uint64_t bytes_per_second, std::uint64_t burst_bytes, SteadyTime start)
    : rate_(static_cast<double>(bytes_per_second)),
      burst_(static_cast<double>(burst_bytes)),
      tokens_(burst_),
      last_(start) {}

SteadyTime ReadPace::take(std::uint64_t bytes, SteadyTime now) {
  if (now > last_) {
    const std::chrono::duration<double> elapsed = now - last_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
    last_ = now;
  }
  tokens_ -= static_cast<double>(bytes);
  if (tokens_ >= 0) return now;
  const std::chrono::duration<double> wait(-tokens_ / rate_);
  return now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait);
}

ReadClock real_read_clock() {
  return ReadClock{.now = [] { return std::chrono::steady_clock::now(); },
                   .sleep_until = [](SteadyTime t) { std::this_thread::sleep_until(t); }};
}

Result<ReadThrough> read_through(int fd, std::uint64_t size, const ReadThroughOptions& options) {
  if (options.chunk_bytes == 0 || options.chunk_bytes % k_direct_alignment != 0) {
    return fail(ErrorKind::Refused, "chunk size must be a positive multiple of 4096 bytes");
  }
  ReadThroughOptions aligned = options;
  aligned.from = std::min(options.from, size) / k_direct_alignment * k_direct_alignment;
  Readers readers(fd, size, aligned);
  std::vector<std::jthread> threads;
  for (int i = 1; i < std::max(aligned.in_flight, 1); ++i)
    threads.emplace_back([&readers] { readers.run_one(); });
  readers.run_one();
  threads.clear();  // joins
  return readers.result();
}

Result<DirectDevice> open_direct_device(const std::string& devnode) {
  // O_DIRECT is set only once the descriptor is known to be a block device: a file system that
  // refuses O_DIRECT would otherwise hide what is wrong behind EINVAL.
  Fd fd{::open(devnode.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd) return fail_errno("open " + devnode, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno("stat " + devnode, errno);
  if (!S_ISBLK(st.st_mode)) return fail(ErrorKind::Refused, devnode + " is not a block device");
  if (::fcntl(fd.get(), F_SETFL, O_DIRECT) != 0) return fail_errno("O_DIRECT on " + devnode, errno);
  std::uint64_t size = 0;
  if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) return fail_errno("BLKGETSIZE64 " + devnode, errno);
  return DirectDevice{.fd = std::move(fd), .size_bytes = size};
}

}  // namespace platform
