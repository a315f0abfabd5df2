// The fault matrix (issue 16, root): the real ebsnap binary against the sandbox with its
// loop-device data plane, real udevd, ext4 and xfs, for `mount` (4 volumes), `snapshot`,
// `unmount --delete-volumes`, `prune` and `copy`, each under one fault:
//   - 50% of EC2 calls throttled (RequestLimitExceeded);
//   - bursts of 500 InternalError / 503 Unavailable;
//   - connections reset mid-response, after EC2 served the call;
//   - IMDS answering 503 for 20 s from the start of the command (an instance at boot);
//   - IMDS tokens that expire after a second (401) while credentials are fetched all along;
//   - role credentials that expire every few seconds, new ones served only once the old expired.
// ebsnap runs as on an instance: role credentials and the region from IMDS.
//
// A cell ends in success, or in exactly one line on stderr (-q: errors only) and a rerun without
// the fault that succeeds; always before the command's deadline (its systemd unit's bound, capped
// below CTest's timeout). Nothing leaked: exactly the volumes the group should have, mounted where
// it should be, nothing frozen. Nothing lost: the data comes back byte for byte from what the
// command made or kept.
//
// EBSNAP_FAULT_MATRIX=full runs every cell (scripts/fault-matrix); otherwise the CI subset below,
// which has each command and each fault at least once. Timings are printed, never asserted.
#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "agent/core/runtime.h"
#include "agent/core/tags.h"
#include "ec2/waiter.h"
#include "platform/freeze_state.h"
#include "platform/libmount_mounter.h"
#include "tests/support/sandbox.h"
#include "tests/support/temp_dir.h"
#include "tests/support/udev_rule.h"

extern char** environ;

namespace agent {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using Steady = std::chrono::steady_clock;

constexpr std::string_view k_role = "e2e-faults";
constexpr std::string_view k_group = "data";
constexpr int k_volumes = 4;

enum class Command { Mount, Snapshot, Unmount, Prune, Copy };
enum class Fault { Throttling, ServerErrorBursts, ConnectionResets, ImdsDownAtBoot, ImdsTokensExpire, CredentialsExpire };

struct Cell {
  Command command;
  Fault fault;
};

std::string name_of(Command c) {
  switch (c) {
    case Command::Mount: return "Mount";
    case Command::Snapshot: return "Snapshot";
    case Command::Unmount: return "Unmount";
    case Command::Prune: return "Prune";
    case Command::Copy: return "Copy";
  }
  return "?";
}

std::string name_of(Fault f) {
  switch (f) {
    case Fault::Throttling: return "HalfThrottled";
    case Fault::ServerErrorBursts: return "ServerErrorBursts";
    case Fault::ConnectionResets: return "ConnectionResets";
    case Fault::ImdsDownAtBoot: return "ImdsDown20sAtBoot";
    case Fault::ImdsTokensExpire: return "ImdsTokensExpire";
    case Fault::CredentialsExpire: return "CredentialsExpire";
  }
  return "?";
}

// The bound a command runs under in production (its systemd unit), capped at 8 minutes so that
// a hang is reported by this test and not by CTest's 10-minute timeout.
std::chrono::seconds deadline_of(Command c) {
  constexpr std::chrono::seconds cap = 8min;
  switch (c) {
    case Command::Mount: return std::min<std::chrono::seconds>(20min, cap);     // ebsnap-mount@ TimeoutStartSec
    case Command::Snapshot: return std::min<std::chrono::seconds>(15min, cap);  // ebsnap-snapshot@
    case Command::Unmount: return 3min;                                         // ebsnap-mount@ TimeoutStopSec
    case Command::Prune: return std::min<std::chrono::seconds>(15min, cap);     // runs in ebsnap-snapshot@
    case Command::Copy: return cap;                                             // ebsnap-copy@: 50 h
  }
  return cap;
}

void PrintTo(const Cell& cell, std::ostream* os) { *os << name_of(cell.command) << " under " << name_of(cell.fault); }

std::vector<Cell> all_cells() {
  std::vector<Cell> out;
  for (auto c : {Command::Mount, Command::Snapshot, Command::Unmount, Command::Prune, Command::Copy}) {
    for (auto f : {Fault::Throttling, Fault::ServerErrorBursts, Fault::ConnectionResets, Fault::ImdsDownAtBoot,
                   Fault::ImdsTokensExpire, Fault::CredentialsExpire}) {
      out.push_back({c, f});
    }
  }
  return out;
}

// The CI subset: every command and every fault at least once, the 20-s IMDS outage once (it
// costs its 20 s in any cell), the cut answers of the calls a resend cannot simply repeat
// (AttachVolume, CreateSnapshots, DeleteVolume, CopySnapshot), and the cells that found bugs.
std::vector<Cell> ci_cells() {
  return {{Command::Mount, Fault::Throttling},          {Command::Mount, Fault::ConnectionResets},
          {Command::Snapshot, Fault::ConnectionResets}, {Command::Snapshot, Fault::CredentialsExpire},
          {Command::Unmount, Fault::ServerErrorBursts}, {Command::Unmount, Fault::ConnectionResets},
          {Command::Prune, Fault::ImdsTokensExpire},    {Command::Copy, Fault::ConnectionResets},
          {Command::Copy, Fault::CredentialsExpire},    {Command::Mount, Fault::ImdsDownAtBoot}};
}

std::vector<Cell> selected_cells() {
  const char* v = std::getenv("EBSNAP_FAULT_MATRIX");
  return v != nullptr && std::string_view(v) == "full" ? all_cells() : ci_cells();
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
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

std::vector<std::string> nonempty_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

struct Ran {
  int exit_code = -1;
  bool past_deadline = false;
  std::string out;
  std::string err;
  double seconds = 0;
};

// While alive: bursts of 500 InternalError or 503 Unavailable (alternately), every call failing
// for 1.5 s, then 3 s of quiet; the first burst at once.
class BurstInjector {
 public:
  explicit BurstInjector(const testsupport::Sandbox& sandbox)
      : thread_([this, &sandbox] {
          std::unique_lock lock(mutex_);
          for (int i = 0; !stop_; ++i) {
            const bool internal = i % 2 == 0;
            sandbox.configure({{"fail_next",
                                {{"count", 100000},
                                 {"status", internal ? 500 : 503},
                                 {"code", internal ? "InternalError" : "Unavailable"}}}});
            wake_.wait_for(lock, 1500ms, [this] { return stop_; });
            sandbox.configure({{"fail_next", {{"count", 0}}}});
            wake_.wait_for(lock, 3s, [this] { return stop_; });
          }
        }) {}
  ~BurstInjector() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  BurstInjector(const BurstInjector&) = delete;
  BurstInjector& operator=(const BurstInjector&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// What the sandbox saw while a command ran: EC2's error codes, cut answers, the access keys that
// signed, and IMDS's answers by status.
struct Seen {
  std::map<std::string, int> errors;
  int resets = 0;
  std::set<std::string> access_keys;
  std::map<std::string, int> imds;
  std::size_t calls = 0;

  [[nodiscard]] Json json() const {
    return {{"calls", calls}, {"errors", errors}, {"resets", resets}, {"access_keys", access_keys.size()}, {"imds", imds}};
  }
};

class FaultMatrix : public ::testing::TestWithParam<Cell> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(::geteuid(), 0U) << "e2e tests need root (loop devices, udev, mount, freeze)";
    testsupport::ensure_udevd();
    // The thaw guardian of a snapshot, should one outlive its agent, is re-parented to us.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  void SetUp() override {
    dir_ = std::make_unique<testsupport::TempDir>("ebsnap-fault-matrix");
    // EC2's steps take some time, as they do, so that a fault meets a run in the middle.
    sandbox_ = std::make_unique<testsupport::Sandbox>(testsupport::SandboxOptions{
        .config = {{"seed", 16},
                   {"timing",
                    {{"volume_create_s", 0.5},
                     {"attach_s", 0.5},
                     {"detach_s", 0.5},
                     {"snapshot_complete_s", 2},
                     {"copy_complete_s", 2}}}}});
    sandbox_->export_environment();  // the test's own EC2 client: the static keys
    run_dir_ = dir_->path() / "run";
    ::setenv("EBSNAP_RUN_DIR", run_dir_.c_str(), 1);
    write_config();
    auto home = Runtime::create(Config{}, {.region = sandbox_->region()});
    ASSERT_TRUE(home) << home.error().describe();
    home_ = std::move(*home);
    auto dr = Runtime::create(Config{}, {.region = sandbox_->dr_region()});
    ASSERT_TRUE(dr) << dr.error().describe();
    dr_ = std::move(*dr);
  }

  void TearDown() override {
    // Whatever happened: nothing stays frozen or mounted, then the sandbox detaches its loops.
    for (const auto& mp : mount_points_) {
      std::error_code ec;
      if (std::filesystem::exists(mp, ec)) (void)platform::thaw(mp);
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

  // One group of 4 volumes (ext4 and xfs alternating), keep_last 1 for prune, a copy_to for copy.
  void write_config() {
    Json volumes = Json::array();
    const char* devices = "fghi";
    for (int v = 0; v < k_volumes; ++v) {
      const auto fs = v % 2 == 0 ? "ext4" : "xfs";
      const auto mp = (dir_->path() / "mnt" / (std::to_string(v) + "-" + fs)).string();
      mount_points_.push_back(mp);
      volumes.push_back({{"device", std::string("/dev/sd") + devices[v]},
                         {"mount_point", mp},
                         {"size_gib", 1},
                         {"filesystem", fs}});
    }
    const Json doc = {{"filter_tags", {"role"}},
                      {"groups",
                       {{std::string(k_group),
                         {{"volumes", volumes},
                          {"retention", {{"keep_last", 1}, {"min_age", "0s"}}},
                          {"copy_to", {{{"region", sandbox_->dr_region()}}}}}}}}};
    config_path_ = dir_->path() / "ebsnap.json";
    std::ofstream(config_path_) << doc.dump(2);
    std::filesystem::permissions(config_path_, std::filesystem::perms(0600));
  }

  // The environment of an instance: the sandbox's endpoints, no keys and no region (the role's
  // credentials and the region come from IMDS), no profile files.
  static std::vector<std::string> instance_environment() {
    static const std::set<std::string> dropped = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                                  "AWS_REGION",        "AWS_DEFAULT_REGION",    "AWS_PROFILE",
                                                  "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"};
    std::vector<std::string> out;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string word(*e);
      if (!dropped.contains(word.substr(0, word.find('=')))) out.push_back(word);
    }
    out.emplace_back("AWS_SHARED_CREDENTIALS_FILE=/dev/null");
    out.emplace_back("AWS_CONFIG_FILE=/dev/null");
    return out;
  }

  // ebsnap -q --config --userdata COMMAND..., as on an instance; killed (process group) at
  // `deadline`, which the result then says.
  Ran ebsnap(const std::vector<std::string>& command, std::chrono::seconds deadline = 8min) {
    ++runs_;
    const auto out_path = dir_->path() / ("ebsnap" + std::to_string(runs_) + ".out");
    const auto err_path = dir_->path() / ("ebsnap" + std::to_string(runs_) + ".err");
    std::vector<std::string> words = {std::string(EBSNAP_BINARY_DIR) + "/agent/ebsnap", "-q", "--config",
                                      config_path_.string(), "--userdata", Json{{"role", std::string(k_role)}}.dump()};
    words.insert(words.end(), command.begin(), command.end());
    auto env_words = instance_environment();
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& w : env_words) envp.push_back(w.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = -1;
    const auto started = Steady::now();
    const int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::runtime_error("cannot start " + words[0]);
    Ran r;
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (Steady::now() - started > deadline) {
        r.past_deadline = true;
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    r.seconds = std::chrono::duration<double>(Steady::now() - started).count();
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    return r;
  }

  // A step of the set-up or the checks, without faults: it must succeed.
  void step(const std::vector<std::string>& command) {
    const auto r = ebsnap(command);
    ASSERT_EQ(r.exit_code, 0) << fmt::format("{}", fmt::join(command, " ")) << "\n" << r.out << r.err;
  }
  void mount() { step({"mount", std::string(k_group)}); }
  void unmount_delete() { step({"unmount", std::string(k_group), "--delete-volumes", "--yes"}); }
  void snapshot() { step({"snapshot", std::string(k_group)}); }

  std::vector<std::string> command_words(Command c) const {
    const std::string g(k_group);
    switch (c) {
      case Command::Mount: return {"mount", g};
      case Command::Snapshot: return {"snapshot", g};
      case Command::Unmount: return {"unmount", g, "--delete-volumes", "--yes"};
      case Command::Prune: return {"prune", g};
      case Command::Copy: return {"copy", g};
    }
    return {};
  }

  // New bytes on every mount point, remembered in data_.
  void write_data(unsigned seed) {
    for (const auto& mp : mount_points_) {
      data_[mp] = random_bytes(1024 * 1024 + seed, seed * 31 + static_cast<unsigned>(mp.size()));
      std::ofstream(std::filesystem::path(mp) / "data.bin", std::ios::binary | std::ios::trunc) << data_[mp];
    }
    ::sync();
  }

  void expect_data() {
    for (const auto& mp : mount_points_) {
      EXPECT_TRUE(slurp(std::filesystem::path(mp) / "data.bin") == data_[mp]) << mp << ": not byte for byte";
    }
  }

  void expect_mounted(bool mounted) {
    platform::LibmountMounter m;
    for (const auto& mp : mount_points_) {
      auto info = m.find_by_target(mp);
      ASSERT_TRUE(info) << info.error().describe();
      EXPECT_EQ(info->has_value(), mounted) << mp << (mounted ? " is not mounted" : " is still mounted");
    }
  }

  // Nothing frozen: no freeze state left in the run directory, and every mounted filesystem takes
  // a write + fsync. A write to a frozen filesystem blocks: it runs on its own thread, and if it
  // has not come back after 15 s everything is thawed (which releases it) before failing.
  void expect_nothing_frozen() {
    auto states = platform::read_freeze_states(run_dir_.string());
    if (states) {
      EXPECT_TRUE(states->empty()) << states->size() << " freeze states left";
    }
    platform::LibmountMounter m;
    std::vector<std::string> mounted;
    for (const auto& mp : mount_points_) {
      auto info = m.find_by_target(mp);
      if (info && info->has_value()) mounted.push_back(mp);
    }
    auto probe = std::async(std::launch::async, [mounted] {
      for (const auto& mp : mounted) {
        const auto file = std::filesystem::path(mp) / "probe";
        const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return false;
        const bool ok = ::write(fd, "x", 1) == 1 && ::fsync(fd) == 0;
        ::close(fd);
        ::unlink(file.c_str());
        if (!ok) return false;
      }
      return true;
    });
    if (probe.wait_for(15s) != std::future_status::ready) {
      for (const auto& mp : mounted) (void)platform::thaw(mp);
      ADD_FAILURE() << "a filesystem was left frozen";
    }
    EXPECT_TRUE(probe.get()) << "a filesystem did not take a write";
  }

  // Volumes of the group EC2 still has (not deleted), in `runtime`'s region.
  static std::vector<ec2::Volume> live_volumes(Runtime& runtime) {
    auto vols = runtime.services().ec2.describe_volumes(
        {.filters = {{"tag:" + std::string(k_tag_group), {std::string(k_group)}}}});
    if (!vols) throw std::runtime_error(vols.error().describe());
    std::vector<ec2::Volume> out;
    for (const auto& v : *vols) {
      if (v.state != ec2::VolumeState::Deleting && v.state != ec2::VolumeState::Deleted) out.push_back(v);
    }
    return out;
  }

  // Exactly one volume per mount point, attached to the instance, nothing else.
  void expect_one_attached_volume_per_mount_point(Runtime& runtime, const std::string& instance_id) {
    std::map<std::string, int> per_mount_point;
    for (const auto& v : live_volumes(runtime)) {
      ++per_mount_point[ec2::find_tag(v.tags, k_tag_mount_point).value_or("?")];
      EXPECT_TRUE(std::ranges::any_of(v.attachments, [&](const auto& a) { return a.instance_id.value == instance_id; }))
          << v.id.value << " is not attached to " << instance_id;
    }
    for (const auto& mp : mount_points_) EXPECT_EQ(per_mount_point[mp], 1) << mp;
    EXPECT_EQ(per_mount_point.size(), mount_points_.size());
  }

  std::vector<ec2::Snapshot> snapshots(Runtime& runtime) {
    auto r = runtime.services().ec2.describe_snapshots(
        {.owner_ids = {"self"}, .filters = {{"tag:" + std::string(k_tag_group), {std::string(k_group)}}}});
    if (!r) throw std::runtime_error(r.error().describe());
    return *r;
  }

  static void wait_completed(Runtime& runtime, const std::vector<ec2::Snapshot>& snaps) {
    std::vector<ec2::SnapshotId> ids;
    for (const auto& s : snaps) ids.push_back(s.id);
    if (ids.empty()) return;
    ec2::Waiter waiter(ec2::WaiterOptions{.initial_delay = 200ms, .max_delay = 1s, .timeout = 120s});
    auto done = waiter.snapshots(runtime.services().ec2, ids, ec2::SnapshotState::Completed);
    ASSERT_TRUE(done) << done.error().describe();
  }

  // A completed run of the group made by the sandbox's bulk control, `hours_ago`, tagged as
  // ebsnap tags a run, one snapshot per live volume.
  std::set<std::string> bulk_run(const std::string& run, int hours_ago) {
    std::set<std::string> ids;
    const auto when = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now() - std::chrono::hours(hours_ago));
    for (const auto& v : live_volumes(*home_)) {
      const auto mp = ec2::find_tag(v.tags, k_tag_mount_point).value_or("?");
      const auto device = ec2::find_tag(v.tags, k_tag_device).value_or("?");
      const auto answer = sandbox_->control(
          "/snapshots/bulk", {{"volume_id", v.id.value},
                              {"count", 1},
                              {"start_time", fmt::format("{:%FT%TZ}", when)},
                              {"tags",
                               {{"role", std::string(k_role)},
                                {std::string(k_tag_group), std::string(k_group)},
                                {std::string(k_tag_mount_point), mp},
                                {std::string(k_tag_device), device},
                                {std::string(k_tag_volume_id), v.id.value},
                                {std::string(k_tag_run_id), run},
                                {std::string(k_tag_consistency), "frozen"}}}});
      ids.insert(answer.at("snapshot_ids").at(0).get<std::string>());
    }
    return ids;
  }

  // --- the fault ---

  // Turns the fault on (except the bursts, which run on their own thread while the command runs).
  // Each fault surely meets the command (the first call, or IMDS's first answer), then keeps on.
  void inject(Fault f) {
    switch (f) {
      case Fault::Throttling:
        sandbox_->configure({{"throttle_fraction", 0.5},
                             {"fail_next", {{"count", 1}, {"status", 503}, {"code", "RequestLimitExceeded"}}}});
        break;
      case Fault::ServerErrorBursts: break;
      case Fault::ConnectionResets: sandbox_->configure({{"reset_fraction", 0.3}, {"reset_next", 1}}); break;
      case Fault::ImdsDownAtBoot: sandbox_->configure({{"imds", {{"fail_503_for_s", 20}}}}); break;
      case Fault::ImdsTokensExpire:
        // Credentials renewed all the time keep ebsnap asking IMDS with its token mid-run; EC2's
        // latency makes the run outlast several tokens.
        sandbox_->configure({{"latency_ms", {{"default", 250}}},
                             {"imds", {{"token_lifetime_s", 1}, {"credential_ttl_s", 3}, {"credential_generation", ++generation_}}}});
        break;
      case Fault::CredentialsExpire:
        sandbox_->configure({{"latency_ms", {{"default", 250}}},
                             {"imds",
                              {{"credential_ttl_s", 1},
                               {"credential_refresh_margin_s", 0},
                               {"credential_generation", ++generation_}}}});
        break;
    }
  }

  void clear_faults() {
    sandbox_->configure({{"throttle_fraction", 0},
                         {"reset_fraction", 0},
                         {"reset_next", 0},
                         {"latency_ms", {{"default", 0}}},
                         {"fail_next", {{"count", 0}}},
                         {"imds",
                          {{"fail_503_for_s", 0},
                           {"token_lifetime_s", nullptr},
                           {"credential_ttl_s", 21600},
                           {"credential_refresh_margin_s", nullptr},
                           {"credential_generation", ++generation_}}}});
  }

  [[nodiscard]] std::map<std::string, int> imds_answers() const {
    std::map<std::string, int> out;
    const auto answer = sandbox_->control_get("/imds");  // kept: a range-for over a temporary's member dangles
    for (const auto& [status, n] : answer.at("answers").items()) out[status] = n.get<int>();
    return out;
  }

  [[nodiscard]] Seen seen_since(std::size_t calls_before, const std::map<std::string, int>& imds_before) const {
    Seen seen;
    const auto calls = sandbox_->calls();
    seen.calls = calls.size() - calls_before;
    for (std::size_t i = calls_before; i < calls.size(); ++i) {
      const auto& c = calls[i];
      if (c.value("reset", false)) ++seen.resets;
      if (c.contains("access_key_id")) seen.access_keys.insert(c["access_key_id"].get<std::string>());
      if (!c["error"].is_null()) ++seen.errors[c["error"].get<std::string>()];
    }
    for (const auto& [status, n] : imds_answers()) {
      const auto before = imds_before.contains(status) ? imds_before.at(status) : 0;
      if (n > before) seen.imds[status] = n - before;
    }
    return seen;
  }

  // The fault met the command: else the cell would prove nothing.
  static void expect_met(Fault f, const Seen& seen) {
    const auto count = [](const std::map<std::string, int>& m, const std::string& k) { return m.contains(k) ? m.at(k) : 0; };
    switch (f) {
      case Fault::Throttling: EXPECT_GT(count(seen.errors, "RequestLimitExceeded"), 0); break;
      case Fault::ServerErrorBursts:
        EXPECT_GT(count(seen.errors, "InternalError") + count(seen.errors, "Unavailable"), 0);
        break;
      case Fault::ConnectionResets: EXPECT_GT(seen.resets, 0); break;
      case Fault::ImdsDownAtBoot: EXPECT_GT(count(seen.imds, "503"), 0); break;
      case Fault::ImdsTokensExpire: EXPECT_GT(count(seen.imds, "401"), 0) << "no token expired mid-run"; break;
      case Fault::CredentialsExpire:
        EXPECT_GE(seen.access_keys.size(), 2U) << "the credentials did not expire mid-run";
        break;
    }
  }

  // Runs the command under the fault. Success, or exactly one line on stderr and then the same
  // command without the fault succeeds. Never past the deadline, never a signal.
  void run_under_fault(const Cell& cell) {
    const auto words = command_words(cell.command);
    const auto calls_before = sandbox_->calls().size();
    const auto imds_before = imds_answers();
    inject(cell.fault);
    Ran r;
    {
      std::optional<BurstInjector> bursts;
      if (cell.fault == Fault::ServerErrorBursts) bursts.emplace(*sandbox_);
      r = ebsnap(words, deadline_of(cell.command));
    }
    clear_faults();
    const auto seen = seen_since(calls_before, imds_before);
    std::cerr << fmt::format("[ cell ] {} under {}: exit {} in {:.1f} s, seen {}\n", name_of(cell.command),
                             name_of(cell.fault), r.exit_code, r.seconds, seen.json().dump());
    outcome_ = r;
    expect_met(cell.fault, seen);
    ASSERT_FALSE(r.past_deadline) << "still running at its deadline (" << deadline_of(cell.command).count() << " s)\n"
                                  << r.out << r.err;
    ASSERT_LT(r.exit_code, 128) << "killed by a signal\n" << r.out << r.err;
    if (r.exit_code == 0) return;
    const auto lines = nonempty_lines(r.err);
    EXPECT_EQ(lines.size(), 1U) << "a failure is one line on stderr, got:\n" << r.err;
    std::cerr << fmt::format("[ cell ] the error line: {}\n", lines.empty() ? "" : lines.front());
    // Whatever the failure left, a run without the fault converges from it.
    const auto again = ebsnap(words, deadline_of(cell.command));
    ASSERT_EQ(again.exit_code, 0) << "the rerun without the fault failed\n" << again.out << again.err;
  }

  std::unique_ptr<testsupport::TempDir> dir_;
  std::unique_ptr<testsupport::Sandbox> sandbox_;
  std::unique_ptr<Runtime> home_;
  std::unique_ptr<Runtime> dr_;
  std::filesystem::path run_dir_;
  std::filesystem::path config_path_;
  std::vector<std::string> mount_points_;
  std::map<std::string, std::string> data_;  // mount point → bytes it should hold
  int runs_ = 0;
  int generation_ = 0;
  Ran outcome_;
};

// Each command's cell: the set-up without faults, the command under the fault, the checks.
TEST_P(FaultMatrix, EndsInSuccessOrOneLineWithNothingLeakedOrLost) {
  const Cell cell = GetParam();
  const auto& instance = sandbox_->instance_id();
  switch (cell.command) {
    case Command::Mount: {
      // A restore: first boot, data, a run, the volumes deleted; then the mount under the fault.
      ASSERT_NO_FATAL_FAILURE(mount());
      write_data(1);
      ASSERT_NO_FATAL_FAILURE(snapshot());
      ASSERT_NO_FATAL_FAILURE(unmount_delete());
      ASSERT_NO_FATAL_FAILURE(run_under_fault(cell));
      expect_mounted(true);
      expect_one_attached_volume_per_mount_point(*home_, instance);
      expect_data();
      expect_nothing_frozen();
      break;
    }
    case Command::Snapshot: {
      ASSERT_NO_FATAL_FAILURE(mount());
      write_data(2);
      ASSERT_NO_FATAL_FAILURE(run_under_fault(cell));
      expect_nothing_frozen();
      expect_one_attached_volume_per_mount_point(*home_, instance);
      const auto snaps = snapshots(*home_);
      std::map<std::string, int> per_mount_point;
      for (const auto& s : snaps) ++per_mount_point[ec2::find_tag(s.tags, k_tag_mount_point).value_or("?")];
      for (const auto& mp : mount_points_) {
        // One snapshot per mount point (a cut answer made no second one); at most two when a
        // failed run was followed by the rerun.
        if (outcome_.exit_code == 0) {
          EXPECT_EQ(per_mount_point[mp], 1) << mp;
        } else {
          EXPECT_GE(per_mount_point[mp], 1) << mp;
          EXPECT_LE(per_mount_point[mp], 2) << mp;
        }
      }
      ASSERT_NO_FATAL_FAILURE(wait_completed(*home_, snaps));
      // What the run took comes back byte for byte.
      ASSERT_NO_FATAL_FAILURE(unmount_delete());
      for (const auto& mp : mount_points_) {
        ASSERT_FALSE(std::filesystem::exists(std::filesystem::path(mp) / "data.bin")) << mp << " still holds the data";
      }
      ASSERT_NO_FATAL_FAILURE(mount());
      expect_data();
      break;
    }
    case Command::Unmount: {
      ASSERT_NO_FATAL_FAILURE(mount());
      write_data(3);
      ASSERT_NO_FATAL_FAILURE(snapshot());
      ASSERT_NO_FATAL_FAILURE(wait_completed(*home_, snapshots(*home_)));
      ASSERT_NO_FATAL_FAILURE(run_under_fault(cell));
      expect_mounted(false);
      EXPECT_TRUE(live_volumes(*home_).empty()) << live_volumes(*home_).size() << " volumes left";
      // The run taken before comes back byte for byte.
      ASSERT_NO_FATAL_FAILURE(mount());
      expect_data();
      break;
    }
    case Command::Prune: {
      // Two older runs (bulk, hours ago) and the newest, taken by ebsnap: keep_last 1 keeps it.
      ASSERT_NO_FATAL_FAILURE(mount());
      write_data(4);
      const auto old1 = bulk_run("old-run-1", 3);
      const auto old2 = bulk_run("old-run-2", 2);
      ASSERT_NO_FATAL_FAILURE(snapshot());
      std::set<std::string> newest;
      for (const auto& s : snapshots(*home_)) {
        if (!old1.contains(s.id.value) && !old2.contains(s.id.value)) newest.insert(s.id.value);
      }
      ASSERT_EQ(newest.size(), static_cast<std::size_t>(k_volumes));
      ASSERT_NO_FATAL_FAILURE(wait_completed(*home_, snapshots(*home_)));
      ASSERT_NO_FATAL_FAILURE(run_under_fault(cell));
      std::set<std::string> left;
      for (const auto& s : snapshots(*home_)) {
        left.insert(s.id.value);
        EXPECT_EQ(s.state, ec2::SnapshotState::Completed) << s.id.value;
      }
      EXPECT_EQ(left, newest) << "prune kept exactly the newest run";
      expect_one_attached_volume_per_mount_point(*home_, instance);
      // The kept run comes back byte for byte.
      ASSERT_NO_FATAL_FAILURE(unmount_delete());
      ASSERT_NO_FATAL_FAILURE(mount());
      expect_data();
      break;
    }
    case Command::Copy: {
      ASSERT_NO_FATAL_FAILURE(mount());
      write_data(5);
      ASSERT_NO_FATAL_FAILURE(snapshot());
      const auto sources = snapshots(*home_);
      ASSERT_NO_FATAL_FAILURE(wait_completed(*home_, sources));
      ASSERT_NO_FATAL_FAILURE(run_under_fault(cell));
      // Exactly one copy of each source, completed (copy waits for its copies).
      auto copies = dr_->services().ec2.describe_snapshots(
          {.owner_ids = {"self"}, .filters = {{"tag-key", {std::string(k_tag_source_snapshot)}}}});
      ASSERT_TRUE(copies) << copies.error().describe();
      std::map<std::string, int> per_source;
      for (const auto& c : *copies) {
        ++per_source[ec2::find_tag(c.tags, k_tag_source_snapshot).value_or("?")];
        EXPECT_EQ(c.state, ec2::SnapshotState::Completed) << c.id.value;
      }
      for (const auto& s : sources) EXPECT_EQ(per_source[s.id.value], 1) << "copies of " << s.id.value;
      EXPECT_EQ(per_source.size(), sources.size());
      EXPECT_TRUE(live_volumes(*dr_).empty()) << "copy made a volume";
      // A DR instance restores the copies byte for byte.
      ASSERT_NO_FATAL_FAILURE(unmount_delete());
      sandbox_->configure({{"imds", {{"instance", "dr"}}}});
      ::setenv("EBSNAP_RUN_DIR", (dir_->path() / "run-dr").c_str(), 1);
      ASSERT_NO_FATAL_FAILURE(mount());
      expect_data();
      expect_one_attached_volume_per_mount_point(*dr_, sandbox_->dr_instance_id());
      ASSERT_NO_FATAL_FAILURE(unmount_delete());
      EXPECT_TRUE(live_volumes(*dr_).empty());
      ::setenv("EBSNAP_RUN_DIR", run_dir_.c_str(), 1);
      sandbox_->configure({{"imds", {{"instance", "home"}}}});
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cells, FaultMatrix, ::testing::ValuesIn(selected_cells()),
                         [](const ::testing::TestParamInfo<Cell>& cell) {
                           return name_of(cell.param.command) + "Under" + name_of(cell.param.fault);
                         });

}  // namespace
}  // namespace agent
