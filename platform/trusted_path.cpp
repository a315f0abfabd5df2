#include "platform/trusted_path.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <deque>
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

// Linux's own bound on the symlinks one lookup may follow (ELOOP beyond it).
constexpr int k_max_symlinks = 40;

// The components of `path` to walk, without the empty ones (a leading, doubled or trailing '/').
std::deque<std::string> components_of(const std::string& path) {
  std::deque<std::string> parts;
  std::size_t start = 0;
  while (start < path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

Result<Fd> open_root() {
  Fd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return fail_errno("open /", errno);
  return root;
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

Result<Fd> open_trusted_path(const std::string& path) {
  if (path.empty() || path.front() != '/')
    return fail(ErrorKind::Refused, path + ": expected an absolute path");
  auto left = components_of(path);
  auto root = open_root();
  if (!root) return std::unexpected(root.error());
  Fd dir = std::move(*root);
  // Where `dir` is, physically: symlinks met are replaced by their targets, never appended.
  std::filesystem::path at = "/";
  int symlinks = 0;
  while (!left.empty()) {
    const std::string name = std::move(left.front());
    left.pop_front();
    if (name == ".") continue;
    const auto next = name == ".." ? at.parent_path() : at / name;
    Fd child(::openat(dir.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!child) {
      if (errno == ENOENT) return fail(ErrorKind::NotFound, next.string() + " does not exist", ENOENT);
      return fail_errno("open " + next.string(), errno);
    }
    struct stat st {};
    struct stat below {};
    if (::fstat(dir.get(), &st) != 0 || ::fstat(child.get(), &below) != 0)
      return fail_errno("stat " + next.string(), errno);
    // Going up needs no check: `at`'s parent was gone through to get here, or is an ancestor
    // of a directory that was.
    if (name != "..") {
      if (auto problem = passage_problem(at.string(), st, &below)) return fail(ErrorKind::Refused, *problem);
    }
    if (S_ISLNK(below.st_mode)) {
      if (++symlinks > k_max_symlinks) {
        return fail(ErrorKind::Refused, path + ": more than " + std::to_string(k_max_symlinks) + " symlinks",
                    ELOOP);
      }
      char target[PATH_MAX];
      const auto n = ::readlinkat(child.get(), "", target, sizeof target);
      if (n < 0) return fail_errno("readlink " + next.string(), errno);
      const std::string to(target, static_cast<std::size_t>(n));
      auto parts = components_of(to);
      left.insert(left.begin(), parts.begin(), parts.end());
      if (!to.empty() && to.front() == '/') {
        root = open_root();
        if (!root) return std::unexpected(root.error());
        dir = std::move(*root);
        at = "/";
      }
      continue;
    }
    if (!left.empty() && !S_ISDIR(below.st_mode))
      return fail(ErrorKind::NotFound, next.string() + " is not a directory", ENOTDIR);
    dir = std::move(child);
    at = next;
  }
  return dir;
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
      // 0755 whatever the umask; a directory that will not take it is refused rather than left unreadable.
      if (fd >= 0 && ::fchmodat(dir.get(), part.c_str(), 0755, 0) != 0) {
        const int err = errno;
        ::close(fd);
        return fail_errno("chmod " + (std::filesystem::path(at) / part).string(), err);
      }
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
