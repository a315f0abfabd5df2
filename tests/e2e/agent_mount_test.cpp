// ebsnap mount/unmount end to end (root): the sandbox with its loop-device data plane, real udevd,
// ext4 and xfs, the real ebsnap binary run as a child process with the sandbox's environment.
//
// Timings are never asserted (the machine is shared); what is asserted is structural: outcomes,
// data byte for byte, the sandbox's call log, one volume per mount point.
#include <fcntl.h>
#include <fmt/chrono.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "agent/commands/mount.h"
#include "agent/commands/unmount.h"
#include "agent/config/config.h"
#include "agent/config/userdata.h"
#include "agent/core/prewarm_state.h"
#include "agent/core/runtime.h"
#include "agent/core/tags.h"
#include "ec2/waiter.h"
#include "platform/libmount_mounter.h"
#include "tests/support/child_process.h"
#include "tests/support/sandbox.h"
#include "tests/support/temp_dir.h"
#include "tests/support/udev_rule.h"

namespace agent {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

const std::string k_userdata = R"({"role":"e2e-mount","cluster":"c1"})";

using Ran = testsupport::ChildResult;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

class MountE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(::geteuid(), 0U) << "e2e tests need root (loop devices, udev, mount)";
    testsupport::ensure_udevd();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  void SetUp() override {
    dir_ = std::make_unique<testsupport::TempDir>("ebsnap-mount-e2e");
    sandbox_ = std::make_unique<testsupport::Sandbox>();
    sandbox_->export_environment();
    ::setenv("EBSNAP_RUN_DIR", (dir_->path() / "run").c_str(), 1);
  }

  void TearDown() override {
    // Whatever happened: nothing of ours stays mounted, then the sandbox detaches its loops.
    for (const auto* list : {&inspections_, &mount_points_}) {
      for (const auto& mp : *list) {
        while (::umount2(mp.c_str(), 0) == 0) {
        }
        ::umount2(mp.c_str(), MNT_DETACH);
      }
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    runtime_.reset();
    sandbox_.reset();
    testsupport::udev_settle();
    ::unsetenv("EBSNAP_RUN_DIR");
    dir_.reset();
  }

  // A config file with `groups` groups of `per_group` volumes, ext4 and xfs alternating, each with
  // `retention` when it is not null, and the keys of `group_keys` (an object) when it is not null.
  void write_config(int groups, int per_group, const Json& retention = nullptr, const Json& group_keys = nullptr) {
    Json doc = {{"filter_tags", {"role", "cluster"}}, {"groups", Json::object()}};
    const char* devices = "fghijklmnopqrstuvwxyz";
    int n = 0;
    for (int g = 0; g < groups; ++g) {
      const std::string name = "g" + std::to_string(g + 1);
      Json volumes = Json::array();
      for (int v = 0; v < per_group; ++v, ++n) {
        const auto fs = v % 2 == 0 ? "ext4" : "xfs";
        const auto mp = (dir_->path() / "mnt" / (name + "-" + std::to_string(v) + "-" + fs)).string();
        mount_points_.push_back(mp);
        placement_[mp] = {name, std::string("/dev/sd") + devices[n]};
        volumes.push_back({{"device", std::string("/dev/sd") + devices[n]},
                           {"mount_point", mp},
                           {"size_gib", 1},
                           {"filesystem", fs}});
      }
      doc["groups"][name] = {{"volumes", volumes}};
      if (!retention.is_null()) doc["groups"][name]["retention"] = retention;
      if (!group_keys.is_null()) doc["groups"][name].update(group_keys);
      groups_.push_back(name);
    }
    config_path_ = dir_->path() / "ebsnap.json";
    std::ofstream(config_path_) << doc.dump(2);
    std::filesystem::permissions(config_path_, std::filesystem::perms(0600));
  }

  std::vector<std::string> args(std::vector<std::string> command) const {
    std::vector<std::string> a = {"--config", config_path_.string(), "--userdata", k_userdata};
    a.insert(a.end(), command.begin(), command.end());
    return a;
  }

  // Starts ebsnap in its own process group with the sandbox's environment.
  testsupport::ChildProcess start(const std::vector<std::string>& argv_words) {
    static int runs = 0;
    ++runs;
    std::vector<std::string> words = {std::string(EBSNAP_BINARY_DIR) + "/agent/ebsnap"};
    words.insert(words.end(), argv_words.begin(), argv_words.end());
    return testsupport::ChildProcess(words, dir_->path() / ("run" + std::to_string(runs) + ".out"),
                                     dir_->path() / ("run" + std::to_string(runs) + ".err"));
  }

  Ran ebsnap(std::vector<std::string> command) { return start(args(std::move(command))).wait(); }

  Ran mount() {
    auto c = groups_;
    c.insert(c.begin(), "mount");
    return ebsnap(c);
  }
  Ran unmount_delete() {
    auto c = groups_;
    c.insert(c.begin(), {"unmount", "--delete-volumes", "--yes"});
    return ebsnap(c);
  }

  Runtime& runtime() {
    if (!runtime_) {
      Config c;
      auto r = Runtime::create(c, {.region = sandbox_->region()});
      if (!r) throw std::runtime_error(r.error().describe());
      runtime_ = std::move(*r);
    }
    return *runtime_;
  }

  // Volumes of ours EC2 still has (not deleted), by mount point.
  std::map<std::string, std::vector<std::string>> live_volumes() {
    auto vols = runtime().services().ec2.describe_volumes(
        ec2::DescribeVolumesOptions{.filters = {{"tag-key", {std::string(k_tag_group)}}}});
    if (!vols) throw std::runtime_error(vols.error().describe());
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& v : *vols) {
      if (v.state == ec2::VolumeState::Deleting || v.state == ec2::VolumeState::Deleted) continue;
      out[ec2::find_tag(v.tags, k_tag_mount_point).value_or("?")].push_back(v.id.value);
    }
    return out;
  }

  void expect_one_volume_per_mount_point() {
    auto live = live_volumes();
    for (const auto& mp : mount_points_) {
      EXPECT_EQ(live[mp].size(), 1U) << mp << " has " << live[mp].size() << " volumes";
    }
    EXPECT_EQ(live.size(), mount_points_.size());
  }

  void expect_all_mounted() {
    platform::LibmountMounter m;
    for (const auto& mp : mount_points_) {
      auto info = m.find_by_target(mp);
      ASSERT_TRUE(info) << info.error().describe();
      EXPECT_TRUE(info->has_value()) << mp << " is not mounted";
    }
  }

  void wait_snapshots_completed() {
    auto& services = runtime().services();
    auto snaps = services.ec2.describe_snapshots(
        ec2::DescribeSnapshotsOptions{.owner_ids = {"self"}, .filters = {{"tag:role", {"e2e-mount"}}}});
    ASSERT_TRUE(snaps) << snaps.error().describe();
    ASSERT_EQ(snaps->size(), mount_points_.size());
    std::vector<ec2::SnapshotId> ids;
    for (const auto& s : *snaps) ids.push_back(s.id);
    ec2::Waiter waiter(ec2::WaiterOptions{.initial_delay = 200ms, .max_delay = 2s, .timeout = 120s});
    auto done = waiter.snapshots(services.ec2, ids, ec2::SnapshotState::Completed);
    ASSERT_TRUE(done) << done.error().describe();
  }

  // Our snapshots carrying tag `key` = `value`.
  std::vector<ec2::Snapshot> snapshots_tagged(std::string_view key, const std::string& value) {
    auto snaps = runtime().services().ec2.describe_snapshots(ec2::DescribeSnapshotsOptions{
        .owner_ids = {"self"}, .filters = {{"tag:" + std::string(key), {value}}}});
    if (!snaps) throw std::runtime_error(snaps.error().describe());
    return *snaps;
  }

  void wait_completed(const std::vector<ec2::Snapshot>& snapshots) {
    std::vector<ec2::SnapshotId> ids;
    for (const auto& s : snapshots) ids.push_back(s.id);
    ec2::Waiter waiter(ec2::WaiterOptions{.initial_delay = 200ms, .max_delay = 2s, .timeout = 120s});
    auto done = waiter.snapshots(runtime().services().ec2, ids, ec2::SnapshotState::Completed);
    ASSERT_TRUE(done) << done.error().describe();
  }

  // Writes new random data to every mount point, and remembers it.
  std::map<std::string, std::string> write_data(unsigned seed) {
    std::map<std::string, std::string> data;
    for (const auto& mp : mount_points_) {
      data[mp] = random_bytes(1024 * 1024 + seed, seed);
      ++seed;
      std::ofstream(std::filesystem::path(mp) / "data.bin", std::ios::binary | std::ios::trunc) << data[mp];
    }
    ::sync();
    return data;
  }

  int calls_of(const Json& calls, std::string_view action, std::size_t from = 0) const {
    int n = 0;
    for (std::size_t i = from; i < calls.size(); ++i) {
      if (calls[i]["action"] == action && calls[i]["status"] == 200) ++n;
    }
    return n;
  }

  std::unique_ptr<testsupport::TempDir> dir_;
  std::unique_ptr<testsupport::Sandbox> sandbox_;
  std::unique_ptr<Runtime> runtime_;
  std::filesystem::path config_path_;
  std::vector<std::string> groups_;
  std::vector<std::string> mount_points_;
  std::vector<std::string> inspections_;  // mount --inspect targets, unmounted by TearDown too
  std::map<std::string, std::pair<std::string, std::string>> placement_;  // mount point → group, device
};

TEST_F(MountE2e, FirstBootSnapshotDeleteRestoreByteForByteThenNoOp) {
  write_config(2, 4);
  const auto before_first = sandbox_->calls().size();
  auto first = mount();
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  std::cerr << first.out;
  expect_all_mounted();
  expect_one_volume_per_mount_point();
  EXPECT_EQ(calls_of(sandbox_->calls(), "CreateVolume", before_first), 8);
  EXPECT_EQ(calls_of(sandbox_->calls(), "DescribeSnapshots", before_first), 1);

  // Data, then a snapshot of every volume with `ebsnap snapshot`.
  std::map<std::string, std::string> data;
  unsigned seed = 1;
  for (const auto& mp : mount_points_) {
    data[mp] = random_bytes(3 * 1024 * 1024 + 17, seed++);
    std::ofstream(std::filesystem::path(mp) / "data.bin", std::ios::binary) << data[mp];
    std::filesystem::create_directories(std::filesystem::path(mp) / "d1/d2");
    std::ofstream(std::filesystem::path(mp) / "d1/d2/small.txt") << mp;
  }
  ::sync();
  auto snap = ebsnap([&] {
    auto c = groups_;
    c.insert(c.begin(), "snapshot");
    return c;
  }());
  ASSERT_EQ(snap.exit_code, 0) << snap.out << snap.err;
  wait_snapshots_completed();

  auto deleted = unmount_delete();
  ASSERT_EQ(deleted.exit_code, 0) << deleted.out << deleted.err;
  EXPECT_TRUE(live_volumes().empty());
  platform::LibmountMounter m;
  for (const auto& mp : mount_points_) EXPECT_FALSE(m.find_by_target(mp).value_or(std::nullopt)) << mp;

  const auto before_restore = sandbox_->calls().size();
  auto restored = mount();
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  expect_all_mounted();
  expect_one_volume_per_mount_point();
  for (const auto& mp : mount_points_) {
    EXPECT_EQ(slurp(std::filesystem::path(mp) / "data.bin"), data[mp]) << mp;
    EXPECT_EQ(slurp(std::filesystem::path(mp) / "d1/d2/small.txt"), mp);
  }
  auto calls = sandbox_->calls();
  EXPECT_EQ(calls_of(calls, "DescribeSnapshots", before_restore), 1);
  EXPECT_EQ(calls_of(calls, "CreateVolume", before_restore), 8);
  EXPECT_EQ(calls_of(calls, "AttachVolume", before_restore), 8);
  for (std::size_t i = before_restore; i < calls.size(); ++i) {
    if (calls[i]["action"] == "CreateVolume") {
      EXPECT_TRUE(calls[i]["params"].contains("SnapshotId"));
    }
  }

  const auto before_noop = sandbox_->calls().size();
  auto again = mount();
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  calls = sandbox_->calls();
  for (const auto* action : {"CreateVolume", "AttachVolume", "DescribeSnapshots", "DeleteVolume"}) {
    EXPECT_EQ(calls_of(calls, action, before_noop), 0) << action;
  }
  expect_one_volume_per_mount_point();
  ASSERT_EQ(unmount_delete().exit_code, 0);
}

// Issue 13, restore points on real volumes (ext4 and xfs): three runs, the newest in error on one
// volume. While mounted, --as-of is refused and changes nothing; --inspect mounts the first run
// read-only beside the live volumes, and unmount --inspect leaves nothing behind; a plain mount
// restores the second run on both volumes, --as-of between runs 1 and 2 the first: byte for byte.
TEST_F(MountE2e, RestorePointsAsOfAndInspectSideBySide) {
  write_config(1, 2);
  ASSERT_EQ(mount().exit_code, 0);
  auto& ec2 = runtime().services().ec2;
  const auto all_snapshots = [&] {
    auto snaps = ec2.describe_snapshots(
        ec2::DescribeSnapshotsOptions{.owner_ids = {"self"}, .filters = {{"tag:role", {"e2e-mount"}}}});
    if (!snaps) throw std::runtime_error(snaps.error().describe());
    return *snaps;
  };
  std::vector<std::string> runs;
  std::map<std::string, std::map<std::string, std::string>> data;  // run → mount point → bytes
  const auto take_run = [&](unsigned seed) {
    for (const auto& mp : mount_points_) {
      data[std::to_string(seed)][mp] = random_bytes(1024 * 1024 + seed, seed * 7 + static_cast<unsigned>(mp.size()));
      std::ofstream(std::filesystem::path(mp) / "data.bin", std::ios::binary) << data[std::to_string(seed)][mp];
    }
    ::sync();
    const auto r = ebsnap({"snapshot", "g1"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    // Settled: completed, or error where the sandbox was told so.
    ec2::Waiter waiter(ec2::WaiterOptions{.initial_delay = 200ms, .max_delay = 2s, .timeout = 120s});
    std::vector<ec2::SnapshotId> ids;
    std::string run;
    for (const auto& snap : all_snapshots()) {
      const auto id = ec2::find_tag(snap.tags, k_tag_run_id).value_or("");
      if (std::ranges::find(runs, id) == runs.end()) {
        run = id;
        ids.push_back(snap.id);
      }
    }
    ASSERT_EQ(ids.size(), 2U);
    auto settled = waiter.snapshots_until(ec2, ids, [](const ec2::SnapshotId&, const std::optional<ec2::Snapshot>& s) {
      const bool done = s && (s->state == ec2::SnapshotState::Completed || s->state == ec2::SnapshotState::Error);
      return ec2::WaitCheck{done ? ec2::WaitVerdict::Done : ec2::WaitVerdict::Pending, "settling"};
    });
    ASSERT_TRUE(settled) << settled.error().describe();
    data[run] = data[std::to_string(seed)];
    runs.push_back(run);
  };
  take_run(1);
  take_run(2);
  sandbox_->configure({{"snapshot_error_next", 1}});  // run 3: one of its two snapshots fails
  take_run(3);
  ASSERT_EQ(runs.size(), 3U);
  // Run k started (4 - k) hours ago.
  const auto now = std::chrono::system_clock::now();
  nlohmann::json times = nlohmann::json::object();
  std::size_t errors = 0;
  for (const auto& snap : all_snapshots()) {
    const auto k = std::ranges::find(runs, ec2::find_tag(snap.tags, k_tag_run_id).value_or("")) - runs.begin();
    times[snap.id.value] = fmt::format("{:%FT%TZ}", std::chrono::floor<std::chrono::seconds>(now - std::chrono::hours(3 - k)));
    if (snap.state == ec2::SnapshotState::Error) ++errors;
  }
  ASSERT_EQ(errors, 1U);
  sandbox_->control("/snapshots/start-time", {{"start_times", times}});

  // Mounted: --as-of refuses, one line, exit 2, nothing called that changes anything.
  const auto before_refusal = sandbox_->calls().size();
  auto refused = ebsnap({"mount", "g1", "--as-of", "-150m"});
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_TRUE(refused.out.empty()) << refused.out;
  EXPECT_TRUE(refused.err.contains("is mounted")) << refused.err;
  for (const auto* action : {"CreateVolume", "AttachVolume", "DetachVolume", "DescribeSnapshots"}) {
    EXPECT_EQ(calls_of(sandbox_->calls(), action, before_refusal), 0) << action;
  }

  auto history = ebsnap({"--json", "history", "g1"});
  ASSERT_EQ(history.exit_code, 0) << history.out << history.err;
  const auto points = Json::parse(history.out)["history"][0]["points"];
  ASSERT_EQ(points.size(), 3U) << history.out;
  EXPECT_EQ(points[0]["run_id"], runs[2]);
  EXPECT_EQ(points[0]["complete"], false);
  EXPECT_EQ(points[1]["run_id"], runs[1]);
  EXPECT_EQ(points[1]["complete"], true);
  EXPECT_EQ(points[1]["consistency"], "frozen");

  // Inspect run 1 beside the live volumes (which hold run 3's data).
  auto inspect = ebsnap({"--json", "mount", "g1", "--inspect", "--as-of", "-150m"});
  const auto prefix = dir_->path() / "run" / "inspect";
  for (const auto& mp : mount_points_) {
    inspections_.push_back((prefix / "g1" / runs[0] / std::filesystem::path(mp).relative_path()).string());
  }
  ASSERT_EQ(inspect.exit_code, 0) << inspect.out << inspect.err;
  EXPECT_EQ(Json::parse(inspect.out)["groups"][0]["restore_point"]["run_id"], runs[0]);
  platform::LibmountMounter m;
  for (std::size_t i = 0; i < mount_points_.size(); ++i) {
    const auto& live = mount_points_[i];
    const auto& look = inspections_[i];
    EXPECT_EQ(slurp(std::filesystem::path(look) / "data.bin"), data[runs[0]][live]) << look;
    EXPECT_EQ(slurp(std::filesystem::path(live) / "data.bin"), data[runs[2]][live]) << live;
    const auto info = m.find_by_target(look).value();
    ASSERT_TRUE(info) << look;
    EXPECT_TRUE(("," + info->options + ",").contains(",ro,")) << info->options;
    if (live.ends_with("xfs")) {
      EXPECT_TRUE(info->options.contains("nouuid")) << info->options;
    }
    EXPECT_FALSE(std::ofstream(std::filesystem::path(look) / "new.txt").good()) << "read-only";
  }
  auto removed = ebsnap({"unmount", "g1", "--inspect"});
  ASSERT_EQ(removed.exit_code, 0) << removed.out << removed.err;
  for (const auto& look : inspections_) {
    EXPECT_FALSE(m.find_by_target(look).value_or(std::nullopt)) << look;
    EXPECT_FALSE(std::filesystem::exists(look)) << look;
  }
  EXPECT_FALSE(std::filesystem::exists(prefix / "g1"));
  expect_one_volume_per_mount_point();  // the inspections' volumes are gone, the live ones stay
  expect_all_mounted();

  // A plain mount: the newest complete run, run 2, on both volumes.
  ASSERT_EQ(unmount_delete().exit_code, 0);
  auto restored = ebsnap({"--json", "mount", "g1"});
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  const auto doc = Json::parse(restored.out);
  EXPECT_EQ(doc["groups"][0]["restore_point"]["run_id"], runs[1]);
  EXPECT_EQ(doc["groups"][0]["skipped_runs"][0]["run_id"], runs[2]);
  for (const auto& mp : mount_points_) EXPECT_EQ(slurp(std::filesystem::path(mp) / "data.bin"), data[runs[1]][mp]) << mp;

  // --as-of between runs 1 and 2: run 1.
  ASSERT_EQ(unmount_delete().exit_code, 0);
  auto as_of = ebsnap({"mount", "g1", "--as-of", "-150m"});
  ASSERT_EQ(as_of.exit_code, 0) << as_of.out << as_of.err;
  for (const auto& mp : mount_points_) EXPECT_EQ(slurp(std::filesystem::path(mp) / "data.bin"), data[runs[0]][mp]) << mp;
  ASSERT_EQ(unmount_delete().exit_code, 0);
  EXPECT_TRUE(live_volumes().empty());
}

// Issue 13: "initialization_rate_mibps" reaches EC2 only on the CreateVolume calls that restore from
// a snapshot (the sandbox, like EC2, refuses it on an empty volume: the first boot would fail), and
// `list` shows the restored volumes' initialization progress from DescribeVolumeStatus. The restore
// grows the volumes to 200 GiB, which take 2048 s to initialize at 100 MiB/s: list runs well before.
TEST_F(MountE2e, InitializationRateOnlyOnSnapshotBackedCreatesAndListShowsProgress) {
  write_config(1, 2);
  const auto set_volumes = [&](const Json& patch) {
    auto doc = Json::parse(slurp(config_path_));
    for (auto& v : doc["groups"]["g1"]["volumes"]) v.update(patch);
    std::ofstream(config_path_) << doc.dump(2);
  };
  set_volumes({{"initialization_rate_mibps", 100}});
  const auto from = sandbox_->calls().size();
  auto first = mount();
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  auto snap = ebsnap({"snapshot", "g1"});
  ASSERT_EQ(snap.exit_code, 0) << snap.out << snap.err;
  wait_snapshots_completed();
  ASSERT_EQ(unmount_delete().exit_code, 0);
  set_volumes({{"size_gib", 200}});
  auto restored = mount();
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  expect_all_mounted();

  // The call log: every CreateVolume that carried a SnapshotId carried the rate, and no other did.
  const auto calls = sandbox_->calls();
  int from_snapshot = 0;
  int empty = 0;
  for (std::size_t i = from; i < calls.size(); ++i) {
    if (calls[i]["action"] != "CreateVolume" || calls[i]["status"] != 200) continue;
    const auto& params = calls[i]["params"];
    if (params.contains("SnapshotId")) {
      ++from_snapshot;
      EXPECT_EQ(params.value("VolumeInitializationRate", ""), "100") << params.dump();
    } else {
      ++empty;
      EXPECT_FALSE(params.contains("VolumeInitializationRate")) << params.dump();
    }
  }
  EXPECT_EQ(from_snapshot, 2);
  EXPECT_EQ(empty, 2);

  const auto before_list = sandbox_->calls().size();
  auto listed = ebsnap({"--json", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.out << listed.err;
  EXPECT_EQ(calls_of(sandbox_->calls(), "DescribeVolumeStatus", before_list), 1);
  const auto doc = Json::parse(listed.out);
  ASSERT_EQ(doc["groups"].size(), 1U);
  ASSERT_EQ(doc["groups"][0]["volumes"].size(), 2U);
  for (const auto& v : doc["groups"][0]["volumes"]) {
    EXPECT_EQ(v["state"], "mounted") << v.dump();
    ASSERT_TRUE(v["initialization_progress"].is_number_integer()) << v.dump();
    EXPECT_GE(v["initialization_progress"].get<int>(), 0);
    EXPECT_LT(v["initialization_progress"].get<int>(), 100) << v.dump();
    ASSERT_TRUE(v["initialization_eta_s"].is_number_integer()) << v.dump();
    EXPECT_GT(v["initialization_eta_s"].get<int>(), 0) << v.dump();
    EXPECT_EQ(v["fast_restored"], false) << v.dump();
  }
  auto text = ebsnap({"list"});
  ASSERT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_NE(text.out.find("INITIALIZED"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(" left"), std::string::npos) << text.out;
  ASSERT_EQ(unmount_delete().exit_code, 0);
}

// Issue 17: delete_on_termination is set right after the attach on exactly the volumes configured
// so, once per volume however often mount runs; EC2 (the sandbox) shows it on those attachments in
// DescribeVolumes and DescribeInstances; list shows it.
TEST_F(MountE2e, DeleteOnTerminationIsSetOncePerVolumeAfterAttachAndEc2ShowsIt) {
  write_config(1, 3);
  auto doc = Json::parse(slurp(config_path_));
  auto& volumes = doc["groups"]["g1"]["volumes"];
  volumes[0]["delete_on_termination"] = true;
  volumes[1]["delete_on_termination"] = false;
  volumes[2]["delete_on_termination"] = true;
  std::ofstream(config_path_) << doc.dump(2);
  const std::set<std::string> flagged = {volumes[0]["mount_point"].get<std::string>(),
                                         volumes[2]["mount_point"].get<std::string>()};
  const std::set<std::string> flagged_devices = {volumes[0]["device"].get<std::string>(),
                                                 volumes[2]["device"].get<std::string>()};
  const auto from = sandbox_->calls().size();
  for (int run = 0; run < 2; ++run) {
    auto r = mount();
    ASSERT_EQ(r.exit_code, 0) << "run " << run << ": " << r.out << r.err;
  }
  expect_all_mounted();

  // The call log: one ModifyInstanceAttribute per flagged volume, each after its AttachVolume.
  const auto calls = sandbox_->calls();
  EXPECT_EQ(calls_of(calls, "ModifyInstanceAttribute", from), 2);
  std::set<std::string> modified;
  for (std::size_t i = from; i < calls.size(); ++i) {
    if (calls[i]["action"] != "ModifyInstanceAttribute") continue;
    const auto& params = calls[i]["params"];
    EXPECT_EQ(params.value("InstanceId", ""), sandbox_->instance_id()) << params.dump();
    EXPECT_EQ(params.value("BlockDeviceMapping.1.Ebs.DeleteOnTermination", ""), "true") << params.dump();
    const std::string device = params.value("BlockDeviceMapping.1.DeviceName", "");
    modified.insert(device);
    bool attached_before = false;
    for (std::size_t j = from; j < i; ++j) {
      attached_before = attached_before || (calls[j]["action"] == "AttachVolume" &&
                                            calls[j]["params"].value("Device", "") == device);
    }
    EXPECT_TRUE(attached_before) << device;
  }
  EXPECT_EQ(modified, flagged_devices);

  // EC2's view: the flag on exactly the flagged volumes' attachments, in both Describe calls.
  auto& ec2 = runtime().services().ec2;
  auto described = ec2.describe_volumes({.filters = {{"tag:" + std::string(k_tag_group), {"g1"}}}});
  ASSERT_TRUE(described) << described.error().describe();
  ASSERT_EQ(described->size(), 3U);
  std::map<std::string, bool> by_volume;
  for (const auto& v : *described) {
    ASSERT_EQ(v.attachments.size(), 1U) << v.id;
    const auto mp = ec2::find_tag(v.tags, k_tag_mount_point).value_or("?");
    EXPECT_EQ(v.attachments[0].delete_on_termination, flagged.contains(mp)) << mp;
    by_volume[v.id.value] = v.attachments[0].delete_on_termination;
  }
  auto instances = ec2.describe_instances({.instance_ids = {ec2::InstanceId{sandbox_->instance_id()}}});
  ASSERT_TRUE(instances) << instances.error().describe();
  ASSERT_EQ(instances->size(), 1U);
  int seen = 0;
  for (const auto& m : (*instances)[0].block_device_mappings) {
    if (!by_volume.contains(m.volume_id.value)) continue;
    ++seen;
    EXPECT_EQ(m.delete_on_termination, by_volume[m.volume_id.value]) << m.device_name;
  }
  EXPECT_EQ(seen, 3);

  auto listed = ebsnap({"--json", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.out << listed.err;
  const auto list_doc = Json::parse(listed.out);
  ASSERT_EQ(list_doc["groups"][0]["volumes"].size(), 3U);
  for (const auto& v : list_doc["groups"][0]["volumes"]) {
    EXPECT_EQ(v["delete_on_termination"], flagged.contains(v["mount_point"].get<std::string>())) << v.dump();
  }
  ASSERT_EQ(unmount_delete().exit_code, 0);
}

// Issue 12: the shipped timer's snapshot keeps the group within its policy (prune_after_snapshot),
// on real volumes; the snapshots carry ebsnap:expires; the pruned group restores its newest run.
TEST_F(MountE2e, PruneAfterSnapshotKeepsThePolicyAndThePrunedGroupRestoresItsNewestRun) {
  write_config(1, 2, {{"keep_last", 1}, {"min_age", "0s"}, {"expire_after", "1h"}, {"prune_after_snapshot", true}});
  // A new run is still pending when its prune runs, right after CreateSnapshots answered.
  sandbox_->configure({{"timing", {{"snapshot_complete_s", 3}}}});
  ASSERT_EQ(mount().exit_code, 0);
  const auto snapshot_with = [&](unsigned seed) {
    for (const auto& mp : mount_points_) {
      std::ofstream(std::filesystem::path(mp) / "data.bin", std::ios::binary) << random_bytes(1024 * 1024, seed);
    }
    ::sync();
    auto r = ebsnap({"--json", "snapshot", groups_[0]});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return Json::parse(r.out);
  };
  const auto run_of = [](const Json& report) {
    std::vector<std::string> ids;
    for (const auto& v : report["groups"][0]["volumes"]) ids.push_back(v["snapshot_id"]);
    return ids;
  };
  const auto first = snapshot_with(1);
  wait_snapshots_completed();
  // run 1 is the newest completed run, run 2 is pending: both kept.
  const auto second = snapshot_with(2);
  ASSERT_EQ(second["prune"].size(), 1U) << second.dump(2);
  EXPECT_EQ(second["prune"][0]["deleted"], Json::array());
  auto live = runtime().services().ec2.describe_snapshots({.owner_ids = {"self"}});
  ASSERT_TRUE(live) << live.error().describe();
  ASSERT_EQ(live->size(), 4U);
  for (const auto& s : *live) EXPECT_TRUE(ec2::find_tag(s.tags, k_tag_expires).has_value()) << s.id.value;
  {
    auto& services = runtime().services();
    std::vector<ec2::SnapshotId> ids;
    for (const auto& id : run_of(second)) ids.push_back(ec2::SnapshotId{id});
    ec2::Waiter waiter(ec2::WaiterOptions{.initial_delay = 200ms, .max_delay = 2s, .timeout = 120s});
    ASSERT_TRUE(waiter.snapshots(services.ec2, ids, ec2::SnapshotState::Completed));
  }
  // run 2 is now the newest completed run: keep_last 1 lets run 1 go.
  const auto third = snapshot_with(3);
  ASSERT_EQ(third["prune"].size(), 1U) << third.dump(2);
  auto deleted = third["prune"][0]["deleted"].get<std::vector<std::string>>();
  std::ranges::sort(deleted);
  auto expected = run_of(first);
  std::ranges::sort(expected);
  EXPECT_EQ(deleted, expected) << third.dump(2);
  live = runtime().services().ec2.describe_snapshots({.owner_ids = {"self"}});
  ASSERT_TRUE(live) << live.error().describe();
  EXPECT_EQ(live->size(), 4U);

  // prune --dry-run prints the plan per lineage and changes nothing.
  const auto before = sandbox_->calls().size();
  auto plan = ebsnap({"--dry-run", "prune", groups_[0]});
  ASSERT_EQ(plan.exit_code, 0) << plan.out << plan.err;
  EXPECT_NE(plan.out.find("prune g1: 2 run(s): 2 kept, 0 to delete"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("  " + mount_points_[0] + "\n"), std::string::npos) << plan.out;
  EXPECT_EQ(calls_of(sandbox_->calls(), "DeleteSnapshot", before), 0);

  // The newest run is what comes back.
  {
    auto& services = runtime().services();
    std::vector<ec2::SnapshotId> ids;
    for (const auto& id : run_of(third)) ids.push_back(ec2::SnapshotId{id});
    ec2::Waiter waiter(ec2::WaiterOptions{.initial_delay = 200ms, .max_delay = 2s, .timeout = 120s});
    ASSERT_TRUE(waiter.snapshots(services.ec2, ids, ec2::SnapshotState::Completed));
  }
  ASSERT_EQ(unmount_delete().exit_code, 0);
  auto restored = mount();
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  for (const auto& mp : mount_points_) {
    EXPECT_EQ(slurp(std::filesystem::path(mp) / "data.bin"), random_bytes(1024 * 1024, 3)) << mp;
  }
  ASSERT_EQ(unmount_delete().exit_code, 0);
}

TEST_F(MountE2e, SigkillDuringMountAtEachStepConverges) {
  write_config(1, 2);
  // Slow calls make the windows between steps wide enough to land a kill in.
  sandbox_->configure({{"latency_ms", {{"default", 40}, {"CreateVolume", 250}, {"AttachVolume", 250}}},
                       {"timing", {{"volume_create_s", 0.5}}}});
  struct KillPoint {
    std::string after;                // a successful call of this action...
    int count;                        // ...this many times
    std::chrono::milliseconds delay;  // then this long
  };
  const std::vector<KillPoint> points = {
      {"DescribeVolumes", 1, 0ms}, {"CreateVolume", 1, 0ms},   {"CreateVolume", 2, 0ms},
      {"DescribeVolumes", 2, 0ms}, {"AttachVolume", 1, 0ms},   {"AttachVolume", 2, 0ms},
      {"AttachVolume", 2, 150ms},  {"AttachVolume", 2, 400ms}, {"AttachVolume", 2, 900ms},
  };
  int killed = 0;
  for (const auto& p : points) {
    SCOPED_TRACE("kill after " + std::to_string(p.count) + " x " + p.after + " + " +
                 std::to_string(p.delay.count()) + " ms");
    const auto from = sandbox_->calls().size();
    auto command = groups_;
    command.insert(command.begin(), "mount");
    auto child = start(args(command));
    bool exited = false;
    for (;;) {
      if (!child.running()) {
        exited = true;
        break;
      }
      if (calls_of(sandbox_->calls(), p.after, from) >= p.count) break;
      std::this_thread::sleep_for(5ms);
    }
    if (!exited) {
      std::this_thread::sleep_for(p.delay);
      // The whole process group, as systemd does with the unit's cgroup (mkfs included).
      child.kill_group(SIGKILL);
      (void)child.wait();
      ++killed;
    }
    testsupport::udev_settle();
    auto again = mount();
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
    expect_all_mounted();
    expect_one_volume_per_mount_point();
    auto cleaned = unmount_delete();
    ASSERT_EQ(cleaned.exit_code, 0) << cleaned.out << cleaned.err;
    EXPECT_TRUE(live_volumes().empty());
  }
  std::cerr << "[ info ] killed " << killed << " of " << points.size() << " runs mid-way\n";
  EXPECT_GT(killed, 0);
}

TEST_F(MountE2e, SigkillDuringUnmountDeleteThenRerunLeavesNoVolume) {
  write_config(1, 2);
  auto mounted = mount();
  ASSERT_EQ(mounted.exit_code, 0) << mounted.out << mounted.err;
  // DeleteVolume is slow: the kill lands between DetachVolume and DeleteVolume.
  sandbox_->configure({{"latency_ms", {{"DeleteVolume", 3000}}}});
  const auto from = sandbox_->calls().size();
  auto command = groups_;
  command.insert(command.begin(), {"unmount", "--delete-volumes", "--yes"});
  auto child = start(args(command));
  bool exited = false;
  while (calls_of(sandbox_->calls(), "DetachVolume", from) < 2) {
    if (!child.running()) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_FALSE(exited) << child.err_so_far();
  std::this_thread::sleep_for(300ms);
  child.kill_group(SIGKILL);
  (void)child.wait();
  sandbox_->configure({{"latency_ms", {{"DeleteVolume", 0}}}});
  testsupport::udev_settle();
  EXPECT_EQ(live_volumes().size(), mount_points_.size());  // detached, not deleted yet
  auto again = unmount_delete();
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_TRUE(live_volumes().empty());
}

// Issue 11: tags are no proof of ownership. A run whose DeleteVolumes failed after its
// DetachVolumes (as one that died between the two would) is finished by the next run, on the
// strength of the detach records it wrote before detaching; a volume that carries every tag of
// ours but was never detached by this instance's unmount is left alone and reported.
TEST_F(MountE2e, AnUnmountStoppedBeforeDeleteVolumeIsFinishedAndATaggedVolumeItNeverDetachedIsLeft) {
  write_config(1, 2);
  auto mounted = mount();
  ASSERT_EQ(mounted.exit_code, 0) << mounted.out << mounted.err;
  // IAM denies DeleteVolume for this one run: not retried, the volumes stay detached.
  sandbox_->configure({{"fault_actions", {"DeleteVolume"}},
                       {"fail_next", {{"count", 2}, {"status", 403}, {"code", "UnauthorizedOperation"}}}});
  const auto from = sandbox_->calls().size();
  auto stopped = unmount_delete();
  EXPECT_EQ(stopped.exit_code, 1) << stopped.out << stopped.err;
  sandbox_->configure({{"fault_actions", nullptr}});
  EXPECT_EQ(calls_of(sandbox_->calls(), "DetachVolume", from), 2);
  EXPECT_EQ(calls_of(sandbox_->calls(), "DeleteVolume", from), 0);
  EXPECT_EQ(live_volumes().size(), mount_points_.size());  // detached, not deleted

  // Someone allowed CreateVolume and CreateTags makes a volume tagged exactly like ours.
  auto& ec2 = runtime().services().ec2;
  const auto& mp = mount_points_[0];
  ec2::CreateVolumeOptions forge{.availability_zone = sandbox_->availability_zone(), .size_gib = 1};
  forge.tag_specifications = {ec2::TagSpecification{
      .resource_type = "volume",
      .tags = {{"role", "e2e-mount"},
               {"cluster", "c1"},
               {std::string(k_tag_group), "g1"},
               {std::string(k_tag_mount_point), mp},
               {std::string(k_tag_device), placement_[mp].second},
               {std::string(k_tag_instance_id), sandbox_->instance_id()}}}};
  auto forged = ec2.create_volume(forge);
  ASSERT_TRUE(forged) << forged.error().describe();
  ec2::Waiter waiter(ec2::WaiterOptions{.initial_delay = 100ms, .max_delay = 1s, .timeout = 60s});
  ASSERT_TRUE(waiter.volumes(ec2, {forged->id}, ec2::VolumeState::Available));

  const auto before_rerun = sandbox_->calls().size();
  auto again = ebsnap({"--json", "unmount", "--delete-volumes", "--yes", "g1"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(calls_of(sandbox_->calls(), "DeleteVolume", before_rerun), 2);
  const auto doc = Json::parse(again.out);
  std::vector<std::string> left_alone;
  for (const auto& v : doc["groups"][0]["volumes"]) {
    for (const auto& id : v.value("left_alone", Json::array())) left_alone.push_back(id.get<std::string>());
  }
  EXPECT_EQ(left_alone, std::vector<std::string>{forged->id.value}) << again.out;
  EXPECT_NE(again.out.find("left alone; delete it yourself if it is yours"), std::string::npos) << again.out;
  const auto live = live_volumes();
  ASSERT_EQ(live.size(), 1U);
  EXPECT_EQ(live.begin()->second, std::vector<std::string>{forged->id.value});
  for (const auto& e : std::filesystem::directory_iterator(dir_->path() / "run")) {
    EXPECT_FALSE(e.path().filename().string().starts_with("detach-")) << e.path() << ": the records go with their volumes";
  }
  ASSERT_TRUE(ec2.delete_volume({.volume_id = forged->id}));
}

TEST_F(MountE2e, ThrottlingAndServerErrorBurstsDuringMount) {
  write_config(2, 2);
  sandbox_->configure(
      {{"throttle_fraction", 0.3}, {"fail_next", {{"count", 3}, {"status", 503}, {"code", "Unavailable"}}}});
  auto r = mount();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_all_mounted();
  auto calls = sandbox_->calls();
  int throttled = 0;
  for (const auto& c : calls) throttled += c["error"] == "RequestLimitExceeded" ? 1 : 0;
  std::cerr << "[ info ] " << throttled << " of " << calls.size() << " calls throttled\n";
  sandbox_->configure({{"throttle_fraction", 0.0}});
  expect_one_volume_per_mount_point();
  ASSERT_EQ(unmount_delete().exit_code, 0);
}

// How many mounts stand on `target` in our mount namespace (a stacked mount counts twice).
int mounts_on(const std::string& target) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devnum, root, mount_point;
    fields >> id >> parent >> devnum >> root >> mount_point;
    if (mount_point == target) ++n;
  }
  return n;
}

// Issue 11: two runs of one group at once (the boot unit and a manual run) used to create two
// volumes per mount point and stack two mounts. The second now waits for the first's lock and
// finds everything mounted.
TEST_F(MountE2e, TwoConcurrentMountsOfOneGroupGiveOneVolumeAndOneMountPerMountPoint) {
  write_config(1, 2);
  sandbox_->configure({{"latency_ms", {{"CreateVolume", 500}}}});
  auto a = start(args({"--json", "mount", "g1"}));
  auto b = start(args({"--json", "mount", "g1"}));
  const auto ra = a.wait();
  const auto rb = b.wait();
  ASSERT_EQ(ra.exit_code, 0) << ra.out << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.out << rb.err;
  expect_one_volume_per_mount_point();
  expect_all_mounted();
  for (const auto& mp : mount_points_) EXPECT_EQ(mounts_on(mp), 1) << mp;
  // One of them did the work; the other, once it had the lock, found it done.
  int already = 0;
  for (const auto* out : {&ra.out, &rb.out}) {
    const auto doc = Json::parse(*out);
    bool all_already = true;
    for (const auto& v : doc["groups"][0]["volumes"]) all_already = all_already && v["outcome"] == "already-mounted";
    already += all_already ? 1 : 0;
  }
  EXPECT_EQ(already, 1) << ra.out << rb.out;
  ASSERT_EQ(unmount_delete().exit_code, 0);
}

TEST_F(MountE2e, ARunThatCannotWaitForTheGroupNamesTheHolderAndChangesNothing) {
  write_config(1, 1);
  auto doc = Json::parse(slurp(config_path_));
  doc["timeouts"] = {{"lock_s", 0}};
  std::ofstream(config_path_) << doc.dump(2);
  sandbox_->configure({{"latency_ms", {{"CreateVolume", 3000}}}});
  auto holder = start(args({"mount", "g1"}));
  // The holder has its lock once it wrote who it is.
  const auto lock_file = dir_->path() / "run" / "lock-g1";
  for (int i = 0; i < 500 && slurp(lock_file).empty(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_FALSE(slurp(lock_file).empty()) << "the first run never took its lock";
  const auto loser = ebsnap({"mount", "g1"});
  EXPECT_EQ(loser.exit_code, 1) << loser.out << loser.err;
  EXPECT_NE((loser.out + loser.err)
                .find("group g1 is in use by pid " + std::to_string(holder.pid()) + " (ebsnap mount) since "),
            std::string::npos)
      << loser.out << loser.err;
  const auto won = holder.wait();
  ASSERT_EQ(won.exit_code, 0) << won.out << won.err;
  // Only the holder created a volume: the loser changed nothing.
  EXPECT_EQ(calls_of(sandbox_->calls(), "CreateVolume"), 1);
  expect_one_volume_per_mount_point();
  ASSERT_EQ(unmount_delete().exit_code, 0);
}

// Issue 11: whoever owns the parent of a mount point could swap it for a symlink to /etc while
// the volume is unmounted, and the next mount would put their volume over /etc. The mount now
// goes onto the directory it checked, reached without symlinks.
TEST_F(MountE2e, ASymlinkedMountPointIsRefusedAndItsTargetIsUntouched) {
  write_config(1, 1);
  const auto victim = dir_->path() / "victim";  // stands in for /etc
  std::filesystem::create_directories(victim);
  const auto& mp = mount_points_[0];
  std::filesystem::create_directories(std::filesystem::path(mp).parent_path());
  std::filesystem::create_directory_symlink(victim, mp);
  const auto r = mount();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find(mp + " is a symlink"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(mounts_on(victim.string()), 0) << "nothing was mounted over the symlink's target";
  ASSERT_EQ(unmount_delete().exit_code, 0);
  EXPECT_TRUE(live_volumes().empty());
}

// Issue 11: unmount looked only at its own mount namespace. A volume still mounted in another
// (a container's, say) is not detached from under that filesystem.
TEST_F(MountE2e, AVolumeStillMountedInAnotherMountNamespaceIsNotDetached) {
  write_config(1, 1);
  ASSERT_EQ(mount().exit_code, 0);
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t holder = ::fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    // A mount namespace of its own, with a private copy of our mounts, the volume's included.
    const bool ok = ::unshare(CLONE_NEWNS) == 0 && ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
    const char c = ok ? 'y' : 'n';
    (void)::write(ready[1], &c, 1);
    ::pause();
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  ASSERT_EQ(c, 'y');
  const auto r = ebsnap({"unmount", "g1"});
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("is in use"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(calls_of(sandbox_->calls(), "DetachVolume"), 0) << "never detached from under the other namespace";
  // Once the other namespace is gone, the volume can go (its mounts are released as it exits).
  Ran again;
  for (int i = 0; i < 20; ++i) {
    again = unmount_delete();
    if (again.exit_code == 0) break;
    std::this_thread::sleep_for(250ms);
  }
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_TRUE(live_volumes().empty());
}

// Issue 11 item 6: with Xen naming (no serial, a /dev/xvdX link) a device was taken on its name
// alone. A volume is now taken as the disk that appeared after the watch with its size; one found
// attached and unmounted (as after a reboot) cannot be proven and fails at once, saying so.
TEST_F(MountE2e, XenNamingMountsTheDiskThatAppearedAndRefusesOneFoundAttached) {
  sandbox_->configure({{"device_naming", "xen"}});
  write_config(1, 2);
  auto first = mount();
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  expect_all_mounted();
  expect_one_volume_per_mount_point();
  // Unmounted by hand, left attached: their disks are there before the next run looks.
  for (const auto& mp : mount_points_) ASSERT_EQ(::umount2(mp.c_str(), 0), 0) << mp;
  const auto from = sandbox_->calls().size();
  auto again = mount();
  EXPECT_EQ(again.exit_code, 1) << again.out << again.err;
  const auto all = again.out + again.err;
  // The loop device the sandbox links as /dev/xvdf plays the Xen disk.
  EXPECT_NE(all.find("before this run, so its device cannot be proven: /dev/loop"), std::string::npos) << all;
  EXPECT_NE(all.find(" (/dev/xvdf) has no serial and was there before AttachVolume"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find(" (/dev/xvdg) has no serial and was there before AttachVolume"), std::string::npos) << all;
  platform::LibmountMounter m;
  for (const auto& mp : mount_points_) EXPECT_FALSE(m.find_by_target(mp).value_or(std::nullopt)) << mp;
  const auto calls = sandbox_->calls();
  for (const auto* action : {"CreateVolume", "AttachVolume", "DetachVolume"}) {
    EXPECT_EQ(calls_of(calls, action, from), 0) << action;
  }
  expect_one_volume_per_mount_point();
}

// Issue 13: a restored volume with "prewarm": true is read in full by `ebsnap prewarm`; killed
// (SIGKILL) halfway, the next run starts from the offset the state file kept, not from 0; a
// SIGTERM stops it cleanly with its offset saved; the last run reads exactly the rest.
TEST_F(MountE2e, PrewarmReadsARestoredVolumeInFullAndAKilledRunIsContinuedNotRestarted) {
  write_config(1, 1);
  {
    auto doc = Json::parse(slurp(config_path_));
    auto& v = doc["groups"]["g1"]["volumes"][0];
    v["prewarm"] = true;
    v["prewarm_mibps"] = 128;  // 1 GiB in ~8 s: slow enough to stop twice on the way
    std::ofstream(config_path_) << doc.dump(2);
  }
  const auto& mp = mount_points_[0];
  ASSERT_EQ(mount().exit_code, 0);
  std::ofstream(std::filesystem::path(mp) / "data.bin", std::ios::binary) << random_bytes(1 << 20, 7);
  ::sync();
  auto snap = ebsnap({"snapshot", "g1"});
  ASSERT_EQ(snap.exit_code, 0) << snap.out << snap.err;
  wait_snapshots_completed();
  ASSERT_EQ(unmount_delete().exit_code, 0);
  auto restored = mount();
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  ASSERT_NE(restored.out.find("restored"), std::string::npos) << restored.out;

  const PrewarmStates states(dir_->path() / "run");
  const auto saved = [&]() -> std::optional<PrewarmState> {
    auto s = states.load("g1", mp);
    return s ? *s : std::nullopt;
  };
  // Starts a prewarm and stops it with `signal` once the state file holds an offset past `past`.
  const auto stop_when_saved_past = [&](std::uint64_t past, int signal) {
    auto child = start(args({"--json", "prewarm", "g1"}));
    for (;;) {
      const auto s = saved();
      if (s && s->offset > past && !s->done) break;
      if (!child.running()) {
        ADD_FAILURE() << "prewarm ended before it was stopped: " << child.err_so_far();
        return Ran{};
      }
      std::this_thread::sleep_for(20ms);
    }
    ::kill(child.pid(), signal);
    return child.wait();
  };

  auto killed = stop_when_saved_past(0, SIGKILL);
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL);
  const auto first = saved();
  ASSERT_TRUE(first);
  ASSERT_GT(first->offset, 0U);
  EXPECT_FALSE(first->done);
  const std::uint64_t size = 1ULL << 30;  // size_gib 1: the device BLKGETSIZE64 gave the reader
  EXPECT_EQ(first->size_bytes, size);

  auto terminated = stop_when_saved_past(first->offset, SIGTERM);
  ASSERT_EQ(terminated.exit_code, 0) << "a SIGTERM is a clean stop: " << terminated.out << terminated.err;
  const auto t = Json::parse(terminated.out)["groups"][0]["volumes"][0];
  EXPECT_EQ(t["outcome"], "interrupted") << t.dump();
  EXPECT_EQ(t["prewarm_from_bytes"], first->offset) << "the SIGKILLed run's offset, not 0";
  const auto second = saved();
  ASSERT_TRUE(second);
  EXPECT_EQ(t["prewarm_offset_bytes"], second->offset) << "the offset reached is what was saved";
  EXPECT_GT(second->offset, first->offset);

  auto rest = ebsnap({"--json", "prewarm", "g1"});
  ASSERT_EQ(rest.exit_code, 0) << rest.out << rest.err;
  const auto r = Json::parse(rest.out)["groups"][0]["volumes"][0];
  EXPECT_EQ(r["outcome"], "prewarmed") << r.dump();
  EXPECT_EQ(r["prewarm_from_bytes"], second->offset);
  EXPECT_EQ(r["prewarm_from_bytes"].get<std::uint64_t>() + r["prewarm_bytes_read"].get<std::uint64_t>(), size)
      << "exactly the rest was read";
  EXPECT_EQ(r["prewarm_state"], "done");
  const auto done = saved();
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->done);
  EXPECT_EQ(done->offset, size);
  EXPECT_EQ(done->volume_id, r["volume_id"]);
  std::cerr << "[ info ] SIGKILL at offset " << first->offset << ", SIGTERM at " << second->offset << ", then "
            << r["prewarm_bytes_read"] << " bytes read to the end at " << r["prewarm_mibps"] << " MiB/s\n";

  auto listed = ebsnap({"--json", "list", "g1"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto l = Json::parse(listed.out)["groups"][0]["volumes"][0];
  EXPECT_EQ(l["prewarm_state"], "done");
  EXPECT_EQ(l["prewarm_percent"], 100);
  auto again = ebsnap({"--json", "prewarm", "g1"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Json::parse(again.out)["groups"][0]["volumes"][0]["prewarm_bytes_read"], 0);
  auto waited = ebsnap({"--json", "prewarm", "--wait", "g1"});
  ASSERT_EQ(waited.exit_code, 0) << waited.err;
  EXPECT_EQ(slurp(std::filesystem::path(mp) / "data.bin"), random_bytes(1 << 20, 7)) << "data untouched";
  ASSERT_EQ(unmount_delete().exit_code, 0);
}

// Issue 17: the mount unit's stop (its ExecStop line, run as systemd would) takes a final snapshot
// after the hourly one, tagged trigger=shutdown, and unmounts; with the volumes deleted, the next
// boot's mount restores the data written just before the "shutdown", byte for byte.
TEST_F(MountE2e, TheMountUnitsStopTakesAFinalSnapshotThatTheNextBootRestores) {
  write_config(1, 2, nullptr, {{"snapshot_on_shutdown", true}, {"unmount_on_shutdown", true}});
  ASSERT_EQ(mount().exit_code, 0);
  write_data(1);
  const auto metrics = dir_->path() / "metrics";
  std::filesystem::create_directories(metrics);
  auto hourly = ebsnap({"--metrics-dir", metrics.string(), "snapshot", groups_.front()});
  ASSERT_EQ(hourly.exit_code, 0) << hourly.out << hourly.err;
  const auto last = write_data(100);  // written after the last hourly snapshot
  // The run is in node_exporter's textfile: one run, no failure, its freeze window.
  const auto prom = slurp(metrics / "ebsnap-snapshot.prom");
  const auto labels = "{command=\"snapshot\",group=\"" + groups_.front() + "\"}";
  EXPECT_TRUE(prom.contains("ebsnap_runs_total" + labels + " 1\n")) << prom;
  EXPECT_TRUE(prom.contains("ebsnap_run_failures_total" + labels + " 0\n")) << prom;
  EXPECT_TRUE(prom.contains("ebsnap_last_freeze_window_seconds" + labels + " 0.")) << prom;
  EXPECT_TRUE(prom.contains("ebsnap_watchdog_thawed_total" + labels + " 0\n")) << prom;

  // ExecStop=/usr/sbin/ebsnap shutdown %i --timeout 2min, for this group and this build.
  const auto unit = slurp(std::filesystem::path(EBSNAP_SOURCE_DIR) / "init/ebsnap-mount@.service");
  const auto at = unit.find("\nExecStop=/usr/sbin/ebsnap ");
  ASSERT_NE(at, std::string::npos) << unit;
  std::istringstream line(unit.substr(at + 27, unit.find('\n', at + 1) - at - 27));
  std::vector<std::string> stop;
  for (std::string w; line >> w;) stop.push_back(w == "%i" ? groups_.front() : w);
  ASSERT_EQ(stop.front(), "shutdown");
  auto stopped = ebsnap(stop);
  ASSERT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
  std::cerr << stopped.out;
  EXPECT_TRUE(stopped.out.contains("trigger: shutdown")) << stopped.out;

  const auto finals = snapshots_tagged(k_tag_trigger, "shutdown");
  ASSERT_EQ(finals.size(), mount_points_.size());
  for (const auto& s : finals) {
    EXPECT_EQ(ec2::find_tag(s.tags, k_tag_consistency), "frozen");
    EXPECT_EQ(ec2::find_tag(s.tags, k_tag_group), groups_.front());
  }
  platform::LibmountMounter m;
  for (const auto& mp : mount_points_) EXPECT_FALSE(m.find_by_target(mp).value_or(std::nullopt)) << mp;
  wait_completed(finals);

  // The instance is gone with its volumes (detached by the stop: deleted here by the test).
  for (const auto& [mp, ids] : live_volumes()) {
    for (const auto& id : ids) {
      ASSERT_TRUE(runtime().services().ec2.delete_volume({.volume_id = ec2::VolumeId{id}})) << id;
    }
  }
  ASSERT_TRUE(live_volumes().empty());
  auto restored = mount();
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  for (const auto& mp : mount_points_) EXPECT_EQ(slurp(std::filesystem::path(mp) / "data.bin"), last.at(mp)) << mp;
  ASSERT_EQ(unmount_delete().exit_code, 0);
}

// Issue 17: ebsnap watch, two groups, the spot notice served after 10 s. The first watch is
// killed (SIGKILL, as an OOM kill would) as soon as it has recorded its run, a second one started:
// exactly one snapshot per volume for the notice, within 15 s of it, and the filesystems thawed.
TEST_F(MountE2e, WatchSnapshotsEachGroupOnceOnASpotNoticeAcrossAKillAndRestart) {
  write_config(2, 2);
  ASSERT_EQ(mount().exit_code, 0);
  write_data(7);
  auto first = start(args({"watch"}));
  std::this_thread::sleep_for(10s);
  const auto noticed = std::chrono::system_clock::now();
  sandbox_->configure({{"imds", {{"spot_instance_action", Json{{"action", "terminate"},
                                                                {"time", ec2::format_iso8601(noticed + 120s)}}.dump()}}}});
  const auto records = dir_->path() / "run" / "watch";
  bool recorded = false;
  for (int i = 0; i < 2000 && !recorded; ++i) {
    std::error_code ec;
    recorded = std::filesystem::exists(records, ec) && !std::filesystem::is_empty(records, ec);
    if (!recorded) std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(recorded) << first.err_so_far();
  ::kill(first.pid(), SIGKILL);  // the agent alone: its guardian thaws what it froze
  (void)first.wait();

  const auto metrics = dir_->path() / "metrics";
  std::filesystem::create_directories(metrics);
  auto second = start(args({"--json", "--metrics-dir", metrics.string(), "watch"}));
  std::vector<ec2::Snapshot> spot;
  for (int i = 0; i < 300 && spot.size() < mount_points_.size(); ++i) {
    std::this_thread::sleep_for(100ms);
    spot = snapshots_tagged(k_tag_trigger, "spot");
  }
  std::this_thread::sleep_for(6s);  // another poll: the notice is still served
  // The instance goes down: the mount units stop while the watch still runs, and it holds nothing
  // open on the filesystems it snapshotted.
  auto down = unmount_delete();
  EXPECT_EQ(down.exit_code, 0) << down.out << down.err;
  ::kill(second.pid(), SIGTERM);
  auto ran = second.wait();
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  std::cerr << first.err_so_far() << ran.err;
  spot = snapshots_tagged(k_tag_trigger, "spot");
  ASSERT_EQ(spot.size(), mount_points_.size()) << ran.out;
  std::set<std::string> per_volume;
  for (const auto& s : spot) {
    per_volume.insert(ec2::find_tag(s.tags, k_tag_mount_point).value_or("?"));
    const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(s.start_time.value_or(ec2::TimePoint{}) - noticed);
    std::cerr << "[ info ] " << s.id.value << " " << ec2::find_tag(s.tags, k_tag_group).value_or("?") << " started "
              << after.count() << " ms after the notice\n";
    EXPECT_LE(after, 15s) << s.id.value;
  }
  EXPECT_EQ(per_volume.size(), mount_points_.size());
  EXPECT_TRUE(ran.out.contains("\"kind\": \"spot\"")) << ran.out;
  // The notice is in node_exporter's textfile: counted once, and the groups' answers.
  const auto prom = slurp(metrics / "ebsnap-watch.prom");
  EXPECT_TRUE(prom.contains("ebsnap_watch_notices_total{kind=\"spot\"} 1\n")) << prom;
  EXPECT_TRUE(prom.contains("ebsnap_watch_imds_up 1\n")) << prom;
  for (const auto& g : groups_) EXPECT_TRUE(prom.contains("{group=\"" + g + "\",outcome=")) << g << "\n" << prom;
}

}  // namespace
}  // namespace agent
