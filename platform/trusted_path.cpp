#include "platform/trusted_path.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

namespace platform {
namespace {

// Why the directory `dir` (stat `st`) is not safe to go through to the entry below it (stat
// `below`, when it exists), or nothing.
std::optional<std::string> passage_problem(const std::string& dir, const struct stat& st, const struct stat* below) {
  if (!S_ISDIR(st.st_mode)) return dir + " is not a directory";
  if (!trusted_owner(st.st_uid)) return "directory " + dir + " is owned by uid " + std::to_string(st.st_uid) + ", not by root";
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) == 0) return std::nullopt;
  if ((st.st_mode & S_ISVTX) != 0 && below != nullptr && trusted_owner(below->st_uid)) return std::nullopt;
  return "directory " + dir + " is writable by group or others (mode " + mode_octal(st.st_mode) + ")";
}

std::optional<std::string> chain_problem(const std::filesystem::path& path) {
  auto entry = path;
  for (auto dir = path.parent_path();; entry = dir, dir = dir.parent_path()) {
    struct stat st {};
    struct stat below {};
    if (::lstat(dir.c_str(), &st) != 0) return "cannot stat " + dir.string() + ": " + std::strerror(errno);
    // A symlink on the path as given (/bin → usr/bin): who may replace it is the directory
    // holding it, checked next; where it leads is the resolved path's own chain.
    if (!S_ISLNK(st.st_mode)) {
      const bool has_below = ::lstat(entry.c_str(), &below) == 0;
      if (auto problem = passage_problem(dir.string(), st, has_below ? &below : nullptr)) return problem;
    }
    if (dir == dir.root_path()) return std::nullopt;
  }
}

std::unexpected<Error> refused(const std::string& path, const std::string& why) {
  return fail(ErrorKind::Refused, "mount point " + path + ": " + why);
}

}  // namespace

bool trusted_owner(uid_t uid) { return uid == 0 || uid == ::geteuid(); }

std::string mode_octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::optional<std::string> untrusted_directory_problem(const std::string& path) {
  std::error_code ec;
  const auto given = std::filesystem::absolute(path, ec).lexically_normal();
  if (ec) return "cannot resolve " + path + ": " + ec.message();
  if (auto problem = chain_problem(given)) return problem;
  const auto resolved = std::filesystem::canonical(given, ec);
  if (ec) return "cannot resolve " + given.string() + ": " + ec.message();
  if (resolved != given) return chain_problem(resolved);
  return std::nullopt;
}

Result<Fd> open_trusted_directory(const std::string& path, bool create_missing) {
  if (path.empty() || path.front() != '/') return refused(path, "expected an absolute path");
  std::vector<std::string> parts;
  for (const auto& p : std::filesystem::path(path).relative_path()) {
    if (p.empty() || p == "." || p == "..") return refused(path, "expected a normalised path");
    parts.push_back(p.string());
  }
  Fd dir(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return fail_errno("open /", errno);
  std::string at = "/";
  for (const auto& part : parts) {
    int fd = ::openat(dir.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create_missing) {
      if (::mkdirat(dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST) {
        return fail_errno("mkdir " + (std::filesystem::path(at) / part).string(), errno);
      }
      fd = ::openat(dir.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) ::fchmodat(dir.get(), part.c_str(), 0755, 0);  // not subject to a restrictive umask
    }
    const std::string next = (std::filesystem::path(at) / part).string();
    if (fd < 0) {
      const int err = errno;
      struct stat lst {};
      if ((err == ELOOP || err == ENOTDIR) && ::fstatat(dir.get(), part.c_str(), &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(lst.st_mode)) {
        return refused(path, next + " is a symlink; a mount point is never reached through one");
      }
      return fail_errno("open " + next, err);
    }
    Fd child(fd);
    struct stat st {};
    struct stat below {};
    if (::fstat(dir.get(), &st) != 0 || ::fstat(child.get(), &below) != 0) return fail_errno("stat " + next, errno);
    if (auto problem = passage_problem(at, st, &below)) return refused(path, *problem);
    dir = std::move(child);
    at = next;
  }
  return dir;
}

}  // namespace platform
