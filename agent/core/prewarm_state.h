#pragma once
// How far the pre-warm of a volume got (agent/commands/prewarm.h), kept under the run directory
// so that a pre-warm stopped (SIGTERM, a reboot of the unit, kill -9) continues where it was:
//   run_dir/prewarm-<group>-<mount_point_key>.state
// key=value lines: group, mount_point, volume_id, size_bytes, offset (every byte below it was
// read), done (1 once the whole device was read). The volume id is the key that matters: a new
// volume at the mount point (restored again) starts over. Written by rename (platform/run_dir.h),
// so a kill at any point leaves the previous checkpoint or the new one, never half of one; not
// fsync'd: /run is a tmpfs, and a pre-warm after a reboot reads a new volume anyway.
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "agent/report/report.h"

namespace agent {

struct PrewarmState {
  std::string group;
  std::string mount_point;
  std::string volume_id;
  std::uint64_t size_bytes = 0;
  std::uint64_t offset = 0;
  bool done = false;

  // 0..100, rounded down (100 only when done).
  [[nodiscard]] std::int64_t percent() const;
  friend bool operator==(const PrewarmState&, const PrewarmState&) = default;
};

// The bytes of one state file; nullopt when size_bytes, offset (at most size_bytes) or volume_id
// is missing or malformed.
[[nodiscard]] std::optional<PrewarmState> parse_prewarm_state(std::string_view text);

class PrewarmStates {
 public:
  explicit PrewarmStates(std::filesystem::path run_dir) : run_dir_(std::move(run_dir)) {}

  [[nodiscard]] std::filesystem::path path_for(std::string_view group, std::string_view mount_point) const;

  // The state recorded for the mount point; nullopt when there is none, or when the file records
  // another group or mount point (a hash collision or a hand-edited file) or cannot be parsed.
  // An error (one line) when it cannot be read; a symlink is never followed.
  [[nodiscard]] std::expected<std::optional<PrewarmState>, std::string> load(
      std::string_view group, std::string_view mount_point) const;

  // Replaces the state file (the run directory checked, and made when missing).
  [[nodiscard]] std::expected<void, std::string> save(const PrewarmState& state) const;

 private:
  std::filesystem::path run_dir_;
};

// Where a pre-warm of `volume_id` (of `size_bytes`) starts: the saved offset when `saved` is of
// that very volume and size, else 0 (another volume: start over).
[[nodiscard]] std::uint64_t resume_offset(const std::optional<PrewarmState>& saved,
                                          std::string_view volume_id, std::uint64_t size_bytes);

// The state as prewarm and list report it: prewarm_state ("done", "partial", "not-started"),
// prewarm_percent and prewarm_offset_bytes.
void report_prewarm_state(const PrewarmState& state, VolumeReport& v);

}  // namespace agent
