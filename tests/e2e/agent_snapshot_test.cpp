// ebsnap snapshot end to end (root): the sandbox with its loop-device data plane, real udevd,
// ext4 and xfs, real FIFREEZE and the real thaw guardian. The volumes are created, formatted and
// mounted by the agent's own restore (first boot), then snapshotted.
//
// Timings are printed, never asserted: the machine is shared. What is asserted is structural:
// the snapshot exists, is consistent (fsck of a volume made from it), the writer resumed, the
// window covers the call, tags say what happened.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <thread>

#include "agent/commands/mount.h"
#include "agent/core/runtime.h"
#include "agent/commands/snapshot.h"
#include "agent/core/snapshot_record.h"
#include "agent/core/tags.h"
#include "agent/commands/thaw.h"
#include "ec2/waiter.h"
#include "platform/freeze_ops.h"
#include "platform/freeze_state.h"
#include "tests/support/sandbox.h"
#include "tests/support/shell.h"
#include "tests/support/temp_dir.h"
#include "tests/support/udev_rule.h"

namespace agent {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// Appends and fsyncs a small record about every millisecond; remembers its longest stall (the
// longest time between two completed records).
class Writer {
 public:
  explicit Writer(const std::filesystem::path& file) {
    fd_ = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error("open " + file.string());
    thread_ = std::thread([this] { loop(); });
  }
  ~Writer() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  [[nodiscard]] std::chrono::microseconds longest_stall() const { return std::chrono::microseconds(longest_us_.load()); }
  [[nodiscard]] long records() const { return records_.load(); }

 private:
  void loop() {
    auto last = Steady::now();
    char record[64];
    while (!stop_) {
      const int n = std::snprintf(record, sizeof record, "record %ld\n", records_.load());
      if (::write(fd_, record, static_cast<std::size_t>(n)) != n || ::fsync(fd_) != 0) break;
      const auto now = Steady::now();
      const auto gap = std::chrono::duration_cast<std::chrono::microseconds>(now - last).count();
      if (gap > longest_us_) longest_us_ = gap;
      last = now;
      ++records_;
      std::this_thread::sleep_for(1ms);
    }
  }
  int fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<long long> longest_us_{0};
  std::atomic<long> records_{0};
};

class SnapshotE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(::geteuid(), 0U) << "e2e tests need root (loop devices, udev, mount, freeze)";
    testsupport::ensure_udevd();
    // The thaw guardian of an agent we SIGKILL is re-parented to us: reap it.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  void SetUp() override {
    dir_ = std::make_unique<testsupport::TempDir>("ebsnap-snapshot-e2e");
    sandbox_ = std::make_unique<testsupport::Sandbox>();
    sandbox_->export_environment();
    run_dir_ = dir_->path() / "run";
    ::setenv("EBSNAP_RUN_DIR", run_dir_.c_str(), 1);
    config_.freeze_timeout = 10s;
    config_.filter_tags = {"role"};
    filters_ = {{"role", "e2e"}};
    GroupConfig g{.name = "data"};
    g.volumes.push_back({.device = "/dev/sdf", .mount_point = (dir_->path() / "mnt/ext4").string(), .size_gib = 1,
                         .filesystem = FsType::Ext4});
    g.volumes.push_back({.device = "/dev/sdg", .mount_point = (dir_->path() / "mnt/xfs").string(), .size_gib = 1,
                         .filesystem = FsType::Xfs});
    config_.groups.push_back(g);
    for (const auto& v : g.volumes) mount_points_.push_back(v.mount_point);

    auto runtime = Runtime::create(config_, {.region = sandbox_->region()});
    ASSERT_TRUE(runtime) << runtime.error().describe();
    runtime_ = std::move(*runtime);
    auto restored = mount(context(*runtime_));
    ASSERT_TRUE(restored.ok()) << render_text(restored);
  }

  void TearDown() override {
    // Never leave anything frozen: thaw first, whatever happened.
    for (const auto& mp : mount_points_) (void)platform::thaw(mp);
    (void)platform::thaw_all(run_dir_.string());
    for (const auto& mp : extra_mounts_) ::umount2(mp.c_str(), MNT_DETACH);
    for (const auto& mp : mount_points_) ::umount2(mp.c_str(), MNT_DETACH);
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    runtime_.reset();
    sandbox_.reset();
    testsupport::udev_settle();
    ::unsetenv("EBSNAP_RUN_DIR");
    dir_.reset();
  }

  // The group "data" with the Services of `runtime`.
  RunContext context(Runtime& runtime) {
    return RunContext{.services = runtime.services(), .config = config_, .filters = filters_,
                      .instance = runtime.instance(), .groups = {&config_.groups[0]}};
  }

  RunReport snapshot() { return agent::snapshot(context(*runtime_)); }

  // True when every filesystem takes a write+fsync within 15 s. A write to a frozen filesystem
  // blocks, so it runs on its own thread; if it does not come back, everything is thawed (which
  // releases it) before reporting.
  bool all_writable() {
    auto probe = std::async(std::launch::async, [this] {
      for (const auto& mp : mount_points_) {
        const auto file = std::filesystem::path(mp) / "probe";
        const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return false;
        const bool ok = ::write(fd, "x", 1) == 1 && ::fsync(fd) == 0;
        ::close(fd);
        if (!ok) return false;
      }
      return true;
    });
    if (probe.wait_for(15s) == std::future_status::ready) return probe.get();
    for (const auto& mp : mount_points_) (void)platform::thaw(mp);
    (void)probe.get();
    return false;
  }

  // A volume from `snapshot`, attached here; returns its device node.
  std::string attach_from_snapshot(const ec2::SnapshotId& snapshot, const std::string& device) {
    auto& s = runtime_->services();
    ec2::Waiter waiter;
    auto done = waiter.snapshots(s.ec2, {snapshot}, ec2::SnapshotState::Completed);
    EXPECT_TRUE(done) << done.error().describe();
    auto volume = s.ec2.create_volume({.availability_zone = runtime_->instance().availability_zone, .snapshot_id = snapshot});
    if (!volume) throw std::runtime_error(volume.error().describe());
    auto available = waiter.volumes(s.ec2, {volume->id}, ec2::VolumeState::Available);
    if (!available) throw std::runtime_error(available.error().describe());
    auto watch = s.devices.arm_watch();
    if (!watch) throw std::runtime_error(watch.error().describe());
    auto attached = s.ec2.attach_volume({.volume_id = volume->id, .instance_id = runtime_->instance().instance_id, .device = device});
    if (!attached) throw std::runtime_error(attached.error().describe());
    auto dev = s.devices.wait_for_volume(*watch, {.volume_id = volume->id.value, .device_hint = device}, Steady::now() + 60s);
    if (!dev) throw std::runtime_error(dev.error().describe());
    return dev->devnode;
  }

  std::vector<ec2::Snapshot> snapshots_of_group() {
    auto r = runtime_->services().ec2.describe_snapshots(
        {.owner_ids = {"self"}, .filters = {{"tag:" + std::string(k_tag_group), {"data"}}}});
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : std::vector<ec2::Snapshot>{};
  }

  std::unique_ptr<testsupport::TempDir> dir_;
  std::unique_ptr<testsupport::Sandbox> sandbox_;
  std::unique_ptr<Runtime> runtime_;
  std::filesystem::path run_dir_;
  Config config_;
  FilterValues filters_;
  std::vector<std::string> mount_points_;
  std::vector<std::string> extra_mounts_;
};

double ms(std::optional<std::chrono::microseconds> us) { return us ? static_cast<double>(us->count()) / 1000.0 : -1.0; }
std::int64_t ms(std::optional<std::int64_t> v) { return v.value_or(-1); }

TEST_F(SnapshotE2e, WriterStallMatchesTheFreezeWindowAndTheSnapshotIsConsistent) {
  Writer ext4{std::filesystem::path(mount_points_[0]) / "writer.log"};
  Writer xfs{std::filesystem::path(mount_points_[1]) / "writer.log"};
  std::this_thread::sleep_for(300ms);
  const long before = ext4.records() + xfs.records();
  auto r = snapshot();
  std::this_thread::sleep_for(300ms);
  ext4.stop();
  xfs.stop();
  const long after = ext4.records() + xfs.records();
  ASSERT_TRUE(r.ok()) << render_text(r);
  const auto& g = r.groups.at(0);
  std::cout << "[ freeze ] set window " << ms(g.freeze_window_ms) << " ms, CreateSnapshots " << ms(g.call_ms)
            << " ms\n"
            << "[ freeze ] ext4 window " << ms(g.volumes[0].freeze_ms) << " ms, writer longest stall "
            << ms(ext4.longest_stall()) << " ms\n"
            << "[ freeze ] xfs  window " << ms(g.volumes[1].freeze_ms) << " ms, writer longest stall "
            << ms(xfs.longest_stall()) << " ms\n";
  EXPECT_GT(before, 0);
  EXPECT_GT(after, before) << "the writers resumed after the thaw";
  ASSERT_TRUE(g.freeze_window_ms && g.call_ms);
  EXPECT_GE(*g.freeze_window_ms, *g.call_ms) << "the window covers the snapshot call";
  EXPECT_EQ(g.ec2_calls, std::vector<std::string>{"CreateSnapshots"});
  for (const auto& v : g.volumes) {
    EXPECT_EQ(v.consistency, "frozen");
    ASSERT_TRUE(v.snapshot_id);
    ASSERT_TRUE(v.freeze_ms);
  }

  // Consistent: a volume made from each snapshot passes a read-only fsck and mounts.
  const auto ext4_dev = attach_from_snapshot(ec2::SnapshotId{*g.volumes[0].snapshot_id}, "/dev/sdh");
  const auto xfs_dev = attach_from_snapshot(ec2::SnapshotId{*g.volumes[1].snapshot_id}, "/dev/sdi");
  auto fsck = testsupport::shell("e2fsck -fn " + ext4_dev + " 2>&1");
  EXPECT_EQ(fsck.exit_code, 0) << fsck.output;
  // A frozen XFS keeps metadata in its log (freeze does not cover the log), as after a crash: a
  // restore's mount replays it. So: mount (replay), look, unmount, then a read-only repair check.
  const auto check_mount = (dir_->path() / "check").string();
  std::filesystem::create_directories(check_mount);
  auto mounted = testsupport::shell("mount -o nouuid -t xfs " + xfs_dev + " " + check_mount + " 2>&1");
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  extra_mounts_.push_back(check_mount);
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(check_mount) / "writer.log"));
  auto unmounted = testsupport::shell("umount " + check_mount + " 2>&1");
  ASSERT_EQ(unmounted.exit_code, 0) << unmounted.output;
  extra_mounts_.pop_back();
  auto repair = testsupport::shell("xfs_repair -n " + xfs_dev + " 2>&1");
  EXPECT_EQ(repair.exit_code, 0) << repair.output;
  // Tags at creation and after: the lineage and what the freeze was.
  for (const auto& s : snapshots_of_group()) {
    EXPECT_EQ(ec2::find_tag(s.tags, k_tag_consistency), "frozen");
    EXPECT_EQ(ec2::find_tag(s.tags, k_tag_volume_id), s.volume_id.value);
    EXPECT_TRUE(ec2::find_tag(s.tags, k_tag_mount_point));
    EXPECT_EQ(ec2::find_tag(s.tags, "role"), "e2e");
  }
  EXPECT_TRUE(read_run_records(run_dir_).empty());
}

TEST_F(SnapshotE2e, SigkillDuringSnapshotGuardianThawsAndNextRunRetags) {
  // The call takes 3 s: the agent is killed while it is in flight, everything frozen.
  sandbox_->configure({{"latency_ms", {{"CreateSnapshots", 3000}}}});
  std::cout.flush();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto runtime = Runtime::create(config_, {.region = sandbox_->region()});
    if (!runtime) ::_exit(3);
    auto r = agent::snapshot(context(**runtime));
    ::_exit(r.ok() ? 0 : 1);
  }
  // Wait for the guardian's freeze state file (written just before the first FIFREEZE).
  bool armed = false;
  for (int i = 0; i < 3000 && !armed; ++i) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(run_dir_, ec)) {
      if (e.path().filename().string().starts_with("freeze-")) armed = true;
    }
    if (!armed) std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(800ms);  // frozen, the call in flight
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(armed) << "the agent never started its guardian";
  ASSERT_TRUE(WIFSIGNALED(status)) << "the agent finished before the kill; status " << status;

  // The guardian thaws (the agent died): every filesystem takes writes again.
  EXPECT_TRUE(all_writable()) << "a filesystem stayed frozen after the agent was killed";

  // The request still reaches the sandbox after its latency and creates the snapshots, tagged
  // "frozen" at creation. Wait until it was served.
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {
    for (const auto& c : sandbox_->calls()) {
      if (c.value("action", "") == "CreateSnapshots" && c.contains("status")) served = true;
    }
    if (!served) std::this_thread::sleep_for(100ms);
  }
  const auto records = read_run_records(run_dir_);
  ASSERT_EQ(records.size(), 1U) << "the dead run left its record";

  // The next ebsnap run (here: thaw --all, the emergency hatch) reconciles after thawing.
  auto thawed = thaw({.all = true, .run_dir = run_dir_, .ec2 = &runtime_->services().ec2,
                          .clock = &runtime_->services().clock});
  std::cout << render_text(thawed);
  EXPECT_TRUE(thawed.ok()) << render_text(thawed);
  const auto snaps = snapshots_of_group();
  std::cout << "[ sigkill ] CreateSnapshots served: " << served << ", snapshots of the dead run: " << snaps.size() << "\n";
  for (const auto& s : snaps) {
    EXPECT_EQ(ec2::find_tag(s.tags, k_tag_run_id), records[0].run_id);
    EXPECT_EQ(ec2::find_tag(s.tags, k_tag_consistency), "watchdog-thawed") << s.id.value;
  }
  // The report names the reconciled run, whatever the kill left to find.
  const auto doc = to_json(thawed);
  ASSERT_EQ(doc["reconciled"].size(), 1U) << doc.dump(2);
  EXPECT_EQ(doc["reconciled"][0]["run_id"], records[0].run_id);
  EXPECT_EQ(doc["reconciled"][0]["found"].size(), snaps.size());
  EXPECT_NE(render_text(thawed).find("interrupted run " + records[0].run_id), std::string::npos);
  if (served) {
    EXPECT_EQ(snaps.size(), 2U);
    EXPECT_EQ(doc["reconciled"][0]["record_removed"], true);
    EXPECT_TRUE(read_run_records(run_dir_).empty()) << "every snapshot found: the record is done";
  }
}

TEST_F(SnapshotE2e, ThrottlingAndServerErrorsDuringSnapshotStillSucceed) {
  sandbox_->configure({{"throttle_fraction", 0.3}, {"fail_next", {{"count", 2}, {"status", 503}, {"code", "Unavailable"}}}});
  auto r = snapshot();
  std::cout << render_text(r);
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_TRUE(all_writable());
  int throttled = 0;
  for (const auto& c : sandbox_->calls()) {
    if (c.value("error", nlohmann::json()).is_string() && c["error"] == "RequestLimitExceeded") ++throttled;
  }
  std::cout << "[ faults ] throttled calls: " << throttled << ", window " << ms(r.groups[0].freeze_window_ms) << " ms\n";
  EXPECT_EQ(snapshots_of_group().size(), 2U);
}

TEST_F(SnapshotE2e, ConfiguredLatencyShowsInTheWindow) {
  constexpr int k_latency_ms = 1500;
  sandbox_->configure({{"latency_ms", {{"CreateSnapshots", k_latency_ms}}}});
  auto r = snapshot();
  ASSERT_TRUE(r.ok()) << render_text(r);
  const auto& g = r.groups[0];
  std::cout << "[ latency ] configured " << k_latency_ms << " ms, call " << ms(g.call_ms) << " ms, window "
            << ms(g.freeze_window_ms) << " ms\n";
  ASSERT_TRUE(g.call_ms && g.freeze_window_ms);
  EXPECT_GE(*g.call_ms, k_latency_ms) << "the sandbox delays the answer";
  EXPECT_GE(*g.freeze_window_ms, *g.call_ms);
  EXPECT_EQ(g.volumes[0].consistency, "frozen");
}

// Issue 11: an ebsnap and its guardian killed together leave a filesystem frozen for good; the
// next run thaws it (real FIFREEZE/FITHAW), says so, fails that volume and snapshots the others.
TEST_F(SnapshotE2e, AFreezeLeftByADeadEbsnapIsThawedByTheNextRun) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(platform::write_freeze_state(run_dir_.string(), {mount_points_[0]}) ? 0 : 1);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  platform::KernelFreezeOps kernel;
  ASSERT_TRUE(kernel.freeze(mount_points_[0]));
  auto r = snapshot();
  std::cout << render_text(r);
  EXPECT_FALSE(r.ok());
  const auto& g = r.groups.at(0);
  EXPECT_EQ(g.volumes[0].outcome, Outcome::Failed);
  EXPECT_NE(g.volumes[0].reason.value_or("").find("which died: thawed it"), std::string::npos)
      << g.volumes[0].reason.value_or("");
  EXPECT_EQ(g.volumes[1].outcome, Outcome::Snapshotted);
  EXPECT_EQ(g.volumes[1].consistency, "frozen");
  EXPECT_TRUE(all_writable()) << "the dead run's freeze is gone";
  EXPECT_EQ(snapshots_of_group().size(), 1U);
}

}  // namespace
}  // namespace agent
