#include "platform/run_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "ebsnap/try.h"
#include "platform/fd.h"
#include "platform/trusted_path.h"

namespace platform {
namespace {

std::unexpected<Error> refused(const std::filesystem::path& dir, const std::string& why) {
  return fail(ErrorKind::Refused, "run directory " + dir.string() + ": " + why +
                                      " (it must be a directory of uid " + std::to_string(::geteuid()) +
                                      ", mode 0700)");
}

Result<Fd> create_temporary(const std::string& tmp, mode_t mode) {
  constexpr int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  Fd fd{::open(tmp.c_str(), flags, 0600)};
  if (!fd && errno == EEXIST) {
    // Left by a run that died between create and rename: the entry itself goes, never what it names.
    if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return fail_errno("remove stale " + tmp, errno);
    fd = Fd{::open(tmp.c_str(), flags, 0600)};
  }
  if (!fd) return fail_errno("create " + tmp, errno);
  if (::fchmod(fd.get(), mode) != 0) return fail_errno("chmod " + tmp, errno);
  return fd;
}

Result<void> write_all(int fd, std::string_view body, const std::string& name) {
  while (!body.empty()) {
    const ssize_t n = ::write(fd, body.data(), body.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("write " + name, errno);
    body.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

Result<void> check_run_directory(const std::filesystem::path& dir, bool create_missing) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return fail_errno("stat " + dir.string(), errno);
    if (!create_missing)
      return fail(ErrorKind::NotFound, "run directory " + dir.string() + " does not exist");
    // Missing parents 0755 and the directory 0700, whatever the umask. Through whatever is there
    // already: what that turns out to be is checked below, before any file is written.
    auto target = dir.lexically_normal();
    if (!target.has_filename()) target = target.parent_path();  // "/run/ebsnap/"
    std::filesystem::path at;
    for (const auto& part : target) {
      at /= part;
      const mode_t mode = at == target ? 0700 : 0755;
      if (::mkdir(at.c_str(), mode) == 0) {
        if (::chmod(at.c_str(), mode) != 0) return fail_errno("chmod " + at.string(), errno);
      } else if (errno != EEXIST) {
        return fail_errno("mkdir " + at.string(), errno);
      }
    }
    if (::lstat(dir.c_str(), &st) != 0) return fail_errno("stat " + dir.string(), errno);
  }
  if (S_ISLNK(st.st_mode)) return refused(dir, "is a symlink");
  if (!S_ISDIR(st.st_mode)) return refused(dir, "is not a directory");
  if (st.st_uid != ::geteuid()) return refused(dir, "is owned by uid " + std::to_string(st.st_uid));
  if ((st.st_mode & 07777) != 0700) return refused(dir, "has mode " + mode_octal(st.st_mode));
  if (auto problem = untrusted_directory_problem(dir.string())) return refused(dir, *problem);
  return {};
}

Result<std::string> read_state_file(const std::filesystem::path& path) {
  Fd fd{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
  if (!fd) {
    if (errno == ELOOP) return fail(ErrorKind::Refused, path.string() + " is a symlink: not followed");
    return fail_errno("open " + path.string(), errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno("stat " + path.string(), errno);
  if (!S_ISREG(st.st_mode)) return fail(ErrorKind::Refused, path.string() + " is not a regular file");
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("read " + path.string(), errno);
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

Result<void> write_state_file(const std::filesystem::path& path, std::string_view body, bool durable, mode_t mode) {
  const std::string tmp = path.string() + ".tmp";
  EBSNAP_TRY_ASSIGN(Fd fd, create_temporary(tmp, mode));
  auto written = write_all(fd.get(), body, tmp);
  if (written && durable && ::fsync(fd.get()) != 0) written = fail_errno("fsync " + tmp, errno);
  fd.reset();
  if (written && ::rename(tmp.c_str(), path.c_str()) != 0) written = fail_errno("rename " + tmp, errno);
  if (!written) {
    ::unlink(tmp.c_str());
    return written;
  }
  if (durable) {
    Fd dir{::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (!dir || ::fsync(dir.get()) != 0) return fail_errno("fsync " + path.parent_path().string(), errno);
  }
  return {};
}

}  // namespace platform
