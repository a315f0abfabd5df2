// The SIGKILL matrix of snapshot, unmount, prune and copy (issue 16; mount's is in
// agent_mount_test.cpp): the real ebsnap binary, killed with its process group (as systemd stops
// a unit's control group) when a given log line has appeared N times on its stderr, then run again.
// The rerun must converge: exactly the snapshots, copies and volumes expected (no duplicate, no
// leak), nothing left frozen, data byte for byte where there is data.
//
// Each kill lands after its line, in the step that follows; the sandbox's latency makes that step
// slow so that the kill lands in it. A point whose run ended before its line was seen is counted,
// not hidden: each test asserts that it killed mid-way at (nearly) every point.
//
// CI size by default; EBSNAP_KILL_MATRIX=full adds the points between (every occurrence of each
// line rather than the first and the last).
#include <fcntl.h>
#include <fmt/chrono.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "agent/config/config.h"
#include "agent/core/runtime.h"
#include "agent/core/snapshot_record.h"
#include "agent/core/tags.h"
#include "ec2/waiter.h"
#include "platform/freeze_ops.h"
#include "tests/support/child_process.h"
#include "tests/support/sandbox.h"
#include "tests/support/temp_dir.h"
#include "tests/support/udev_rule.h"

namespace agent {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using testsupport::LogLine;

constexpr std::string_view k_role = "e2e-kill";

bool full_matrix() {
  const char* v = std::getenv("EBSNAP_KILL_MATRIX");
  return v != nullptr && std::string_view(v) == "full";
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string utc_seconds(ec2::TimePoint t) {
  return fmt::format("{:%FT%TZ}", std::chrono::floor<std::chrono::seconds>(t));
}

std::string describe(const LogLine& at) {
  return fmt::format("killed at line {} of \"{}\"", at.occurrence, at.text);
}

class KillMatrixE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(::geteuid(), 0U) << "e2e tests need root (loop devices, udev, mount, freeze)";
    testsupport::ensure_udevd();
    // The thaw guardian of a killed agent (it left the agent's process group) is re-parented to us.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  void SetUp() override {
    dir_ = std::make_unique<testsupport::TempDir>("ebsnap-kill-e2e");
    sandbox_ = std::make_unique<testsupport::Sandbox>();
    sandbox_->export_environment();
    run_dir_ = dir_->path() / "run";
    ::setenv("EBSNAP_RUN_DIR", run_dir_.c_str(), 1);
    mount_points_ = {(dir_->path() / "mnt/ext4").string(), (dir_->path() / "mnt/xfs").string()};
    auto home = Runtime::create(Config{}, {.region = sandbox_->region()});
    ASSERT_TRUE(home) << home.error().describe();
    home_ = std::move(*home);
  }

  void TearDown() override {
    // Whatever happened: nothing frozen, nothing of ours mounted, then the sandbox detaches its loops.
    for (const auto& mp : mount_points_) {
      platform::KernelFreezeOps kernel;
      (void)kernel.thaw(mp);
      while (::umount2(mp.c_str(), 0) == 0) {
      }
      ::umount2(mp.c_str(), MNT_DETACH);
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    home_.reset();
    dr_.reset();
    sandbox_.reset();
    testsupport::udev_settle();
    ::unsetenv("EBSNAP_RUN_DIR");
    dir_.reset();
  }

  // The group "data": ext4 on /dev/sdf, xfs on /dev/sdg, with `group_keys` (hooks, retention,
  // copy_to) and the top-level keys of `top_keys`.
  void write_config(const Json& group_keys = Json::object(), const Json& top_keys = Json::object()) {
    Json group = {{"volumes",
                   {{{"device", "/dev/sdf"},
                     {"mount_point", mount_points_[0]},
                     {"size_gib", 1},
                     {"filesystem", "ext4"}},
                    {{"device", "/dev/sdg"},
                     {"mount_point", mount_points_[1]},
                     {"size_gib", 1},
                     {"filesystem", "xfs"}}}}};
    group.update(group_keys);
    Json doc = {{"filter_tags", {"role"}}, {"freeze_timeout_s", 10}, {"groups", {{"data", group}}}};
    doc.update(top_keys);
    config_path_ = dir_->path() / "ebsnap.json";
    std::ofstream(config_path_) << doc.dump(2);
    std::filesystem::permissions(config_path_, std::filesystem::perms(0600));
  }

  // ebsnap -vv (trace: every EC2 call's "sending" line) with the config, userdata and `command`.
  testsupport::ChildProcess start(const std::vector<std::string>& command) {
    std::vector<std::string> words = {std::string(EBSNAP_BINARY_DIR) + "/agent/ebsnap",
                                      "-vv",
                                      "--config",
                                      config_path_.string(),
                                      "--userdata",
                                      Json{{"role", std::string(k_role)}}.dump()};
    words.insert(words.end(), command.begin(), command.end());
    ++runs_;
    return testsupport::ChildProcess(words, dir_->path() / fmt::format("ebsnap{}.out", runs_),
                                     dir_->path() / fmt::format("ebsnap{}.err", runs_));
  }

  testsupport::ChildResult ebsnap(const std::vector<std::string>& command) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = start(command).wait();
    print_time(command, t0, "ran");
    return r;
  }

  // Killed at `at`. At "call=ACTION sending" (the line before a request leaves), once the sandbox
  // has received that request too: the kill lands with the call in flight, not before it left.
  testsupport::KillOutcome ebsnap_killed_at(const std::vector<std::string>& command, const LogLine& at) {
    std::function<bool()> in_flight;
    if (const auto action = action_sent(at); !action.empty()) {
      const int before = sandbox_->received(action);
      in_flight = [this, action, want = before + at.occurrence] {
        return sandbox_->received(action) >= want;
      };
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto child = start(command);
    auto outcome = testsupport::kill_at_log_line(child, at, in_flight);
    if (outcome.killed) ++killed_;
    print_time(command, t0, outcome.killed ? "killed" : "not killed");
    return outcome;
  }

  // Printed, never asserted: where a matrix spends its time.
  static void print_time(const std::vector<std::string>& command, std::chrono::steady_clock::time_point t0,
                         std::string_view what) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::string words;
    for (const auto& w : command) words += " " + w;
    std::cerr << "[ time ] ebsnap" << words << ": " << what << " after " << ms.count() << " ms\n";
  }

  // The action of a "call=ACTION sending" line; empty for other lines.
  static std::string action_sent(const LogLine& at) {
    constexpr std::string_view k_call = "call=";
    constexpr std::string_view k_sending = " sending";
    if (!at.text.starts_with(k_call) || !at.text.ends_with(k_sending)) return {};
    return at.text.substr(k_call.size(), at.text.size() - k_call.size() - k_sending.size());
  }

  // After a kill at "call=ACTION sending": until the sandbox answered that call (its client gone),
  // so that the rerun finds what it did rather than racing it. Bounded; the rerun's checks say
  // the rest.
  void wait_landed(const LogLine& at, std::size_t from) {
    const auto action = action_sent(at);
    for (int i = 0; i < 500 && !action.empty() && served(sandbox_->calls(), action, from) < at.occurrence;
         ++i) {
      std::this_thread::sleep_for(20ms);
    }
  }

  // Each point with the rerun at once, then the `landed` ones with the rerun once the killed
  // call was served: the two orders a rerun can meet a call in flight in.
  static std::vector<std::pair<LogLine, bool>> and_once_landed(const std::vector<LogLine>& points,
                                                               const std::vector<LogLine>& landed) {
    std::vector<std::pair<LogLine, bool>> out;
    for (const auto& p : points) out.emplace_back(p, false);
    for (const auto& p : landed) out.emplace_back(p, true);
    return out;
  }

  // Every point of the matrix ran; most were killed mid-way (a kill at the last line may come
  // after the run's end on a fast day).
  void expect_killed_mid_way(std::size_t points) const {
    std::cerr << "[ info ] killed " << killed_ << " of " << points << " runs mid-way\n";
    EXPECT_GE(static_cast<std::size_t>(killed_) + 1, points)
        << "kills that did not land: the matrix tests less than it says";
  }

  // --- what EC2 holds ---

  std::vector<ec2::Snapshot> snapshots_of_group(ec2::Ec2Api& api) {
    auto r = api.describe_snapshots(
        {.owner_ids = {"self"}, .filters = {{"tag:" + std::string(k_tag_group), {"data"}}}});
    if (!r) throw std::runtime_error(r.error().describe());
    return *r;
  }

  // Snapshots of group data by run id, then by volume: more than one for a volume in a run is a duplicate.
  std::map<std::string, std::map<std::string, int>> runs_at_home() {
    std::map<std::string, std::map<std::string, int>> out;
    for (const auto& s : snapshots_of_group(home_->services().ec2)) {
      ++out[ec2::find_tag(s.tags, k_tag_run_id).value_or("?")][s.volume_id.value];
    }
    return out;
  }

  std::vector<ec2::Volume> live_volumes() {
    auto vols =
        home_->services().ec2.describe_volumes({.filters = {{"tag:" + std::string(k_tag_group), {"data"}}}});
    if (!vols) throw std::runtime_error(vols.error().describe());
    std::vector<ec2::Volume> out;
    for (const auto& v : *vols) {
      if (v.state != ec2::VolumeState::Deleting && v.state != ec2::VolumeState::Deleted) out.push_back(v);
    }
    return out;
  }

  // Calls of `action` in `calls` from number `from` on that the sandbox answered (200).
  static int served(const Json& calls, std::string_view action, std::size_t from) {
    int n = 0;
    for (std::size_t i = from; i < calls.size(); ++i) {
      if (calls[i].value("action", "") == action && calls[i].value("status", 0) == 200) ++n;
    }
    return n;
  }

  // --- the filesystems ---

  static bool mounted(const std::string& target) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string id, parent, devno, root, mount_point;
      fields >> id >> parent >> devno >> root >> mount_point;
      if (mount_point == target) return true;
    }
    return false;
  }

  // Every mount point takes a write and an fsync. A write to a frozen filesystem blocks: it runs on
  // its own thread, and one that does not come back within 20 s (the freeze bound is 10 s) means
  // frozen for good; everything is thawed then, which releases it, and the answer is false.
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
    if (probe.wait_for(20s) == std::future_status::ready) return probe.get();
    platform::KernelFreezeOps kernel;
    for (const auto& mp : mount_points_) (void)kernel.thaw(mp);
    (void)probe.get();
    return false;
  }

  // Files the run directory still holds whose name starts with `prefix` (freeze-, detach-).
  [[nodiscard]] std::vector<std::string> run_files(std::string_view prefix) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(run_dir_, ec)) {
      if (e.path().filename().string().starts_with(prefix)) out.push_back(e.path().string());
    }
    return out;
  }

  std::map<std::string, std::string> write_data(unsigned seed) {
    std::map<std::string, std::string> data;
    for (const auto& mp : mount_points_) {
      data[mp] = random_bytes(512 * 1024 + seed, seed * 7 + static_cast<unsigned>(mp.size()));
      std::ofstream(std::filesystem::path(mp) / "data.bin", std::ios::binary | std::ios::trunc) << data[mp];
    }
    ::sync();
    return data;
  }

  void mount_group() {
    auto r = ebsnap({"mount", "data"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    for (const auto& mp : mount_points_) ASSERT_TRUE(mounted(mp)) << mp;
  }

  // --- copy: the DR region ---

  Runtime& dr() {
    if (!dr_) {
      auto r = Runtime::create(Config{}, {.region = sandbox_->dr_region()});
      if (!r) throw std::runtime_error(r.error().describe());
      dr_ = std::move(*r);
    }
    return *dr_;
  }

  // A completed run of group data made by the sandbox's bulk control, tagged as ebsnap tags a run,
  // one snapshot per volume of `volumes` (in the group's order), taken at `time`.
  void bulk_run(const std::string& run, ec2::TimePoint time, const std::vector<std::string>& volumes) {
    const std::vector<std::string> devices = {"/dev/sdf", "/dev/sdg"};
    for (std::size_t i = 0; i < volumes.size(); ++i) {
      (void)sandbox_->control("/snapshots/bulk", {{"volume_id", volumes[i]},
                                                  {"count", 1},
                                                  {"start_time", utc_seconds(time)},
                                                  {"tags",
                                                   {{"role", std::string(k_role)},
                                                    {std::string(k_tag_group), "data"},
                                                    {std::string(k_tag_mount_point), mount_points_[i]},
                                                    {std::string(k_tag_device), devices[i]},
                                                    {std::string(k_tag_volume_id), volumes[i]},
                                                    {std::string(k_tag_run_id), run},
                                                    {std::string(k_tag_consistency), "frozen"}}}});
    }
  }

  // Two volumes of no group (the bulk runs' sources: the sandbox snapshots only what exists).
  std::vector<std::string> bare_volumes() {
    std::vector<std::string> out;
    for (int i = 0; i < 2; ++i) {
      auto v = home_->services().ec2.create_volume(
          {.availability_zone = sandbox_->availability_zone(), .size_gib = 1});
      if (!v) throw std::runtime_error(v.error().describe());
      out.push_back(v->id.value);
    }
    return out;
  }

  std::unique_ptr<testsupport::TempDir> dir_;
  std::unique_ptr<testsupport::Sandbox> sandbox_;
  std::unique_ptr<Runtime> home_;  // a client of the home region, for the test's own looks
  std::unique_ptr<Runtime> dr_;
  std::filesystem::path run_dir_;
  std::filesystem::path config_path_;
  std::vector<std::string> mount_points_;
  int runs_ = 0;
  int killed_ = 0;
};

// snapshot, killed at each of its steps: in the pre-hooks (group, then each volume), after the
// guardian started, after each FIFREEZE (the filesystems frozen, CreateSnapshots about to go),
// with CreateSnapshots in flight, once it was answered (before the thaw), after the thaw (the
// final tags and the run record), in the post-hooks. After each kill: every filesystem takes
// writes (the guardian thawed), no guardian's state file is left, and the next snapshot succeeds
// with one snapshot per volume, tagged frozen; the killed run's snapshots, if its call reached
// EC2, are found by the next run (record removed) and, unless the guardian had reported the freeze
// held, retagged watchdog-thawed; never two snapshots of one volume in one run. At the end the
// newest run restores byte for byte.
TEST_F(KillMatrixE2e, SnapshotKilledAtEachStepThenRunAgainConvergesWithNothingFrozen) {
  const auto hook = [&](const std::string& name) {
    const auto path = dir_->path() / name;
    // Long enough for the kill to land while it runs.
    std::ofstream(path) << "#!/bin/sh\nsleep 0.1\n";
    std::filesystem::permissions(path, std::filesystem::perms(0755));
    return path.string();
  };
  write_config({{"hooks",
                 {{"pre_snapshots", {hook("pre-group")}},
                  {"pre_snapshot", {hook("pre-volume")}},
                  {"post_snapshot", {hook("post-volume")}},
                  {"post_snapshots", {hook("post-group")}}}}});
  mount_group();
  // The call is slow: a kill after the freeze lands while everything is frozen, the call in flight.
  sandbox_->configure({{"latency_ms", {{"CreateSnapshots", 300}, {"CreateTags", 200}}}});
  std::vector<LogLine> points = {
      {"hook phase=pre_snapshots program"},
      {"hook phase=pre_snapshot program", 1},
      {"thaw guardian started"},
      {"freeze mount_point=", 2},
      {"call=CreateSnapshots sending"},
      {"call=CreateSnapshots ok"},
      {"thaw guardian pid="},
      {"snapshot group=data mount_point=", 1},
      {"hook phase=post_snapshot program", 1},
      {"hook phase=post_snapshots program"},
  };
  if (full_matrix()) {
    points.push_back({"hook phase=pre_snapshot program", 2});
    points.push_back({"freeze mount_point=", 1});
    points.push_back({"thaw mount_point=", 1});
    points.push_back({"thaw mount_point=", 2});
    points.push_back({"snapshot group=data mount_point=", 2});
    points.push_back({"hook phase=post_snapshot program", 2});
  }
  for (const auto& at : points) {
    SCOPED_TRACE(describe(at));
    const auto before = runs_at_home();
    const auto from = sandbox_->calls().size();
    const auto killed = ebsnap_killed_at({"snapshot", "data"}, at);
    // The guardian thaws when its agent dies: the filesystems take writes (a write blocks while frozen).
    ASSERT_TRUE(all_writable()) << "a filesystem stayed frozen after the kill\n" << killed.result.err;
    // A CreateSnapshots the killed run sent is served after its latency, its client gone. The next
    // run comes after that (a timer's next run would): what it finds is then settled, not pending.
    const int sent = testsupport::lines_containing(killed.result.err, "call=CreateSnapshots sending");
    for (int i = 0; i < 1000 && served(sandbox_->calls(), "CreateSnapshots", from) < sent; ++i) {
      std::this_thread::sleep_for(20ms);
    }
    const bool window_closed = testsupport::lines_containing(killed.result.err, "thaw guardian pid=") > 0;
    const auto again = ebsnap({"--json", "snapshot", "data"});
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err << "\nthe killed run's log:\n"
                                  << killed.result.err;
    const auto doc = Json::parse(again.out);
    std::set<std::string> rerun_snapshots;
    for (const auto& v : doc["groups"][0]["volumes"]) {
      EXPECT_TRUE(v["snapshot_id"].is_string()) << again.out;
      if (v["snapshot_id"].is_string()) rerun_snapshots.insert(v["snapshot_id"].get<std::string>());
    }
    EXPECT_TRUE(run_files("freeze-").empty())
        << "a guardian did not finish: " << Json(run_files("freeze-")).dump();
    const auto after = runs_at_home();
    // A killed run's record is settled by the next run once its snapshots are found; one whose
    // CreateSnapshots never reached EC2 has nothing to find, and stays until its call could no
    // longer land (freeze bound + 5 min): the only kind of record left.
    for (const auto& record : read_run_records(run_dir_)) {
      EXPECT_FALSE(after.contains(record.run_id))
          << "run " << record.run_id << "'s snapshots were found, its record kept";
    }
    std::size_t new_runs = 0;
    for (const auto& [run, volumes] : after) {
      EXPECT_EQ(volumes.size(), 2U) << "run " << run << " has a snapshot of one volume only";
      for (const auto& [volume, n] : volumes)
        EXPECT_EQ(n, 1) << "run " << run << ": " << n << " snapshots of " << volume;
      if (!before.contains(run)) ++new_runs;
    }
    // The rerun's run, and the killed run's when its CreateSnapshots reached EC2.
    EXPECT_GE(new_runs, 1U);
    EXPECT_LE(new_runs, 2U);
    for (const auto& s : snapshots_of_group(home_->services().ec2)) {
      const auto run = ec2::find_tag(s.tags, k_tag_run_id).value_or("");
      const auto consistency = ec2::find_tag(s.tags, k_tag_consistency).value_or("");
      if (before.contains(run)) continue;
      if (rerun_snapshots.contains(s.id.value)) {
        EXPECT_EQ(consistency, "frozen") << s.id.value;
      } else if (!window_closed) {
        // Killed before the guardian reported: the freeze is not proven to have held until EC2
        // took the point in time (it thawed at the kill), so the tag must not say frozen.
        EXPECT_EQ(consistency, "watchdog-thawed") << s.id.value << " of the killed run " << run;
      } else {
        EXPECT_TRUE(consistency == "frozen" || consistency == "watchdog-thawed")
            << s.id.value << ": " << consistency;
      }
    }
    EXPECT_TRUE(all_writable()) << "the rerun left a filesystem frozen";
  }
  expect_killed_mid_way(points.size());

  // What the last run took is a restore point: unmount, delete, restore the newest, byte for byte.
  const auto data = write_data(5);
  const auto last = ebsnap({"snapshot", "data"});
  ASSERT_EQ(last.exit_code, 0) << last.out << last.err;
  std::vector<ec2::SnapshotId> ids;
  for (const auto& s : snapshots_of_group(home_->services().ec2)) ids.push_back(s.id);
  ec2::Waiter waiter(ec2::WaiterOptions{.initial_delay = 200ms, .max_delay = 1s, .timeout = 120s});
  ASSERT_TRUE(waiter.snapshots(home_->services().ec2, ids, ec2::SnapshotState::Completed));
  const auto cleared = ebsnap({"unmount", "--delete-volumes", "--yes", "data"});
  ASSERT_EQ(cleared.exit_code, 0) << cleared.out << cleared.err;
  mount_group();
  for (const auto& mp : mount_points_) {
    EXPECT_TRUE(slurp(std::filesystem::path(mp) / "data.bin") == data.at(mp))
        << mp << ": not the newest run's bytes";
  }
  const auto done = ebsnap({"unmount", "--delete-volumes", "--yes", "data"});
  ASSERT_EQ(done.exit_code, 0) << done.out << done.err;
  EXPECT_TRUE(live_volumes().empty());
}

// unmount, killed at each of its steps. Keeping the volumes: after an unmount, with a
// DetachVolume in flight, after a detach; the rerun unmounts and detaches the rest, and every
// volume is still there, attached nowhere. Then --delete-volumes: before and after
// each unmount, with a DetachVolume in flight, after each detach (waiting for the device to go),
// with a DeleteVolume in flight, between the deletes; the rerun leaves no volume of the group,
// nothing mounted, no detach record. Before each point the group is mounted (new volumes).
TEST_F(KillMatrixE2e, UnmountKilledAtEachStepThenRunAgainDetachesAllAndLeaksNoDeletedVolume) {
  write_config();
  sandbox_->configure({{"latency_ms", {{"DetachVolume", 300}, {"DeleteVolume", 300}}}});
  std::vector<LogLine> keeping = {
      {"call=DetachVolume sending", 1},
      {"detach=sent", 1},
  };
  if (full_matrix()) keeping.push_back({"unmounted=1", 1});
  for (const auto& at : keeping) {
    SCOPED_TRACE("keeping the volumes, " + describe(at));
    mount_group();
    std::set<std::string> mounted_volumes;
    for (const auto& v : live_volumes()) mounted_volumes.insert(v.id.value);
    const auto killed = ebsnap_killed_at({"unmount", "data"}, at);
    testsupport::udev_settle();
    const auto again = ebsnap({"unmount", "data"});
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err << "\nthe killed run's log:\n"
                                  << killed.result.err;
    for (const auto& mp : mount_points_) EXPECT_FALSE(mounted(mp)) << mp;
    // Kept, and detached: none deleted, none left attached (a plain unmount's volumes are gc's).
    std::set<std::string> kept;
    for (const auto& v : live_volumes()) {
      kept.insert(v.id.value);
      EXPECT_TRUE(v.attachments.empty()) << v.id.value << " is still attached";
      ASSERT_TRUE(home_->services().ec2.delete_volume({.volume_id = v.id})) << v.id.value;
    }
    EXPECT_EQ(kept, mounted_volumes);
  }

  std::vector<LogLine> deleting = {
      {"unmount target=", 1}, {"call=DetachVolume sending", 1},
      {"detach=sent", 2},     {"call=DeleteVolume sending", 1},
      {"deleted=1", 1},
  };
  if (full_matrix()) {
    deleting.push_back({"unmounted=1", 1});
    deleting.push_back({"detach=sent", 1});
    deleting.push_back({"unmount target=", 2});
    deleting.push_back({"unmounted=1", 2});
    deleting.push_back({"call=DetachVolume sending", 2});
    deleting.push_back({"call=DeleteVolume sending", 2});
  }
  const auto deleting_points =
      and_once_landed(deleting, {{"call=DetachVolume sending", 1}, {"call=DeleteVolume sending", 1}});
  for (const auto& [at, landed] : deleting_points) {
    SCOPED_TRACE("deleting the volumes, " + describe(at) + (landed ? ", rerun once the call landed" : ""));
    mount_group();
    const auto from = sandbox_->calls().size();
    const auto killed = ebsnap_killed_at({"unmount", "--delete-volumes", "--yes", "data"}, at);
    if (landed) wait_landed(at, from);
    testsupport::udev_settle();
    const auto again = ebsnap({"unmount", "--delete-volumes", "--yes", "data"});
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err << "\nthe killed run's log:\n"
                                  << killed.result.err;
    EXPECT_TRUE(live_volumes().empty()) << "a volume leaked";
    for (const auto& mp : mount_points_) EXPECT_FALSE(mounted(mp)) << mp;
    EXPECT_TRUE(run_files("detach-").empty()) << Json(run_files("detach-")).dump();
  }
  expect_killed_mid_way(keeping.size() + deleting_points.size());
}

// prune, killed between its deletes (four runs, keep_last 1: six deletes) and with a DeleteSnapshot
// in flight. The rerun deletes the rest and keeps exactly the newest run.
TEST_F(KillMatrixE2e, PruneKilledBetweenDeletesThenRunAgainKeepsExactlyThePolicy) {
  write_config({{"retention", {{"keep_last", 1}}}}, {{"delete_rate_per_s", 5}});
  const auto sources = bare_volumes();
  sandbox_->configure({{"latency_ms", {{"DeleteSnapshot", 150}}}});
  std::vector<LogLine> points = {
      {"prune group=data snapshots="}, {"call=DeleteSnapshot sending", 1}, {"status=deleted", 1},
      {"status=deleted", 3},           {"call=DeleteSnapshot sending", 5}, {"status=deleted", 5},
  };
  if (full_matrix()) {
    for (int n : {2, 4}) points.push_back({"status=deleted", n});
    for (int n : {2, 3, 4, 6}) points.push_back({"call=DeleteSnapshot sending", n});
  }
  const auto t0 = std::chrono::system_clock::now() - 24h;
  int round = 0;
  for (const auto& at : points) {
    SCOPED_TRACE(describe(at));
    ++round;
    std::string newest;
    for (int i = 0; i < 4; ++i) {
      newest = fmt::format("prune-{}-{}", round, i);
      bulk_run(newest, t0 + std::chrono::hours(i) + std::chrono::minutes(round), sources);
    }
    const auto killed = ebsnap_killed_at({"prune", "data"}, at);
    const auto again = ebsnap({"prune", "data"});
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err << "\nthe killed run's log:\n"
                                  << killed.result.err;
    const auto left = runs_at_home();
    ASSERT_EQ(left.size(), 1U) << "kept: " << Json(left).dump();
    EXPECT_EQ(left.begin()->first, newest);
    EXPECT_EQ(left.begin()->second.size(), 2U);
  }
  expect_killed_mid_way(points.size());
}

// copy, killed at each of its steps (two runs of two volumes to copy, one copy at a time): while
// it reads what to copy, with a CopySnapshot in flight, after an answer (the copy pending, waited
// on); the full matrix adds each copy's completion (between copies). The rerun (at once: a call still in
// flight is waited on by its intent) ends with exactly one copy per source snapshot and no intent left.
// agent_copy_test.cpp checks what the killed state looks like from history --region.
TEST_F(KillMatrixE2e, CopyKilledAtEachStepThenRunAgainMakesExactlyOneCopyPerSource) {
  write_config({{"copy_to", {{{"region", sandbox_->dr_region()}}}}}, {{"copies_in_flight", 1}});
  const auto sources = bare_volumes();
  sandbox_->configure({{"latency_ms", {{"CopySnapshot", 400}, {"DescribeSnapshots", 150}}},
                       {"timing", {{"copy_complete_s", 0.5}}}});
  std::vector<LogLine> points = {
      {"call=DescribeSnapshots sending", 1},
      {"call=CopySnapshot sending", 1},
      {"run_id=kill-run", 1},
      {"call=CopySnapshot sending", 2},
      {"run_id=kill-run", 3},
      {"call=CopySnapshot sending", 4},
  };
  if (full_matrix()) {
    // Right after these lines the next copy's intent is written and its call sent: a kill between
    // the two leaves the next copy unable to know whether the call left, and it waits
    // k_copy_settle (60 s) for that copy before it copies again.
    points.push_back({"copy group=data region=" + sandbox_->dr_region() + " runs="});
    for (int n : {1, 2, 3}) points.push_back({"state=completed", n});
    for (int n : {2, 4}) points.push_back({"run_id=kill-run", n});
    points.push_back({"call=CopySnapshot sending", 3});
  }
  const auto t0 = std::chrono::system_clock::now() - 10h;
  int runs = 0;
  // The second call copies the first run's last volume: landed and completed before the rerun,
  // that run is whole there, and the rerun never queues it.
  const auto all_points = and_once_landed(points, {{"call=CopySnapshot sending", 2}});
  for (const auto& [at, landed] : all_points) {
    SCOPED_TRACE(describe(at) + (landed ? ", rerun once the call landed" : ""));
    for (int i = 0; i < 2; ++i) {
      ++runs;
      bulk_run(fmt::format("kill-run-{}", runs), t0 + std::chrono::minutes(10 * runs), sources);
    }
    const auto from = sandbox_->calls().size();
    const auto killed = ebsnap_killed_at({"copy", "data"}, at);
    if (landed) {
      wait_landed(at, from);
      const auto all_completed = [&] {
        return std::ranges::all_of(snapshots_of_group(dr().services().ec2), [](const ec2::Snapshot& s) {
          return s.state == ec2::SnapshotState::Completed;
        });
      };
      for (int i = 0; i < 500 && !all_completed(); ++i) std::this_thread::sleep_for(20ms);
    }
    const auto again = ebsnap({"--json", "copy", "data"});
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err << "\nthe killed run's log:\n"
                                  << killed.result.err;
    std::map<std::string, int> copies;  // source snapshot → its copies in the DR region
    for (const auto& s : snapshots_of_group(dr().services().ec2)) {
      ++copies[ec2::find_tag(s.tags, k_tag_source_snapshot).value_or("?")];
    }
    const auto home = snapshots_of_group(home_->services().ec2);
    EXPECT_EQ(home.size(), 2U * static_cast<std::size_t>(runs));
    for (const auto& s : home) EXPECT_EQ(copies[s.id.value], 1) << "copies of " << s.id.value;
    EXPECT_EQ(copies.size(), home.size()) << "a copy of something that is not a source";
    const auto intents = run_dir_ / "copy" / sandbox_->dr_region();
    EXPECT_TRUE(!std::filesystem::exists(intents) || std::filesystem::is_empty(intents))
        << "an intent was left";
  }
  expect_killed_mid_way(all_points.size());
}

}  // namespace
}  // namespace agent
