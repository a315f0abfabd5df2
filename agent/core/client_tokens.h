#pragma once
// Restore attempts and their EC2 ClientTokens, kept under the run directory (/run/ebsnap).
//
// EC2 binds a CreateVolume ClientToken to the first volume made with it, for hours, even after
// that volume is deleted: a token is therefore unique per restore attempt, never per mount
// point. The token is written (fsync + rename) *before* CreateVolume, so that a rerun after a
// crash in the same boot sends the same token and gets the same volume instead of a second
// one; once CreateVolume answered, the volume id is recorded beside it, so that a rerun can
// tell "never created" (send the token again) from "created and since deleted" (new attempt).
// /run is a tmpfs: a reboot starts fresh attempts, which is what a new boot wants.
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent {

struct RestoreAttempt {
  std::string token;                     // the ClientToken, also the volume's ebsnap:attempt tag
  std::optional<std::string> volume_id;  // set once CreateVolume answered
  bool formatted = false;                // the mkfs of its new, empty volume completed
};

struct TokenError {
  std::string message;  // one line, naming the file
};

// An attempt file's key=value lines (token, volume_id, mount_point, formatted): the attempt, and
// the mount point it was recorded for. Unknown lines are skipped; whether the token is valid is
// the caller's check.
struct ParsedAttempt {
  RestoreAttempt attempt;
  std::string mount_point;
};
[[nodiscard]] ParsedAttempt parse_attempt(std::string_view text);

// The attempt files of one run directory. Each file holds one attempt of one mount point of one
// group. Thread-safe as long as two threads never work on the same (group, mount point).
class ClientTokens {
 public:
  explicit ClientTokens(std::filesystem::path run_dir) : run_dir_(std::move(run_dir)) {}

  // run_dir/restore-<group>-<16 hex digits of a hash of the mount point>.token
  [[nodiscard]] std::filesystem::path path_for(std::string_view group, std::string_view mount_point) const;

  // The attempt recorded for this mount point; nullopt when there is none (or the file is not
  // one of ours: it is then ignored and replaced by the next attempt). An error when it cannot be
  // read; a symlink is never followed.
  [[nodiscard]] std::expected<std::optional<RestoreAttempt>, TokenError> load(
      std::string_view group, std::string_view mount_point) const;

  // Records a new attempt with a fresh random token (in the run directory, checked and made if
  // missing: platform/run_dir.h).
  [[nodiscard]] std::expected<RestoreAttempt, TokenError> begin(std::string_view group,
                                                                std::string_view mount_point) const;

  // Records how far the attempt got: the volume CreateVolume returned, then its mkfs.
  [[nodiscard]] std::expected<void, TokenError> record(std::string_view group, std::string_view mount_point,
                                                       const RestoreAttempt& attempt) const;

  // The attempt is over (the volume is mounted): the next restore of this mount point is a new one.
  [[nodiscard]] std::expected<void, TokenError> finish(std::string_view group,
                                                       std::string_view mount_point) const;

  [[nodiscard]] const std::filesystem::path& run_dir() const { return run_dir_; }

 private:
  [[nodiscard]] std::expected<void, TokenError> write(std::string_view group, std::string_view mount_point,
                                                      const RestoreAttempt& attempt) const;
  std::filesystem::path run_dir_;
};

// Every restore attempt recorded in `run_dir` (restore-*.token), whatever its group or mount point:
// what gc must not touch (a mount of this boot may still be creating or attaching the volume).
// A missing run directory holds none; a file that cannot be read is an error, since what it
// protects cannot be known. Files whose token is not one of ours are skipped.
[[nodiscard]] std::expected<std::vector<RestoreAttempt>, TokenError> live_attempts(
    const std::filesystem::path& run_dir);

// A new random ClientToken: "ebsnap-" and 32 hex digits (EC2 allows up to 64 ASCII characters).
[[nodiscard]] std::string new_client_token();

}  // namespace agent
