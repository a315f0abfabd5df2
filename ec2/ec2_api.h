#pragma once
// The EC2 actions ebsnap uses, with their AWS names and nothing of ebsnap's domain.
// Implemented by Ec2Client (EC2 Query over HTTP) and FakeEc2 (in process, for unit tests).
//
// Every call with dry_run = true fails: kind DryRunOk when the call would have succeeded,
// Unauthorized when IAM would deny it. Describe calls follow NextToken to the end and return
// everything; max_results only sets the page size.
#include <optional>
#include <string>
#include <vector>

#include "ec2/error.h"
#include "ec2/types.h"

namespace ec2 {

struct DescribeSnapshotsOptions {
  bool dry_run = false;
  std::vector<SnapshotId> snapshot_ids;
  std::vector<std::string> owner_ids;  // "self", account ids
  std::vector<Filter> filters;
  std::optional<int> max_results;  // page size (5..1000)
};

struct DescribeVolumesOptions {
  bool dry_run = false;
  std::vector<VolumeId> volume_ids;
  std::vector<Filter> filters;
  std::optional<int> max_results;  // page size (5..500)
};

struct DescribeInstancesOptions {
  bool dry_run = false;
  std::vector<InstanceId> instance_ids;
  std::vector<Filter> filters;
  std::optional<int> max_results;  // page size (5..1000)
};

struct DescribeVolumeStatusOptions {
  bool dry_run = false;
  std::vector<VolumeId> volume_ids;
  std::optional<int> max_results;  // page size (5..1000)
};

struct CreateVolumeOptions {
  bool dry_run = false;
  std::string availability_zone;
  std::optional<int> size_gib;  // required unless snapshot_id is set
  std::optional<SnapshotId> snapshot_id;
  std::string volume_type;  // "gp3", ...; empty: EC2's default
  std::optional<int> iops;
  std::optional<int> throughput;  // MiB/s
  std::optional<bool> encrypted;
  std::string kms_key_id;
  std::vector<TagSpecification> tag_specifications;
  // MiB/s (100..300) at which EC2 loads the snapshot's blocks from S3. Only with snapshot_id:
  // EC2 refuses it for an empty volume (aws-ebs-csi-driver issue #2691).
  std::optional<int> initialization_rate;
  // Idempotency: EC2 returns the same volume for the same token (for hours, even after the
  // volume is deleted). Empty: a random one for this call, so its retries are safe.
  std::string client_token;
};

struct AttachVolumeOptions {
  bool dry_run = false;
  VolumeId volume_id;
  InstanceId instance_id;
  std::string device;  // "/dev/sdf"
};

struct DetachVolumeOptions {
  bool dry_run = false;
  VolumeId volume_id;
  std::optional<InstanceId> instance_id;
  std::string device;  // empty: any
  bool force = false;
};

struct DeleteVolumeOptions {
  bool dry_run = false;
  VolumeId volume_id;
};

struct CreateSnapshotOptions {
  bool dry_run = false;
  VolumeId volume_id;
  std::string description;
  std::vector<TagSpecification> tag_specifications;
};

// EC2's InstanceSpecification, less the instance id (CreateSnapshotsOptions::instance_id).
struct InstanceSpecification {
  bool exclude_boot_volume = false;
  std::vector<VolumeId> exclude_data_volume_ids;
};

struct CreateSnapshotsOptions {
  bool dry_run = false;
  InstanceId instance_id;
  InstanceSpecification instance_specification;
  std::string description;
  std::vector<TagSpecification> tag_specifications;
  // "volume": copy the source volume's tags to each snapshot. Empty: do not.
  std::string copy_tags_from_source;
};

struct DeleteSnapshotOptions {
  bool dry_run = false;
  SnapshotId snapshot_id;
};

// Called on the destination region's client, as in EC2 (the copy lands where the request goes).
struct CopySnapshotOptions {
  bool dry_run = false;
  std::string source_region;
  SnapshotId source_snapshot_id;
  std::string description;
  std::optional<bool> encrypted;
  std::string kms_key_id;  // the destination region's key (id, alias or ARN)
  std::vector<TagSpecification> tag_specifications;
  // Time-based copy: EC2 completes it within this many minutes (15..2880, in steps of 15).
  std::optional<int> completion_duration_minutes;
  // Empty: Ec2Client signs one as the AWS SDKs do (ec2/presign.h), with the client's
  // credentials, for the source region; sent with DestinationRegion. A bad one makes EC2 fail
  // the copy asynchronously (state error), not the call.
  std::string presigned_url;
};

// ModifyInstanceAttribute in its BlockDeviceMapping form, for one attached volume: whether EC2
// deletes the volume when the instance is terminated.
struct ModifyInstanceAttributeOptions {
  bool dry_run = false;
  InstanceId instance_id;
  std::string device;  // the attachment's device name as EC2 knows it, "/dev/sdf"
  bool delete_on_termination = true;
};

struct CreateTagsOptions {
  bool dry_run = false;
  std::vector<std::string> resource_ids;
  std::vector<Tag> tags;
};

struct DeleteTag {
  std::string key;
  std::optional<std::string> value;  // nullopt: whatever the value
};

struct DeleteTagsOptions {
  bool dry_run = false;
  std::vector<std::string> resource_ids;
  std::vector<DeleteTag> tags;  // empty: every tag
};

class Ec2Api {
 public:
  virtual ~Ec2Api() = default;

  [[nodiscard]] virtual Result<std::vector<Snapshot>> describe_snapshots(
      const DescribeSnapshotsOptions& o) = 0;
  [[nodiscard]] virtual Result<std::vector<Volume>> describe_volumes(const DescribeVolumesOptions& o) = 0;
  [[nodiscard]] virtual Result<std::vector<Instance>> describe_instances(
      const DescribeInstancesOptions& o) = 0;
  // Volumes created from a snapshot carry their initialization progress.
  [[nodiscard]] virtual Result<std::vector<VolumeStatusItem>> describe_volume_status(
      const DescribeVolumeStatusOptions& o) = 0;

  // The new volume (state creating).
  [[nodiscard]] virtual Result<Volume> create_volume(const CreateVolumeOptions& o) = 0;
  // The attachment (state attaching).
  [[nodiscard]] virtual Result<VolumeAttachment> attach_volume(const AttachVolumeOptions& o) = 0;
  // The attachment (state detaching).
  [[nodiscard]] virtual Result<VolumeAttachment> detach_volume(const DetachVolumeOptions& o) = 0;
  [[nodiscard]] virtual Result<void> delete_volume(const DeleteVolumeOptions& o) = 0;

  // The new snapshot (state pending; its point in time is fixed from here on). Not retried
  // after a lost response: Error::maybe_applied.
  [[nodiscard]] virtual Result<Snapshot> create_snapshot(const CreateSnapshotOptions& o) = 0;
  // One snapshot per volume of the instance (id, volume id, state, start time, progress,
  // owner, tags). Not retried after a lost response: Error::maybe_applied.
  [[nodiscard]] virtual Result<std::vector<Snapshot>> create_snapshots(const CreateSnapshotsOptions& o) = 0;
  [[nodiscard]] virtual Result<void> delete_snapshot(const DeleteSnapshotOptions& o) = 0;
  // Called on the destination region's client; returns the new snapshot's id.
  [[nodiscard]] virtual Result<SnapshotId> copy_snapshot(const CopySnapshotOptions& o) = 0;

  // The attachment's DeleteOnTermination; seen afterwards in DescribeVolumes and DescribeInstances.
  [[nodiscard]] virtual Result<void> modify_instance_attribute(const ModifyInstanceAttributeOptions& o) = 0;

  [[nodiscard]] virtual Result<void> create_tags(const CreateTagsOptions& o) = 0;
  [[nodiscard]] virtual Result<void> delete_tags(const DeleteTagsOptions& o) = 0;
};

}  // namespace ec2
