// ebsnap freeze GROUP --hold / ebsnap thaw GROUP end to end (root), as Amazon Data Lifecycle
// Manager drives them: the test plays DLM. It runs the scripts of etc/ssm/ebsnap-dlm-scripts.yaml
// (rendered by tests/ssm/ssm_document.py with each command value, as Systems Manager would) with
// the built binary, against the sandbox with its loop-device data plane, real udevd, ext4 and xfs,
// real FIFREEZE and the real guardian; between pre-script and post-script it calls
// CreateSnapshots itself with the sandbox's static (admin) credentials, copying the volumes' tags
// as a DLM policy with CopyTags does.
//
// "Frozen" is proven without a clock: FIFREEZE of a frozen filesystem fails with EBUSY (a
// filesystem found not frozen is thawed again at once), and a write+fsync started by a child
// process during the hold has not finished when the post-script begins and finishes after it.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/commands/freeze.h"
#include "agent/core/runtime.h"
#include "agent/core/tags.h"
#include "platform/freeze_state.h"
#include "tests/support/sandbox.h"
#include "tests/support/shell.h"
#include "tests/support/temp_dir.h"
#include "tests/support/udev_rule.h"

extern char** environ;

namespace agent {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

const std::string k_userdata = R"({"role":"e2e-dlm"})";

struct Ran {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// FIFREEZE says EBUSY: frozen by someone. Not frozen: we froze it just now, so thaw it back.
bool frozen(const std::string& mount_point) {
  const int fd = ::open(mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("open " + mount_point);
  const int r = ::ioctl(fd, FIFREEZE, 0);
  const int e = errno;
  if (r == 0) ::ioctl(fd, FITHAW, 0);
  ::close(fd);
  if (r != 0 && e != EBUSY) throw std::runtime_error("FIFREEZE " + mount_point + ": " + std::strerror(e));
  return r != 0;
}

class FreezeHoldE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(::geteuid(), 0U) << "e2e tests need root (loop devices, udev, mount, freeze)";
    testsupport::ensure_udevd();
    // The guardians of the `freeze --hold` processes are re-parented to us: reap them.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  void SetUp() override {
    dir_ = std::make_unique<testsupport::TempDir>("ebsnap-hold-e2e");
    sandbox_ = std::make_unique<testsupport::Sandbox>();
    sandbox_->export_environment();
    run_dir_ = dir_->path() / "run";
    ::setenv("EBSNAP_RUN_DIR", run_dir_.c_str(), 1);
    mount_points_ = {(dir_->path() / "mnt/ext4").string(), (dir_->path() / "mnt/xfs").string()};
    Json volumes = Json::array();
    volumes.push_back({{"device", "/dev/sdf"}, {"mount_point", mount_points_[0]}, {"size_gib", 1}, {"filesystem", "ext4"}});
    volumes.push_back({{"device", "/dev/sdg"}, {"mount_point", mount_points_[1]}, {"size_gib", 1}, {"filesystem", "xfs"}});
    const Json doc = {{"filter_tags", {"role"}},
                      {"freeze_timeout_s", 30},
                      {"groups", {{"data", {{"volumes", volumes}, {"retention", {{"keep_last", 10}}}}}}}};
    config_path_ = dir_->path() / "ebsnap.json";
    std::ofstream(config_path_) << doc.dump(2);
    std::filesystem::permissions(config_path_, std::filesystem::perms(0600));
    // What the documents run as /usr/sbin/ebsnap ($EBSNAP): the build, on this config.
    wrapper_ = dir_->path() / "ebsnap";
    std::ofstream(wrapper_) << "#!/bin/sh\nexec " << quote(std::string(EBSNAP_BINARY_DIR) + "/agent/ebsnap")
                            << " --config " << quote(config_path_.string()) << " --userdata " << quote(k_userdata)
                            << " \"$@\"\n";
    std::filesystem::permissions(wrapper_, std::filesystem::perms(0755));
    ::setenv("EBSNAP", wrapper_.c_str(), 1);
    auto restored = run({wrapper_.string(), "mount", "data"});
    ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  }

  void TearDown() override {
    // Never leave anything frozen, nor a guardian running.
    if (auto record = read_hold_record(run_dir_, "data"); record && hold_guardian_alive(*record)) {
      ::kill(record->guardian_pid, SIGTERM);
    }
    for (const auto& mp : mount_points_) (void)platform::thaw(mp);
    (void)platform::thaw_all(run_dir_.string());
    for (const auto& mp : mount_points_) ::umount2(mp.c_str(), MNT_DETACH);
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    runtime_.reset();
    sandbox_.reset();
    testsupport::udev_settle();
    ::unsetenv("EBSNAP_RUN_DIR");
    ::unsetenv("EBSNAP");
    dir_.reset();
  }

  // Runs argv (stdout and stderr to files) and waits for it.
  Ran run(const std::vector<std::string>& words, int stdout_fd = -1) {
    static int runs = 0;
    const auto out = dir_->path() / ("run" + std::to_string(++runs) + ".out");
    const auto err = dir_->path() / ("run" + std::to_string(runs) + ".err");
    const pid_t pid = spawn(words, out, err, stdout_fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return Ran{.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
               .out = slurp(out),
               .err = slurp(err)};
  }

  // In a process group of its own (as Systems Manager runs a script), stdout to `out` or to
  // `stdout_fd`.
  pid_t spawn(const std::vector<std::string>& words, const std::filesystem::path& out, const std::filesystem::path& err,
              int stdout_fd = -1) {
    std::vector<std::string> w = words;
    std::vector<char*> argv;
    for (auto& x : w) argv.push_back(x.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (stdout_fd >= 0) {
      posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    } else {
      posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::runtime_error("cannot start " + words[0]);
    return pid;
  }

  // The script of an SSM document for these parameters, as Systems Manager would run it.
  std::filesystem::path render(const std::string& document, const std::vector<std::string>& parameters) {
    static int n = 0;
    const auto script = dir_->path() / ("script" + std::to_string(++n) + ".sh");
    std::string command = quote(EBSNAP_PYTHON) + " " + quote(std::string(EBSNAP_SOURCE_DIR) + "/tests/ssm/ssm_document.py") +
                          " render " + quote(std::string(EBSNAP_SOURCE_DIR) + "/etc/ssm/" + document);
    for (const auto& p : parameters) command += " " + quote(p);
    const auto r = testsupport::shell(command + " > " + quote(script.string()));
    if (r.exit_code != 0) throw std::runtime_error("render " + document + ": " + r.output);
    std::filesystem::permissions(script, std::filesystem::perms(0700));
    return script;
  }

  Ran dlm(const std::string& command, const std::vector<std::string>& more = {}) {
    std::vector<std::string> parameters = {"command=" + command, "group=data",
                                           "executionId=0a1b2c3d-1111-2222-3333-444455556666"};
    parameters.insert(parameters.end(), more.begin(), more.end());
    return run({"/bin/bash", render("ebsnap-dlm-scripts.yaml", parameters).string()});
  }

  bool all_frozen() {
    return std::ranges::all_of(mount_points_, [](const std::string& mp) { return frozen(mp); });
  }
  bool none_frozen() {
    return std::ranges::none_of(mount_points_, [](const std::string& mp) { return frozen(mp); });
  }

  // A child process that writes and fsyncs a file on the first mount point.
  pid_t start_write() {
    const std::string file = mount_points_[0] + "/written-during-hold";
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      const bool ok = fd >= 0 && ::write(fd, "x", 1) == 1 && ::fsync(fd) == 0;
      ::_exit(ok ? 0 : 1);
    }
    return pid;
  }
  static bool finished(pid_t pid, std::chrono::milliseconds within, int& status) {
    const auto until = std::chrono::steady_clock::now() + within;
    do {
      if (::waitpid(pid, &status, WNOHANG) == pid) return true;
      std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < until);
    return false;
  }

  Runtime& runtime() {
    if (!runtime_) {
      auto r = Runtime::create(Config{}, {.region = sandbox_->region()});
      if (!r) throw std::runtime_error(r.error().describe());
      runtime_ = std::move(*r);
    }
    return *runtime_;
  }

  // What DLM does between the scripts: CreateSnapshots of the instance's data volumes, the
  // volumes' tags copied, plus DLM's own tag.
  std::vector<ec2::Snapshot> dlm_create_snapshots() {
    auto& s = runtime().services();
    ec2::CreateSnapshotsOptions o{.instance_id = runtime().instance().instance_id};
    o.instance_specification.exclude_boot_volume = true;
    o.description = "Created for policy: policy-0123456789abcdef0 schedule: Default Schedule";
    o.tag_specifications = {{"snapshot", {{"dlm:managed", "true"}}}};
    o.copy_tags_from_source = "volume";
    auto r = s.ec2.create_snapshots(o);
    if (!r) throw std::runtime_error("CreateSnapshots: " + r.error().describe());
    return *r;
  }

  std::unique_ptr<testsupport::TempDir> dir_;
  std::unique_ptr<testsupport::Sandbox> sandbox_;
  std::unique_ptr<Runtime> runtime_;
  std::filesystem::path run_dir_;
  std::filesystem::path config_path_;
  std::filesystem::path wrapper_;
  std::vector<std::string> mount_points_;
};

TEST_F(FreezeHoldE2e, DlmPreScriptSnapshotPostScriptFreezesExactlyBetweenTheScripts) {
  ASSERT_TRUE(none_frozen());
  const auto pre = dlm("pre-script");
  ASSERT_EQ(pre.exit_code, 0) << pre.out << pre.err;
  EXPECT_NE(pre.out.find("held"), std::string::npos) << pre.out;
  // The script ended (its stdout and stderr closed: the guardian keeps neither), the freeze did not.
  EXPECT_TRUE(all_frozen());
  const pid_t writer = start_write();
  const auto snapshots = dlm_create_snapshots();
  ASSERT_EQ(snapshots.size(), 2U);
  for (const auto& snap : snapshots) {
    EXPECT_EQ(ec2::find_tag(snap.tags, "dlm:managed"), "true");
    EXPECT_EQ(ec2::find_tag(snap.tags, k_tag_group), "data") << "the volume's lineage tags are copied";
  }
  EXPECT_TRUE(all_frozen()) << "frozen until the post-script";
  int status = 0;
  EXPECT_FALSE(finished(writer, 1s, status)) << "a write during the hold completed";

  const auto post = dlm("post-script");
  ASSERT_EQ(post.exit_code, 0) << post.out << post.err;
  EXPECT_NE(post.out.find("thawed"), std::string::npos) << post.out;
  ASSERT_TRUE(finished(writer, 60s, status)) << "the write did not resume after the post-script";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(none_frozen());
  EXPECT_FALSE(std::filesystem::exists(hold_record_path(run_dir_, "data")));

  // --json of a second cycle: the window is reported, the guardian was told to thaw.
  ASSERT_EQ(dlm("pre-script").exit_code, 0);
  const auto json = run({wrapper_.string(), "--json", "thaw", "data"});
  ASSERT_EQ(json.exit_code, 0) << json.out << json.err;
  const auto report = Json::parse(json.out);
  EXPECT_EQ(report["command"], "thaw");
  EXPECT_EQ(report["groups"][0]["guardian_trigger"], "done");
  EXPECT_TRUE(report["groups"][0]["freeze_window_ms"].is_number());
  EXPECT_EQ(report["groups"][0]["volumes"][0]["outcome"], "thawed");
}

// DLM's snapshots carry the volume's lineage tags (CopyTags) and no ebsnap:run-id: they are a
// restore point that history shows and mount restores.
TEST_F(FreezeHoldE2e, DlmSnapshotsAreARestorePointThatMountRestores) {
  ASSERT_EQ(dlm("pre-script").exit_code, 0);
  const auto snapshots = dlm_create_snapshots();
  ASSERT_EQ(dlm("post-script").exit_code, 0);
  const auto history = run({wrapper_.string(), "--json", "history", "data"});
  ASSERT_EQ(history.exit_code, 0) << history.out << history.err;
  const auto points = Json::parse(history.out)["history"][0]["points"];
  ASSERT_EQ(points.size(), 1U) << points.dump(2);
  EXPECT_FALSE(points[0]["tagged"].get<bool>());
  EXPECT_TRUE(points[0]["complete"].get<bool>()) << points.dump(2);
  const auto unmounted = run({wrapper_.string(), "unmount", "data", "--delete-volumes", "--yes"});
  ASSERT_EQ(unmounted.exit_code, 0) << unmounted.out << unmounted.err;
  const auto mounted = run({wrapper_.string(), "--json", "mount", "data"});
  ASSERT_EQ(mounted.exit_code, 0) << mounted.out << mounted.err;
  const auto group = Json::parse(mounted.out)["groups"][0];
  EXPECT_EQ(group["restore_point"]["run_id"], points[0]["run_id"]) << group.dump(2);
  for (const auto& v : group["volumes"]) {
    EXPECT_EQ(v["outcome"], "restored") << v.dump(2);
    EXPECT_TRUE(std::ranges::any_of(snapshots, [&](const ec2::Snapshot& s) { return s.id.value == v["snapshot_id"]; }))
        << v.dump(2);
  }
}

TEST_F(FreezeHoldE2e, SigkillOfTheFreezeHoldProcessLeavesTheHoldAndThawStillWorks) {
  // Its stdout is a pipe filled to the brim: the report blocks, after the hold was taken, and
  // the process is SIGKILLed there (with its process group, as a timed-out script is).
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK), 0);
  const std::string filler(4096, 'x');
  while (::write(pipe_fds[1], filler.data(), filler.size()) > 0) {
  }
  ::fcntl(pipe_fds[1], F_SETFL, 0);  // blocking again, for the writer
  const pid_t pid = spawn({wrapper_.string(), "freeze", "data", "--hold"}, {}, dir_->path() / "hold.err", pipe_fds[1]);
  ::close(pipe_fds[1]);
  const auto record_path = hold_record_path(run_dir_, "data");
  for (int i = 0; i < 3000 && !std::filesystem::exists(record_path); ++i) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(std::filesystem::exists(record_path)) << slurp(dir_->path() / "hold.err");
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "the report should block on the full pipe";
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  ::close(pipe_fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status));

  EXPECT_TRUE(all_frozen()) << "the hold must survive its command";
  const auto post = dlm("post-script");
  EXPECT_EQ(post.exit_code, 0) << post.out << post.err;
  EXPECT_TRUE(none_frozen());
}

TEST_F(FreezeHoldE2e, ALostPostScriptIsThawedAtTheBoundAndTheLatePostScriptSaysSo) {
  const auto pre = dlm("pre-script", {"executionTimeout=2"});
  ASSERT_EQ(pre.exit_code, 0) << pre.out << pre.err;
  const auto result = hold_result_path(run_dir_, "data");
  for (int i = 0; i < 3000 && !std::filesystem::exists(result); ++i) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(std::filesystem::exists(result)) << "the guardian did not thaw at its bound";
  EXPECT_TRUE(none_frozen());
  const auto post = dlm("post-script");
  EXPECT_EQ(post.exit_code, 1) << post.out << post.err;  // DLM: aws:dlm:post-script=FAILED
  EXPECT_NE(post.out.find("bound"), std::string::npos) << post.out;
  EXPECT_FALSE(std::filesystem::exists(hold_record_path(run_dir_, "data")));
}

TEST_F(FreezeHoldE2e, ASecondHoldIsRefusedWithOneLine) {
  ASSERT_EQ(dlm("pre-script").exit_code, 0);
  const auto second = dlm("pre-script");
  EXPECT_EQ(second.exit_code, 2) << second.out << second.err;
  EXPECT_NE(second.err.find("held frozen already"), std::string::npos) << second.err;
  EXPECT_TRUE(all_frozen());
  EXPECT_EQ(dlm("post-script").exit_code, 0);
  EXPECT_TRUE(none_frozen());
}

TEST_F(FreezeHoldE2e, AKilledGuardianIsThawedByThePostScript) {
  ASSERT_EQ(dlm("pre-script").exit_code, 0);
  auto record = read_hold_record(run_dir_, "data");
  ASSERT_TRUE(record) << record.error().describe();
  ASSERT_TRUE(hold_guardian_alive(*record));
  ::kill(record->guardian_pid, SIGKILL);
  ::waitpid(record->guardian_pid, nullptr, 0);  // re-parented to us (the subreaper)
  EXPECT_FALSE(hold_guardian_alive(*record));
  EXPECT_TRUE(all_frozen()) << "the kernel keeps the freeze of a killed guardian";
  const auto post = dlm("post-script");
  EXPECT_EQ(post.exit_code, 1) << post.out << post.err;
  EXPECT_NE(post.out.find("gone without a report"), std::string::npos) << post.out;
  EXPECT_TRUE(none_frozen());
  auto states = platform::read_freeze_states(run_dir_.string());
  ASSERT_TRUE(states);
  EXPECT_TRUE(states->empty()) << "the dead guardian's freeze state file is settled";
}

// Issue 15 (safety): the post-script of a hold whose guardian was killed FITHAWed every filesystem
// of the hold record. After `ebsnap thaw --all` ended what the dead guardian left frozen (and
// settled its freeze state file), a third party froze the xfs filesystem with a plain FIFREEZE:
// the post-script must leave that freeze alone, and say so in one line.
TEST_F(FreezeHoldE2e, AThirdPartysFreezeIsLeftFrozenByThePostScriptOfAKilledGuardian) {
  ASSERT_EQ(dlm("pre-script").exit_code, 0);
  auto record = read_hold_record(run_dir_, "data");
  ASSERT_TRUE(record) << record.error().describe();
  ::kill(record->guardian_pid, SIGKILL);
  ::waitpid(record->guardian_pid, nullptr, 0);  // re-parented to us (the subreaper)
  const auto all = run({wrapper_.string(), "thaw", "--all"});
  ASSERT_EQ(all.exit_code, 0) << all.out << all.err;
  ASSERT_TRUE(none_frozen());
  const std::string& xfs = mount_points_[1];
  const int fd = ::open(xfs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ioctl(fd, FIFREEZE, 0), 0) << std::strerror(errno);
  ::close(fd);

  const auto post = dlm("post-script");
  EXPECT_EQ(post.exit_code, 1) << post.out << post.err;
  EXPECT_TRUE(frozen(xfs)) << "the third party's freeze was thawed:\n" << post.out;
  EXPECT_FALSE(frozen(mount_points_[0]));
  const std::string line = xfs + " is not recorded frozen by an ebsnap that died: not thawed";
  const auto at = post.out.find(line);
  EXPECT_NE(at, std::string::npos) << post.out;
  EXPECT_EQ(post.out.find(line, at + 1), std::string::npos) << "said once:\n" << post.out;
  EXPECT_FALSE(std::filesystem::exists(hold_record_path(run_dir_, "data")));
  EXPECT_TRUE(platform::thaw(xfs)) << "the third party's freeze, ended by the test";
}

TEST_F(FreezeHoldE2e, DryRunFreezesNothingAndPostScriptWithoutHoldFails) {
  const auto dry = dlm("dry-run");
  EXPECT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("planned"), std::string::npos) << dry.out;
  EXPECT_TRUE(none_frozen());
  const auto post = dlm("post-script");
  EXPECT_EQ(post.exit_code, 1) << post.out << post.err;
  EXPECT_NE(post.out.find("not held frozen"), std::string::npos) << post.out << post.err;
}

TEST_F(FreezeHoldE2e, SnapshotDocumentRunsSnapshotAndPrune) {
  const auto dry = run({"/bin/bash", render("ebsnap-snapshot.yaml", {"groups=data", "dryRun=yes"}).string()});
  EXPECT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  const auto taken = run({"/bin/bash", render("ebsnap-snapshot.yaml", {"groups=data", "prune=yes"}).string()});
  EXPECT_EQ(taken.exit_code, 0) << taken.out << taken.err;
  EXPECT_NE(taken.out.find("snapshotted"), std::string::npos) << taken.out;
  const auto unknown = run({"/bin/bash", render("ebsnap-snapshot.yaml", {"groups=nosuch"}).string()});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.out << unknown.err;
  EXPECT_TRUE(none_frozen());
}

}  // namespace
}  // namespace agent
