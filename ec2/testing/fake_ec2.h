#pragma once
// An in-process, stateful Ec2Api that enforces EC2's rules, for unit tests of the agent:
//   - unknown ids → <Resource>.NotFound; attaching a volume that is not available →
//     VolumeInUse / IncorrectState; a device name already used on the instance → InUse;
//     a volume in another AZ → InvalidVolume.ZoneMismatch; deleting an attached volume →
//     VolumeInUse; detaching a volume that is not attached (or already detaching) →
//     IncorrectState; the root volume of a running instance cannot be detached;
//   - states advance (creating → available, attaching → attached, detaching → gone,
//     pending → completed, deleting → gone) on each Describe call, with a clock, or by step();
//   - VolumeInitializationRate only with a snapshot, 100..300; DescribeVolumeStatus reports a
//     snapshot-backed volume's initialization as its size loaded at that rate (20 MiB/s
//     without one) from its CreateTime, on the fake's clock (add_volume sets CreateTime);
//   - ClientToken idempotency (same token, same parameters → same volume; different
//     parameters → IdempotentParameterMismatch; a token stays bound after its volume is deleted,
//     and then answers with that volume in state deleted);
//   - ModifyInstanceAttribute (BlockDeviceMapping) sets DeleteOnTermination on the attachment
//     (DescribeVolumes and DescribeInstances show it); a device not attached to the instance →
//     InvalidInstanceAttributeValue;
//   - tags at creation and by CreateTags/DeleteTags; Describe filters (with * and ? wildcards),
//     ids, OwnerIds=self; DryRun (DryRunOperation, or UnauthorizedOperation for denied actions);
//     grants conditioned on a resource tag;
//   - CopySnapshot (this fake is the destination region): from a snapshot of this fake, or of
//     another fake registered with add_source_region; a copy has VolumeId vol-ffffffff, StartTime
//     now, state pending; CompletionDurationMinutes 15..2880 in steps of 15; at most 20 pending
//     copies (ResourceLimitExceeded); no PresignedUrl is verified (copy_requests() shows it);
//   - injected errors, lost responses (applied, then a Network error with maybe_applied) and a
//     call log.
// Thread-safe.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ec2/clock.h"
#include "ec2/ec2_api.h"

namespace ec2 {

// An EC2 filter value against a value: * is any run, ? any one character (the simulated account
// of bench/fleet matches filters by it too).
[[nodiscard]] bool glob_match(std::string_view pattern, std::string_view value);

struct FakeEc2Options {
  std::string region = "us-east-1";
  std::string account_id = "123456789012";

  enum class Progress {
    OnDescribe,  // every Describe call moves each transitional resource one step, after answering
    Clock,       // a resource moves once `clock` has passed its delay below
    Manual,      // only step() and settle() move anything
  };
  Progress progress = Progress::OnDescribe;
  const Clock* clock = nullptr;  // required for Progress::Clock
  std::chrono::milliseconds volume_create_delay{2'000};
  std::chrono::milliseconds volume_delete_delay{1'000};
  std::chrono::milliseconds attach_delay{1'000};
  std::chrono::milliseconds detach_delay{1'000};
  std::chrono::milliseconds snapshot_delay{5'000};
  // Ids are "<prefix>-<17 hex digits>" counting up from here; give each region's fake its own
  // range when ids must be unique across fakes, as EC2's are.
  std::uint64_t first_id = 0x1000;
};

// EC2's limit of concurrent snapshot copies into one region.
inline constexpr long k_fake_max_pending_copies = 20;

struct FakeInstanceSpec {
  InstanceId id;  // empty: generated
  std::string availability_zone = "us-east-1a";
  std::string root_device_name = "/dev/xvda";
  bool with_root_volume = true;  // create and attach an 8 GiB root volume
  std::vector<Tag> tags;
};

class FakeEc2 final : public Ec2Api {
 public:
  explicit FakeEc2(FakeEc2Options options = {});
  ~FakeEc2() override;

  // --- Ec2Api ---
  [[nodiscard]] Result<std::vector<Snapshot>> describe_snapshots(const DescribeSnapshotsOptions& o) override;
  [[nodiscard]] Result<std::vector<Volume>> describe_volumes(const DescribeVolumesOptions& o) override;
  [[nodiscard]] Result<std::vector<Instance>> describe_instances(const DescribeInstancesOptions& o) override;
  [[nodiscard]] Result<std::vector<VolumeStatusItem>> describe_volume_status(
      const DescribeVolumeStatusOptions& o) override;
  [[nodiscard]] Result<Volume> create_volume(const CreateVolumeOptions& o) override;
  [[nodiscard]] Result<VolumeAttachment> attach_volume(const AttachVolumeOptions& o) override;
  [[nodiscard]] Result<VolumeAttachment> detach_volume(const DetachVolumeOptions& o) override;
  [[nodiscard]] Result<void> delete_volume(const DeleteVolumeOptions& o) override;
  [[nodiscard]] Result<Snapshot> create_snapshot(const CreateSnapshotOptions& o) override;
  [[nodiscard]] Result<std::vector<Snapshot>> create_snapshots(const CreateSnapshotsOptions& o) override;
  [[nodiscard]] Result<void> delete_snapshot(const DeleteSnapshotOptions& o) override;
  [[nodiscard]] Result<SnapshotId> copy_snapshot(const CopySnapshotOptions& o) override;
  [[nodiscard]] Result<void> modify_instance_attribute(const ModifyInstanceAttributeOptions& o) override;
  [[nodiscard]] Result<void> create_tags(const CreateTagsOptions& o) override;
  [[nodiscard]] Result<void> delete_tags(const DeleteTagsOptions& o) override;

  // --- setting the scene ---
  InstanceId add_instance(FakeInstanceSpec spec = {});
  // Adds a volume as given (any state; attachments are recorded on their instances).
  // An empty id is generated.
  VolumeId add_volume(Volume volume);
  // Adds a snapshot as given; empty id generated, empty owner: this account.
  SnapshotId add_snapshot(Snapshot snapshot);

  // CopySnapshot with SourceRegion `region` reads its source from `source` (another region's
  // fake, which must outlive this one). Copies between two fakes in both directions at the
  // same time are not supported.
  void add_source_region(std::string region, const FakeEc2& source);

  // --- looking ---
  [[nodiscard]] std::optional<Volume> volume(const VolumeId& id) const;
  [[nodiscard]] std::optional<Snapshot> snapshot(const SnapshotId& id) const;
  [[nodiscard]] std::optional<Instance> instance(const InstanceId& id) const;
  [[nodiscard]] std::vector<Volume> volumes() const;
  [[nodiscard]] std::vector<Snapshot> snapshots() const;
  // Action names in call order ("CreateVolume", "DescribeVolumes", ...).
  [[nodiscard]] std::vector<std::string> calls() const;
  [[nodiscard]] int call_count(std::string_view action) const;
  // Every CopySnapshot this fake accepted, as called (presigned_url included).
  [[nodiscard]] std::vector<CopySnapshotOptions> copy_requests() const;

  // --- moving time ---
  void step();    // every transitional resource one step
  void settle();  // step until nothing is transitional

  // --- faults ---
  // The next `times` calls of `action` fail with `error` (its kind is derived from aws_code
  // when aws_code is set) and change nothing.
  void fail_next(std::string action, Error error, int times = 1);
  // The next call of `action` is applied, then fails as if the connection dropped before the
  // answer (kind Network, maybe_applied = true).
  void lose_next_response(std::string action);
  // IAM denies `action` (UnauthorizedOperation, also under DryRun).
  void deny(std::string action);
  // IAM grants `action` only on resources carrying the tag `tag_key`, as a policy with
  // "Null": {"aws:ResourceTag/<tag_key>": "false"} does: a call (DryRun included) naming a volume
  // or snapshot without it, or one that does not exist, is UnauthorizedOperation. Checked for
  // the volume of DetachVolume and DeleteVolume, the snapshot of DeleteSnapshot, the source
  // snapshot of CopySnapshot (a snapshot of this fake's), and the resources of CreateTags and
  // DeleteTags.
  void require_resource_tag(std::string action, std::string tag_key);
  // A DryRun of `action` is answered as the call itself (data and HTTP 200, not DryRunOperation),
  // as some endpoints do for Describe calls. For Describe actions: anything else would be carried out.
  void serve_dry_run(std::string action);
  // Runs before every call (after it is logged), outside the fake's lock.
  void on_call(std::function<void(std::string_view action)> hook);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ec2
