#pragma once
// Paths ebsnap may act on as root, checked so that nobody else can redirect them.
//
// Who is trusted: root, and the user running ebsnap (who can only harm itself; in production
// ebsnap runs as root, so there that is root alone). A directory is safe to go through when a
// trusted owner owns it and group and others cannot write it; a sticky directory writable by all
// (/tmp) is safe too when the entry below it is trusted's, since others cannot replace that entry.
#include <sys/types.h>

#include <optional>
#include <string>

#include "platform/error.h"
#include "platform/fd.h"

namespace platform {

[[nodiscard]] bool trusted_owner(uid_t uid);

// "0755"
[[nodiscard]] std::string mode_octal(mode_t mode);

// Why a file at `path` (a config file, say) cannot be trusted, or nothing: every directory above
// it, both as given and with symlinks resolved, must be safe to go through (one line).
[[nodiscard]] std::optional<std::string> untrusted_directory_problem(const std::string& path);

// The file at `path` (absolute) opened O_PATH, following symlinks, but only through directories
// that are safe to go through: every directory on the path as given, the directory holding each
// symlink met, and every directory its target leads through (a symlink may lead through another).
// The path is walked one component at a time, so what is returned is what was checked: act on
// the descriptor (fstat it, run it), never on the path again. NotFound when something on the way
// does not exist; Refused (one line) when a directory is not safe or symlinks loop.
[[nodiscard]] Result<Fd> open_trusted_path(const std::string& path);

// The directory at `path` (absolute, normalised) opened O_PATH, one component at a time, never
// following a symlink, every directory above it safe to go through; missing components are made
// (mode 0755) when `create_missing`. Refused (kind Refused, one line) otherwise. Act on the
// descriptor (e.g. mount onto /proc/self/fd/N), not on the path, which could change meanwhile.
[[nodiscard]] Result<Fd> open_trusted_directory(const std::string& path, bool create_missing);

}  // namespace platform
