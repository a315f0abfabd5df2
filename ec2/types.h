#pragma once
// The EC2 resources ebsnap reads and writes, as plain values. Field names follow the EC2 API.
#include <fmt/format.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "ec2/clock.h"

namespace ec2 {

// A strong id: a volume id cannot be passed where a snapshot id is expected.
template <class Tag>
struct BasicId {
  std::string value;

  [[nodiscard]] bool empty() const { return value.empty(); }
  friend bool operator==(const BasicId&, const BasicId&) = default;
  friend auto operator<=>(const BasicId&, const BasicId&) = default;
  friend std::ostream& operator<<(std::ostream& os, const BasicId& id) { return os << id.value; }
};

using VolumeId = BasicId<struct VolumeIdTag>;
using SnapshotId = BasicId<struct SnapshotIdTag>;
using InstanceId = BasicId<struct InstanceIdTag>;

struct Tag {
  std::string key;
  std::string value;
  friend bool operator==(const Tag&, const Tag&) = default;
};

// The value of tag `key`, if present.
[[nodiscard]] std::optional<std::string> find_tag(const std::vector<Tag>& tags, std::string_view key);
// The same, in place (nullptr: no such tag): for loops over many snapshots, where a copy per
// lookup would cost more than the rest of the work.
[[nodiscard]] const std::string* find_tag_value(const std::vector<Tag>& tags, std::string_view key);

struct Filter {
  std::string name;  // e.g. "tag:ebsnap:group", "volume-id", "status"
  std::vector<std::string> values;
};

struct TagSpecification {
  std::string resource_type;  // "volume", "snapshot"
  std::vector<Tag> tags;
};

enum class VolumeState { Creating, Available, InUse, Deleting, Deleted, Error, Unknown };
enum class AttachmentState { Attaching, Attached, Detaching, Detached, Busy, Unknown };
enum class SnapshotState { Pending, Completed, Error, Recoverable, Recovering, Unknown };

// EC2's spelling ("in-use", "completed", ...) and back; unknown strings map to Unknown.
[[nodiscard]] std::string_view to_string(VolumeState s);
[[nodiscard]] std::string_view to_string(AttachmentState s);
[[nodiscard]] std::string_view to_string(SnapshotState s);
[[nodiscard]] VolumeState parse_volume_state(std::string_view s);
[[nodiscard]] AttachmentState parse_attachment_state(std::string_view s);
[[nodiscard]] SnapshotState parse_snapshot_state(std::string_view s);

struct VolumeAttachment {
  VolumeId volume_id;
  InstanceId instance_id;
  std::string device;  // as EC2 names it, e.g. "/dev/sdf"
  AttachmentState state = AttachmentState::Unknown;
  std::optional<TimePoint> attach_time;
  bool delete_on_termination = false;
};

struct Volume {
  VolumeId id;
  int size_gib = 0;
  VolumeState state = VolumeState::Unknown;
  std::string availability_zone;
  std::string volume_type;
  std::optional<int> iops;
  std::optional<int> throughput;  // MiB/s (gp3)
  bool encrypted = false;
  std::string kms_key_id;
  std::optional<SnapshotId> snapshot_id;  // the snapshot it was created from
  std::optional<TimePoint> create_time;
  std::vector<Tag> tags;
  std::vector<VolumeAttachment> attachments;
  // Created from a snapshot with fast snapshot restore enabled: initialized at creation.
  std::optional<bool> fast_restored;
  std::optional<int> initialization_rate;  // MiB/s: the VolumeInitializationRate it was created with
};

// How far a volume created from a snapshot has loaded its blocks from S3 (DescribeVolumeStatus's
// InitializationStatusDetails); until it is done, a first read of a block is slow.
struct VolumeInitialization {
  std::string type;             // "default", "provisioned-rate" or "volume-copy"
  std::optional<int> progress;  // percent; 100 once initialized
  // EC2 estimates it only for provisioned-rate; 0 once initialized.
  std::optional<std::int64_t> estimated_seconds_left;
};

// One item of DescribeVolumeStatus.
struct VolumeStatusItem {
  VolumeId volume_id;
  std::string status;                                  // "ok", "impaired", "warning", "insufficient-data"
  std::optional<VolumeInitialization> initialization;  // only for volumes created from a snapshot
};

struct Snapshot {
  SnapshotId id;
  VolumeId volume_id;
  SnapshotState state = SnapshotState::Unknown;
  int progress = 0;  // percent
  std::optional<TimePoint> start_time;
  std::string owner_id;
  std::string description;
  int volume_size_gib = 0;
  bool encrypted = false;
  std::string kms_key_id;
  std::string state_message;
  std::vector<Tag> tags;
};

struct InstanceBlockDevice {
  std::string device_name;  // "/dev/xvda", "/dev/sdf"
  VolumeId volume_id;
  AttachmentState state = AttachmentState::Unknown;
  bool delete_on_termination = false;
};

struct Instance {
  InstanceId id;
  std::string availability_zone;
  std::string state;  // "pending", "running", "stopping", ...
  std::string instance_type;
  std::string root_device_name;
  std::vector<InstanceBlockDevice> block_device_mappings;
  std::vector<Tag> tags;
};

// ISO 8601 as EC2 writes it ("2026-11-23T11:44:31.000Z") and back.
[[nodiscard]] std::optional<TimePoint> parse_iso8601(std::string_view s);
[[nodiscard]] std::string format_iso8601(TimePoint t);

}  // namespace ec2

template <class Tag>
struct std::hash<ec2::BasicId<Tag>> {
  std::size_t operator()(const ec2::BasicId<Tag>& id) const noexcept {
    return std::hash<std::string>{}(id.value);
  }
};

template <class Tag>
struct fmt::formatter<ec2::BasicId<Tag>> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const ec2::BasicId<Tag>& id, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(id.value, ctx);
  }
};
