#pragma once
// The run directory (/run/ebsnap) and the state files in it: restore attempts, freeze state
// files, snapshot run records, group locks. ebsnap acts as root on what they say (it thaws
// filesystems, deletes snapshots of a run, reuses volumes), so nobody else may write there: the
// directory is ours (owned by our euid: root in production), mode 0700, not a symlink, and every
// directory above it is safe to go through (trusted_path.h). Then only we can add, swap or
// replace an entry; the files are still opened without following a symlink, and temporary files
// are created O_EXCL, so a leftover entry is never written through.
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "platform/error.h"

namespace platform {

// Checks the run directory, making it first (mode 0700, and its missing parents) when it is
// missing and `create_missing`. Refused (kind Refused, one line naming what is wrong) when it is
// a symlink, not a directory, owned by another uid, not mode 0700, or below a directory others
// can change. NotFound when it is missing and not made.
[[nodiscard]] Result<void> check_run_directory(const std::filesystem::path& dir, bool create_missing);

// The contents of a state file in a checked run directory. Never through a symlink: a symlink
// (or anything not a regular file) is Refused; NotFound when there is none.
[[nodiscard]] Result<std::string> read_state_file(const std::filesystem::path& path);

// Replaces a state file in a checked run directory at once: "<path>.tmp" created O_EXCL and
// O_NOFOLLOW, mode `mode` whatever the umask (one left by a run that died is removed first: the
// entry itself, never what a symlink names), written, then renamed over `path`. `durable`:
// fsync'd, file and directory, before it returns. Metrics files (0644, for node_exporter) are
// written the same way.
[[nodiscard]] Result<void> write_state_file(const std::filesystem::path& path, std::string_view body,
                                            bool durable, mode_t mode = 0600);

}  // namespace platform
