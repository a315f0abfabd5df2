#pragma once
// ebsnap history GROUP... (list-snapshots): the groups' restore points, newest first, as a restore
// sees them (agent/core/restore_points.h): per point its time, run id, consistency, whether it is
// complete, and each mount point's snapshot and state; and the newest complete point's age (in a
// copy_to region, `history GROUP --region R`, that is how far behind the copies are: the RPO). One DescribeSnapshots (OwnerIds=self, the
// lineage filters of every mount point, paginated) for the whole run; nothing is changed.
#include "agent/core/services.h"
#include "agent/report/report.h"

namespace agent {

[[nodiscard]] RunReport history(const RunContext& context);

}  // namespace agent
