#pragma once
// Ec2Api over HTTP: EC2 Query (POST, API version 2016-11-15), SigV4, standard retries, and
// client-side pacing of throttled buckets (ec2/pacing.h).
#include <memory>
#include <string>

#include "ec2/call_stats.h"
#include "ec2/clock.h"
#include "ec2/credentials.h"
#include "ec2/ec2_api.h"
#include "ec2/endpoint.h"
#include "ec2/http.h"
#include "ec2/pacing.h"
#include "ec2/retry.h"

namespace ec2 {

struct Ec2ClientOptions {
  std::string region;
  // Empty url: resolve_ec2_endpoint(region, environment). A configured endpoint may be http.
  Endpoint endpoint;
  std::shared_ptr<CredentialsProvider> credentials;
  RetryOptions retry;
  PacingOptions pacing;  // ec2/pacing.h; patience zero: none (throttles are retried as other errors)
  HttpOptions http;           // ca_bundle empty: AWS_CA_BUNDLE
  int default_page_size = 0;  // 0: let EC2 choose (max_results in options override it)

  // Injected for tests; null: the real ones.
  std::shared_ptr<HttpClient> http_client;
  const Clock* clock = nullptr;
  Sleeper* sleeper = nullptr;
  RandomSource* random = nullptr;
  std::shared_ptr<RetryQuota> quota;  // shared between clients if wanted
  std::shared_ptr<CallStats> call_stats;  // null: requests are not counted
};

class Ec2Client final : public Ec2Api {
 public:
  // Resolves the endpoint (with `env`'s overrides) and validates the options.
  [[nodiscard]] static Result<std::unique_ptr<Ec2Client>> create(
      Ec2ClientOptions options, const EnvLookup& env = process_environment());
  ~Ec2Client() override;
  Ec2Client(const Ec2Client&) = delete;
  Ec2Client& operator=(const Ec2Client&) = delete;

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

  [[nodiscard]] const Endpoint& endpoint() const;
  [[nodiscard]] const std::string& region() const;
  [[nodiscard]] RetryQuota& quota();

 private:
  struct Impl;
  explicit Ec2Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ec2
