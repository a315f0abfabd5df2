#pragma once
// The run record of a snapshot in flight, and the reconciliation of runs that died.
//
// Why: a snapshot's tags are set at creation, while the filesystems are frozen, and say
// ebsnap:consistency=frozen. That is only true if the freeze held until EC2 fixed the point in
// time. If the agent is SIGKILLed with the call in flight, the thaw guardian thaws at once (the
// agent died) while EC2 may still create the snapshot afterwards, tagged "frozen" from creation.
// Nobody is left to correct it, so before the first FIFREEZE the agent writes a record under
// the run directory (/run/ebsnap: never frozen, and gone at reboot together with any freeze)
// naming the run id, the volumes and the tags each snapshot must end with. The record is removed
// only once the run's snapshots carry their final tags. A later ebsnap run (snapshot, thaw
// --all, mount, list) that finds a record whose agent is dead reconciles it: it finds the dead
// run's snapshots by the per-run tag ebsnap:run-id and retags them watchdog-thawed (keeping the
// data: a crash-consistent snapshot is still worth more to an operator than none; deleting is
// their call), unless the record says the agent itself saw the freeze hold until the response.
//
// A request may still be in flight when the next run looks (a server applies it after our
// connection died), so a record whose snapshots are not all found is kept until
// `in_flight_until` has passed; the next run looks again.
#include <chrono>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/tags.h"
#include "agent/report/report.h"
#include "ec2/clock.h"
#include "ec2/ec2_api.h"
#include "ec2/types.h"
#include "platform/error.h"

namespace agent {

struct RunRecordVolume {
  ec2::VolumeId volume_id;
  std::string mount_point;
  Consistency intended = Consistency::Frozen;  // the consistency its snapshot was created with
  // What it must end with, once the agent knows: Frozen only when the agent saw EC2's answer
  // while the filesystem was still frozen by it. nullopt (the agent died, or the answer was
  // lost): a frozen-intended snapshot is corrected to WatchdogThawed.
  std::optional<Consistency> verdict;
  std::vector<ec2::Tag> tags;  // every tag its snapshot must end with (consistency aside)

  [[nodiscard]] Consistency final_consistency() const;
};

struct RunRecord {
  std::string run_id;
  std::string group;
  std::string instance_id;
  int pid = 0;                      // the agent that wrote it
  unsigned long long pid_start = 0; // its start time (/proc/<pid>/stat field 22): pid reuse
  std::chrono::system_clock::time_point started_at{};
  std::chrono::system_clock::time_point in_flight_until{};
  std::vector<RunRecordVolume> volumes;
  std::filesystem::path path;  // where it is stored
};

// The bytes of one run record (JSON); nullopt when they are not one. path stays empty.
[[nodiscard]] std::optional<RunRecord> parse_run_record(std::string_view text);

// "<run_dir>/snapshot-<run_id>-<group>.run", written atomically (platform::write_state_file) in
// the run directory, checked and made if missing (platform/run_dir.h).
[[nodiscard]] platform::Result<void> write_run_record(const std::filesystem::path& run_dir, RunRecord& record);
void remove_run_record(const RunRecord& record);
// Every record under run_dir; unreadable ones (and symlinks, never followed) are logged and
// skipped, and a run directory that fails its check is logged and read as empty.
[[nodiscard]] std::vector<RunRecord> read_run_records(const std::filesystem::path& run_dir);
// The start time of a process (for telling a live agent from a reused pid); 0 when gone.
[[nodiscard]] unsigned long long process_start_time(int pid);
[[nodiscard]] bool record_owner_alive(const RunRecord& record);

// Reconciles every record under run_dir whose agent is dead; one report each (or `include_live`: tests). Never
// touches a filesystem: call it after thawing.
[[nodiscard]] std::vector<ReconcileReport> reconcile_interrupted_snapshots(
    ec2::Ec2Api& ec2, const ec2::Clock& clock, const std::filesystem::path& run_dir, bool include_live = false);

// Snapshots found by a run's ebsnap:run-id tag, split into those the run provably made and the
// rest. A tag is no proof (anyone allowed CreateTags can copy it onto any snapshot): a snapshot is
// the run's only if it is also of a volume the record names and started inside the run, from
// started_at to in_flight_until, give or take k_run_clock_skew between this host and EC2. The rest
// are reported and left alone: neither retagged nor deleted.
inline constexpr std::chrono::minutes k_run_clock_skew{2};
struct ByRunTag {
  std::vector<ec2::Snapshot> proven;
  std::vector<ec2::Snapshot> unproven;
};
[[nodiscard]] ByRunTag prove_by_run_tag(const RunRecord& record, const std::vector<ec2::Snapshot>& found);

// The snapshots of `record` among `found`: CreateTags for each whose tags differ from what the
// record says (ebsnap:consistency = final_consistency()), and DeleteSnapshot for snapshots whose
// volume the record does not name: `found` holds only snapshots the run provably made (an answer
// to its own call, or prove_by_run_tag's `proven`), so such a snapshot is one CreateSnapshots took
// of a volume attached after the run listed them. Shared by the live path and the reconciliation.
struct TagFixups {
  std::vector<ec2::SnapshotId> retagged;
  std::vector<ec2::SnapshotId> deleted;
  std::optional<std::string> error;
};
[[nodiscard]] TagFixups apply_final_tags(ec2::Ec2Api& ec2, const RunRecord& record,
                                         const std::vector<ec2::Snapshot>& found);

// A new run id: "<UTC yyyymmddThhmmss>.<milliseconds>-<8 hex>". Run ids of one instance sort
// as they were made, to the millisecond: a snapshot's StartTime has whole seconds only, and two
// runs in one second (a shutdown's just after the timer's) are told apart by their ids
// (agent/core/restore_points.h). Ids made before the milliseconds ("...T140000-0a1b2c3d") sort
// before those of their second.
[[nodiscard]] std::string make_run_id(const ec2::Clock& clock, ec2::RandomSource& random);

}  // namespace agent
