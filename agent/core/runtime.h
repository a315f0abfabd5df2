#pragma once
// The real Services of a run, made from the configuration and the environment: IMDSv2, the
// region, credentials, the EC2 client, udev/blkid block devices, libmount, the freeze ioctls
// and the system clock. The CLI makes one Runtime per command and hands services() and
// instance() to the command.
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "agent/config/config.h"
#include "agent/core/services.h"
#include "agent/report/report.h"
#include "ec2/credentials.h"
#include "ec2/ec2_client.h"
#include "ec2/environment.h"
#include "ec2/error.h"
#include "ec2/imds.h"

namespace agent {

struct RuntimeOptions {
  std::optional<std::string> region;  // --region
  bool dry_run = false;               // --dry-run
  // Whether config fleet_size holds the client to its share of EC2's buckets: for the commands a
  // fleet starts together (agent/cli: mount, prune), not for those run by hand, by a timer over
  // a randomized delay, or at an instance's own shutdown.
  bool fleet_share = false;
  ec2::EnvLookup env = ec2::process_environment();
};

// IMDSv2 with the environment's overrides (AWS_EC2_METADATA_SERVICE_ENDPOINT,
// AWS_EC2_METADATA_DISABLED). The CLI needs it before the config is complete (userdata).
[[nodiscard]] std::shared_ptr<ec2::Imds> make_imds(const ec2::EnvLookup& env);

// The region: --region, else AWS_REGION / AWS_DEFAULT_REGION, else the config's, else the
// instance's (IMDS).
[[nodiscard]] ec2::Result<std::string> resolve_region(const std::optional<std::string>& flag,
                                                      const ec2::EnvLookup& env, const Config& config,
                                                      ec2::Imds& imds);

// The instance id and availability zone from IMDS, with `region`.
[[nodiscard]] ec2::Result<InstanceContext> load_instance_context(ec2::Imds& imds, std::string region);

// How every command's EC2 client retries (more attempts than the SDKs' standard 3: the boot path
// must get through a flaky API) and paces throttled calls (config timeouts.throttled_s), from the
// first call when the config says a fleet starts together (fleet_size).
[[nodiscard]] ec2::RetryOptions retry_policy();
// fleet_share: whether config fleet_size applies (RuntimeOptions::fleet_share).
[[nodiscard]] ec2::PacingOptions pacing_policy(const Config& config, bool fleet_share);
// The poll rounds (RunOptions::waiter). A client held to a fleet's share of Describe*
// (fleet_size) starts its rounds a second apart instead of 150 ms: a round that finds the volume
// still creating spends a call of the fleet's bucket, which the fleet's later polls then wait for
// (bench/fleet: rolling-1000, boot-100).
[[nodiscard]] ec2::WaiterOptions poll_policy(const Config& config, bool fleet_share);

// EBSNAP_RUN_DIR, else /run/ebsnap.
[[nodiscard]] std::filesystem::path run_dir_from(const ec2::EnvLookup& env);

// The credentials: the config file's static ones when present, else the SDKs' default chain
// (environment, profile, instance role).
[[nodiscard]] std::shared_ptr<ec2::CredentialsProvider> make_credentials(const Config& config,
                                                                         const ec2::EnvLookup& env,
                                                                         std::shared_ptr<ec2::Imds> imds);

// One EC2 client per region a run reaches (copy's destinations, check's probes there), made on
// first use with the home client's options (credentials, retries, call counts) and `env`'s
// endpoint overrides; the home region gives `home`.
class RegionClients final : public Ec2Regions {
 public:
  RegionClients(ec2::Ec2Api& home, std::string home_region, ec2::Ec2ClientOptions base, ec2::EnvLookup env);
  ~RegionClients() override;
  RegionClients(const RegionClients&) = delete;
  RegionClients& operator=(const RegionClients&) = delete;
  [[nodiscard]] ec2::Result<ec2::Ec2Api*> in(const std::string& region) override;

 private:
  ec2::Ec2Api& home_;
  std::string home_region_;
  ec2::Ec2ClientOptions base_;
  ec2::EnvLookup env_;
  std::map<std::string, std::unique_ptr<ec2::Ec2Client>> clients_;
};

class Runtime {
 public:
  // Fails (one line, no secrets) when IMDS cannot tell where we are or the EC2 client cannot be
  // made. `imds` null: make_imds(options.env).
  [[nodiscard]] static ec2::Result<std::unique_ptr<Runtime>> create(
      const Config& config, RuntimeOptions options, std::shared_ptr<ec2::Imds> imds = nullptr);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  [[nodiscard]] Services& services();
  [[nodiscard]] const InstanceContext& instance() const;
  // The EC2 requests sent so far, by action (every retry counted), in the report's terms.
  [[nodiscard]] std::map<std::string, Ec2Requests> ec2_requests() const;

 private:
  struct Parts;
  explicit Runtime(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace agent
