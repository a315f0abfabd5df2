#pragma once
// The small rules of the configuration, as pure predicates: device names, mount points, regions,
// tag keys, group names and the per-volume-type ranges EC2 enforces. Each *_problem function
// returns what is wrong (to follow "expected ...") or nothing when the value is fine.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/config/config.h"

namespace agent::rules {

struct Range {
  std::int64_t min = 0;
  std::int64_t max = 0;
  [[nodiscard]] bool contains(std::int64_t v) const { return v >= min && v <= max; }
};

// /dev/sd[f-z] or /dev/xvd[f-z]: the names EC2 accepts for data volumes that we allow.
[[nodiscard]] bool is_valid_device_name(std::string_view device);
// The letter that identifies the slot: /dev/sdf and /dev/xvdf are the same device
// (Xen renames sdX to xvdX), so they must not both be configured.
[[nodiscard]] char device_slot(std::string_view device);

// Absolute, not "/", no empty, "." or ".." components, no trailing slash, no control characters.
[[nodiscard]] std::optional<std::string> mount_point_problem(std::string_view mount_point);

// eu-west-1, us-gov-west-1, ap-southeast-3, cn-north-1 ...
[[nodiscard]] bool is_valid_region(std::string_view region);

// AWS tag rules plus ours: 1..128 characters, not "aws:" (reserved by AWS) and not "ebsnap:"
// (reserved for the tags ebsnap sets itself).
[[nodiscard]] std::optional<std::string> tag_key_problem(std::string_view key);
// 0..256 characters.
[[nodiscard]] std::optional<std::string> tag_value_problem(std::string_view value);

// [A-Za-z0-9_.-]+, at most 64 characters (it becomes a tag value and a systemd instance name).
[[nodiscard]] bool is_valid_group_name(std::string_view name);

// Volume sizes EC2 accepts for the type (GiB).
[[nodiscard]] Range size_range(VolumeType type);
// Provisioned IOPS; nothing for types that take none (gp2, st1, sc1, standard).
[[nodiscard]] std::optional<Range> iops_range(VolumeType type);
// Whether EC2 requires iops for the type (io1, io2).
[[nodiscard]] bool requires_iops(VolumeType type);
// Throughput in MiB/s; only gp3.
[[nodiscard]] std::optional<Range> throughput_range(VolumeType type);
// VolumeInitializationRate in MiB/s, whatever the type.
[[nodiscard]] Range initialization_rate_range();

// A duration as the config and the command line write it: one or more <integer><unit> with units
// s, m (minutes), h, d and w, largest first, each at most once: "90m", "1h", "1d12h", "400d".
// No months or years (their length varies). Nothing for anything else, or beyond 100 years.
[[nodiscard]] std::optional<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace agent::rules
