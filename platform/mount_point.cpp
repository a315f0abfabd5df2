#include "platform/mount_point.h"

#include "ebsnap/try.h"
#include "platform/log.h"

namespace platform {

Result<MountPoint> MountPoint::mount(Mounter& mounter, const MountRequest& request) {
  EBSNAP_TRY_ASSIGN(auto info, mounter.mount(request));
  return MountPoint{mounter, std::move(info)};
}

MountPoint::MountPoint(MountPoint&& other) noexcept
    : mounter_(std::exchange(other.mounter_, nullptr)), info_(std::move(other.info_)) {}

MountPoint& MountPoint::operator=(MountPoint&& other) noexcept {
  if (this != &other) {
    if (mounter_ != nullptr) (void)unmount();
    mounter_ = std::exchange(other.mounter_, nullptr);
    info_ = std::move(other.info_);
  }
  return *this;
}

MountPoint::~MountPoint() {
  if (mounter_ == nullptr) return;
  auto r = unmount();
  if (!r) log_mount().error("undoing mount of {} on a failure path: {}", info_.target, r.error().message);
}

Result<void> MountPoint::unmount() {
  if (mounter_ == nullptr) return fail(ErrorKind::NotFound, info_.target + ": released or already unmounted");
  auto r = mounter_->unmount(info_.target);
  if (r) mounter_ = nullptr;
  return r;
}

}  // namespace platform
