#include "platform/freeze_ops.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>

#include "ebsnap/try.h"

namespace platform {

Result<void> freeze_fd(int fd, const std::string& mount_point) {
  if (::ioctl(fd, FIFREEZE, 0) == 0) return {};
  const int err = errno;
  if (err == EBUSY) {
    return fail(ErrorKind::AlreadyFrozen, "FIFREEZE " + mount_point + ": already frozen by someone else",
                err);
  }
  if (err == EOPNOTSUPP || err == ENOTTY) {
    return fail(ErrorKind::Unsupported, "FIFREEZE " + mount_point + ": the filesystem cannot be frozen", err);
  }
  return fail_errno("FIFREEZE " + mount_point, err);
}

Result<void> thaw_fd(int fd, const std::string& mount_point) {
  if (::ioctl(fd, FITHAW, 0) == 0) return {};
  const int err = errno;
  if (err == EINVAL) return fail(ErrorKind::NotFrozen, "FITHAW " + mount_point + ": not frozen", err);
  return fail_errno("FITHAW " + mount_point, err);
}

Result<FsIdentity> KernelFreezeOps::identify(const std::string& path) {
  struct statx sx {};
  if (::statx(AT_FDCWD, path.c_str(), 0, STATX_BASIC_STATS, &sx) != 0) {
    return fail_errno("stat " + path, errno);
  }
  FsIdentity id;
  id.device = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  if ((sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0) {
    id.mount_root = (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  } else {
    // Kernels before 5.8: a mount root sits on another device than its parent (or is "/").
    struct stat parent {};
    if (::stat((path + "/..").c_str(), &parent) != 0) return fail_errno("stat " + path + "/..", errno);
    id.mount_root = parent.st_dev != id.device || path == "/";
  }
  return id;
}

Result<int> KernelFreezeOps::descriptor(const std::string& mount_point) {
  std::lock_guard lock(mutex_);
  auto it = fds_.find(mount_point);
  if (it != fds_.end()) return it->second.get();
  Fd fd{::open(mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!fd) return fail_errno("open " + mount_point, errno);
  const int raw = fd.get();
  fds_.emplace(mount_point, std::move(fd));
  return raw;
}

void KernelFreezeOps::release() {
  std::lock_guard lock(mutex_);
  fds_.clear();
}

Result<void> KernelFreezeOps::syncfs(const std::string& mount_point) {
  EBSNAP_TRY_ASSIGN(const int fd, descriptor(mount_point));
  if (::syncfs(fd) != 0) return fail_errno("syncfs " + mount_point, errno);
  return {};
}

Result<void> KernelFreezeOps::freeze(const std::string& mount_point) {
  EBSNAP_TRY_ASSIGN(const int fd, descriptor(mount_point));
  return freeze_fd(fd, mount_point);
}

Result<void> KernelFreezeOps::thaw(const std::string& mount_point) {
  EBSNAP_TRY_ASSIGN(const int fd, descriptor(mount_point));
  return thaw_fd(fd, mount_point);
}

}  // namespace platform
