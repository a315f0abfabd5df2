#pragma once
// What ebsnap watch did about a notice, per group, kept under the run directory so that a watch
// that is killed and restarted while IMDS still serves the notice does not snapshot twice:
//   run_dir/watch/<notice key>.<group>
// key=value lines: notice, group, run_id (one line per attempt, in order), done (1 once a
// snapshot of the group for this notice is known to exist). Written durably (fsync + rename,
// platform/run_dir.h) *before* the snapshot call that uses the run id: a rerun finds the
// attempt and looks for its snapshots by ebsnap:run-id before it takes another. The run directory
// is a tmpfs: a notice does not outlive the boot it came in.
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent {

struct NoticeRecord {
  std::string notice;  // the notice key ("spot-20261206T082200Z")
  std::string group;
  std::vector<std::string> run_ids;  // one per attempt, oldest first
  bool done = false;
  friend bool operator==(const NoticeRecord&, const NoticeRecord&) = default;
};

// The text of a record, and back; nullopt for text that is not one (any unknown line, a missing
// notice or group, a run id that is not one).
[[nodiscard]] std::string format_notice_record(const NoticeRecord& record);
[[nodiscard]] std::optional<NoticeRecord> parse_notice_record(std::string_view text);

class NoticeRecords {
 public:
  explicit NoticeRecords(std::filesystem::path run_dir) : dir_(std::move(run_dir) / "watch") {}

  // The record of the notice for the group: nullopt when there is none. An error (one line) when
  // it cannot be read, or holds another notice or group or cannot be parsed: watch then leaves the
  // group alone for this notice rather than guess.
  [[nodiscard]] std::expected<std::optional<NoticeRecord>, std::string> load(std::string_view notice,
                                                                           std::string_view group) const;
  // Replaces the record, durably (the run directory checked, its watch/ made when missing).
  [[nodiscard]] std::expected<void, std::string> save(const NoticeRecord& record) const;

  [[nodiscard]] std::filesystem::path path_for(std::string_view notice, std::string_view group) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace agent
