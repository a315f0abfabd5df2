#pragma once
// Freezing a set of filesystems for a snapshot: syncfs first (outside the window), then FIFREEZE
// of all of them concurrently (one ext4 FIFREEZE costs tens of milliseconds even after syncfs, so a
// sequential loop would multiply the stall by N), FITHAW in reverse order.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "platform/error.h"
#include "platform/freeze_ops.h"

namespace platform {

struct FreezeOptions {
  // Never frozen, nor anything on the same filesystem (compared by st_dev, not by path).
  std::vector<std::string> protected_paths = {"/", "/boot"};
  // The agent's runtime state: its filesystem is never frozen either.
  std::string runtime_dir = "/run/ebsnap";
  // The time of the entries' stamps (the agent injects its clock); empty: steady_clock.
  std::function<std::chrono::steady_clock::time_point()> now;
  // Told of each filesystem FIFREEZE found frozen by someone else, before freeze() returns, on
  // success and failure alike (the thaw guardian must leave those alone).
  std::function<void(const std::string& mount_point)> on_already_frozen;
};

// Refused when a mount point is (on the filesystem of) a protected path or the runtime dir, is not
// the root of a mount (FIFREEZE on a plain directory would freeze the filesystem holding it), or
// appears twice.
[[nodiscard]] Result<void> check_freezable(FreezeOps& ops, const std::vector<std::string>& mount_points,
                                           const FreezeOptions& options = {});

// syncfs of every mount point, concurrently; the first error is returned after all finished.
[[nodiscard]] Result<void> sync_filesystems(FreezeOps& ops, const std::vector<std::string>& mount_points);

enum class FreezeState {
  Pending,        // not attempted
  Frozen,         // frozen by us
  AlreadyFrozen,  // EBUSY: frozen by someone else; reported, never thawed by us
  Failed,         // FIFREEZE failed
  Thawed,         // frozen by us, then thawed
  NotFrozen,      // at thaw: EINVAL, it was not frozen any more (e.g. the guardian thawed it)
  ThawFailed,
};
[[nodiscard]] std::string_view to_string(FreezeState state);

struct FreezeEntry {
  std::string mount_point;
  FreezeState state = FreezeState::Pending;
  std::optional<Error> error;
  std::chrono::steady_clock::time_point freeze_started{};
  std::chrono::steady_clock::time_point frozen_at{};  // FIFREEZE returned
  std::chrono::steady_clock::time_point thawed_at{};  // FITHAW returned
};

class FreezeSet {
 public:
  // check_freezable, then FIFREEZE every mount point, one thread each. If any fails (other than
  // AlreadyFrozen), thaws the ones it froze, in reverse order, and returns the error.
  [[nodiscard]] static Result<FreezeSet> freeze(FreezeOps& ops, std::vector<std::string> mount_points,
                                                const FreezeOptions& options = {});

  FreezeSet(FreezeSet&& other) noexcept;
  FreezeSet& operator=(FreezeSet&&) = delete;
  FreezeSet(const FreezeSet&) = delete;
  FreezeSet& operator=(const FreezeSet&) = delete;
  // Thaws whatever is still frozen by us.
  ~FreezeSet();

  // FITHAW in reverse order of the set. NotFrozen counts as success (someone, e.g. the guardian,
  // thawed it already); other failures are returned after every thaw was attempted.
  [[nodiscard]] Result<void> thaw();

  [[nodiscard]] const std::vector<FreezeEntry>& entries() const { return entries_; }
  [[nodiscard]] bool frozen() const;  // something is still frozen by us

  // Gives the freezes up without thawing them: someone else (a holding guardian) thaws them.
  void release() { ops_ = nullptr; }

 private:
  FreezeSet(FreezeOps& ops, std::vector<FreezeEntry> entries, std::function<std::chrono::steady_clock::time_point()> now)
      : ops_(&ops), entries_(std::move(entries)), now_(std::move(now)) {}
  FreezeOps* ops_ = nullptr;
  std::vector<FreezeEntry> entries_;
  std::function<std::chrono::steady_clock::time_point()> now_;
};

}  // namespace platform
