#pragma once
// Inspect side by side (issue 13): a restore point restored read-only under a prefix, beside the
// live volumes, for file-level recovery (`mount GROUP --inspect`, `unmount GROUP --inspect`).
//
// An inspection runs the mount and unmount machinery over a group of its own, made here from the
// real one: the same name (and so the same lock), no hooks (the live services are not stopped for
// a look), and per member of the restore point a volume whose mount point is
// <prefix>/<group>/<run id>/<live mount point> (default prefix /run/ebsnap/inspect), mounted
// "ro,noexec" (plus nosuid,nodev, as every restore; an XFS beside its live twin gets nouuid from
// the mounter). Its volumes carry that mount point in ebsnap:mount-point, which no configured
// mount point can be, so the live lineage never sees them (mount, snapshot, list, prune), and
//   ebsnap:purpose=inspect and ebsnap:run-id (the point),
// so that they are never mistaken for live ones and unmount --inspect finds them again.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/restore_points.h"
#include "ec2/types.h"

namespace agent {

inline constexpr std::string_view k_tag_purpose = "ebsnap:purpose";
inline constexpr std::string_view k_purpose_inspect = "inspect";

// <prefix>/<group>/<run id>/<mount point without its leading '/'>
[[nodiscard]] std::string inspect_mount_point(const std::filesystem::path& prefix, std::string_view group,
                                              std::string_view run_id, std::string_view mount_point);

// The group an inspection of `point` mounts: one volume per member with a snapshot.
[[nodiscard]] GroupConfig inspect_group(const GroupConfig& live, const RestorePoint& point,
                                        const std::filesystem::path& prefix);

// The DescribeVolumes filters of a group's inspection volumes (all, or those of one run).
[[nodiscard]] std::vector<ec2::Filter> inspect_volume_filters(const FilterValues& filters,
                                                              std::string_view group,
                                                              const std::optional<std::string>& run_id);

// The group unmount --inspect unmounts: one volume per inspection volume EC2 returned whose tags say
// so (checked again: ebsnap:purpose, the group, every filter value, the run when given, and a
// mount point under `prefix`); the others are ignored.
[[nodiscard]] GroupConfig inspected_group(const GroupConfig& live, const std::vector<ec2::Volume>& volumes,
                                          const FilterValues& filters,
                                          const std::optional<std::string>& run_id,
                                          const std::filesystem::path& prefix);

}  // namespace agent
