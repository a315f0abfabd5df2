// The configuration and usage error catalog, against the built ebsnap binary: each case exits
// 2 with exactly one line on stderr naming what it must, and nothing on stdout.
#include <fcntl.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/temp_dir.h"

extern char** environ;

namespace {

using Json = nlohmann::ordered_json;

struct Ran {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The line `key:` of /proc/PID/status, without the key.
std::string proc_status(pid_t pid, std::string_view key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ':') {
      return line.substr(line.find_first_not_of(" \t", key.size() + 1));
    }
  }
  return {};
}

class EbsnapBinary : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(binary_)) << binary_ << " is missing: build the ebsnap target";
    config_ = (dir_.path() / "ebsnap.json").string();
  }

  // argv and envp for ebsnap with `words`: the test's environment without EBSNAP_CONFIG (it must
  // not leak in), plus extra_env_.
  struct Exec {
    std::vector<std::string> argv_strings;
    std::vector<std::string> env_strings;
    std::vector<char*> argv;
    std::vector<char*> envp;
  };
  std::unique_ptr<Exec> exec_of(const std::vector<std::string>& words) {
    auto e = std::make_unique<Exec>();
    e->argv_strings.push_back(binary_);
    e->argv_strings.insert(e->argv_strings.end(), words.begin(), words.end());
    for (auto& s : e->argv_strings) e->argv.push_back(s.data());
    e->argv.push_back(nullptr);
    for (char** v = environ; *v != nullptr; ++v) {
      if (!std::string_view(*v).starts_with("EBSNAP_CONFIG=")) e->env_strings.emplace_back(*v);
    }
    for (auto& [k, v] : extra_env_) e->env_strings.push_back(k + "=" + v);
    for (auto& s : e->env_strings) e->envp.push_back(s.data());
    e->envp.push_back(nullptr);
    return e;
  }

  Ran run(const std::vector<std::string>& words) {
    const auto out_path = dir_.path() / "stdout";
    const auto err_path = dir_.path() / "stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const auto e = exec_of(words);
    pid_t pid = 0;
    Ran r;
    if (posix_spawn(&pid, binary_.c_str(), &actions, nullptr, e->argv.data(), e->envp.data()) != 0) return r;
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    return r;
  }

  // ebsnap on a terminal (a pty: its stdin, stdout and stderr), as a person runs it; what it
  // wrote there is in `out`, stdout and stderr together.
  Ran run_on_terminal(const std::vector<std::string>& words) {
    int master = -1;
    int slave = -1;
    Ran r;
    if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return r;
    const auto e = exec_of(words);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setsid();
      ::ioctl(slave, TIOCSCTTY, 0);
      for (int fd = 0; fd < 3; ++fd) ::dup2(slave, fd);
      ::close(master);
      ::close(slave);
      ::execve(e->argv[0], e->argv.data(), e->envp.data());
      ::_exit(127);
    }
    ::close(slave);
    char buffer[4096];
    for (ssize_t n; (n = ::read(master, buffer, sizeof buffer)) > 0;) r.out.append(buffer, static_cast<std::size_t>(n));
    ::close(master);  // read ends with EIO once ebsnap closed its side
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
  }

  // thaw --all with its own run directory and no IMDS: a command that logs an info line and
  // needs neither a config nor EC2.
  void use_own_run_dir() {
    const auto run = dir_.path() / "run";
    ASSERT_EQ(::mkdir(run.c_str(), 0700), 0);
    extra_env_.emplace_back("EBSNAP_RUN_DIR", run.string());
    extra_env_.emplace_back("AWS_EC2_METADATA_DISABLED", "true");
  }

  // Starts ebsnap (with SIGCHLD ignored, as a careless parent may leave it, and as `uid` when
  // given), holds it where it reads its userdata from a FIFO (past main's set-up and the config
  // load), calls `inspect` with its pid there, then lets it finish.
  void inspect_while_running(std::optional<uid_t> uid, const std::function<void(pid_t)>& inspect) {
    ::chmod(dir_.path().c_str(), 0755);  // for `uid`
    write_config(valid_config());
    const auto fifo = (dir_.path() / "userdata.fifo").string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0666), 0);
    ::chmod(fifo.c_str(), 0666);
    std::vector<std::string> words{binary_, "--config", config_, "--userdata", "@" + fifo, "list"};
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    const int err = ::open((dir_.path() / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(err, 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(err, 2);
      ::signal(SIGCHLD, SIG_IGN);
      if (uid && (::setresgid(*uid, *uid, *uid) != 0 || ::setresuid(*uid, *uid, *uid) != 0)) ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(err);
    ASSERT_GT(pid, 0);
    // The FIFO's write end opens once ebsnap holds its read end.
    int writer = -1;
    bool ended = false;
    while (!ended) {
      writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (writer >= 0 || errno != ENXIO) break;
      int status = 0;
      ended = ::waitpid(pid, &status, WNOHANG) == pid;
      ::usleep(10'000);
    }
    if (writer >= 0) {
      inspect(pid);
      ::close(writer);  // empty userdata: ebsnap says so and ends
    } else if (!ended) {
      ::kill(pid, SIGKILL);
    }
    if (!ended) {
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
    ASSERT_GE(writer, 0) << "ebsnap did not read its userdata: " << slurp(dir_.path() / "stderr");
  }

  // Exit 2, nothing on stdout, exactly one line on stderr holding every fragment.
  void expect_one_line_error(const Ran& r, std::initializer_list<std::string_view> fragments) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.out, "");
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.back(), '\n');
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const auto f : fragments) EXPECT_NE(r.err.find(f), std::string::npos) << "stderr lacks " << f << ": " << r.err;
  }

  Json valid_config() {
    return Json::parse(R"({"region":"eu-west-1","groups":{"solr":{"volumes":[
        {"device":"/dev/sdf","mount_point":"/mnt/solr","size_gib":20,"filesystem":"xfs","volume_type":"gp3"}]}}})");
  }
  void write_config(const Json& doc, mode_t mode = 0644) { write_config(doc.dump(2), mode); }
  void write_config(const std::string& text, mode_t mode = 0644) {
    std::filesystem::remove(config_);
    std::ofstream(config_) << text;
    ::chmod(config_.c_str(), mode);
  }
  // A config case run with the mount command and good userdata.
  Ran mount_with(const Json& doc) {
    write_config(doc);
    return run({"--config", config_, "--userdata", k_userdata, "mount", "solr"});
  }

  static constexpr const char* k_userdata = R"({"role":"r","cluster":"c","environment":"e"})";
  std::string binary_ = EBSNAP_BINARY_DIR "/agent/ebsnap";
  testsupport::TempDir dir_;
  std::string config_;
  std::vector<std::pair<std::string, std::string>> extra_env_;
};

TEST_F(EbsnapBinary, NoArgumentsPrintsUsage) { expect_one_line_error(run({}), {"missing command", "usage: ebsnap", "--help"}); }

TEST_F(EbsnapBinary, TooManyArguments) { expect_one_line_error(run({"version", "extra"}), {"version", "extra", "--help"}); }

TEST_F(EbsnapBinary, HelpGoesToStdoutWithExitZero) {
  const auto r = run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  for (const auto* word : {"--config", "--userdata", "--json", "--dry-run", "mount-snapshots", "make-snapshots",
                           "unmount-snapshots", "list-volumes", "thaw", "Exit codes"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word;
  }
}

TEST_F(EbsnapBinary, UnknownCommand) { expect_one_line_error(run({"frobnicate"}), {"unknown command 'frobnicate'"}); }

TEST_F(EbsnapBinary, UnknownOption) { expect_one_line_error(run({"--frobnicate", "list"}), {"--frobnicate"}); }

TEST_F(EbsnapBinary, MountWithoutGroups) { expect_one_line_error(run({"mount"}), {"mount", "GROUP"}); }

TEST_F(EbsnapBinary, VersionIsFastAndNeedsNoConfig) {
  const auto r = run({"--config", "/nonexistent/ebsnap.json", "--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("ebsnap ", 0), 0u);
  EXPECT_EQ(r.err, "");
  const auto j = run({"version", "--json"});
  EXPECT_EQ(j.exit_code, 0);
  EXPECT_EQ(Json::parse(j.out)["schema"], 1);
}

TEST_F(EbsnapBinary, UnknownGroup) {
  write_config(valid_config());
  expect_one_line_error(run({"--config", config_, "--userdata", k_userdata, "snapshot", "nosuch"}),
                        {config_, "unknown group \"nosuch\"", "solr"});
}

TEST_F(EbsnapBinary, MissingConfigFile) {
  expect_one_line_error(run({"--config", dir_.path() / "absent.json", "--userdata", k_userdata, "list"}),
                        {"absent.json", "no such file"});
}

TEST_F(EbsnapBinary, ConfigPathFromEnvironment) {
  extra_env_.emplace_back("EBSNAP_CONFIG", (dir_.path() / "from-env.json").string());
  expect_one_line_error(run({"--userdata", k_userdata, "list"}), {"from-env.json", "no such file"});
}

TEST_F(EbsnapBinary, CredentialsReadableByOthers) {
  auto doc = valid_config();
  doc["credentials"] = {{"access_key_id", "AKIAEXAMPLE"}, {"secret_access_key", "wJalrXUtnFEMI-secret"}};
  write_config(doc, 0644);
  const auto r = run({"--config", config_, "--userdata", k_userdata, "list"});
  expect_one_line_error(r, {config_, "$.credentials", "group or others", "0644"});
  EXPECT_EQ(r.err.find("wJalrXUtnFEMI"), std::string::npos);
}

TEST_F(EbsnapBinary, MalformedJson) {
  write_config(std::string("{\n  \"groups\": {\n    \"solr\": [,]\n  }\n}\n"));
  expect_one_line_error(run({"--config", config_, "--userdata", k_userdata, "list"}),
                        {config_, "malformed JSON at line 3, column"});
}

// Issue 12: a bad retention policy is a configuration error like any other.
TEST_F(EbsnapBinary, BadRetentionPolicy) {
  auto doc = valid_config();
  doc["groups"]["solr"]["retention"] = {{"daily", 7}, {"min_age", "1y"}};
  expect_one_line_error(mount_with(doc), {config_, "$.groups.solr.retention.min_age", "expected a duration", "\"1y\""});
  doc["groups"]["solr"]["retention"] = {{"daily", -7}};
  expect_one_line_error(mount_with(doc), {config_, "$.groups.solr.retention.daily", "0..100000", "-7"});
}

TEST_F(EbsnapBinary, MissingGroups) {
  auto doc = valid_config();
  doc.erase("groups");
  expect_one_line_error(mount_with(doc), {config_, "$.groups", "missing"});
}

TEST_F(EbsnapBinary, MisspelledKey) {
  auto doc = valid_config();
  auto& v = doc["groups"]["solr"]["volumes"][0];
  v["mount_pont"] = v["mount_point"];
  v.erase("mount_point");
  expect_one_line_error(mount_with(doc), {config_, "$.groups.solr.volumes[0].mount_pont", "unknown key",
                                          "did you mean mount_point?"});
}

TEST_F(EbsnapBinary, SizeZeroOrNegative) {
  for (const int size : {0, -1}) {
    auto doc = valid_config();
    doc["groups"]["solr"]["volumes"][0]["size_gib"] = size;
    expect_one_line_error(mount_with(doc), {config_, "$.groups.solr.volumes[0].size_gib", "1..16384"});
  }
}

TEST_F(EbsnapBinary, UnknownFilesystem) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"][0]["filesystem"] = "zfs";
  expect_one_line_error(mount_with(doc), {"$.groups.solr.volumes[0].filesystem", "\"ext4\" or \"xfs\"", "zfs"});
}

TEST_F(EbsnapBinary, UnknownVolumeType) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"][0]["volume_type"] = "ssd";
  expect_one_line_error(mount_with(doc), {"$.groups.solr.volumes[0].volume_type", "gp3", "ssd"});
}

TEST_F(EbsnapBinary, IopsOnATypeThatTakesNone) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"][0]["volume_type"] = "gp2";
  doc["groups"]["solr"]["volumes"][0]["iops"] = 3000;
  expect_one_line_error(mount_with(doc), {"$.groups.solr.volumes[0].iops", "gp2 takes none"});
}

TEST_F(EbsnapBinary, DeviceOutsideAllowedNames) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"][0]["device"] = "/dev/sda";
  expect_one_line_error(mount_with(doc), {"$.groups.solr.volumes[0].device", "/dev/sd[f-z] or /dev/xvd[f-z]"});
}

TEST_F(EbsnapBinary, TwoVolumesOnOneMountPoint) {
  auto doc = valid_config();
  doc["groups"]["other"] = {{"volumes", Json::array({{{"device", "/dev/sdg"}, {"mount_point", "/mnt/solr"}, {"size_gib", 1}}})}};
  expect_one_line_error(mount_with(doc), {"$.groups.other.volumes[0].mount_point", "$.groups.solr.volumes[0]"});
}

TEST_F(EbsnapBinary, TwoVolumesOnOneDevice) {
  auto doc = valid_config();
  doc["groups"]["solr"]["volumes"].push_back({{"device", "/dev/xvdf"}, {"mount_point", "/mnt/other"}, {"size_gib", 1}});
  expect_one_line_error(mount_with(doc), {"$.groups.solr.volumes[1].device", "$.groups.solr.volumes[0]"});
}

TEST_F(EbsnapBinary, MountPointRelativeOrRoot) {
  for (const auto* mp : {"mnt/solr", "/", "/mnt/../etc"}) {
    auto doc = valid_config();
    doc["groups"]["solr"]["volumes"][0]["mount_point"] = mp;
    expect_one_line_error(mount_with(doc), {"$.groups.solr.volumes[0].mount_point"});
  }
}

// Needs root: to make root-owned hooks, and to be able to open a file of mode 0000 (suites named
// *AsRoot are labelled e2e).
class EbsnapBinaryAsRoot : public EbsnapBinary {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0U) << "run as root (label e2e)";
    EbsnapBinary::SetUp();
  }
};

// Root could open it: refused by its mode.
TEST_F(EbsnapBinaryAsRoot, UnreadableConfigModeZero) {
  write_config(valid_config(), 0);
  expect_one_line_error(run({"--config", config_, "--userdata", k_userdata, "list"}), {config_, "unreadable", "0000"});
}

// Issue 11: a config file others can change gives them root; exit 2 before anything is touched.
TEST_F(EbsnapBinaryAsRoot, ConfigWritableByGroupOrOwnedByAnotherUserExitsTwo) {
  write_config(valid_config(), 0664);
  expect_one_line_error(run({"--config", config_, "--userdata", k_userdata, "list"}), {config_, "mode 0664"});
  write_config(valid_config(), 0644);
  ASSERT_EQ(::chown(config_.c_str(), 1000, 1000), 0);
  expect_one_line_error(run({"--config", config_, "--userdata", k_userdata, "list"}), {config_, "owned by uid 1000"});
}

TEST_F(EbsnapBinaryAsRoot, HookMissingNotExecutableNotRootOwnedOrWritableByOthers) {
  const auto hook = (dir_.path() / "hook").string();
  const struct {
    mode_t mode;
    bool exists;
    bool chown_away;
    const char* fragment;
  } cases[] = {{0755, false, false, "does not exist"},
               {0644, true, false, "not executable"},
               {0755, true, true, "owned by root"},
               {0757, true, false, "not writable by group or others"}};
  for (const auto& c : cases) {
    std::filesystem::remove(hook);
    if (c.exists) {
      std::ofstream(hook) << "#!/bin/sh\ntrue\n";
      ::chmod(hook.c_str(), c.mode);
      if (c.chown_away) {
        ASSERT_EQ(::chown(hook.c_str(), 1000, 1000), 0);
      }
    }
    auto doc = valid_config();
    doc["groups"]["solr"]["hooks"] = {{"pre_snapshot", Json::array({hook})}};
    expect_one_line_error(mount_with(doc), {"$.groups.solr.hooks.pre_snapshot[0]", c.fragment});
  }
}

// Issue 11: credentials in memory must not reach a core dump or /proc/PID/mem. A process that
// is not dumpable has its /proc/PID files owned by root, whoever it runs as: run ebsnap as uid
// 1000 and look.
TEST_F(EbsnapBinaryAsRoot, IsNotDumpable) {
  struct stat binary {};
  ASSERT_EQ(::stat(binary_.c_str(), &binary), 0);
  // An executable others cannot read is never dumpable; then this test would prove nothing.
  ASSERT_NE(binary.st_mode & S_IROTH, 0U);
  std::string uid_line;
  struct stat status {};
  int stat_rc = -1;
  inspect_while_running(1000, [&](pid_t pid) {
    uid_line = proc_status(pid, "Uid");
    stat_rc = ::stat(("/proc/" + std::to_string(pid) + "/status").c_str(), &status);
  });
  EXPECT_EQ(uid_line.substr(0, uid_line.find_first_of(" \t")), "1000") << uid_line;
  ASSERT_EQ(stat_rc, 0);
  EXPECT_EQ(status.st_uid, 0U) << "a dumpable ebsnap: its /proc files belong to its uid";
}

TEST_F(EbsnapBinary, InvalidUserdataJsonWhenAGroupNeedsIt) {
  write_config(valid_config());
  const auto r = run({"--config", config_, "--userdata", "#!/bin/bash\nPASSWORD=hunter2", "mount", "solr"});
  expect_one_line_error(r, {"--userdata", "not JSON", "line 1, column 1", "role, cluster, environment"});
  EXPECT_EQ(r.err.find("hunter2"), std::string::npos);
}

TEST_F(EbsnapBinary, FilterTagThatUserdataLacks) {
  write_config(valid_config());
  expect_one_line_error(run({"--config", config_, "--userdata", R"({"role":"r","cluster":"c"})", "snapshot", "solr"}),
                        {"--userdata", "$.environment", "missing"});
}

TEST_F(EbsnapBinary, UserdataFromMissingFile) {
  write_config(valid_config());
  const auto missing = (dir_.path() / "no-userdata.json").string();
  expect_one_line_error(run({"--config", config_, "--userdata", "@" + missing, "list"}), {"--userdata", missing});
}

TEST_F(EbsnapBinary, UserdataFromFileIsUsed) {
  write_config(valid_config());
  const auto file = dir_.path() / "userdata.json";
  std::ofstream(file) << R"({"role":"r","cluster":"c"})";
  // Read and used: the missing filter tag is reported against the file.
  expect_one_line_error(run({"--config", config_, "--userdata", "@" + file.string(), "list"}),
                        {"@" + file.string(), "$.environment"});
}

// Issue 11: --json said groups[].ok: true (and the text "ok") for a group whose set-up failed.
TEST_F(EbsnapBinary, AGroupNotRunBecauseSetUpFailedIsNotOk) {
  write_config(valid_config());
  extra_env_.emplace_back("AWS_EC2_METADATA_DISABLED", "true");  // IMDS down: where is this instance?
  const auto r = run({"--config", config_, "--userdata", k_userdata, "--region", "eu-west-1", "--json", "list"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto doc = Json::parse(r.out);
  EXPECT_EQ(doc["ok"], false);
  ASSERT_EQ(doc["groups"].size(), 1U) << r.out;
  EXPECT_EQ(doc["groups"][0]["ok"], false) << r.out;
  EXPECT_TRUE(doc["groups"][0]["error"].is_string()) << r.out;
}

// Issue 11: an inherited "ignore SIGCHLD" made the kernel reap hooks itself, and a hook whose
// end waitpid could not see counted as exit 0. ebsnap restores the default at start-up.
TEST_F(EbsnapBinary, StartsWithSigchldAtItsDefaultWhateverItInherited) {
  std::string ignored;
  inspect_while_running(std::nullopt, [&](pid_t pid) { ignored = proc_status(pid, "SigIgn"); });
  ASSERT_FALSE(ignored.empty());
  const auto mask = std::stoull(ignored, nullptr, 16);
  EXPECT_EQ(mask & (std::uint64_t{1} << (SIGCHLD - 1)), 0U) << "SigIgn: " << ignored;
}

// Issue 11: a run directory that is not ebsnap's own is refused (exit 1, like any environment
// problem), and the line says what is wrong with it.
TEST_F(EbsnapBinary, ARunDirectoryThatIsASymlinkIsRefused) {
  const auto real = dir_.path() / "real";
  ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
  const auto link = dir_.path() / "run";
  std::filesystem::create_directory_symlink(real, link);
  extra_env_.emplace_back("EBSNAP_RUN_DIR", link.string());
  const auto r = run({"--dry-run", "thaw", "--all"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("run directory " + link.string() + ": is a symlink"), std::string::npos)
      << r.out << r.err;
}

TEST_F(EbsnapBinary, BadRegionOption) {
  expect_one_line_error(run({"--region", "moon-1", "list"}), {"--region", "moon-1"});
}

// Issue 15: under systemd (JOURNAL_STREAM names stderr) the lines carry journald's priority
// prefixes and no timestamp; a JOURNAL_STREAM that names another stream (inherited by a child
// whose stderr was redirected) changes nothing.
TEST_F(EbsnapBinary, UnderSystemdTheLinesCarryTheJournalsPriorities) {
  use_own_run_dir();
  const auto err_path = dir_.path() / "stderr";
  std::ofstream(err_path).flush();
  struct stat st {};
  ASSERT_EQ(::stat(err_path.c_str(), &st), 0);
  extra_env_.emplace_back("JOURNAL_STREAM", std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino));
  auto r = run({"thaw", "--all"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.starts_with("<6>info agent: run command=thaw")) << r.err;
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);) EXPECT_TRUE(line.starts_with("<")) << line;

  extra_env_.back().second = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  r = run({"thaw", "--all"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.err.starts_with("<")) << r.err;
  EXPECT_TRUE(r.err.contains(" info agent: run command=thaw")) << r.err;
}

// On a terminal a person reads the report: no info lines unless -v asks for them.
TEST_F(EbsnapBinary, OnATerminalTheReportIsNotBuriedInInfoLines) {
  use_own_run_dir();
  auto r = run_on_terminal({"thaw", "--all"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(r.out.contains("nothing was frozen")) << r.out;
  EXPECT_FALSE(r.out.contains("info")) << r.out;
  r = run_on_terminal({"-v", "thaw", "--all"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(r.out.contains("agent: run command=thaw")) << r.out;
  // A pipe keeps info by default: what cron mails and what a log file keeps.
  r = run({"thaw", "--all"});
  EXPECT_TRUE(r.err.contains(" info agent: run command=thaw")) << r.err;
}

}  // namespace
