#pragma once
// Hooks: operator-supplied executables run around mount, snapshot and unmount.
//
// They are argv arrays (never a shell), run in their own process group, with stdin from
// /dev/null (on_success: the run's report, below) and both stdout and stderr on our stderr
// (stdout stays clean for --json). The program is opened once and that descriptor is both
// checked (agent/config/file_checks.h) and run (platform::spawn, execveat): a file swapped in at
// its path meanwhile never runs. A `#!` script therefore sees itself as /dev/fd/3 in $0 (argv[0]
// of a binary is the configured path). The environment is built from scratch: PATH,
// LANG/LC_ALL/TZ when set, and the EBSNAP_* context below; nothing else of ours (in particular no
// AWS_* credentials) is passed.
//
//   EBSNAP_PHASE        pre_snapshot, post_mounts, on_failure, on_success, ...
//   EBSNAP_GROUP        the group
//   EBSNAP_MOUNT_POINT  per-volume phases: the mount point
//   EBSNAP_DEVICE       per-volume phases: the device as configured
//   EBSNAP_VOLUME_ID    when known
//   EBSNAP_SNAPSHOT_ID  when known (post_snapshot, post_mount of a restored volume)
//   EBSNAP_STATUS       post_*, on_failure and on_success: "ok" or "failed"
//   EBSNAP_DRY_RUN      "1" under --dry-run (hooks do not run then; reserved)
//   EBSNAP_ERROR        on_failure: one line saying what failed
//
// on_success reads on its stdin the run's report as --json prints it (agent/report/report.h,
// schema 1), as it stands once the command's work is done: duration_ms is still null, and
// started_at is when the command began (the CLI's --json counts its set-up too). It holds no
// credentials. A hook may leave it unread: what the pipe does not take is dropped, and the wait
// for the hook stays bounded by its timeout (platform::Child::wait_until).
//
// A hook that outlives its timeout gets SIGTERM on its process group, then SIGKILL after a
// grace period.
#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"

namespace agent {

struct HookContext {
  std::string group;
  std::optional<std::string> mount_point;
  std::optional<std::string> device;
  std::optional<std::string> volume_id;
  std::optional<std::string> snapshot_id;
  std::optional<bool> ok;              // EBSNAP_STATUS for post_*, on_failure and on_success
  std::optional<std::string> error;    // EBSNAP_ERROR
  std::optional<std::string> report_json;  // on stdin (none: /dev/null)
};

struct HookRunOptions {
  std::chrono::milliseconds timeout{60'000};
  std::chrono::milliseconds kill_grace{2'000};  // between SIGTERM and SIGKILL
};

struct HookError {
  HookPhase phase = HookPhase::OnFailure;
  std::string program;  // argv[0]
  std::string message;  // "exited with status 3", "killed by signal 9", "timed out after 60 s"

  // "hook pre_snapshot /etc/ebsnap/hooks/flush: exited with status 3"
  [[nodiscard]] std::string describe() const;
};

// The EBSNAP_* environment of a hook ("KEY=value" strings) plus PATH and locale.
[[nodiscard]] std::vector<std::string> hook_environment(HookPhase phase, const HookContext& context);

// Runs one hook and waits for it (bounded by options.timeout).
[[nodiscard]] std::expected<void, HookError> run_hook(const HookCommand& command, HookPhase phase,
                                                      const HookContext& context,
                                                      const HookRunOptions& options);

// Runs the hooks of a phase in config order. For pre_* phases the first failure stops the
// phase and is returned (the caller then stops the operation). For post_* and on_failure every
// hook runs whatever the others did, and the first failure is returned.
[[nodiscard]] std::expected<void, HookError> run_hooks(const Hooks& hooks, HookPhase phase,
                                                       const HookContext& context,
                                                       const HookRunOptions& options);

}  // namespace agent
