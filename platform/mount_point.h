#pragma once
// A mount that is undone on failure paths: the destructor unmounts unless release() was called
// (after the rest of the restore succeeded).
#include <string>

#include "platform/mounter.h"

namespace platform {

class MountPoint {
 public:
  [[nodiscard]] static Result<MountPoint> mount(Mounter& mounter, const MountRequest& request);

  MountPoint(MountPoint&& other) noexcept;
  MountPoint& operator=(MountPoint&& other) noexcept;
  MountPoint(const MountPoint&) = delete;
  MountPoint& operator=(const MountPoint&) = delete;
  ~MountPoint();

  [[nodiscard]] const MountInfo& info() const { return info_; }
  // Keeps the mount: the destructor will leave it in place.
  void release() { mounter_ = nullptr; }
  // Unmounts now (and reports why not).
  [[nodiscard]] Result<void> unmount();

 private:
  MountPoint(Mounter& mounter, MountInfo info) : mounter_(&mounter), info_(std::move(info)) {}
  Mounter* mounter_ = nullptr;
  MountInfo info_;
};

}  // namespace platform
