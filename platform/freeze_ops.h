#pragma once
// The system calls of freezing behind a small interface, so that FreezeSet's ordering and
// rollback logic is tested without root; KernelFreezeOps does the real ioctls.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "platform/error.h"
#include "platform/fd.h"

namespace platform {

struct FsIdentity {
  std::uint64_t device = 0;  // st_dev of the path: which filesystem it lives on
  bool mount_root = false;   // the path is the root of a mount (not just a directory in one)
};

class FreezeOps {
 public:
  virtual ~FreezeOps() = default;
  [[nodiscard]] virtual Result<FsIdentity> identify(const std::string& path) = 0;
  [[nodiscard]] virtual Result<void> syncfs(const std::string& mount_point) = 0;
  // FIFREEZE: AlreadyFrozen when the kernel says EBUSY (frozen by someone else).
  [[nodiscard]] virtual Result<void> freeze(const std::string& mount_point) = 0;
  // FITHAW: NotFrozen when the kernel says EINVAL.
  [[nodiscard]] virtual Result<void> thaw(const std::string& mount_point) = 0;
  // Lets go of what the calls above keep open, once no filesystem is frozen by them: a process
  // that goes on after a snapshot (shutdown unmounts next, watch runs for days) must not hold the
  // mount points busy.
  virtual void release() {}
};

// The real ioctls on O_RDONLY descriptors of the mount points, opened once and kept until
// release(), so that a thaw never needs a path lookup. Safe to call from several threads.
class KernelFreezeOps final : public FreezeOps {
 public:
  [[nodiscard]] Result<FsIdentity> identify(const std::string& path) override;
  [[nodiscard]] Result<void> syncfs(const std::string& mount_point) override;
  [[nodiscard]] Result<void> freeze(const std::string& mount_point) override;
  [[nodiscard]] Result<void> thaw(const std::string& mount_point) override;
  void release() override;

 private:
  [[nodiscard]] Result<int> descriptor(const std::string& mount_point);
  std::mutex mutex_;
  std::map<std::string, Fd> fds_;
};

// One FIFREEZE / FITHAW on an open descriptor, errno mapped as above.
[[nodiscard]] Result<void> freeze_fd(int fd, const std::string& mount_point);
[[nodiscard]] Result<void> thaw_fd(int fd, const std::string& mount_point);

}  // namespace platform
