#pragma once
// RAII owners for the C handles of libudev, libmount and libblkid: one alias each.
// Internal to platform/ (the public interfaces never expose these types).
#include <blkid/blkid.h>
#include <libmount/libmount.h>
#include <libudev.h>

#include <memory>

namespace platform {

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    if (p != nullptr) Free(p);
  }
};

using UdevPtr = std::unique_ptr<udev, Deleter<&udev_unref>>;
using UdevMonitorPtr = std::unique_ptr<udev_monitor, Deleter<&udev_monitor_unref>>;
using UdevDevicePtr = std::unique_ptr<udev_device, Deleter<&udev_device_unref>>;
using UdevEnumeratePtr = std::unique_ptr<udev_enumerate, Deleter<&udev_enumerate_unref>>;
using MntContextPtr = std::unique_ptr<libmnt_context, Deleter<&mnt_free_context>>;
using MntTablePtr = std::unique_ptr<libmnt_table, Deleter<&mnt_unref_table>>;
using MntIterPtr = std::unique_ptr<libmnt_iter, Deleter<&mnt_free_iter>>;
using BlkidProbePtr = std::unique_ptr<blkid_struct_probe, Deleter<&blkid_free_probe>>;

}  // namespace platform
