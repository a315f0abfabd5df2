#pragma once
// ebsnap list: per group and configured volume, the volume of ours attached to this instance,
// its device node and mount state (state: "mounted", "attached" — attached here, not mounted
// there —, "detached" — a volume of ours exists but is not attached here — or "absent"), and
// the newest snapshot of its lineage. One DescribeVolumes and one DescribeSnapshots for the
// whole run, and one DescribeVolumeStatus for the initialization progress of the volumes created
// from a snapshot (an extra: its failure is a warning); nothing is changed.
#include "agent/core/services.h"
#include "agent/report/report.h"

namespace agent {

[[nodiscard]] RunReport list(const RunContext& context);

}  // namespace agent
