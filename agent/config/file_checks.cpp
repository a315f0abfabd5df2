#include "agent/config/file_checks.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "platform/trusted_path.h"

namespace agent {
namespace {

// `given`, and where it led when that is elsewhere (a symlink): "/etc/ebsnap/h (/opt/h/run)".
std::string shown(const std::string& given, const platform::Fd& fd) {
  char real[PATH_MAX];
  const auto link = "/proc/self/fd/" + std::to_string(fd.get());
  const auto n = ::readlink(link.c_str(), real, sizeof real);
  if (n <= 0) return given;
  const std::string resolved(real, static_cast<std::size_t>(n));
  return resolved == given ? given : given + " (" + resolved + ")";
}

}  // namespace

std::expected<platform::Fd, std::string> open_hook_program(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::unexpected("an absolute path to an executable");
  const std::string given(path);
  auto fd = platform::open_trusted_path(given);
  if (!fd) {
    const auto& e = fd.error();
    if (e.kind == platform::ErrorKind::NotFound)
      return std::unexpected("an existing executable; " + e.message);
    if (e.kind == platform::ErrorKind::Refused)
      return std::unexpected("a hook in a safe directory; " + e.message);
    return std::unexpected("a readable path; " + e.message);
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0)
    return std::unexpected("cannot stat " + given + ": " + std::strerror(errno));
  const auto name = shown(given, *fd);
  if (!S_ISREG(st.st_mode)) return std::unexpected("a regular file; " + name + " is not one");
  if ((st.st_mode & S_IXUSR) == 0) {
    return std::unexpected("an executable file; " + name + " is not executable (mode " +
                           platform::mode_octal(st.st_mode) + ")");
  }
  if (st.st_uid != 0)
    return std::unexpected("a file owned by root; " + name + " is owned by uid " + std::to_string(st.st_uid));
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return std::unexpected("a file not writable by group or others; " + name + " has mode " +
                           platform::mode_octal(st.st_mode));
  }
  return std::move(*fd);
}

std::optional<std::string> hook_program_problem(std::string_view path) {
  auto program = open_hook_program(path);
  if (program) return std::nullopt;
  return std::move(program).error();
}

}  // namespace agent
