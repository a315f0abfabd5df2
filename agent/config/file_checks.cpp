#include "agent/config/file_checks.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "platform/trusted_path.h"

namespace agent {
std::optional<std::string> hook_program_problem(std::string_view path) {
  if (path.empty() || path.front() != '/') return "an absolute path to an executable";
  std::error_code ec;
  const std::filesystem::path given{std::string(path)};
  if (!std::filesystem::exists(given, ec)) return "an existing executable; " + given.string() + " does not exist";
  const auto resolved = std::filesystem::canonical(given, ec);
  if (ec) return "a resolvable path; " + given.string() + ": " + ec.message();
  struct stat st {};
  if (::stat(resolved.c_str(), &st) != 0) return "cannot stat " + resolved.string() + ": " + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return "a regular file; " + resolved.string() + " is not one";
  if ((st.st_mode & S_IXUSR) == 0) {
    return "an executable file; " + resolved.string() + " is not executable (mode " + platform::mode_octal(st.st_mode) + ")";
  }
  if (st.st_uid != 0) return "a file owned by root; " + resolved.string() + " is owned by uid " + std::to_string(st.st_uid);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "a file not writable by group or others; " + resolved.string() + " has mode " + platform::mode_octal(st.st_mode);
  }
  // Every directory above it, as given and resolved (platform/trusted_path.h).
  if (auto problem = platform::untrusted_directory_problem(given.string())) return "a hook in a safe directory; " + *problem;
  return std::nullopt;
}

}  // namespace agent
