// FIFREEZE/FITHAW on real ext4 and xfs: a writer blocks during the freeze and resumes at thaw; a
// partial failure thaws the rest; a filesystem frozen by someone else is left frozen; "/" and the
// runtime state's filesystem are refused. Every freeze here runs under a thaw guardian, so even a
// crashing test cannot leave a filesystem frozen.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>

#include "platform/freeze.h"
#include "platform/thaw_guardian.h"
#include "tests/e2e/platform_e2e.h"

using namespace std::chrono_literals;
using platform::ErrorKind;
using platform::FreezeState;
using Clock = std::chrono::steady_clock;

namespace platform_e2e {
namespace {

long long us(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
}

// A process that creates and writes a file under `mount_point`; on a frozen filesystem it blocks
// in the kernel until the thaw.
class Writer {
 public:
  explicit Writer(std::string mount_point) : mount_point_(std::move(mount_point)) {
    const std::string file = mount_point_ + "/written-" + random_hex(8);
    started_ = Clock::now();
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
      if (fd < 0) ::_exit(1);
      const char data[] = "ebsnap";
      const bool ok = ::write(fd, data, sizeof data) == static_cast<ssize_t>(sizeof data);
      ::_exit(ok ? 0 : 1);
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  }
  ~Writer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    (void)platform::thaw(mount_point_);  // a writer stuck in a frozen filesystem cannot die
    ::waitpid(pid_, nullptr, 0);
    if (pidfd_ >= 0) ::close(pidfd_);
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Whether the write finished (successfully) within `timeout`.
  bool finished_within(std::chrono::milliseconds timeout) {
    pollfd pfd{.fd = pidfd_, .events = POLLIN, .revents = 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) return false;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    finished_ = Clock::now();
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  [[nodiscard]] long long took_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(finished_ - started_).count();
  }

 private:
  std::string mount_point_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  Clock::time_point started_;
  Clock::time_point finished_;
};

class PlatformFreeze : public PlatformE2e {
 protected:
  platform::ThawGuardian guard(const std::vector<std::string>& mount_points) {
    auto g = platform::ThawGuardian::start(
        {.mount_points = mount_points, .freeze_bound = 30s, .state_dir = (dir() / "run").string()});
    if (!g) throw std::runtime_error(g.error().describe());
    return std::move(*g);
  }
  platform::FreezeOptions options() { return {.runtime_dir = (dir() / "run").string()}; }
};

bool write_file(const std::string& path, std::size_t bytes) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const std::string chunk(64 * 1024, 'e');
  bool ok = true;
  for (std::size_t done = 0; ok && done < bytes; done += chunk.size()) {
    ok = ::write(fd, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size());
  }
  ::close(fd);
  return ok;
}

void print_entries(const platform::FreezeSet& set) {
  for (const auto& e : set.entries()) {
    std::printf("  %-60s %-14s freeze %6lld us, frozen for %7lld us\n", e.mount_point.c_str(),
                std::string(platform::to_string(e.state)).c_str(), us(e.freeze_started, e.frozen_at),
                e.thawed_at == Clock::time_point{} ? 0LL : us(e.frozen_at, e.thawed_at));
  }
}

}  // namespace

TEST_F(PlatformFreeze, WriterBlocksDuringTheFreezeAndResumesAtThaw) {
  const std::vector<std::string> mps = {mounted_filesystem("ext4"), mounted_filesystem("xfs")};
  platform::KernelFreezeOps ops;
  auto guardian = guard(mps);
  ASSERT_TRUE(platform::sync_filesystems(ops, mps).has_value());
  std::vector<std::unique_ptr<Writer>> writers;
  {
    auto set = platform::FreezeSet::freeze(ops, mps, options());
    ASSERT_TRUE(set.has_value()) << set.error().describe();
    for (const auto& mp : mps) writers.push_back(std::make_unique<Writer>(mp));
    for (std::size_t i = 0; i < mps.size(); ++i) {
      EXPECT_FALSE(writers[i]->finished_within(500ms)) << "a write went through on frozen " << mps[i];
    }
    const auto thaw_start = Clock::now();
    ASSERT_TRUE(set->thaw().has_value());
    std::printf("concurrent freeze of ext4 + xfs, thaw took %lld us:\n", us(thaw_start, Clock::now()));
    print_entries(*set);
    for (const auto& e : set->entries()) EXPECT_EQ(e.state, FreezeState::Thawed);
  }
  for (std::size_t i = 0; i < mps.size(); ++i) {
    EXPECT_TRUE(writers[i]->finished_within(10s)) << "the writer on " << mps[i] << " did not resume";
    std::printf("writer on %s blocked for %lld ms\n", mps[i].c_str(), writers[i]->took_ms());
  }
  auto report = guardian.finish();
  ASSERT_TRUE(report.has_value()) << report.error().describe();
  EXPECT_EQ(report->trigger, platform::GuardianTrigger::Done);
  for (const auto& m : report->mounts)
    EXPECT_EQ(m.outcome, platform::ThawOutcome::NotFrozen) << m.mount_point;
}

TEST_F(PlatformFreeze, PartialFailureThawsTheOnesAlreadyFrozen) {
  std::vector<std::string> mps = {mounted_filesystem("ext4"), mounted_filesystem("xfs")};
  // tmpfs cannot be frozen (EOPNOTSUPP): the third FIFREEZE of the set fails.
  const std::string tmpfs = (dir() / "tmpfs").string();
  platform::LibmountMounter mounter;
  ASSERT_TRUE(mounter.mount({.source = "tmpfs", .target = tmpfs, .fs_type = "tmpfs"}).has_value());
  track_mount(tmpfs);
  mps.push_back(tmpfs);
  auto guardian = guard(mps);
  platform::KernelFreezeOps ops;
  auto set = platform::FreezeSet::freeze(ops, mps, options());
  ASSERT_FALSE(set.has_value());
  std::printf("error: %s\n", set.error().describe().c_str());
  EXPECT_EQ(set.error().kind, ErrorKind::Unsupported);
  EXPECT_NE(set.error().message.find(tmpfs), std::string::npos);
  for (std::size_t i = 0; i < 2; ++i) {
    // FITHAW by us says EINVAL: nothing was left frozen.
    EXPECT_EQ(platform::thaw(mps[i]).value(), platform::ThawOutcome::NotFrozen) << mps[i];
    Writer writer(mps[i]);
    EXPECT_TRUE(writer.finished_within(10s)) << mps[i];
  }
}

TEST_F(PlatformFreeze, FrozenBySomeoneElseIsReportedAndLeftFrozen) {
  const std::vector<std::string> mps = {mounted_filesystem("ext4"), mounted_filesystem("xfs")};
  auto guardian = guard(mps);
  platform::KernelFreezeOps someone_else;
  ASSERT_TRUE(someone_else.freeze(mps[1]).has_value());
  ASSERT_TRUE(guardian.exclude(mps[1]).has_value());
  platform::KernelFreezeOps ops;
  {
    auto set = platform::FreezeSet::freeze(ops, mps, options());
    ASSERT_TRUE(set.has_value()) << set.error().describe();
    EXPECT_EQ(set->entries()[0].state, FreezeState::Frozen);
    EXPECT_EQ(set->entries()[1].state, FreezeState::AlreadyFrozen);
    EXPECT_EQ(set->entries()[1].error->errno_value, EBUSY);
    ASSERT_TRUE(set->thaw().has_value());
  }
  auto report = guardian.finish();
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->mounts[1].outcome, platform::ThawOutcome::Skipped);
  // Still frozen: the other party's FITHAW finds it frozen, and thaws it.
  auto theirs = someone_else.thaw(mps[1]);
  EXPECT_TRUE(theirs.has_value()) << "no longer frozen: " << theirs.error().describe();
  EXPECT_EQ(platform::thaw(mps[0]).value(), platform::ThawOutcome::NotFrozen);
}

TEST_F(PlatformFreeze, RootAndTheRuntimeFilesystemAreRefused) {
  platform::KernelFreezeOps ops;
  auto root = platform::FreezeSet::freeze(ops, {"/"});
  ASSERT_FALSE(root.has_value());
  EXPECT_EQ(root.error().kind, ErrorKind::Refused);
  std::printf("/: %s\n", root.error().message.c_str());

  // The same root filesystem seen through a bind mount elsewhere: refused by st_dev.
  const std::string bind = (dir() / "rootbind").string();
  std::filesystem::create_directories(bind);
  ASSERT_EQ(::mount("/", bind.c_str(), nullptr, MS_BIND, nullptr), 0);
  track_mount(bind, /*ours=*/false);
  auto via_bind = platform::FreezeSet::freeze(ops, {bind});
  ASSERT_FALSE(via_bind.has_value());
  EXPECT_EQ(via_bind.error().kind, ErrorKind::Refused);
  std::printf("bind mount of /: %s\n", via_bind.error().message.c_str());

  // A directory that is not a mount point (FIFREEZE would freeze the filesystem holding it).
  const std::string mp = mounted_filesystem("ext4");
  std::filesystem::create_directories(mp + "/sub");
  EXPECT_EQ(platform::FreezeSet::freeze(ops, {mp + "/sub"}, options()).error().kind, ErrorKind::Refused);

  // The filesystem that holds the runtime state.
  auto runtime = platform::FreezeSet::freeze(ops, {mp}, {.runtime_dir = mp + "/run/ebsnap"});
  ASSERT_FALSE(runtime.has_value());
  EXPECT_EQ(runtime.error().kind, ErrorKind::Refused);
  std::printf("runtime dir: %s\n", runtime.error().message.c_str());
  EXPECT_EQ(platform::thaw(mp).value(), platform::ThawOutcome::NotFrozen);
}

TEST_F(PlatformFreeze, PrintsTheStallOfConcurrentVersusSequentialFreezes) {
  // Not an assertion on time: the numbers behind freezing concurrently, for the record.
  const std::vector<std::string> mps = {mounted_filesystem("ext4"), mounted_filesystem("xfs"),
                                        mounted_filesystem("ext4"), mounted_filesystem("xfs")};
  platform::KernelFreezeOps ops;
  auto guardian = guard(mps);
  auto dirty = [&] {
    for (const auto& mp : mps) EXPECT_TRUE(write_file(mp + "/dirty-" + random_hex(6), 4 << 20));
    ASSERT_TRUE(platform::sync_filesystems(ops, mps).has_value());
  };
  dirty();
  const auto seq_start = Clock::now();
  for (const auto& mp : mps) ASSERT_TRUE(ops.freeze(mp).has_value());
  const auto seq_frozen = Clock::now();
  for (auto it = mps.rbegin(); it != mps.rend(); ++it) ASSERT_TRUE(ops.thaw(*it).has_value());
  dirty();
  const auto con_start = Clock::now();
  {
    auto set = platform::FreezeSet::freeze(ops, mps, options());
    ASSERT_TRUE(set.has_value()) << set.error().describe();
    const auto con_frozen = Clock::now();
    ASSERT_TRUE(set->thaw().has_value());
    std::printf(
        "freezing %zu filesystems (2 ext4, 2 xfs) after syncfs: sequential %lld us, concurrent %lld us\n",
        mps.size(), us(seq_start, seq_frozen), us(con_start, con_frozen));
    print_entries(*set);
  }
  EXPECT_EQ(guardian.finish().value().trigger, platform::GuardianTrigger::Done);
}

}  // namespace platform_e2e
