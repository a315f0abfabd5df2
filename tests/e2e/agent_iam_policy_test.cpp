// ebsnap iam-policy, proven against the sandbox (root: loop devices, udevd, ext4): each command runs
// with the sandbox allowing exactly the EC2 actions `iam-policy --for COMMAND` grants (the sandbox
// enforces allowed_actions, DryRun included), and succeeds; the sandbox's call log shows it called
// nothing outside that set; and without any one of the actions it called, it fails (or, where the
// action only adds to the report, as list's DescribeVolumeStatus does, it says which call failed:
// a warning naming the action). The actions a
// command may call but did not in this run (DescribeInstances for a device name in use,
// DeleteSnapshot of a stray snapshot, ...) are printed, not asserted: nothing here provokes them.
// The sandbox enforces action names, not IAM conditions: the conditions are the unit tests'
// (tests/unit/agent_iam_policy_test.cpp) and check's DryRuns on ebsnap's own resources.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <set>

#include "agent/commands/check_backups.h"
#include "agent/commands/copy.h"
#include "agent/commands/gc.h"
#include "agent/commands/history.h"
#include "agent/commands/list.h"
#include "agent/commands/mount.h"
#include "agent/commands/prune.h"
#include "agent/commands/snapshot.h"
#include "agent/commands/unmount.h"
#include "agent/core/iam_plan.h"
#include "agent/core/runtime.h"
#include "platform/freeze_ops.h"
#include "tests/support/sandbox.h"
#include "tests/support/shell.h"
#include "tests/support/temp_dir.h"
#include "tests/support/udev_rule.h"

namespace agent {
namespace {

using namespace std::chrono_literals;
using Actions = std::set<std::string>;

class IamPolicyE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(::geteuid(), 0U) << "e2e tests need root (loop devices, udev, mount, freeze)";
    testsupport::ensure_udevd();
  }

  void SetUp() override {
    dir_ = std::make_unique<testsupport::TempDir>("ebsnap-iam-e2e");
    sandbox_ = std::make_unique<testsupport::Sandbox>();
    sandbox_->export_environment();
    run_dir_ = dir_->path() / "run";
    ::setenv("EBSNAP_RUN_DIR", run_dir_.c_str(), 1);
    config_.filter_tags = {"role"};
    filters_ = {{"role", "iam-e2e"}};
    GroupConfig g{.name = "data"};
    g.volumes.push_back({.device = "/dev/sdf", .mount_point = (dir_->path() / "mnt/a").string(), .size_gib = 1,
                         .filesystem = FsType::Ext4});
    g.retention = RetentionPolicy{.keep_last = 1, .min_age = 0s};
    g.copy_to = {CopyDestination{.region = sandbox_->dr_region()}};  // copy: the sandbox's second region
    config_.groups.push_back(g);
    auto runtime = Runtime::create(config_, {.region = sandbox_->region()});
    ASSERT_TRUE(runtime) << runtime.error().describe();
    runtime_ = std::move(*runtime);
  }

  void TearDown() override {
    for (const auto& g : config_.groups) {
      for (const auto& v : g.volumes) {
        (void)platform::thaw(v.mount_point);
        ::umount2(v.mount_point.c_str(), MNT_DETACH);
      }
    }
    runtime_.reset();
    sandbox_.reset();
    testsupport::udev_settle();
    ::unsetenv("EBSNAP_RUN_DIR");
    dir_.reset();
  }

  RunContext context() {
    return RunContext{.services = runtime_->services(), .config = config_, .filters = filters_,
                      .instance = runtime_->instance(), .groups = {&config_.groups[0]}};
  }

  // The EC2 actions `iam-policy --for command` grants for this config.
  Actions granted(const std::string& command) {
    auto plan = plan_iam_policy(&config_, {command});
    EXPECT_TRUE(plan) << plan.error();
    Actions out;
    const auto document = iam_policy_document(plan->permissions);
    for (const auto& st : document["Statement"]) {
      const auto& a = st["Action"];
      for (const auto& x : a.is_array() ? a : nlohmann::ordered_json::array({a})) {
        const auto name = x.get<std::string>();
        if (name.starts_with("ec2:")) out.insert(name.substr(4));
      }
    }
    return out;
  }

  // Runs `run` with the sandbox allowing exactly `allowed`; the actions it called (the call log).
  template <class Run>
  std::pair<RunReport, Actions> under(const Actions& allowed, Run run) {
    sandbox_->configure({{"allowed_actions", nlohmann::json(allowed)}});
    const auto before = sandbox_->calls().size();
    RunReport report = run();
    sandbox_->configure({{"allowed_actions", nullptr}});
    const auto calls = sandbox_->calls();
    Actions called;
    for (std::size_t i = before; i < calls.size(); ++i) called.insert(calls[i].value("action", ""));
    return {std::move(report), std::move(called)};
  }

  // The command succeeds under exactly its policy and calls nothing else; returns what it called.
  template <class Run>
  Actions succeeds_under_its_policy(const std::string& command, Run run) {
    const auto allowed = granted(command);
    auto [report, called] = under(allowed, run);
    EXPECT_TRUE(report.ok()) << command << ":\n" << render_text(report);
    for (const auto& a : called) EXPECT_TRUE(allowed.contains(a)) << command << " called " << a << ", not in its policy";
    std::cout << "[ iam      ] " << command << ": policy " << nlohmann::json(allowed).dump() << ", called "
              << nlohmann::json(called).dump() << "\n";
    return called;
  }

  // Without any one of `called`, the command fails or names the refused call in its report
  // (`reset` puts the state back between tries).
  template <class Run, class Reset>
  void fails_without_each(const std::string& command, const Actions& called, Run run, Reset reset) {
    const auto allowed = granted(command);
    for (const auto& a : called) {
      Actions less = allowed;
      less.erase(a);
      auto [report, ignored] = under(less, run);
      const auto text = render_text(report);
      EXPECT_TRUE(!report.ok() || text.contains(a)) << command << " succeeded without " << a << " and did not say so:\n"
                                                    << text;
      std::cout << "[ iam      ] " << command << " without " << a << ": " << (report.ok() ? "ok, says so" : "failed")
                << "\n";
      reset();
    }
  }

  std::unique_ptr<testsupport::TempDir> dir_;
  std::unique_ptr<testsupport::Sandbox> sandbox_;
  std::unique_ptr<Runtime> runtime_;
  std::filesystem::path run_dir_;
  Config config_;
  FilterValues filters_;
};

TEST_F(IamPolicyE2e, EachCommandRunsUnderExactlyItsPolicyAndFailsWithoutAnyActionItCalled) {
  const auto mount = [&] { return agent::mount(context()); };
  const auto unmount_and_delete = [&] {
    return agent::unmount(context(), UnmountOptions{.delete_volumes = true, .assume_yes = true});
  };
  // mount: a new volume (no snapshot yet), created, attached, formatted, mounted.
  const auto mount_called = succeeds_under_its_policy("mount", mount);
  EXPECT_TRUE(mount_called.contains("CreateVolume") && mount_called.contains("AttachVolume"));

  // snapshot: one volume, CreateSnapshot with its tags at creation.
  const auto snapshot = [&] { return agent::snapshot(context()); };
  const auto snapshot_called = succeeds_under_its_policy("snapshot", snapshot);
  EXPECT_TRUE(snapshot_called.contains("CreateSnapshot") || snapshot_called.contains("CreateSnapshots"));
  fails_without_each("snapshot", snapshot_called, snapshot, [] {});
  // A second run for prune to delete.
  (void)succeeds_under_its_policy("snapshot", snapshot);

  // copy: both runs to the DR region, CopySnapshot there. Tried without each action first: a copy
  // that succeeded leaves nothing to copy (and so would need no CopySnapshot). Neither try copies
  // anything (the first call fails, or CopySnapshot is refused and stops the destination).
  const auto copy = [&] { return agent::copy(context()); };
  const Actions copy_calls = {"DescribeSnapshots", "CopySnapshot"};
  fails_without_each("copy", copy_calls, copy, [] {});
  const auto copy_called = succeeds_under_its_policy("copy", copy);
  EXPECT_EQ(copy_called, copy_calls) << "the actions tried away above are the ones copy calls";

  const auto reads = [&](const std::string& command, auto run) {
    const auto called = succeeds_under_its_policy(command, run);
    EXPECT_FALSE(called.empty()) << command;
    fails_without_each(command, called, run, [] {});
  };
  reads("list", [&] { return agent::list(context()); });
  reads("history", [&] { return agent::history(context()); });
  reads("check-backups", [&] {
    return agent::check_backups(context(), CheckBackupsOptions{.max_age = 24h, .max_age_text = "24h"});
  });
  const auto prune = [&] { return agent::prune(context()); };
  // Without DeleteSnapshot the run to delete is left, and the prune fails; DescribeSnapshots first.
  fails_without_each("prune", {"DescribeSnapshots", "DeleteSnapshot"}, prune, [] {});
  const auto prune_called = succeeds_under_its_policy("prune", prune);
  EXPECT_TRUE(prune_called.contains("DeleteSnapshot"));

  // unmount --delete-volumes. Each try without an action leaves the volume mounted, attached or
  // not deleted; mount puts it back (under no restriction: it reuses a volume of ours).
  const auto unmount_called = succeeds_under_its_policy("unmount", unmount_and_delete);
  EXPECT_TRUE(unmount_called.contains("DetachVolume") && unmount_called.contains("DeleteVolume"));
  // mount again, now restoring from the newest snapshot (DescribeSnapshots, CreateVolume from it).
  const auto restore_called = succeeds_under_its_policy("mount", mount);
  EXPECT_TRUE(restore_called.contains("DescribeSnapshots")) << nlohmann::json(restore_called).dump();
  fails_without_each("unmount", unmount_called, unmount_and_delete, [&] {
    auto again = agent::mount(context());
    EXPECT_TRUE(again.ok()) << render_text(again);
  });
  (void)succeeds_under_its_policy("unmount", unmount_and_delete);
  (void)succeeds_under_its_policy("gc", [&] { return agent::gc(context(), GcOptions{.older_than = 0s, .assume_yes = true}); });
  // mount is not tried without each action: a try that fails after CreateVolume leaves a volume
  // the next try reuses (by design: DESIGN.md, mount step 2), so the tries would not be alike.
}

}  // namespace
}  // namespace agent
