#include "platform/probe.h"

#include <cerrno>

#include "platform/handles.h"
#include "platform/log.h"

namespace platform {

DeviceContent classify(const ProbeResult& probe) {
  if (probe.ambiguous) return DeviceContent::Ambiguous;
  if (!probe.fs_type.empty()) return DeviceContent::Filesystem;
  if (!probe.partition_table.empty()) return DeviceContent::PartitionTable;
  return DeviceContent::Empty;
}

Result<void> check_empty_for_mkfs(const std::string& devnode, const ProbeResult& probe) {
  switch (classify(probe)) {
    case DeviceContent::Empty:
      return {};
    case DeviceContent::Filesystem:
      return fail(ErrorKind::Refused, "refusing mkfs on " + devnode + ": it already holds a " +
                                          probe.fs_type + " filesystem" +
                                          (probe.uuid.empty() ? "" : " (UUID " + probe.uuid + ")"));
    case DeviceContent::PartitionTable:
      return fail(ErrorKind::Refused, "refusing mkfs on " + devnode + ": it holds a " +
                                          probe.partition_table + " partition table");
    case DeviceContent::Ambiguous:
      return fail(ErrorKind::Refused,
                  "refusing mkfs on " + devnode + ": blkid finds several conflicting signatures");
  }
  return fail(ErrorKind::Refused, "refusing mkfs on " + devnode);
}

Result<void> check_has_filesystem(const std::string& devnode, const ProbeResult& probe) {
  switch (classify(probe)) {
    case DeviceContent::Filesystem:
      return {};
    case DeviceContent::Empty:
      return fail(ErrorKind::Refused, devnode +
                                          " carries no filesystem, but it was restored from a "
                                          "snapshot: refusing to format it");
    case DeviceContent::PartitionTable:
      return fail(ErrorKind::Unsupported, devnode + " carries a " + probe.partition_table +
                                              " partition table; partitioned volumes are not supported");
    case DeviceContent::Ambiguous:
      return fail(ErrorKind::Refused, devnode + ": blkid finds several conflicting signatures");
  }
  return fail(ErrorKind::Refused, devnode + ": unknown content");
}

namespace {
std::string value_of(blkid_probe pr, const char* name) {
  const char* data = nullptr;
  if (blkid_probe_lookup_value(pr, name, &data, nullptr) == 0 && data != nullptr) return data;
  return {};
}
}  // namespace

Result<ProbeResult> probe_device(const std::string& devnode) {
  errno = 0;
  BlkidProbePtr pr{blkid_new_probe_from_filename(devnode.c_str())};
  if (!pr) return fail_errno("blkid probe " + devnode, errno != 0 ? errno : EIO);
  blkid_probe_enable_superblocks(pr.get(), 1);
  blkid_probe_set_superblocks_flags(pr.get(), BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL);
  blkid_probe_enable_partitions(pr.get(), 1);
  blkid_probe_set_partitions_flags(pr.get(), BLKID_PARTS_ENTRY_DETAILS);
  ProbeResult out;
  const int rc = blkid_do_safeprobe(pr.get());
  if (rc == -2) {
    out.ambiguous = true;
  } else if (rc < 0) {
    return fail(ErrorKind::System, "blkid probe of " + devnode + " failed");
  } else if (rc == 0) {
    out.fs_type = value_of(pr.get(), "TYPE");
    out.uuid = value_of(pr.get(), "UUID");
    out.label = value_of(pr.get(), "LABEL");
    out.partition_table = value_of(pr.get(), "PTTYPE");
  }
  log_blkid().debug("probe device={} type={} uuid={} label={} pttype={} ambiguous={}", devnode, out.fs_type,
                    out.uuid, out.label, out.partition_table, out.ambiguous);
  return out;
}

}  // namespace platform
