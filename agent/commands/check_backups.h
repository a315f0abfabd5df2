#pragma once
// ebsnap check-backups [GROUP...] --max-age DURATION (Snaptastic's alarm on stale backups; also
// `ebsnap check --max-age DURATION` for every group): per configured volume, the newest
// *completed* snapshot of its lineage, and whether it is fresh enough to trust. Made for
// monitoring (Nagios, cron): one line per mount point, exit 1 when any has a problem.
//
// One DescribeSnapshots (OwnerIds=self, the lineage filters of every mount point) for the whole
// run; nothing is changed. The decide step is pure: snapshots + groups + now + max age → verdicts.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/services.h"
#include "agent/report/report.h"
#include "ec2/types.h"

namespace agent {

struct CheckBackupsOptions {
  std::chrono::seconds max_age{0};
  std::string max_age_text;  // as given on the command line ("26h"), for messages
};

enum class BackupVerdict {
  Fresh,      // a completed snapshot no older than max_age, with the consistency the config asks for
  Missing,    // no completed snapshot in the lineage
  Stale,      // the newest completed snapshot is older than max_age
  NotFrozen,  // fresh, but not `frozen` although the group freezes this volume
};

struct BackupCheck {
  const GroupConfig* group = nullptr;
  const VolumeConfig* volume = nullptr;
  BackupVerdict verdict = BackupVerdict::Missing;
  std::optional<ec2::Snapshot> newest;       // the newest completed snapshot of the lineage
  std::optional<std::chrono::seconds> age;   // now - its StartTime (0 when it lies in the future)
  std::vector<std::string> problems;         // every problem found (empty ⇔ Fresh), worst first
  std::vector<std::string> notes;            // newer pending or error snapshots, for the operator
};

// Whether the config asks for `frozen` snapshots of this volume: the group freezes, and the mount
// point is not one snapshot never freezes ("/" and "/boot", platform/freeze.h).
[[nodiscard]] bool expects_frozen(const GroupConfig& group, const VolumeConfig& volume);

// Per volume of `groups` (in order), the verdict over `snapshots` (one DescribeSnapshots answer).
// A snapshot counts for a volume when it is in its lineage (in_lineage), is tagged with the
// volume's group (ebsnap:group: another group may use the same mount point) and carries
// ebsnap:run-id (without it the snapshot is not ebsnap's). Only completed snapshots count: a newer
// pending one does not make a backup yet, an error one never will. A snapshot exactly max_age old
// is still fresh.
[[nodiscard]] std::vector<BackupCheck> decide_backups(const std::vector<ec2::Snapshot>& snapshots,
                                                      const FilterValues& filters,
                                                      const std::vector<const GroupConfig*>& groups,
                                                      ec2::TimePoint now, const CheckBackupsOptions& options);

// The run: DescribeSnapshots, decide_backups with Services::clock, the report (a DescribeSnapshots
// failure is the run's error, exit 1).
[[nodiscard]] RunReport check_backups(const RunContext& context, const CheckBackupsOptions& options);

}  // namespace agent
