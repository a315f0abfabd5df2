#include "agent/core/runtime.h"

#include <algorithm>

#include "agent/core/log.h"
#include "ec2/ec2_client.h"
#include "platform/freeze_ops.h"
#include "platform/libmount_mounter.h"
#include "platform/udev_block_devices.h"
#include "ebsnap/try.h"

namespace agent {
namespace {

std::optional<std::string> non_empty(const ec2::EnvLookup& env, const std::string& name) {
  auto v = env(name);
  if (v && !v->empty()) return v;
  return std::nullopt;
}

}  // namespace

std::shared_ptr<ec2::Imds> make_imds(const ec2::EnvLookup& env) {
  return std::make_shared<ec2::ImdsClient>(ec2::ImdsOptions::from_environment(env));
}

ec2::Result<std::string> resolve_region(const std::optional<std::string>& flag, const ec2::EnvLookup& env,
                                        const Config& config, ec2::Imds& imds) {
  if (flag && !flag->empty()) return *flag;
  if (auto r = non_empty(env, "AWS_REGION")) return *r;
  if (auto r = non_empty(env, "AWS_DEFAULT_REGION")) return *r;
  if (config.region && !config.region->empty()) return *config.region;
  auto r = imds.region();
  if (!r) {
    return ec2::fail(
        r.error().kind,
        "no region: none given (--region, AWS_REGION, config) and IMDS failed: " + r.error().describe());
  }
  return r;
}

ec2::Result<InstanceContext> load_instance_context(ec2::Imds& imds, std::string region) {
  auto id = imds.instance_id();
  if (!id) return ec2::fail(id.error().kind, "instance id from IMDS: " + id.error().describe());
  auto az = imds.availability_zone();
  if (!az) return ec2::fail(az.error().kind, "availability zone from IMDS: " + az.error().describe());
  return InstanceContext{.instance_id = *id, .availability_zone = *az, .region = std::move(region)};
}

std::filesystem::path run_dir_from(const ec2::EnvLookup& env) {
  if (auto d = non_empty(env, "EBSNAP_RUN_DIR")) return *d;
  return "/run/ebsnap";
}

std::shared_ptr<ec2::CredentialsProvider> make_credentials(const Config& config, const ec2::EnvLookup& env,
                                                           std::shared_ptr<ec2::Imds> imds) {
  if (config.credentials) {
    const auto& c = *config.credentials;
    return std::make_shared<ec2::StaticCredentialsProvider>(
        ec2::Credentials{.access_key_id = c.access_key_id,
                         .secret_access_key = ec2::SecretString(c.secret_access_key),
                         .session_token = ec2::SecretString(c.session_token.value_or("")),
                         .expiration = std::nullopt,
                         .source = "config file " + config.source.string()});
  }
  return ec2::default_credentials_chain(env, std::move(imds), ec2::system_clock());
}

RegionClients::RegionClients(ec2::Ec2Api& home, std::string home_region, ec2::Ec2ClientOptions base,
                             ec2::EnvLookup env)
    : home_(home), home_region_(std::move(home_region)), base_(std::move(base)), env_(std::move(env)) {}

RegionClients::~RegionClients() = default;

ec2::Result<ec2::Ec2Api*> RegionClients::in(const std::string& region) {
  if (region == home_region_) return &home_;
  if (const auto it = clients_.find(region); it != clients_.end()) return it->second.get();
  auto options = base_;
  options.region = region;
  EBSNAP_TRY_ASSIGN(auto client, ec2::Ec2Client::create(std::move(options), env_));
  log_agent().debug("runtime region={} client=made", region);
  return clients_.emplace(region, std::move(client)).first->second.get();
}

struct Runtime::Parts {
  std::shared_ptr<ec2::Imds> imds;
  std::shared_ptr<ec2::CredentialsProvider> credentials;
  std::shared_ptr<ec2::CallStats> call_stats = std::make_shared<ec2::CallStats>();
  std::unique_ptr<ec2::Ec2Client> ec2;
  std::unique_ptr<RegionClients> regions;
  platform::UdevBlockDevices devices;
  platform::LibmountMounter mounter;
  platform::KernelFreezeOps freeze_ops;
  ProcessGuardianLauncher guardians;
  ProcessHookRunner hooks;
  InstanceContext instance;
  std::optional<Services> services;
};

ec2::RetryOptions retry_policy() {
  // The retry quota still stops a storm of errors.
  return ec2::RetryOptions{.max_attempts = 8};
}

ec2::PacingOptions pacing_policy(const Config& config, bool fleet_share) {
  return ec2::PacingOptions{.patience = std::chrono::duration_cast<std::chrono::milliseconds>(config.timeouts.throttled),
                            .fleet = fleet_share ? config.fleet_size : 1,
                            .fleet_window = fleet_share ? config.fleet_window : std::chrono::seconds{0}};
}

ec2::WaiterOptions poll_policy(const Config& config, bool fleet_share) {
  auto waiter = RunOptions{}.waiter;
  if (fleet_share && config.fleet_size > 1) {
    waiter.initial_delay = std::max(waiter.initial_delay, std::chrono::milliseconds{1'000});
  }
  return waiter;
}

Runtime::Runtime(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
Runtime::~Runtime() = default;

ec2::Result<std::unique_ptr<Runtime>> Runtime::create(const Config& config, RuntimeOptions options,
                                                      std::shared_ptr<ec2::Imds> imds) {
  auto parts = std::make_unique<Parts>();
  parts->imds = imds ? std::move(imds) : make_imds(options.env);
  EBSNAP_TRY_ASSIGN(const auto region, resolve_region(options.region, options.env, config, *parts->imds));
  EBSNAP_TRY_ASSIGN(parts->instance, load_instance_context(*parts->imds, region));
  parts->credentials = make_credentials(config, options.env, parts->imds);
  // Assigned member by member: GCC 12 at -O3 warns (-Wmaybe-uninitialized, a false positive)
  // about the endpoint a designated initializer leaves to its default.
  ec2::Ec2ClientOptions client_options;
  client_options.region = region;
  client_options.credentials = parts->credentials;
  client_options.retry = retry_policy();
  client_options.pacing = pacing_policy(config, options.fleet_share);
  client_options.call_stats = parts->call_stats;
  const auto base_options = client_options;
  EBSNAP_TRY_ASSIGN(parts->ec2, ec2::Ec2Client::create(std::move(client_options), options.env));
  parts->regions = std::make_unique<RegionClients>(*parts->ec2, region, base_options, options.env);
  log_agent().debug("runtime region={} instance_id={} availability_zone={} udevd={}", parts->instance.region,
                    parts->instance.instance_id, parts->instance.availability_zone,
                    parts->devices.udevd_running() ? "running" : "absent");
  RunOptions run{.dry_run = options.dry_run, .run_dir = run_dir_from(options.env)};
  run.waiter = poll_policy(config, options.fleet_share);
  parts->services.emplace(Services{.ec2 = *parts->ec2,
                                   .devices = parts->devices,
                                   .mounter = parts->mounter,
                                   .freeze_ops = parts->freeze_ops,
                                   .clock = ec2::system_clock(),
                                   .sleeper = ec2::system_sleeper(),
                                   .random = ec2::system_random(),
                                   .guardians = parts->guardians,
                                   .hooks = parts->hooks,
                                   .regions = parts->regions.get(),
                                   .options = std::move(run)});
  return std::unique_ptr<Runtime>(new Runtime(std::move(parts)));
}

Services& Runtime::services() {
  return *parts_->services;
}
const InstanceContext& Runtime::instance() const {
  return parts_->instance;
}

std::map<std::string, Ec2Requests> Runtime::ec2_requests() const {
  std::map<std::string, Ec2Requests> out;
  for (const auto& [action, calls] : parts_->call_stats->by_action()) {
    out[action] = Ec2Requests{.requests = calls.requests, .throttled = calls.throttled};
  }
  return out;
}

}  // namespace agent
