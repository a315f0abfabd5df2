#pragma once
// ebsnap thaw [MOUNT...|--all]: the emergency hatch for filesystems left frozen.
//
// It needs no configuration and no AWS, so that it works when everything else is broken: with
// --all it thaws every mount point recorded in the freeze state files of run_dir (written by
// the thaw guardian before the first FIFREEZE; see platform/freeze_state.h), removing the files
// it fully resolved; with mount points it thaws those. Only afterwards, and only when the caller
// has EC2 at hand (config and credentials worked), are the snapshot tags of runs that died
// reconciled (agent/core/snapshot_record.h) — never before thawing.
//
// decide: plan_thaw, from the command line and the state files to the mount points to thaw;
// --dry-run prints that plan. act: FITHAW of each, once.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/report/report.h"
#include "ec2/clock.h"
#include "ec2/ec2_api.h"
#include "platform/freeze_state.h"

namespace agent {

// FITHAW of one mount point (platform::thaw by default); a seam for tests.
using ThawFunction = std::function<platform::Result<platform::ThawOutcome>(const std::string& mount_point)>;

struct ThawOptions {
  std::vector<std::string> mount_points;  // explicit ones
  bool all = false;                       // every mount point recorded under run_dir
  bool dry_run = false;                   // print what would be thawed; thaw nothing
  std::filesystem::path run_dir = "/run/ebsnap";
  ThawFunction thaw;                      // empty: platform::thaw
  // Reconciliation after the thaw; both null: skipped (no config or credentials).
  ec2::Ec2Api* ec2 = nullptr;
  const ec2::Clock* clock = nullptr;
};

// One mount point to thaw, and why: named on the command line, or recorded in a state file.
struct ThawTarget {
  std::string mount_point;
  std::optional<std::string> state_file;
};

struct ThawPlan {
  std::vector<ThawTarget> targets;  // each mount point once: named ones first, then each file's in reverse
  std::optional<std::string> error;
};

// decide: the mount points named, then (--all) those of each state file in reverse order.
[[nodiscard]] ThawPlan plan_thaw(const std::vector<std::string>& mount_points, bool all,
                                 const std::vector<platform::FreezeStateRecord>& records);

// Thaws (or, with dry_run, plans); a state file is removed once all its mount points ended
// thawed or not frozen. Reconciliation problems are reported, not fatal: the hatch worked.
[[nodiscard]] RunReport thaw(const ThawOptions& options);

}  // namespace agent
