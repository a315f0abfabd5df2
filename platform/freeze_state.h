#pragma once
// The freeze state file: before the first FIFREEZE the agent records under /run/ebsnap which
// filesystems it is about to freeze, so that `ebsnap thaw --all` can undo what a dead agent (and a
// dead guardian) left frozen. /run is never frozen (check_freezable refuses its filesystem).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/error.h"

namespace platform {

enum class ThawOutcome {
  Thawed,
  NotFrozen,  // FITHAW said EINVAL, or the path is no longer a mount point
  Failed,
  Skipped,  // frozen by someone else (FIFREEZE said EBUSY): left alone on purpose
};
[[nodiscard]] std::string_view to_string(ThawOutcome outcome);

struct ThawReport {
  std::string mount_point;
  ThawOutcome outcome = ThawOutcome::Failed;
  std::string error;  // when Failed
};

struct FreezeStateRecord {
  std::string path;  // the state file
  int agent_pid = 0;
  std::vector<std::string> mount_points;
};

// Writes "<state_dir>/freeze-<pid>-<n>.state" (state_dir is the run directory, checked and made
// if missing: run_dir.h) and returns its path.
[[nodiscard]] Result<std::string> write_freeze_state(const std::string& state_dir,
                                                     const std::vector<std::string>& mount_points);
// Rewrites a state file so that it names `owner_pid` (a holding guardian) as the process whose
// death leaves its mount points frozen.
[[nodiscard]] Result<void> write_freeze_state_owner(const std::string& path, int owner_pid,
                                                    const std::vector<std::string>& mount_points);
// The bytes of one state file: the magic line, "pid <n>" (agent_pid 0 when it is not a positive
// int), then one mount point a line. nullopt when the magic line is not there. path stays empty.
[[nodiscard]] std::optional<FreezeStateRecord> parse_freeze_state(std::string_view text);
// Every state file under state_dir (none when the directory does not exist; an error when it
// fails the run directory's check). A symlink is not followed: it is skipped with a warning.
[[nodiscard]] Result<std::vector<FreezeStateRecord>> read_freeze_states(const std::string& state_dir);

// FITHAW of one mount point: Thawed, or NotFrozen (EINVAL); errors otherwise.
[[nodiscard]] Result<ThawOutcome> thaw(const std::string& mount_point);

// Thaws every mount point recorded under state_dir (reverse order per file) and removes the files
// whose mount points all ended thawed or not frozen.
[[nodiscard]] Result<std::vector<ThawReport>> thaw_all(const std::string& state_dir = "/run/ebsnap");

}  // namespace platform
