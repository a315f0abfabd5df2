#pragma once
// The one hook protocol of every command (mount, snapshot, unmount, and those to come):
//
//   - a pre-hook that fails stops the operation it guards (the group's, or one volume's);
//   - post-hooks always run for what the run worked on, with EBSNAP_STATUS ok or failed;
//   - on_failure runs once per failed volume (or once for the group when the failure is not
//     one volume's), whatever step it failed at;
//   - on_success runs once for a group that ended ok, last: once the command's work is done
//     (after the post-hooks, and snapshot's prune_after_snapshot), with the run's report on its
//     stdin. A failing on_success is the group's warning, not its failure: the work was done.
//     Under shutdown and watch, the snapshot and the unmount they run are commands of their own,
//     with their own on_success and report;
//   - no hook runs under --dry-run.
//
// Hooks run through the HookRunner seam of Services: the real one spawns the programs
// (agent/core/hooks.h), unit tests record the calls.
#include <chrono>
#include <expected>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/hooks.h"
#include "agent/report/report.h"

namespace agent {

class HookRunner {
 public:
  virtual ~HookRunner() = default;
  // Runs the hooks of `phase` in config order (agent/core/hooks.h run_hooks' rules).
  [[nodiscard]] virtual std::expected<void, HookError> run(const Hooks& hooks, HookPhase phase,
                                                           const HookContext& context,
                                                           const HookRunOptions& options) = 0;
};

// The real one: run_hooks (root-owned programs only, run from the descriptor checked).
class ProcessHookRunner final : public HookRunner {
 public:
  [[nodiscard]] std::expected<void, HookError> run(const Hooks& hooks, HookPhase phase, const HookContext& context,
                                                   const HookRunOptions& options) override;
};

// The protocol for one group of one run. Thread-safe: volumes run on threads of their own.
class HookPhases {
 public:
  struct Names {
    HookPhase pre_group;
    HookPhase post_group;
    HookPhase pre_volume;
    HookPhase post_volume;
  };
  static constexpr Names k_mount{HookPhase::PreMounts, HookPhase::PostMounts, HookPhase::PreMount,
                                 HookPhase::PostMount};
  static constexpr Names k_unmount{HookPhase::PreUnmounts, HookPhase::PostUnmounts, HookPhase::PreUnmount,
                                   HookPhase::PostUnmount};
  static constexpr Names k_snapshot{HookPhase::PreSnapshots, HookPhase::PostSnapshots,
                                    HookPhase::PreSnapshot, HookPhase::PostSnapshot};

  HookPhases(HookRunner& runner, const GroupConfig& group, Names names, std::chrono::milliseconds timeout,
             bool dry_run);

  // The group's pre-hook; the error stops the group's operation.
  [[nodiscard]] std::expected<void, HookError> pre_group();
  // The group's post-hook, with the group's status; a failure comes back for the run's errors
  // (the operation itself is not undone).
  [[nodiscard]] std::optional<HookError> post_group(bool ok);

  // One volume's pre-hook; the error stops that volume.
  [[nodiscard]] std::expected<void, HookError> pre_volume(const HookContext& context);
  // One volume's post-hook, for every volume the operation worked on.
  [[nodiscard]] std::optional<HookError> post_volume(HookContext context, bool ok);

  // on_failure, at most once per mount point (or once for the group, with no mount point).
  void on_failure(HookContext context, const std::string& error);

  // on_success, when the group's report says ok, with render_json(report) on its stdin. Called
  // once the command's work is done; a failure is added to the group's warnings.
  void on_success(RunReport& report);

 private:
  [[nodiscard]] std::expected<void, HookError> run(HookPhase phase, const HookContext& context);

  HookRunner& runner_;
  const GroupConfig& group_;
  Names names_;
  HookRunOptions options_;
  bool dry_run_;
  std::mutex mutex_;
  std::set<std::string> failure_ran_;
};

}  // namespace agent
