#pragma once
// Detach records: the proof that this instance's `unmount --delete-volumes` detached a volume in
// order to delete it, kept under the run directory (/run/ebsnap).
//
// Why: a run that dies between DetachVolume and DeleteVolume leaves the volume detached, and
// the next `unmount --delete-volumes` should finish the job. Tags cannot tell that volume from
// any other: anyone allowed CreateTags can copy ebsnap:group, ebsnap:mount-point and
// ebsnap:instance-id onto a volume that is not ours. So, before DetachVolume, the run writes a
// record naming the volume, the group, the mount point, this instance and the time (durably:
// fsync + rename, so that a crash right after the call still finds it). A later run deletes a
// detached volume only when a record names exactly that volume (and its tags still say ours);
// any other is left alone and reported. The record goes once the volume is deleted, or when
// EC2 refused the DetachVolume (the volume is attached as it was: nothing to finish).
//
// /run is a tmpfs: after a reboot the records are gone, and a volume left detached before it is
// left alone. That is the safe outcome: a leak an operator can see (the run reports it), never
// the deletion of a volume the run cannot prove it detached.
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ec2/types.h"
#include "platform/error.h"

namespace agent {

struct DetachRecord {
  ec2::VolumeId volume_id;
  std::string group;
  std::string mount_point;
  std::string instance_id;
  std::chrono::system_clock::time_point written_at{};  // just before DetachVolume was sent
  std::filesystem::path path;                          // where it is stored
};

// The bytes of one record (JSON); nullopt when they are not a record of ours with a valid volume
// id, group, mount point and instance. path stays empty.
[[nodiscard]] std::optional<DetachRecord> parse_detach_record(std::string_view text);

// "<run_dir>/detach-<volume id>-<group>.record". A volume id that is not "vol-" and hex digits
// gives an empty path (it is never used in a file name).
[[nodiscard]] std::filesystem::path detach_record_path(const std::filesystem::path& run_dir,
                                                       const ec2::VolumeId& volume, std::string_view group);

// Writes `record` durably (platform::write_state_file, fsync'd) in the run directory, checked
// and made if missing (platform/run_dir.h); sets record.path.
[[nodiscard]] platform::Result<void> write_detach_record(const std::filesystem::path& run_dir,
                                                         DetachRecord& record);

// Removes the record of (volume, group), if there is one; a failure is logged (a record whose
// volume is gone proves nothing about any other volume).
void remove_detach_record(const std::filesystem::path& run_dir, const ec2::VolumeId& volume,
                          std::string_view group);

// The records of `group` under run_dir. One that cannot be read, is not one of ours, or whose
// file name is not the one its contents give (a symlink is never followed) is no proof: one
// warning line names the file, and it is skipped. A run directory that fails its check is logged
// and read as empty.
[[nodiscard]] std::vector<DetachRecord> read_detach_records(const std::filesystem::path& run_dir,
                                                            std::string_view group);

// Whether a record among `records` names exactly `volume`, at `mount_point`, by `instance`.
[[nodiscard]] bool detach_recorded(const std::vector<DetachRecord>& records, const ec2::VolumeId& volume,
                                   std::string_view mount_point, const ec2::InstanceId& instance);

}  // namespace agent
