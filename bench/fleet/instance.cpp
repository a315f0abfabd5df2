#include "bench/fleet/instance.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "agent/commands/mount.h"
#include "agent/commands/prune.h"
#include "agent/commands/prune_decide.h"
#include "agent/commands/snapshot.h"
#include "agent/config/config.h"
#include "agent/core/runtime.h"
#include "agent/core/services.h"
#include "agent/core/tags.h"
#include "bench/fleet/sim_freezing.h"
#include "ec2/credentials.h"
#include "platform/device_names.h"
#include "platform/testing/fake_block_devices.h"
#include "platform/testing/fake_mounter.h"

namespace fleet {
namespace {

// The network between the instance and EC2: a request reaches the account after one way's
// latency, is served there (at that virtual time) and answered after EC2's own time and the way
// back.
class SimHttp final : public ec2::HttpClient {
 public:
  SimHttp(World& world, Account& account, Duration one_way, Duration server_time)
      : world_(world), account_(account), one_way_(one_way), server_time_(server_time) {}

  [[nodiscard]] ec2::Result<ec2::HttpResponse> send(const ec2::HttpRequest& request) override {
    world_.sleep_for(one_way_);
    auto response = account_.serve(request);
    world_.sleep_for(server_time_ + one_way_);
    return response;
  }

 private:
  World& world_;
  Account& account_;
  Duration one_way_;
  Duration server_time_;
};

class NoHooks final : public agent::HookRunner {
 public:
  [[nodiscard]] std::expected<void, agent::HookError> run(const agent::Hooks&, agent::HookPhase,
                                                          const agent::HookContext&,
                                                          const agent::HookRunOptions&) override {
    return {};
  }
};

// The first failure a report tells of: the run's, a group's, or a volume's.
std::string first_failure(const agent::RunReport& report) {
  if (report.error) return *report.error;
  for (const auto& g : report.groups) {
    if (g.error) return *g.error;
    for (const auto& v : g.volumes) {
      if (v.outcome == agent::Outcome::Failed) return v.reason.value_or("failed");
    }
  }
  return {};
}

}  // namespace

struct Instance::Parts {
  World& world;
  Account& account;
  InstanceOptions options;
  ec2::InstanceId id;
  SeededRandom random;
  std::unique_ptr<ec2::Ec2Client> ec2;
  platform::FakeBlockDevices devices;
  platform::FakeMounter mounter;
  SimFreezing freezing;
  NoHooks hooks;
  agent::Config config;
  agent::FilterValues filters;
  agent::InstanceContext instance;
  std::unique_ptr<agent::Services> services;
  int next_device = 0;

  [[nodiscard]] agent::RunContext context() {
    return agent::RunContext{.services = *services,
                             .config = config,
                             .filters = filters,
                             .instance = instance,
                             .groups = {&config.groups.front()}};
  }

  Parts(World& w, Account& a, InstanceOptions o)
      : world(w),
        account(a),
        options(std::move(o)),
        id(a.add_instance("us-east-1a")),
        random(std::uint64_t{0x9e3779b97f4a7c15} * static_cast<std::uint64_t>(options.index + 1)),
        freezing(w) {
    agent::GroupConfig group;
    group.name = "data";
    for (int v = 0; v < options.volumes; ++v) {
      group.volumes.push_back(agent::VolumeConfig{.device = fmt::format("/dev/sd{}", static_cast<char>('f' + v)),
                                                  .mount_point = fmt::format("/data/{}", v),
                                                  .size_gib = 100,
                                                  .filesystem = agent::FsType::Ext4});
    }
    group.retention = options.retention;
    config.groups.push_back(std::move(group));
    config.fleet_size = options.fleet_size;
    config.fleet_window = options.fleet_window;
    ec2::Ec2ClientOptions client{.region = "us-east-1"};
    client.endpoint = ec2::Endpoint{
        .url = "http://ec2.sim/", .scheme = "http", .host = "ec2.sim", .path = "/", .configured = true};
    client.credentials = std::make_shared<ec2::StaticCredentialsProvider>(ec2::Credentials{
        .access_key_id = "AKIAFLEETSIMULATION0", .secret_access_key = ec2::SecretString(std::string("fleet-secret")), .source = "fleet"});
    client.retry = agent::retry_policy();
    if (options.pacing) client.pacing = options.pacing_override.value_or(agent::pacing_policy(config, /*fleet_share=*/true));
    client.http_client = std::make_shared<SimHttp>(world, account, options.one_way_latency, options.server_time);
    client.clock = &world;
    client.sleeper = &world;
    client.random = &random;
    client.quota = std::make_shared<ec2::RetryQuota>(client.retry.quota_capacity);
    auto made = ec2::Ec2Client::create(std::move(client), ec2::fixed_environment({}));
    if (!made) throw std::runtime_error("fleet: " + made.error().describe());
    ec2 = std::move(*made);

    filters = {{.key = "role", .value = "fleet"},
               {.key = "cluster", .value = fmt::format("node-{}", options.index)},
               {.key = "environment", .value = "sim"}};
    instance = agent::InstanceContext{.instance_id = id, .availability_zone = "us-east-1a", .region = "us-east-1"};
    services = std::make_unique<agent::Services>(agent::Services{
        .ec2 = *ec2,
        .devices = devices,
        .mounter = mounter,
        .freeze_ops = freezing,
        .clock = world,
        .sleeper = world,
        .random = random,
        .guardians = freezing,
        .hooks = hooks,
        .options = agent::RunOptions{.run_dir = options.run_dir,
                                     .waiter = agent::poll_policy(config, /*fleet_share=*/true)},
        .tasks = world});
    // The device appears when the account's attachment completes (udev, at once).
    devices.set_arrival([this](const platform::VolumeQuery& q) -> std::optional<platform::BlockDevice> {
      auto at = account.attached_at(q.volume_id, id);
      if (!at) return std::nullopt;
      if (*at > world.now()) {
        world.sleep_for(std::chrono::ceil<Duration>(*at - world.now()));
      }
      ++next_device;
      platform::BlockDevice d{.devnode = fmt::format("/dev/nvme{}n1", next_device),
                              .serial = platform::volume_serial(q.volume_id),
                              .by_id_link = platform::nvme_by_id_link(q.volume_id),
                              .size_bytes = q.size_bytes,
                              .devnum = static_cast<std::uint64_t>(259 * 256 + next_device)};
      devices.add_device(d, platform::ProbeResult{.fs_type = "ext4", .uuid = fmt::format("uuid-{}", q.volume_id)});
      return d;
    });
  }
};

Instance::Instance(World& world, Account& account, InstanceOptions options)
    : parts_(std::make_unique<Parts>(world, account, std::move(options))) {}

Instance::~Instance() = default;

const ec2::InstanceId& Instance::id() const {
  return parts_->id;
}

void Instance::seed_snapshots() {
  auto& p = *parts_;
  const auto when = p.world.now() - std::chrono::hours(1);
  const std::string run_id = fmt::format("run-{}", p.options.index);
  for (const auto& v : p.config.groups.front().volumes) {
    std::vector<ec2::Tag> tags;
    for (const auto& f : p.filters) tags.push_back({f.key, f.value});
    tags.push_back({std::string(agent::k_tag_mount_point), v.mount_point});
    tags.push_back({std::string(agent::k_tag_group), "data"});
    tags.push_back({std::string(agent::k_tag_run_id), run_id});
    tags.push_back({std::string(agent::k_tag_consistency), "frozen"});
    (void)p.account.add_snapshot(static_cast<int>(v.size_gib), std::move(tags), when);
  }
}

CommandResult Instance::mount() {
  auto& p = *parts_;
  const auto began = p.world.elapsed();
  const auto report = agent::mount(p.context());
  CommandResult out{.ok = report.ok(), .took = p.world.elapsed() - began, .failure = first_failure(report)};
  for (const auto& g : report.groups) {
    for (const auto& v : g.volumes) {
      if (v.outcome == agent::Outcome::Restored) continue;
      out.ok = false;
      if (out.failure.empty()) out.failure = v.reason.value_or(std::string(agent::to_string(v.outcome)));
    }
  }
  return out;
}

void Instance::seed_mounted_group() {
  auto& p = *parts_;
  const auto& group = p.config.groups.front();
  for (const auto& v : group.volumes) {
    const auto volume = p.account.add_attached_volume(
        p.id, v.device, static_cast<int>(v.size_gib),
        agent::volume_tags(group, p.filters,
                           {.group = group.name, .mount_point = v.mount_point, .device = v.device}, p.id,
                           "attempt-1"));
    ++p.next_device;
    const auto devnode = fmt::format("/dev/nvme{}n1", p.next_device);
    p.devices.add_device(
        platform::BlockDevice{.devnode = devnode,
                              .serial = platform::volume_serial(volume.value),
                              .by_id_link = platform::nvme_by_id_link(volume.value),
                              .size_bytes = platform::gib_bytes(static_cast<std::uint64_t>(v.size_gib)),
                              .devnum = static_cast<std::uint64_t>(259 * 256 + p.next_device)},
        platform::ProbeResult{.fs_type = "ext4", .uuid = fmt::format("uuid-{}", volume.value)});
    if (auto mounted = p.mounter.mount({.source = devnode, .target = v.mount_point, .fs_type = "ext4"});
        !mounted) {
      throw std::runtime_error("fleet: mount " + v.mount_point + ": " + mounted.error().describe());
    }
    p.freezing.add_filesystem(v.mount_point);
  }
}

std::size_t Instance::seed_history(int runs, Duration every) {
  auto& p = *parts_;
  const auto& group = p.config.groups.front();
  std::vector<ec2::Snapshot> seeded;
  for (int r = runs; r >= 1; --r) {
    const auto when = p.world.now() - r * every;
    const std::string run_id = fmt::format("run-{}-{}", p.options.index, r);
    for (const auto& v : group.volumes) {
      // agent::snapshot's tags, of a volume that is gone (restored since): prune reads only the tags.
      const ec2::VolumeId volume{"vol-ffffffff"};
      auto tags = agent::snapshot_tags(
          group, p.filters, {.group = group.name, .mount_point = v.mount_point, .device = v.device}, p.id,
          volume, agent::Consistency::Frozen, run_id);
      const auto id = p.account.add_snapshot(static_cast<int>(v.size_gib), tags, when);
      seeded.push_back(ec2::Snapshot{.id = id,
                                     .volume_id = volume,
                                     .state = ec2::SnapshotState::Completed,
                                     .progress = 100,
                                     .start_time = when,
                                     .volume_size_gib = static_cast<int>(v.size_gib),
                                     .tags = std::move(tags)});
    }
  }
  if (!group.retention) return 0;
  // What the prune's own decide step will ask of this history (it is pure): the deletes every run
  // must make, whether or not it gets as far as planning.
  return agent::plan_prune(
             agent::PruneInputs{.snapshots = seeded,
                                .owner = agent::PruneOwner{.group = group.name, .filters = p.filters},
                                .policy = *group.retention,
                                .now = p.world.now()})
      .deletes.size();
}

CommandResult Instance::snapshot() {
  auto& p = *parts_;
  const auto began = p.world.elapsed();
  const auto report = agent::snapshot(p.context());  // the timer's run: no ebsnap:trigger
  return CommandResult{
      .ok = report.ok(), .took = p.world.elapsed() - began, .failure = first_failure(report)};
}

CommandResult Instance::prune() {
  auto& p = *parts_;
  const auto began = p.world.elapsed();
  const auto report = agent::prune(p.context());
  return CommandResult{
      .ok = report.ok(), .took = p.world.elapsed() - began, .failure = first_failure(report)};
}

}  // namespace fleet
