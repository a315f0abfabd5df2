// Hooks run as real processes from scripts in a temp dir. The scripts must be root-owned like
// production hooks, so the HookTestAsRoot suite needs root: tests/CMakeLists.txt labels suites
// named *AsRoot e2e, and the unit label runs without root.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "agent/config/file_checks.h"
#include "agent/core/hook_phases.h"
#include "agent/core/hooks.h"
#include "agent/report/report.h"
#include "tests/support/temp_dir.h"

namespace agent {
namespace {

class HookTestAsRoot : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::geteuid(), 0U) << "hooks must be root-owned: run as root (label e2e)"; }
  std::string script(const std::string& name, const std::string& body, mode_t mode = 0755) {
    const auto path = dir_.path() / name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), mode);
    return path.string();
  }
  std::string read(const std::string& name) {
    std::ifstream in(dir_.path() / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string out(const std::string& name) { return (dir_.path() / name).string(); }

  testsupport::TempDir dir_;
  HookRunOptions fast{.timeout = std::chrono::milliseconds(5000), .kill_grace = std::chrono::milliseconds(200)};
};

TEST_F(HookTestAsRoot, ReceivesContextInEnvironmentAndArguments) {
  const auto hook = script("env", "echo \"$1 $EBSNAP_PHASE $EBSNAP_GROUP $EBSNAP_MOUNT_POINT $EBSNAP_DEVICE "
                                  "$EBSNAP_VOLUME_ID $EBSNAP_SNAPSHOT_ID $EBSNAP_STATUS\" > " + out("seen") +
                                  "\nenv | grep -c '^AWS_' >> " + out("seen") + " || true");
  ::setenv("AWS_SECRET_ACCESS_KEY", "must-not-leak", 1);
  const HookContext context{.group = "solr", .mount_point = "/mnt/solr", .device = "/dev/sdf",
                            .volume_id = "vol-1", .snapshot_id = "snap-2", .ok = true};
  auto result = run_hook({hook, "arg1"}, HookPhase::PostSnapshot, context, fast);
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ASSERT_TRUE(result.has_value()) << result.error().describe();
  EXPECT_EQ(read("seen"), "arg1 post_snapshot solr /mnt/solr /dev/sdf vol-1 snap-2 ok\n0\n");
}

TEST_F(HookTestAsRoot, NonZeroExitIsAFailure) {
  const auto hook = script("fail", "exit 3");
  auto result = run_hook({hook}, HookPhase::PreSnapshot, HookContext{.group = "g"}, fast);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message, "exited with status 3");
  EXPECT_EQ(result.error().describe(), "hook pre_snapshot " + hook + ": exited with status 3");
}

TEST_F(HookTestAsRoot, TimeoutKillsTheWholeProcessGroup) {
  // The hook leaves a child behind that would write a file later; killing the group stops it.
  const auto hook = script("slow", "(sleep 1; echo late > " + out("late") + ") &\nsleep 30");
  const auto started = std::chrono::steady_clock::now();
  auto result = run_hook({hook}, HookPhase::PreMount, HookContext{.group = "g"},
                         HookRunOptions{.timeout = std::chrono::milliseconds(300), .kill_grace = std::chrono::milliseconds(200)});
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("timed out after 300 ms"), std::string::npos);
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  ::usleep(1'500'000);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "late"));
}

TEST_F(HookTestAsRoot, TermIgnoringHookGetsKilled) {
  const auto hook = script("stubborn", "trap '' TERM\nwhile :; do sleep 0.05; done");
  const auto started = std::chrono::steady_clock::now();
  auto result = run_hook({hook}, HookPhase::PreMount, HookContext{.group = "g"},
                         HookRunOptions{.timeout = std::chrono::milliseconds(200), .kill_grace = std::chrono::milliseconds(200)});
  ASSERT_FALSE(result.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

TEST_F(HookTestAsRoot, KilledBySignalIsReported) {
  const auto hook = script("selfkill", "kill -9 $$");
  auto result = run_hook({hook}, HookPhase::PostMount, HookContext{.group = "g"}, fast);
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("killed by signal 9"), std::string::npos) << result.error().message;
}

// Issue 11: with SIGCHLD ignored (inherited from whoever started us) the kernel reaps the hook
// itself, waitpid fails with ECHILD, and that counted as exit 0.
TEST_F(HookTestAsRoot, ALostChildIsAFailureNotASuccess) {
  const auto hook = script("fine", "exit 0");
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGCHLD, &ignore, &previous), 0);
  auto result = run_hook({hook}, HookPhase::PreSnapshot, HookContext{.group = "g"}, fast);
  ::sigaction(SIGCHLD, &previous, nullptr);
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("lost: waitpid: No child processes"), std::string::npos)
      << result.error().message;
}

TEST_F(HookTestAsRoot, WritableByOthersIsRefusedAtRunTime) {
  const auto hook = script("open", "touch " + out("ran"), 0757);
  auto result = run_hook({hook}, HookPhase::PreMount, HookContext{.group = "g"}, fast);
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("not writable by group or others"), std::string::npos) << result.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "ran"));
}

TEST_F(HookTestAsRoot, ProgramChecks) {
  EXPECT_FALSE(hook_program_problem(script("ok", "true")).has_value());
  EXPECT_NE(hook_program_problem(out("missing"))->find("does not exist"), std::string::npos);
  EXPECT_NE(hook_program_problem(script("noexec", "true", 0644))->find("not executable"), std::string::npos);
  EXPECT_NE(hook_program_problem(script("groupw", "true", 0775))->find("not writable by group or others"),
            std::string::npos);
  EXPECT_NE(hook_program_problem("relative/hook")->find("absolute"), std::string::npos);
  const auto notroot = script("notroot", "true");
  ASSERT_EQ(::chown(notroot.c_str(), 1000, 1000), 0);
  EXPECT_NE(hook_program_problem(notroot)->find("owned by root"), std::string::npos);
  // A safe file in a directory others can write to is not safe: they could replace it.
  const auto open_dir = dir_.path() / "open";
  std::filesystem::create_directory(open_dir);
  ::chmod(open_dir.c_str(), 0777);
  const auto inside = (open_dir / "hook").string();
  std::ofstream(inside) << "#!/bin/sh\ntrue\n";
  ::chmod(inside.c_str(), 0755);
  EXPECT_NE(hook_program_problem(inside)->find("directory"), std::string::npos);
}

// Issue 11: a symlinked hook was judged by its target alone. Now the directory holding the
// symlink must pass too (whoever can write it can point the link elsewhere), and so must every
// directory the target leads through; what runs is the file checked.
TEST_F(HookTestAsRoot, ASymlinkIsFineOnlyWhenItsDirectoryAndItsTargetPass) {
  const auto target = script("target", "echo ran > " + out("target.ran"), 0777);
  const auto link = out("link");
  std::filesystem::create_symlink(target, link);
  EXPECT_NE(hook_program_problem(link).value_or("").find("not writable by group or others"),
            std::string::npos);
  ::chmod(target.c_str(), 0755);
  EXPECT_FALSE(hook_program_problem(link).has_value());
  ASSERT_TRUE(run_hook({link}, HookPhase::PreMount, HookContext{.group = "g"}, fast).has_value());
  EXPECT_EQ(read("target.ran"), "ran\n");

  const auto open_dir = dir_.path() / "open";
  std::filesystem::create_directory(open_dir);
  ::chmod(open_dir.c_str(), 0775);
  const auto link_in_open = (open_dir / "link").string();
  std::filesystem::create_symlink(target, link_in_open);
  const auto refused = run_hook({link_in_open}, HookPhase::PreMount, HookContext{.group = "g"}, fast);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(
      refused.error().message.find("directory " + open_dir.string() + " is writable by group or others"),
      std::string::npos)
      << refused.error().message;

  // Through a symlink in that directory: on neither the path as given nor the resolved one.
  std::filesystem::create_directory_symlink(dir_.path(), open_dir / "hop");
  const auto via_hop = out("via-hop");
  std::filesystem::create_symlink(open_dir / "hop" / "target", via_hop);
  EXPECT_NE(
      hook_program_problem(via_hop).value_or("").find("directory " + open_dir.string() + " is writable"),
      std::string::npos)
      << hook_program_problem(via_hop).value_or("accepted");
}

// Run from a descriptor, a `#!` script needs that descriptor across the exec (the kernel gives
// the interpreter /dev/fd/N): the shell scripts operators write keep working.
TEST_F(HookTestAsRoot, AShellScriptHookRuns) {
  const auto hook = script("sh-hook", "echo \"$0 $1 $EBSNAP_PHASE\" > " + out("seen"));
  auto result = run_hook({hook, "arg"}, HookPhase::PostMounts, HookContext{.group = "g"}, fast);
  ASSERT_TRUE(result.has_value()) << result.error().describe();
  EXPECT_EQ(read("seen"), "/dev/fd/3 arg post_mounts\n");
}

TEST_F(HookTestAsRoot, PrePhaseStopsAtFirstFailure) {
  Hooks hooks;
  hooks.by_phase[HookPhase::PreSnapshots] = {{script("a", "touch " + out("a.ran"))},
                                              {script("b", "exit 1")},
                                              {script("c", "touch " + out("c.ran"))}};
  auto result = run_hooks(hooks, HookPhase::PreSnapshots, HookContext{.group = "g"}, fast);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().program, (dir_.path() / "b").string());
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "a.ran"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "c.ran"));
}

TEST_F(HookTestAsRoot, PostPhaseRunsEveryHookAndReportsTheFirstFailure) {
  Hooks hooks;
  hooks.by_phase[HookPhase::PostSnapshots] = {{script("a", "exit 2")},
                                               {script("b", "exit 1")},
                                               {script("c", "touch " + out("c.ran"))}};
  auto result = run_hooks(hooks, HookPhase::PostSnapshots, HookContext{.group = "g", .ok = false}, fast);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().program, (dir_.path() / "a").string());
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "c.ran"));
}

TEST_F(HookTestAsRoot, NoHooksForAPhaseIsSuccess) {
  EXPECT_TRUE(run_hooks(Hooks{}, HookPhase::OnFailure, HookContext{.group = "g"}, fast).has_value());
}

TEST_F(HookTestAsRoot, StdoutGoesToOurStderrAndStdinIsEmpty) {
  const auto hook = script("io", "echo to-stdout\nread line && echo got-stdin > " + out("stdin") + "\ntrue");
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  auto result = run_hook({hook}, HookPhase::PostMount, HookContext{.group = "g"}, fast);
  const auto stdout_text = testing::internal::GetCapturedStdout();
  const auto stderr_text = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(stdout_text.find("to-stdout"), std::string::npos);
  EXPECT_NE(stderr_text.find("to-stdout"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "stdin"));
}

// Issue 15, through the real spawn: on_success reads the report exactly as --json prints it, and
// its environment says which group and phase. The report is larger than a pipe holds (64 KiB).
class OnSuccessTestAsRoot : public HookTestAsRoot {
 protected:
  GroupConfig group_with_on_success(const std::string& hook) {
    GroupConfig g{.name = "solr"};
    g.hooks.by_phase[HookPhase::OnSuccess] = {{hook}};
    return g;
  }
  static RunReport large_report() {
    RunReport report = new_report("snapshot", false, {"solr"});
    for (int i = 0; i < 1000; ++i) {
      report.group("solr").volumes.push_back(VolumeReport{.mount_point = "/mnt/v" + std::to_string(i),
                                                          .device = "/dev/sdf",
                                                          .snapshot_id = "snap-" + std::to_string(i),
                                                          .outcome = Outcome::Snapshotted});
    }
    return report;
  }
  ProcessHookRunner runner_;
};

TEST_F(OnSuccessTestAsRoot, ReadsTheReportOnStdinAsJsonPrintsIt) {
  const auto hook = script("notify", "cat > " + out("stdin") + "\necho \"$EBSNAP_PHASE $EBSNAP_GROUP $EBSNAP_STATUS\" > " +
                                         out("env"));
  const auto group = group_with_on_success(hook);
  auto report = large_report();
  const auto expected = render_json(report);
  ASSERT_GT(expected.size(), 64U * 1024U);
  HookPhases(runner_, group, HookPhases::k_snapshot, fast.timeout, false).on_success(report);
  EXPECT_TRUE(report.group("solr").warnings.empty()) << report.group("solr").warnings.front();
  EXPECT_EQ(read("stdin"), expected);
  EXPECT_EQ(read("env"), "on_success solr ok\n");
}

TEST_F(OnSuccessTestAsRoot, AHookThatLeavesItsStdinUnreadIsNotBlockedOn) {
  const auto hook = script("ignore", "echo ran > " + out("ran"));
  const auto group = group_with_on_success(hook);
  auto report = large_report();
  HookPhases(runner_, group, HookPhases::k_snapshot, fast.timeout, false).on_success(report);
  EXPECT_TRUE(report.group("solr").warnings.empty()) << report.group("solr").warnings.front();
  EXPECT_EQ(read("ran"), "ran\n");
}

TEST_F(OnSuccessTestAsRoot, AFailingHookIsTheGroupsWarning) {
  const auto group = group_with_on_success(script("fail", "exit 7"));
  auto report = large_report();
  HookPhases(runner_, group, HookPhases::k_snapshot, fast.timeout, false).on_success(report);
  ASSERT_EQ(report.group("solr").warnings.size(), 1U);
  EXPECT_NE(report.group("solr").warnings[0].find("on_success"), std::string::npos);
  EXPECT_NE(report.group("solr").warnings[0].find("exited with status 7"), std::string::npos);
  EXPECT_TRUE(report.ok());
}

TEST(HookEnvironment, CarriesStatusAndErrorOnlyWhenSet) {
  const auto env = hook_environment(HookPhase::PreMounts, HookContext{.group = "g"});
  for (const auto& e : env) {
    EXPECT_FALSE(e.starts_with("EBSNAP_STATUS=")) << e;
    EXPECT_FALSE(e.starts_with("EBSNAP_MOUNT_POINT=")) << e;
  }
  const auto failed = hook_environment(HookPhase::OnFailure, HookContext{.group = "g", .ok = false, .error = "boom"});
  EXPECT_NE(std::find(failed.begin(), failed.end(), "EBSNAP_STATUS=failed"), failed.end());
  EXPECT_NE(std::find(failed.begin(), failed.end(), "EBSNAP_ERROR=boom"), failed.end());
  EXPECT_NE(std::find(failed.begin(), failed.end(), "EBSNAP_PHASE=on_failure"), failed.end());
}

}  // namespace
}  // namespace agent
