#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "platform/freeze.h"

using platform::ErrorKind;
using platform::FreezeSet;
using platform::FreezeState;

namespace {

// Filesystems as device ids; records every call in order; can fail or block per mount point.
class FakeFreezeOps final : public platform::FreezeOps {
 public:
  struct Fs {
    std::uint64_t device;
    bool mount_root = true;
  };
  // A machine with /, /boot, /run and three data filesystems.
  FakeFreezeOps() {
    paths["/"] = {1};
    paths["/boot"] = {2};
    paths["/run"] = {3};
    paths["/mnt/a"] = {10};
    paths["/mnt/b"] = {11};
    paths["/mnt/c"] = {12};
  }
  std::map<std::string, Fs> paths;
  std::map<std::string, platform::Error> freeze_errors;
  std::map<std::string, platform::Error> thaw_errors;
  std::set<std::string> frozen;  // what the "kernel" holds frozen
  std::vector<std::string> calls;
  // When set, every freeze waits (up to 5 s) until this many freezes are in flight together.
  std::size_t rendezvous = 0;
  bool rendezvous_met = false;

  platform::Result<platform::FsIdentity> identify(const std::string& path) override {
    auto it = paths.find(path);
    if (it == paths.end()) return platform::fail(ErrorKind::NotFound, "stat " + path);
    return platform::FsIdentity{.device = it->second.device, .mount_root = it->second.mount_root};
  }
  platform::Result<void> syncfs(const std::string& mp) override {
    record("syncfs " + mp);
    return {};
  }
  platform::Result<void> freeze(const std::string& mp) override {
    record("freeze " + mp);
    if (rendezvous > 0) {
      std::unique_lock lock(mutex_);
      ++in_flight_;
      cv_.notify_all();
      if (cv_.wait_for(lock, std::chrono::seconds(5), [&] { return in_flight_ >= rendezvous; })) {
        rendezvous_met = true;
      }
    }
    std::lock_guard lock(mutex_);
    if (auto e = freeze_errors.find(mp); e != freeze_errors.end()) return std::unexpected(e->second);
    frozen.insert(mp);
    return {};
  }
  platform::Result<void> thaw(const std::string& mp) override {
    record("thaw " + mp);
    std::lock_guard lock(mutex_);
    if (auto e = thaw_errors.find(mp); e != thaw_errors.end()) return std::unexpected(e->second);
    if (frozen.erase(mp) == 0) return platform::fail(ErrorKind::NotFrozen, "FITHAW " + mp + ": not frozen");
    return {};
  }
  std::vector<std::string> thaw_calls() {
    std::vector<std::string> out;
    for (const auto& c : calls) {
      if (c.starts_with("thaw ")) out.push_back(c.substr(5));
    }
    return out;
  }

 private:
  void record(std::string call) {
    std::lock_guard lock(mutex_);
    calls.push_back(std::move(call));
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t in_flight_ = 0;
};

const platform::FreezeOptions k_options{.runtime_dir = "/run"};

}  // namespace

TEST(PlatformFreezeSet, FreezesAllConcurrentlyAndThawsInReverseOrder) {
  FakeFreezeOps ops;
  ops.rendezvous = 3;  // a sequential loop would never have three freezes in flight together
  {
    auto set = FreezeSet::freeze(ops, {"/mnt/a", "/mnt/b", "/mnt/c"}, k_options);
    ASSERT_TRUE(set.has_value()) << set.error().describe();
    EXPECT_TRUE(ops.rendezvous_met);
    EXPECT_EQ(ops.frozen.size(), 3U);
    for (const auto& e : set->entries()) EXPECT_EQ(e.state, FreezeState::Frozen) << e.mount_point;
    ASSERT_TRUE(set->thaw().has_value());
    EXPECT_EQ(ops.thaw_calls(), (std::vector<std::string>{"/mnt/c", "/mnt/b", "/mnt/a"}));
    for (const auto& e : set->entries()) {
      EXPECT_EQ(e.state, FreezeState::Thawed);
      EXPECT_LE(e.freeze_started, e.frozen_at);
      EXPECT_LE(e.frozen_at, e.thawed_at);
    }
    EXPECT_FALSE(set->frozen());
  }
  EXPECT_EQ(ops.thaw_calls().size(), 3U);  // the destructor had nothing left to thaw
}

TEST(PlatformFreezeSet, DestructorThawsInReverseOrder) {
  FakeFreezeOps ops;
  {
    auto set = FreezeSet::freeze(ops, {"/mnt/a", "/mnt/b"}, k_options);
    ASSERT_TRUE(set.has_value());
    FreezeSet moved = std::move(*set);  // a moved-from set thaws nothing
    EXPECT_TRUE(moved.frozen());
  }
  EXPECT_TRUE(ops.frozen.empty());
  EXPECT_EQ(ops.thaw_calls(), (std::vector<std::string>{"/mnt/b", "/mnt/a"}));
}

TEST(PlatformFreezeSet, PartialFailureThawsTheOnesAlreadyFrozen) {
  FakeFreezeOps ops;
  ops.freeze_errors["/mnt/b"] = platform::Error{.kind = ErrorKind::System, .message = "FIFREEZE /mnt/b: EIO"};
  auto set = FreezeSet::freeze(ops, {"/mnt/a", "/mnt/b", "/mnt/c"}, k_options);
  ASSERT_FALSE(set.has_value());
  EXPECT_NE(set.error().message.find("/mnt/b"), std::string::npos);
  EXPECT_TRUE(ops.frozen.empty());
  // Reverse order, and never the one that failed.
  EXPECT_EQ(ops.thaw_calls(), (std::vector<std::string>{"/mnt/c", "/mnt/a"}));
}

TEST(PlatformFreezeSet, FrozenBySomeoneElseIsReportedAndNeverThawed) {
  FakeFreezeOps ops;
  ops.frozen.insert("/mnt/b");
  ops.freeze_errors["/mnt/b"] = platform::Error{
      .kind = ErrorKind::AlreadyFrozen, .message = "FIFREEZE /mnt/b: already frozen", .errno_value = EBUSY};
  {
    auto set = FreezeSet::freeze(ops, {"/mnt/a", "/mnt/b"}, k_options);
    ASSERT_TRUE(set.has_value()) << set.error().describe();
    EXPECT_EQ(set->entries()[0].state, FreezeState::Frozen);
    EXPECT_EQ(set->entries()[1].state, FreezeState::AlreadyFrozen);
    ASSERT_TRUE(set->thaw().has_value());
  }
  EXPECT_EQ(ops.thaw_calls(), (std::vector<std::string>{"/mnt/a"}));
  EXPECT_TRUE(ops.frozen.contains("/mnt/b"));
}

TEST(PlatformFreezeSet, ThawedBehindOurBackCountsAsThawed) {
  FakeFreezeOps ops;
  auto set = FreezeSet::freeze(ops, {"/mnt/a", "/mnt/b"}, k_options);
  ASSERT_TRUE(set.has_value());
  ops.frozen.erase("/mnt/a");  // the guardian thawed it (bound passed)
  ASSERT_TRUE(set->thaw().has_value());
  EXPECT_EQ(set->entries()[0].state, FreezeState::NotFrozen);
  EXPECT_EQ(set->entries()[1].state, FreezeState::Thawed);
}

TEST(PlatformFreezeSet, ThawFailureIsReportedAfterTryingTheRest) {
  FakeFreezeOps ops;
  auto set = FreezeSet::freeze(ops, {"/mnt/a", "/mnt/b"}, k_options);
  ASSERT_TRUE(set.has_value());
  ops.thaw_errors["/mnt/b"] = platform::Error{.kind = ErrorKind::System, .message = "FITHAW /mnt/b: EIO"};
  auto r = set->thaw();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("/mnt/b"), std::string::npos);
  EXPECT_EQ(set->entries()[0].state, FreezeState::Thawed);
  EXPECT_EQ(set->entries()[1].state, FreezeState::ThawFailed);
  ops.thaw_errors.clear();  // let the destructor find nothing more to do
}

TEST(PlatformFreezeSet, RefusesRootBootAndTheRuntimeFilesystemByDevice) {
  FakeFreezeOps ops;
  ops.paths["/srv/alias-of-root"] = {1, true};  // a bind mount of / elsewhere: same st_dev
  ops.paths["/run/ebsnap"] = {3, false};
  for (const std::string mp : {"/", "/boot", "/srv/alias-of-root", "/run"}) {
    auto set = FreezeSet::freeze(ops, {"/mnt/a", mp}, k_options);
    ASSERT_FALSE(set.has_value()) << mp;
    EXPECT_EQ(set.error().kind, ErrorKind::Refused);
    EXPECT_NE(set.error().message.find(mp), std::string::npos) << set.error().message;
  }
  EXPECT_TRUE(ops.calls.empty());  // refused before any freeze
}

TEST(PlatformFreezeSet, RefusesAPlainDirectoryAndDuplicates) {
  FakeFreezeOps ops;
  ops.paths["/mnt/a/sub"] = {10, false};
  ops.paths["/mnt/other"] = {20, false};  // an unmounted mount point on some data filesystem
  EXPECT_EQ(FreezeSet::freeze(ops, {"/mnt/other"}, k_options).error().kind, ErrorKind::Refused);
  EXPECT_EQ(FreezeSet::freeze(ops, {"/mnt/a", "/mnt/a/sub"}, k_options).error().kind, ErrorKind::Refused);
  EXPECT_TRUE(ops.calls.empty());
}

TEST(PlatformFreezeSet, SyncsEveryFilesystem) {
  FakeFreezeOps ops;
  ASSERT_TRUE(platform::sync_filesystems(ops, {"/mnt/a", "/mnt/b"}).has_value());
  std::set<std::string> calls(ops.calls.begin(), ops.calls.end());
  EXPECT_EQ(calls, (std::set<std::string>{"syncfs /mnt/a", "syncfs /mnt/b"}));
}

TEST(PlatformFreezeSet, AlreadyFrozenIsToldOnTheFailurePathTooAndStampsUseTheGivenClock) {
  FakeFreezeOps ops;
  ops.frozen.insert("/mnt/a");
  ops.freeze_errors["/mnt/a"] = platform::Error{
      .kind = ErrorKind::AlreadyFrozen, .message = "FIFREEZE /mnt/a: already frozen", .errno_value = EBUSY};
  ops.freeze_errors["/mnt/c"] = platform::Error{.kind = ErrorKind::System, .message = "FIFREEZE /mnt/c: EIO"};
  std::vector<std::string> told;
  platform::FreezeOptions o = k_options;
  o.on_already_frozen = [&](const std::string& mp) { told.push_back(mp); };
  auto set = FreezeSet::freeze(ops, {"/mnt/a", "/mnt/b", "/mnt/c"}, o);
  ASSERT_FALSE(set.has_value());
  EXPECT_EQ(told, std::vector<std::string>{"/mnt/a"}) << "told before freeze() returned its error";
  EXPECT_TRUE(ops.frozen.contains("/mnt/a")) << "someone else's freeze is left alone";

  // The entries' stamps come from the clock given.
  const auto t0 = std::chrono::steady_clock::time_point{std::chrono::hours(1)};
  std::atomic<int> ticks{0};
  FakeFreezeOps clean;
  platform::FreezeOptions timed = k_options;
  timed.now = [&] { return t0 + std::chrono::milliseconds(10 * ticks++); };
  auto ok = FreezeSet::freeze(clean, {"/mnt/b"}, timed);
  ASSERT_TRUE(ok.has_value());
  ASSERT_TRUE(ok->thaw().has_value());
  const auto& e = ok->entries().front();
  EXPECT_GE(e.freeze_started, t0);
  EXPECT_GT(e.thawed_at, e.freeze_started);
  EXPECT_LT(e.thawed_at, t0 + std::chrono::seconds(1));
}
