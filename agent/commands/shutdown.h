#pragma once
// ebsnap shutdown GROUP...: what a group's mount unit runs when it stops (ExecStop=), and what the
// sysvinit script's stop runs. The services that use the group's data order themselves after the
// mount unit (Requires= and After=), so systemd has stopped them by then: nothing writes.
//
// Per group, as its config says (decide_shutdown, pure):
//   1. "snapshot_on_shutdown": one consistent snapshot of the group, a normal run of the snapshot
//      command (its group lock, freeze window, guardian and hooks; a restore point in history, and
//      the next boot restores from it), every snapshot tagged ebsnap:trigger=shutdown. Its retention
//      is not applied: prune waits for the next timer, the shutdown has little time;
//   2. "unmount_on_shutdown": then unmount and detach (never delete) the group's volumes, as
//      ebsnap unmount does. The volumes are detached even when the snapshot failed: the data is on
//      them, and a detached volume stays.
// A group with neither does nothing. The time is bounded by the command line (--timeout): EC2
// gives a stopping instance limited time, and a run cut short is finished by the next one (the
// guardian thaws, the run record is reconciled).
//
// The report: one group report per group, its snapshot's volume lines, then its unmount's.
#include <functional>

#include "agent/core/services.h"
#include "agent/report/report.h"

namespace agent {

struct ShutdownPlan {
  bool snapshot = false;
  bool unmount = false;
  friend bool operator==(const ShutdownPlan&, const ShutdownPlan&) = default;
};

[[nodiscard]] ShutdownPlan decide_shutdown(const GroupConfig& group);

// The commands a shutdown runs (the command line passes snapshot with Trigger::Shutdown and unmount
// without delete: commands do not include each other). Each gets a context with only its groups.
struct ShutdownOptions {
  std::function<RunReport(const RunContext&)> snapshot;
  std::function<RunReport(const RunContext&)> unmount;
};

[[nodiscard]] RunReport shutdown(const RunContext& context, const ShutdownOptions& options);

}  // namespace agent
