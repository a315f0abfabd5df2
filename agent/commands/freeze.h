#pragma once
// ebsnap freeze GROUP --hold [--timeout DURATION] and ebsnap thaw GROUP: a freeze that outlives
// the command, for engines that take the snapshot themselves between a pre-script and a
// post-script (AWS Data Lifecycle Manager; etc/ssm/ebsnap-dlm-scripts.yaml).
//
// freeze --hold: the group's pre-hooks (pre_snapshots, pre_snapshot: the snapshot's hook
// protocol), syncfs, the thaw guardian, FIFREEZE of every filesystem of the group (one freeze
// window, agent/core/freeze_window.h), then the window is handed over to the guardian
// (FreezeWindow::hold) and the command exits 0. From then on the guardian, a process of its own
// (its own session, re-parented when we exit), holds the freeze until
//   - `ebsnap thaw GROUP` asks it on its unix socket <run_dir>/hold-GROUP.sock (the peer is
//     proven by SO_PEERCRED: the pid recorded here, our uid), or
//   - its bound passes (the group's freeze_timeout_s, or --timeout; 1..120 s), or a signal
//     comes: it thaws and writes its report to <run_dir>/hold-GROUP.result.
// The hold record <run_dir>/hold-GROUP.json says which guardian holds which filesystems since
// when. A second freeze --hold while a guardian holds the group is refused (exit 2).
//
// Deaths: SIGKILL of `freeze --hold` before the hand-over thaws (the guardian still watches it);
// after it, it changes nothing. SIGKILL of the guardian leaves the filesystems frozen (the kernel
// keeps a freeze): its freeze state file names the guardian as owner, so `ebsnap thaw GROUP`
// (it finds no guardian and no result: resolve_foreign_freeze of the recorded filesystems, which
// thaws a dead owner's freeze only, never another process's), `ebsnap thaw --all` and the next
// snapshot of the group (resolve_foreign_freeze too) thaw them.
//
// thaw GROUP: releases the hold, reports the window (first FIFREEZE → thaw) and runs the
// post-hooks (post_snapshot, post_snapshots; on_failure or on_success). Exit 0 only when the
// freeze held until this thaw; 1 when the guardian had thawed already (its bound, a signal, its
// death: a snapshot taken meanwhile is not proven frozen, and DLM marks its post-script FAILED)
// or when no hold is recorded for the group. The post-hooks run in every case but the last.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/services.h"
#include "agent/report/report.h"
#include "platform/error.h"

namespace agent {

// The hold record, <run_dir>/hold-GROUP.json.
struct HoldRecord {
  std::string group;
  int guardian_pid = 0;
  unsigned long long guardian_start = 0;  // /proc/PID/stat starttime: the pid is this guardian
  std::vector<std::string> mount_points;  // in the guardian's order
  std::int64_t bound_ms = 0;
  std::chrono::system_clock::time_point frozen_at{};
  std::int64_t freeze_offset_ms = 0;  // guardian start → first FIFREEZE
};

[[nodiscard]] std::filesystem::path hold_record_path(const std::filesystem::path& run_dir, const std::string& group);
[[nodiscard]] std::filesystem::path hold_socket_path(const std::filesystem::path& run_dir, const std::string& group);
[[nodiscard]] std::filesystem::path hold_result_path(const std::filesystem::path& run_dir, const std::string& group);

[[nodiscard]] std::string serialize_hold_record(const HoldRecord& record);
[[nodiscard]] std::optional<HoldRecord> parse_hold_record(const std::string& text);
// NotFound when the group has no hold record.
[[nodiscard]] platform::Result<HoldRecord> read_hold_record(const std::filesystem::path& run_dir, const std::string& group);

// The recorded guardian is still that process (pid and start time).
[[nodiscard]] bool hold_guardian_alive(const HoldRecord& record);

// The longest hold: the guardian's bound.
inline constexpr std::chrono::seconds k_max_hold{120};

struct FreezeHoldOptions {
  std::optional<std::chrono::seconds> timeout;  // --timeout; none: the config's freeze_timeout_s
};

// freeze GROUP --hold (exactly one group; the command line sees to it).
[[nodiscard]] RunReport freeze_hold(const RunContext& context, const FreezeHoldOptions& options);

// thaw GROUP (exactly one group).
[[nodiscard]] RunReport thaw_hold(const RunContext& context);

}  // namespace agent
