#pragma once
// ebsnap thaw [MOUNT...|--all]: the emergency hatch for filesystems left frozen.
//
// It needs no configuration and no AWS, so that it works when everything else is broken: with
// --all it thaws every mount point recorded in the freeze state files of run_dir (written by
// the thaw guardian before the first FIFREEZE; see platform/freeze_state.h), removing the files
// it fully resolved; with mount points it thaws those. Only afterwards, and only when the caller
// has EC2 at hand (config and credentials worked), are the snapshot tags of runs that died
// reconciled (agent/snapshot_record.h) — never before thawing.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/snapshot_record.h"
#include "ec2/clock.h"
#include "ec2/ec2_api.h"
#include "platform/freeze_state.h"

namespace agent {

// FITHAW of one mount point (platform::thaw by default); a seam for tests.
using ThawFunction = std::function<platform::Result<platform::ThawOutcome>(const std::string& mount_point)>;

struct ThawCommandOptions {
  std::vector<std::string> mount_points;  // explicit ones
  bool all = false;                       // every mount point recorded under run_dir
  std::filesystem::path run_dir = "/run/ebsnap";
  ThawFunction thaw;                      // empty: platform::thaw
  // Reconciliation after the thaw; both null: skipped (no config or credentials).
  ec2::Ec2Api* ec2 = nullptr;
  const ec2::Clock* clock = nullptr;
};

struct ThawEntry {
  std::string mount_point;
  platform::ThawOutcome outcome = platform::ThawOutcome::Failed;
  std::string error;  // when Failed
};

struct ThawCommandResult {
  std::vector<ThawEntry> entries;
  std::vector<ReconcileResult> reconciled;
  std::optional<std::string> error;  // e.g. run_dir unreadable, nothing to do
  bool reconcile_attempted = false;

  // Nothing failed to thaw (reconciliation problems are reported, not fatal: the hatch worked).
  [[nodiscard]] bool ok() const;
};

[[nodiscard]] ThawCommandResult run_thaw(const ThawCommandOptions& options);

}  // namespace agent
