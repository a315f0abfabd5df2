#pragma once
// What a command did, and its two renderings: human text (default) and one JSON document
// (--json). Each command fills a RunReport; agent/cli/cli.cpp renders it on stdout and turns
// it into the exit code (0 when ok(), else 1). Logs never go to stdout.
//
// JSON schema, version 1 (stable: keys are only ever added, never renamed or removed; every
// key below is always present, null when it does not apply):
//
// {
//   "schema": 1,
//   "ebsnap_version": "0.1.0",
//   "command": "mount" | "snapshot" | "unmount" | "list" | "check" | "thaw" | "prune" | "check-backups" | "gc" |
//              "history" | "prewarm" | "shutdown" | "watch" | "freeze",  // freeze --hold; thaw GROUP is
//              "thaw" with one group (its window in freeze_window_ms, guardian_trigger)
//   "dry_run": false,                 // true: nothing was changed; outcomes are "planned"
//   "ok": true,                       // false ⇔ exit code 1
//   "error": null | "...",            // a failure of the whole run (before or beyond volumes)
//   "started_at": "2026-11-23T11:50:00.123Z",
//   "duration_ms": 812,
//   "groups": [                       // mount, snapshot, unmount, list, prune, check-backups, prewarm;
//                                     //   [] otherwise
//     { "name": "solr",
//       "ok": true,
//       "error": null | "...",        // e.g. "hook pre_snapshots /x: exited with status 1"
//       "freeze_window_ms": 41 | null,// snapshot: first FIFREEZE → last FITHAW of the group
//       "call_ms": 120 | null,        // snapshot: the call made while frozen, request → response
//       "guardian_trigger": "done" | "timeout" | "agent-died" | "signal" | null,  // snapshot
//       "ec2_calls": [ "CreateSnapshots" ],  // snapshot: the snapshot calls made
//       "restore_point": null | {     // mount: the run the group's volumes are restored from
//         "run_id": "20261203T140000-0a1b2c3d" | "untagged-20261203T140000Z",
//         "time": "2026-12-03T14:00:00.000Z", "consistency": "frozen" | "unfrozen" |
//         "watchdog-thawed" | null },
//       "skipped_runs": [             // mount: newer restore points passed over, newest first
//         { "run_id": "...", "time": "...", "reason": "/mnt/wal: snap-... in state error" } ],
//       "warnings": [ "..." ],        // mount, snapshot, unmount: e.g. "hook on_success /x: exited
//                                     //   with status 1" (the group's work was done: still ok)
//       "volumes": [
//         { "mount_point": "/mnt/solr",
//           "device": "/dev/sdf",
//           "volume_id": "vol-0123..." | null,
//           "snapshot_id": "snap-0456..." | null,  // mount: restored from; snapshot: created
//           "outcome": "restored" | "created" | "reused" | "already-mounted" | "snapshotted" |
//                      "unmounted" | "deleted" | "not-attached" | "listed" | "planned" |
//                      "skipped" | "failed" |
//                      "fresh" | "stale" | "missing" | "not-frozen",  // check-backups, below
//                      "held" | "thawed",  // freeze --hold; thaw GROUP (held until released)
//                      "prewarmed" | "interrupted",  // prewarm (interrupted: stopped by a signal, its
//                                                    //   offset saved; not a failure)
//           "reason": null | "...",               // why failed/skipped; a note otherwise
//           "freeze_ms": 38 | null,               // snapshot: how long this filesystem was frozen
//           "consistency": "frozen" | "unfrozen" | "watchdog-thawed" | null,  // snapshot
//           "duration_ms": 5120 | null,
//           "state": "mounted" | "attached" | "detached" | "absent" | null,   // list
//           "size_gib": 20 | null,                                            // list
//           "latest_snapshot_id": "snap-..." | null,                          // list
//           "latest_snapshot_time": "2026-11-23T10:00:00Z" | null,            // list
//           "latest_snapshot_state": "completed" | "pending" | "error" | null, // list
//           "initialization_progress": 42 | null, // list: percent of the volume's blocks loaded from
//                                                 //   its snapshot (DescribeVolumeStatus); 100: done
//           "initialization_eta_s": 600 | null,   // list: seconds left, as EC2 estimates them (only
//                                                 //   for a volume created at a provisioned rate)
//           "fast_restored": true | false | null, // list: created with fast snapshot restore
//           "delete_on_termination": true | false | null,  // list: the attachment's flag (EC2 deletes
//                                                 //   the volume with the instance); null: not attached
//           "latest_snapshot_age_s": 11520 | null, // check-backups: now - its StartTime, seconds
//           "attached_as": "/dev/sdg" | null,     // the name given to AttachVolume
//           "devnode": "/dev/nvme1n1" | null,     // the block device it showed up as
//           "filesystem": "xfs" | null,
//           "formatted": true | false | null,     // mount: mkfs ran
//           "plan": [ "..." ],                    // --dry-run: the steps that would run
//           "steps": [ "..." ],                   // the steps that ran (the same words as plan)
//           "warnings": [ "..." ],                // e.g. a skipped error snapshot
//           "left_alone": [ "vol-..." ],          // unmount --delete-volumes: detached volumes
//                                                 //   tagged as ours that no detach record shows
//                                                 //   this instance's unmount detached: not deleted
//           "prewarm_state": "done" | "partial" | "not-started" | null,  // prewarm, list: the state
//                                                 //   file of the volume attached now, if any
//           "prewarm_percent": 45 | null,         // prewarm, list
//           "prewarm_offset_bytes": 1073741824 | null,  // prewarm, list: every byte below was read
//           "prewarm_from_bytes": 0 | null,       // prewarm: where this run started reading
//           "prewarm_bytes_read": 1073741824 | null,  // prewarm: read by this run
//           "prewarm_mibps": 118.4 | null         // prewarm: this run's average
//         } ] } ],
//                                     // check-backups: latest_snapshot_* and consistency are the
//                                     //   newest *completed* snapshot's; outcome "fresh" (ok),
//                                     //   "missing" (none completed), "stale" (older than
//                                     //   --max-age), "not-frozen" (fresh, but its consistency is
//                                     //   not frozen while the group freezes the volume); all but
//                                     //   fresh make ok false; reason says why
//   "thaw": [                         // thaw; [] otherwise
//     { "mount_point": "/mnt/solr", "outcome": "thawed" | "not-frozen" | "failed" | "planned",
//       "reason": null | "..." } ],
//   "checks": [                       // check; [] otherwise
//     { "name": "imds", "ok": true, "detail": "IMDSv2 reachable, instance i-0123...",
//       "verdict": null,              // ec2:* checks: "allowed" | "missing" | "unknown" |
//                                     //   "unproven" (ok: a grant only on ebsnap's tagged
//                                     //   resources, and none of them to try it on yet)
//       "tagged_resource": null,    // ec2:* checks: "vol-..." | "snap-...", the resource of
//                                     //   ebsnap's (tagged ebsnap:group) the DryRun named
//       "warning": false } ],         // true: ok, but something to look at ("[warn]"; exit 0),
//                                     //   e.g. delete_on_termination.GROUP
//   "missing_actions": [ "ec2:CreateSnapshots" ],  // check: actions DryRun refused; [] otherwise
//   "reconciled": [                   // snapshot, thaw: runs that died mid-snapshot; [] otherwise
//     { "run_id": "...", "group": "solr",
//       "found": [ "snap-..." ],      // the dead run's snapshots
//       "retagged": [ "snap-..." ],   // ebsnap:consistency corrected (watchdog-thawed)
//       "deleted": [ "snap-..." ],    // snapshots of volumes the run did not ask for
//       "left_alone": [ "snap-..." ], // carry the run's tag but are not provably its own
//       "record_removed": true,       // false: a later run looks again
//       "error": null | "...",
//       "note": "..." } ],
//   "prune": [                        // prune, and snapshot with prune_after_snapshot; [] otherwise
//     { "group": "solr",
//       "runs": [                     // every run of the group, oldest first
//         { "run_id": "20261203T140000-0a1b2c3d",
//           "time": "2026-12-03T14:00:00.000Z",  // its earliest snapshot's StartTime
//           "verdict": "keep" | "delete" | "defer",  // defer: max_deletes_per_run reached
//           "reasons": [ "newest", "hourly 2026-12-03T14" ],  // agent/commands/prune_decide.h
//           "mount_points": [ "/mnt/solr" ],
//           "snapshots": [ "snap-..." ],
//           "expires": null | "2027-12-03T14:00:00Z" } ],
//       "lineages": [ { "mount_point": "/mnt/solr", "runs": [ "<run_id>", ... ],  // oldest first
//                       "newest": "<run_id>" | null } ],
//       "planned": [ "snap-..." ],    // the deletes of the plan, in order
//       "deleted": [ "snap-..." ],    // DeleteSnapshot succeeded
//       "already_gone": [ "snap-..." ],  // NotFound: deleted by someone else meanwhile
//       "in_use": [ "snap-..." ],     // InvalidSnapshot.InUse (an AMI uses it): kept, not a failure
//       "failed": [ { "snapshot_id": "snap-...", "error": "..." } ],
//       "not_attempted": [ "snap-..." ],  // planned, not tried: the run stopped (error above)
//       "deferred": 0,                // snapshots left for the next prune (max_deletes_per_run)
//       "skipped": 0,                 // snapshots of the answer in no run of this group
//       "throttled": 0,               // DeleteSnapshot still throttled after the client's pacing: 0 or 1 (it stops the group)
//       "delete_rate_per_s": 2 } ],
//   "copy": [                         // copy, and snapshot with copy_after_snapshot; [] otherwise
//     { "group": "solr", "source_region": "eu-west-1", "region": "us-west-2",
//       "runs": [                     // the runs not yet whole there, oldest first (agent/commands/copy.h)
//         { "run_id": "...", "time": "2026-12-03T14:00:00.000Z",  // the source's point in time
//           "state": "planned" | "copied" | "copying" | "failed" | "not-attempted",
//           "snapshots": [ { "mount_point": "/mnt/solr", "source_snapshot_id": "snap-...",
//                            "snapshot_id": "snap-..." | null,  // the copy
//                            "state": "planned" | "copied" | "copying" | "failed" | "not-attempted",
//                            "progress": 100 | null, "error": null | "..." } ] } ],
//       "already_copied": 12,         // runs already whole there
//       "skipped": [ { "run_id": "...", "time": "...", "reason": "..." } ],  // not copied (incomplete,
//                                     //   pending, or a copy from that region)
//       "copies_started": 3,          // CopySnapshot calls EC2 accepted
//       "throttled": 0,               // CopySnapshot throttled (waited out, retried)
//       "limit_exceeded": 0,          // ResourceLimitExceeded: 20 copies pending there (waited out)
//       "error": null | "..." } ],
//   "refused": false,                 // true: the run refused before changing anything (exit 2),
//                                     //   e.g. mount --as-of on a group that is mounted; error says why
//   "history": [                      // history; [] otherwise
//     { "group": "pg",
//       "points": [                   // newest first
//         { "run_id": "...", "time": "2026-12-03T14:00:00.000Z",
//           "tagged": true,           // false: snapshots without run id, grouped by StartTime
//           "consistency": "frozen" | "unfrozen" | "watchdog-thawed" | null,
//           "complete": true,         // restorable: no member in error or missing
//           "problem": null | "...",  // why not complete
//           "size_gib": 40,
//           "members": [ { "mount_point": "/mnt/pg",
//                          "state": "completed" | "pending" | "error" | "missing" | "not-yet",
//                          "snapshot_id": "snap-..." | null, "size_gib": 20 | null,
//                          "progress": 100 | null } ] } ],
//       "foreign": [ { "mount_point": "/mnt/pg", "group": "other", "count": 3 } ],
//       "region": "us-west-2",      // where these points are (history --region R)
//       "newest_complete_age_s": 3600 | null } ],  // its RPO: the newest complete point's age
//                                     //   another group's snapshots of the mount point: never used
//   "gc": [                           // gc: ebsnap's available volumes it found; [] otherwise
//     { "volume_id": "vol-...", "group": "solr", "mount_point": "/mnt/solr",
//       "created_at": "2026-11-23T10:00:00.000Z" | null,  // CreateTime
//       "size_gib": 20 | null,
//       "outcome": "deleted" | "planned" | "left" | "failed",
//       "reason": null | "...",       // left: why it is kept; failed: why DeleteVolume failed
//       "plan": [ "..." ],            // "planned": the step a real run would carry out
//       "steps": [ "..." ] } ]        // "deleted": the step carried out (the same words)
//   "trigger": null | "shutdown" | "spot" | "rebalance",  // shutdown, watch: the run's ebsnap:trigger
//   "notice": null | {                // watch: the notice IMDS served that this report answers
//     "kind": "spot" | "rebalance",   // spot/instance-action or events/recommendations/rebalance
//     "action": "terminate" | "stop" | "hibernate" | null,  // spot: what EC2 will do
//     "time": "2026-12-06T08:22:00Z", // spot: when; rebalance: the notice time
//     "groups": [                     // per group: what was done for this notice, once
//       { "group": "pg", "run_id": "...",
//         "outcome": "snapshotted" | "already-taken" | "failed",  // already-taken: an earlier
//                                     //   watch (killed, restarted) made this notice's snapshot
//         "attempts": 1 } ] },
//   "ec2_requests": {                 // the EC2 requests the run sent, by action; {} when none
//     "CreateVolume": { "requests": 3, "throttled": 1 } },  // a retry is a request of its own;
//                                     //   throttled: those EC2 answered with a throttling error
//   "copy": [ ... ],                  // above, after "prune"
//   "region": "eu-west-1" | null      // the run's region; null when the run stopped before knowing it
// }
#include <chrono>
#include <map>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "platform/freeze_state.h"

namespace agent {

inline constexpr int k_report_schema_version = 1;

enum class Outcome {
  Restored,         // mount: a new volume from the latest snapshot, mounted
  Created,          // mount: no snapshot yet; a new empty volume, formatted and mounted
  Reused,           // mount: our volume left attached (or created) by a run that died, mounted
  AlreadyMounted,   // mount: the right volume was already mounted; nothing done
  Snapshotted,      // snapshot: the snapshot was created (pending is enough)
  Unmounted,        // unmount: unmounted and detached
  Deleted,          // unmount --delete-volumes: unmounted, detached and deleted
  NotAttached,      // unmount: no volume of ours attached for that mount point; nothing done
  Listed,           // list
  Planned,          // --dry-run: what would be done is in reason
  Skipped,          // not attempted (a pre-hook failed, or an earlier step of the group)
  Failed,           // reason says why
  Fresh,            // check-backups: the newest completed snapshot is recent enough (and frozen if asked)
  Stale,            // check-backups: the newest completed snapshot is older than --max-age
  Missing,          // check-backups: no completed snapshot
  NotFrozen,        // check-backups: recent, but not frozen although the group freezes the volume
  Prewarmed,        // prewarm: every block read (now, before, or by the prewarm --wait waited for)
  Interrupted,      // prewarm: stopped by SIGINT/SIGTERM, its offset saved for the next run
  Held,             // freeze --hold: frozen, and left frozen by the guardian until `thaw GROUP` or its bound
  Thawed,           // thaw GROUP: the hold was released by `thaw GROUP`, frozen until then
};
[[nodiscard]] std::string_view to_string(Outcome outcome);

struct VolumeReport {
  std::string mount_point;
  std::string device;
  std::optional<std::string> volume_id;
  std::optional<std::string> snapshot_id;
  Outcome outcome = Outcome::Failed;
  std::optional<std::string> reason;
  std::optional<std::int64_t> freeze_ms;
  std::optional<std::string> consistency;
  std::optional<std::int64_t> duration_ms;
  // list
  std::optional<std::string> state;
  std::optional<std::int64_t> size_gib;
  std::optional<std::string> latest_snapshot_id;
  std::optional<std::string> latest_snapshot_time;
  std::optional<std::string> latest_snapshot_state;
  std::optional<std::int64_t> latest_snapshot_age_s;  // check-backups
  std::optional<std::int64_t> initialization_progress;  // list: percent (DescribeVolumeStatus)
  std::optional<std::int64_t> initialization_eta_s;     // list: seconds left, when EC2 estimates them
  std::optional<bool> fast_restored;                    // list
  std::optional<bool> delete_on_termination;            // list: the attachment's flag; nullopt: not attached
  // where the volume is (mount, unmount, list)
  std::optional<std::string> attached_as;
  std::optional<std::string> devnode;
  std::optional<std::string> filesystem;
  std::optional<bool> formatted;
  std::vector<std::string> plan;   // --dry-run: what the decide step planned
  std::vector<std::string> steps;  // what the act step carried out, in the plan's words
  std::vector<std::string> warnings;
  // unmount --delete-volumes: volumes tagged as ours, not provably ours (agent/core/detach_record.h)
  std::vector<std::string> left_alone;
  // prewarm, and list from the state file (agent/core/prewarm_state.h)
  std::optional<std::string> prewarm_state;
  std::optional<std::int64_t> prewarm_percent;
  std::optional<std::int64_t> prewarm_offset_bytes;
  std::optional<std::int64_t> prewarm_from_bytes;
  std::optional<std::int64_t> prewarm_bytes_read;
  std::optional<double> prewarm_mibps;
};

// The restore point a mount chose for a group, and the newer ones it passed over.
struct RestorePointReport {
  std::string run_id;
  std::string time;
  std::optional<std::string> consistency;
};

struct SkippedRunReport {
  std::string run_id;
  std::string time;
  std::string reason;
};

struct GroupReport {
  std::string name;
  std::vector<VolumeReport> volumes;
  std::optional<std::int64_t> freeze_window_ms;
  std::optional<std::int64_t> call_ms;
  std::optional<std::string> guardian_trigger;
  std::vector<std::string> ec2_calls;
  std::optional<std::string> error;
  std::optional<RestorePointReport> restore_point;  // mount
  std::vector<SkippedRunReport> skipped_runs;       // mount
  std::vector<std::string> warnings;                // e.g. a failed on_success hook; never a failure

  // No group error and no failed volume (check-backups: stale, missing and not-frozen count as failed).
  [[nodiscard]] bool ok() const;
  // Adds one line to the group's error ("; " between lines).
  void add_error(const std::string& line);
};

struct ThawReport {
  std::string mount_point;
  std::optional<platform::ThawOutcome> outcome;  // nullopt: --dry-run ("planned")
  std::optional<std::string> reason;
};

struct CheckReport {
  std::string name;    // "imds", "identity", "region", "credentials", "config", "udevd", ...
  bool ok = false;
  std::string detail;  // never a secret: credential *source*, not keys
  // The EC2 permission checks ("ec2:DeleteVolume"): "allowed", "missing", "unproven" or "unknown"
  // (PermissionProbe::Verdict), and the resource of ebsnap's their DryRun named, if any.
  std::optional<std::string> verdict;
  std::optional<std::string> tagged_resource;
  bool warning = false;  // ok, with something to look at: shown as [warn], never fails the run
};

// A run that died mid-snapshot, reconciled by this one (agent/core/snapshot_record.h). Its problems
// are shown, not fatal: the snapshots exist, only their tags may still say too much.
struct ReconcileReport {
  std::string run_id;
  std::string group;
  std::vector<std::string> found;
  std::vector<std::string> retagged;
  std::vector<std::string> deleted;
  std::vector<std::string> left_alone;  // tagged with the run id, not provably the run's
  bool record_removed = false;
  std::optional<std::string> error;
  std::string note;
};

// One group's prune: the plan (every run, its verdict and reasons) and what came of its deletes.
struct PruneRunReport {
  std::string run_id;
  std::string time;
  std::string verdict;
  std::vector<std::string> reasons;
  std::vector<std::string> mount_points;
  std::vector<std::string> snapshots;
  std::optional<std::string> expires;
};

struct PruneLineageReport {
  std::string mount_point;
  std::vector<std::string> runs;
  std::optional<std::string> newest;
};

struct PruneFailure {
  std::string snapshot_id;
  std::string error;
};

struct PruneReport {
  std::string group;
  std::vector<PruneRunReport> runs;
  std::vector<PruneLineageReport> lineages;
  std::vector<std::string> planned;
  std::vector<std::string> deleted;
  std::vector<std::string> already_gone;
  std::vector<std::string> in_use;
  std::vector<PruneFailure> failed;
  std::vector<std::string> not_attempted;
  std::int64_t deferred = 0;
  std::int64_t skipped = 0;
  std::int64_t throttled = 0;
  std::int64_t delete_rate_per_s = 0;
};

// copy: one group's copies to one destination region (agent/commands/copy.h).
struct CopySnapshotReport {
  std::string mount_point;
  std::string source_snapshot_id;
  std::optional<std::string> snapshot_id;
  std::string state;  // "planned" | "copied" | "copying" | "failed" | "not-attempted"
  std::optional<std::int64_t> progress;
  std::optional<std::string> error;
};

struct CopyRunReport {
  std::string run_id;
  std::string time;
  std::string state;  // as a snapshot's, for the whole run
  std::vector<CopySnapshotReport> snapshots;
};

struct CopyReport {
  std::string group;
  std::string source_region;
  std::string region;
  std::vector<CopyRunReport> runs;
  std::int64_t already_copied = 0;
  std::vector<SkippedRunReport> skipped;
  std::int64_t copies_started = 0;
  std::int64_t throttled = 0;
  std::int64_t limit_exceeded = 0;
  std::optional<std::string> error;
};

// history: one group's restore points (agent/core/restore_points.h).
struct HistoryMemberReport {
  std::string mount_point;
  std::string state;
  std::optional<std::string> snapshot_id;
  std::optional<std::int64_t> size_gib;
  std::optional<std::int64_t> progress;
};

struct HistoryPointReport {
  std::string run_id;
  std::string time;
  bool tagged = true;
  std::optional<std::string> consistency;
  bool complete = false;
  std::optional<std::string> problem;
  std::int64_t size_gib = 0;
  std::vector<HistoryMemberReport> members;
};

struct ForeignReport {
  std::string mount_point;
  std::string group;
  std::int64_t count = 0;
};

struct HistoryReport {
  std::string group;
  std::string region;  // where the points are (history --region R: a copy_to region)
  // The age of the newest complete point: what a restore there would lose (its RPO, in a copy's
  // region); none without a complete point.
  std::optional<std::int64_t> newest_complete_age_s;
  std::vector<HistoryPointReport> points;
  std::vector<ForeignReport> foreign;
};

enum class GcOutcome { Deleted, Planned, Left, Failed };
[[nodiscard]] std::string_view to_string(GcOutcome outcome);

// gc: one of ebsnap's available volumes (agent/commands/gc.h).
struct GcReport {
  std::string volume_id;
  std::string group;
  std::string mount_point;
  std::optional<std::string> created_at;
  std::optional<std::int64_t> size_gib;
  GcOutcome outcome = GcOutcome::Left;
  std::optional<std::string> reason;
  std::vector<std::string> plan;
  std::vector<std::string> steps;
};

// watch: one group's answer to a notice (agent/commands/watch.h).
struct NoticeGroupReport {
  std::string group;
  std::string run_id;
  std::string outcome;  // "snapshotted" | "already-taken" | "failed"
  std::int64_t attempts = 0;
};

struct NoticeReport {
  std::string kind;
  std::optional<std::string> action;
  std::string time;
  std::vector<NoticeGroupReport> groups;
};

// The EC2 requests of one action (ec2::CallStats, copied: agent/report does not include ec2/).
struct Ec2Requests {
  std::uint64_t requests = 0;
  std::uint64_t throttled = 0;
};

struct RunReport {
  std::string command;  // canonical name: "mount", "snapshot", ...
  bool dry_run = false;
  std::optional<std::string> error;
  std::chrono::system_clock::time_point started_at{};
  std::optional<std::int64_t> duration_ms;
  std::vector<GroupReport> groups;
  std::vector<ThawReport> thaw;
  std::vector<CheckReport> checks;
  std::vector<std::string> missing_actions;
  std::vector<ReconcileReport> reconciled;
  std::vector<PruneReport> prune;
  std::vector<CopyReport> copy;
  std::vector<GcReport> gc;
  bool refused = false;  // refused before changing anything: exit 2 (error says why)
  std::vector<HistoryReport> history;
  std::optional<std::string> trigger;  // snapshot, shutdown, watch: ebsnap:trigger (agent/core/tags.h)
  std::optional<NoticeReport> notice;  // watch
  std::map<std::string, Ec2Requests> ec2_requests;  // by action: what the run sent to EC2
  std::string region;  // the run's region (--region, else the environment, config or IMDS); "" before it is known

  // No run error, every group ok, no failed thaw or gc volume, every check ok, no missing action. The one
  // definition of success: the exit code is 0 exactly when this holds.
  [[nodiscard]] bool ok() const;

  // The report of group `name`, made on first use (groups keep the order they first appear in).
  GroupReport& group(const std::string& name);
  // Adds one line to the run's error ("; " between lines).
  void add_error(const std::string& line);
  // The run stopped before doing anything for its groups (set-up failed, a group was in use):
  // the run's error says why, and so does every group's, which is therefore not ok.
  void not_run(const std::string& line);
};

// A report for `command` whose groups are `group_names`, each present even when nothing is
// done for it, started now.
[[nodiscard]] RunReport new_report(std::string command, bool dry_run, const std::vector<std::string>& group_names = {});
// Adds what `part` (the report of a command run for some of the groups, e.g. shutdown's snapshot)
// did to `into`: each group's volume lines, freeze window, calls, warnings and error, the run's error (prefixed
// with part's command) and the runs it reconciled.
void absorb_report(RunReport& into, RunReport part);
// Sets duration_ms from started_at.
void finish_report(RunReport& report);

// The JSON document above.
[[nodiscard]] nlohmann::ordered_json to_json(const RunReport& report);
// to_json, pretty-printed, one document ending in a newline.
[[nodiscard]] std::string render_json(const RunReport& report);
// Human text for a terminal: one block per group, one line per volume; list as a table; check
// as [ok]/[FAIL] lines and the missing actions as an IAM policy statement.
[[nodiscard]] std::string render_text(const RunReport& report);

// An age for people: "45s", "12m", "3h12m", "2d4h".
[[nodiscard]] std::string format_age(std::chrono::seconds age);

// "2026-11-23T11:50:00.123Z"
[[nodiscard]] std::string format_utc(std::chrono::system_clock::time_point t);

}  // namespace agent
