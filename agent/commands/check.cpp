#include "agent/commands/check.h"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "agent/commands/check_backups.h"
#include "agent/core/iam_plan.h"
#include "agent/core/log.h"
#include "agent/core/tags.h"
#include "platform/udev_block_devices.h"

namespace agent {
namespace {

// Plausible ids of the right shape: under DryRun EC2 answers on the permission first.
const ec2::VolumeId k_dummy_volume{"vol-0123456789abcdef0"};
const ec2::SnapshotId k_dummy_snapshot{"snap-0123456789abcdef0"};

// What a DryRun of an action that etc/iam-policy.json grants only on resources tagged
// ebsnap:group names: a resource of ebsnap's, or a placeholder when there is none.
struct Target {
  std::string id;
  bool owned = false;
  std::string why_placeholder;  // when not owned
};

// ebsnap's volume and snapshot made by this instance, for the tag-conditioned DryRuns.
struct OwnedTargets {
  Target volume;
  Target snapshot;
};

OwnedTargets find_owned(ec2::Ec2Api& ec2, const ec2::InstanceId& instance) {
  OwnedTargets out{.volume = {.id = k_dummy_volume.value}, .snapshot = {.id = k_dummy_snapshot.value}};
  if (instance.empty()) {
    out.volume.why_placeholder = out.snapshot.why_placeholder = "the instance is unknown (no IMDS)";
    return out;
  }
  // Bounded by this instance: an account may hold ebsnap resources of a whole fleet.
  const std::vector<ec2::Filter> filters = {{"tag-key", {std::string(k_tag_group)}},
                                           {"tag:" + std::string(k_tag_instance_id), {instance.value}}};
  if (auto volumes = ec2.describe_volumes({.filters = filters}); !volumes) {
    out.volume.why_placeholder = "looking for a volume of ebsnap's failed: " + volumes.error().describe();
  } else if (volumes->empty()) {
    out.volume.why_placeholder = fmt::format("no volume tagged {} made by this instance yet", k_tag_group);
  } else {
    // One attached here first: DetachVolume then names a real attachment.
    auto attached = std::ranges::find_if(*volumes, [&](const ec2::Volume& v) {
      return std::ranges::any_of(v.attachments, [&](const ec2::VolumeAttachment& a) { return a.instance_id == instance; });
    });
    out.volume = {.id = (attached != volumes->end() ? *attached : volumes->front()).id.value, .owned = true};
  }
  if (auto snapshots = ec2.describe_snapshots({.owner_ids = {"self"}, .filters = filters}); !snapshots) {
    out.snapshot.why_placeholder = "looking for a snapshot of ebsnap's failed: " + snapshots.error().describe();
  } else if (snapshots->empty()) {
    out.snapshot.why_placeholder = fmt::format("no snapshot tagged {} taken by this instance yet", k_tag_group);
  } else {
    out.snapshot = {.id = snapshots->front().id.value, .owned = true};
  }
  return out;
}

// The verdict on one DryRun answer. `target`: for the tag-conditioned actions, what it named.
PermissionProbe judge(std::string action, const ec2::Error& e, const Target* target) {
  PermissionProbe p{.action = std::move(action)};
  const bool owned = target != nullptr && target->owned;
  if (owned) p.tagged_resource = target->id;
  const std::string on = owned ? fmt::format(" on {}, tagged {}", target->id, k_tag_group) : "";
  if (e.kind == ec2::ErrorKind::DryRunOk) {
    p.verdict = PermissionProbe::Verdict::Allowed;
    p.detail = "allowed (DryRunOperation" + on + ")";
  } else if (target != nullptr && !owned &&
             (e.kind == ec2::ErrorKind::Unauthorized || e.kind == ec2::ErrorKind::NotFound)) {
    p.verdict = PermissionProbe::Verdict::Unproven;
    p.detail = fmt::format("not proven: {}; on a placeholder id the DryRun answered {}, as a grant only on "
                           "resources tagged {} does",
                           target->why_placeholder, e.aws_code.empty() ? std::string(ec2::to_string(e.kind)) : e.aws_code,
                           k_tag_group);
  } else if (e.kind == ec2::ErrorKind::Unauthorized) {
    p.verdict = PermissionProbe::Verdict::Missing;
    p.detail = "missing (UnauthorizedOperation" + on + ")";
  } else {
    p.verdict = PermissionProbe::Verdict::Unknown;
    p.detail = "could not tell: " + e.describe();
  }
  return p;
}

template <class T>
PermissionProbe judge(std::string action, const ec2::Result<T>& r, const Target* target = nullptr) {
  if (r) {
    // Some endpoints serve a Describe DryRun as the call itself: the answer proves the permission.
    PermissionProbe p{.action = std::move(action), .verdict = PermissionProbe::Verdict::Allowed,
                      .detail = "allowed (the DryRun call succeeded instead of answering DryRunOperation)"};
    if (target != nullptr && target->owned) p.tagged_resource = target->id;
    return p;
  }
  return judge(std::move(action), r.error(), target);
}

// Every copy_to destination of the configuration, once per region and key.
std::vector<CopyDestination> copy_destinations_of(const Config* config) {
  std::vector<CopyDestination> out;
  if (config == nullptr) return out;
  for (const auto& g : config->groups) {
    for (const auto& d : g.copy_to) {
      const bool seen = std::ranges::any_of(out, [&](const CopyDestination& o) {
        return o.region == d.region && o.kms_key_id == d.kms_key_id;
      });
      if (!seen) out.push_back(d);
    }
  }
  return out;
}

// The groups with a volume EC2 deletes with the instance.
std::vector<const GroupConfig*> deleting_groups(const Config& config) {
  std::vector<const GroupConfig*> out;
  for (const auto& g : config.groups) {
    if (std::ranges::any_of(g.volumes, &VolumeConfig::delete_on_termination)) out.push_back(&g);
  }
  return out;
}

// How young the newest snapshots of a group's delete_on_termination volumes must be, when its warning
// depends on their age: no snapshot_on_shutdown, and a retention with a period.
std::optional<std::chrono::seconds> snapshot_age_bound(const GroupConfig& g) {
  if (g.snapshot_on_shutdown || !g.retention) return std::nullopt;
  return smallest_bucket(*g.retention);
}

// Why one group's delete_on_termination volumes may take unsaved data with them; nullopt: they do not.
std::optional<std::string> delete_on_termination_risk(
    const GroupConfig& g, const FilterValues& filters,
    const std::expected<std::vector<ec2::Snapshot>, std::string>& snapshots, ec2::TimePoint now) {
  if (g.snapshot_on_shutdown) return std::nullopt;
  if (!g.retention) return "no snapshot_on_shutdown and no retention";
  const auto bound = snapshot_age_bound(g);
  if (!bound) {
    return "no snapshot_on_shutdown, and its retention keeps no hourly, daily, weekly, monthly or yearly bucket";
  }
  if (!snapshots) return "no snapshot_on_shutdown, and its snapshots could not be looked at: " + snapshots.error();
  GroupConfig deleting = g;
  std::erase_if(deleting.volumes, [](const VolumeConfig& v) { return !v.delete_on_termination; });
  for (const auto& b : decide_backups(*snapshots, filters, {&deleting}, now, {.max_age = *bound})) {
    if (b.verdict == BackupVerdict::Missing) {
      return fmt::format("no snapshot_on_shutdown, and {} has no completed snapshot", b.volume->mount_point);
    }
    if (b.verdict == BackupVerdict::Stale) {
      return fmt::format("no snapshot_on_shutdown, and the newest completed snapshot of {} is {} old, older than its "
                         "retention's smallest bucket ({})",
                         b.volume->mount_point, format_age(*b.age), format_age(*bound));
    }
  }
  return std::nullopt;
}

// The device of the first volume configured with delete_on_termination: ModifyInstanceAttribute's DryRun.
std::optional<std::string> delete_on_termination_device(const Config* config) {
  if (config == nullptr) return std::nullopt;
  for (const auto& g : config->groups) {
    for (const auto& v : g.volumes) {
      if (v.delete_on_termination) return v.device;
    }
  }
  return std::nullopt;
}

// One DescribeSnapshots of the lineages of the delete_on_termination volumes, when a group's warning
// depends on their age (no snapshot_on_shutdown, a retention period); an empty answer otherwise.
std::expected<std::vector<ec2::Snapshot>, std::string> deleting_snapshots(ec2::Ec2Api* ec2, const Config& config,
                                                                          const FilterValues& filters) {
  std::vector<std::string> mount_points;
  for (const auto* g : deleting_groups(config)) {
    if (!snapshot_age_bound(*g)) continue;
    for (const auto& v : g->volumes) {
      if (v.delete_on_termination) mount_points.push_back(v.mount_point);
    }
  }
  if (mount_points.empty()) return {};
  if (ec2 == nullptr) return std::unexpected(std::string("no EC2 client"));
  auto snapshots = ec2->describe_snapshots({.owner_ids = {"self"}, .filters = lineage_filters(filters, mount_points)});
  if (!snapshots) return std::unexpected("DescribeSnapshots failed: " + snapshots.error().describe());
  return std::move(*snapshots);
}

bool executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

bool LocalSystemProbe::udevd_running() { return platform::udevd_listening(); }

std::optional<std::string> LocalSystemProbe::find_executable(const std::string& name) {
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (const char* env = std::getenv("PATH"); env != nullptr && *env != '\0') path = std::string(env) + ":" + path;
  std::istringstream in(path);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (executable_file(candidate)) return candidate;
  }
  return std::nullopt;
}

bool LocalSystemProbe::kernel_supports(const std::string& fs_type) {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line)) {
    const auto tab = line.rfind('\t');
    if ((tab == std::string::npos ? line : line.substr(tab + 1)) == fs_type) return true;
  }
  // Not loaded yet: a module mount would load on demand.
  utsname u{};
  if (::uname(&u) != 0) return false;
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::path("/lib/modules") / u.release / "kernel/fs" / fs_type;
  if (!std::filesystem::is_directory(dir, ec)) return false;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with(fs_type + ".ko")) return true;
  }
  return false;
}

std::optional<std::chrono::seconds> smallest_bucket(const RetentionPolicy& r) {
  using std::chrono::hours;
  const std::pair<std::int32_t, std::chrono::seconds> buckets[] = {
      {r.hourly, hours(1)}, {r.daily, hours(24)}, {r.weekly, hours(24 * 7)}, {r.monthly, hours(24 * 31)},
      {r.yearly, hours(24 * 366)}};
  for (const auto& [count, period] : buckets) {
    if (count > 0) return period;
  }
  return std::nullopt;
}

std::vector<DeleteOnTerminationWarning> delete_on_termination_warnings(
    const Config& config, const FilterValues& filters,
    const std::expected<std::vector<ec2::Snapshot>, std::string>& snapshots, ec2::TimePoint now) {
  std::vector<DeleteOnTerminationWarning> out;
  for (const auto* g : deleting_groups(config)) {
    if (auto risk = delete_on_termination_risk(*g, filters, snapshots, now)) {
      out.push_back({.group = g->name,
                     .detail = fmt::format("group {} has delete_on_termination volumes but {}: what was written since "
                                           "its last snapshot goes with the instance",
                                           g->name, *risk)});
    }
  }
  return out;
}

std::string_view to_string(PermissionProbe::Verdict verdict) {
  switch (verdict) {
    case PermissionProbe::Verdict::Allowed: return "allowed";
    case PermissionProbe::Verdict::Missing: return "missing";
    case PermissionProbe::Verdict::Unproven: return "unproven";
    case PermissionProbe::Verdict::Unknown: return "unknown";
  }
  return "unknown";
}

const Permissions& every_permission() {
  static const Permissions all(k_permissions.begin(), k_permissions.end());
  return all;
}

std::vector<PermissionProbe> probe_permissions(ec2::Ec2Api& ec2, const ec2::InstanceId& instance,
                                               const std::string& availability_zone, const std::string& region,
                                               const std::optional<std::string>& delete_on_termination_device,
                                               const Permissions& needed, const CopyProbeTargets& copies) {
  const ec2::InstanceId inst = instance.empty() ? ec2::InstanceId{"i-0123456789abcdef0"} : instance;
  const std::string az = availability_zone.empty() ? region + "a" : availability_zone;
  // The create calls carry ebsnap's tag at creation, as the commands send them: the policy grants
  // them only so (aws:RequestTag/ebsnap:group), together with CreateTags for that CreateAction.
  const std::vector<ec2::Tag> created = {{std::string(k_tag_group), "ebsnap-check"}};
  std::vector<PermissionProbe> out;
  const auto wants = [&](Permission p) { return needed.contains(p); };
  if (wants(Permission::DescribeSnapshots)) {
    out.push_back(judge("DescribeSnapshots", ec2.describe_snapshots({.dry_run = true, .owner_ids = {"self"}, .max_results = 5})));
  }
  if (wants(Permission::DescribeVolumes)) {
    out.push_back(judge("DescribeVolumes", ec2.describe_volumes({.dry_run = true, .max_results = 5})));
  }
  if (wants(Permission::DescribeInstances)) {
    out.push_back(judge("DescribeInstances", ec2.describe_instances({.dry_run = true, .instance_ids = {inst}})));
  }
  if (wants(Permission::DescribeVolumeStatus)) {
    out.push_back(judge("DescribeVolumeStatus", ec2.describe_volume_status({.dry_run = true, .max_results = 5})));
  }
  const bool names_owned = wants(Permission::AttachVolume) || wants(Permission::DetachVolume) ||
                           wants(Permission::DeleteVolume) || wants(Permission::DeleteSnapshot) ||
                           wants(Permission::RetagSnapshot) || wants(Permission::CopySnapshot);
  const OwnedTargets owned = names_owned ? find_owned(ec2, instance) : OwnedTargets{};
  const ec2::VolumeId own_volume{owned.volume.id};
  const ec2::SnapshotId own_snapshot{owned.snapshot.id};
  if (wants(Permission::CreateVolume)) {
    ec2::CreateVolumeOptions o;
    o.dry_run = true;
    o.availability_zone = az;
    o.size_gib = 1;
    o.volume_type = "gp3";
    o.tag_specifications = {{"volume", created}};
    out.push_back(judge("CreateVolume", ec2.create_volume(o)));
  }
  // ebsnap's volume, to the instance, as mount and unmount name them.
  if (wants(Permission::AttachVolume)) {
    out.push_back(judge("AttachVolume",
                        ec2.attach_volume({.dry_run = true, .volume_id = own_volume, .instance_id = inst, .device = "/dev/sdz"}),
                        &owned.volume));
  }
  if (wants(Permission::DetachVolume)) {
    out.push_back(judge("DetachVolume", ec2.detach_volume({.dry_run = true, .volume_id = own_volume, .instance_id = inst}),
                        &owned.volume));
  }
  if (wants(Permission::DeleteVolume)) {
    out.push_back(judge("DeleteVolume", ec2.delete_volume({.dry_run = true, .volume_id = own_volume}), &owned.volume));
  }
  if (wants(Permission::CreateSnapshot)) {
    ec2::CreateSnapshotOptions o;
    o.dry_run = true;
    o.volume_id = k_dummy_volume;
    o.tag_specifications = {{"snapshot", created}};
    out.push_back(judge("CreateSnapshot", ec2.create_snapshot(o)));
  }
  if (wants(Permission::CreateSnapshots)) {
    ec2::CreateSnapshotsOptions o;
    o.dry_run = true;
    o.instance_id = inst;
    o.instance_specification.exclude_boot_volume = true;
    o.tag_specifications = {{"snapshot", created}};
    out.push_back(judge("CreateSnapshots", ec2.create_snapshots(o)));
  }
  if (wants(Permission::DeleteSnapshot)) {
    out.push_back(
        judge("DeleteSnapshot", ec2.delete_snapshot({.dry_run = true, .snapshot_id = own_snapshot}), &owned.snapshot));
  }
  // CopySnapshot as copy calls it: in the destination, from ebsnap's snapshot here (the policy
  // grants it on the lineage's snapshots only), tagged at creation, with the destination's key (a
  // key the DryRun cannot use shows up as its error).
  if (wants(Permission::CopySnapshot)) {
    const auto copy_into = [&](ec2::Ec2Api& there, const std::string& action, const CopyDestination* d) {
      ec2::CopySnapshotOptions o{.dry_run = true,
                                 .source_region = region,
                                 .source_snapshot_id = own_snapshot,
                                 .tag_specifications = {{"snapshot", created}}};
      if (d != nullptr && d->kms_key_id) {
        o.encrypted = true;
        o.kms_key_id = *d->kms_key_id;
      }
      auto p = judge(action, there.copy_snapshot(o), &owned.snapshot);
      if (d != nullptr && d->kms_key_id) p.detail += " with KmsKeyId " + *d->kms_key_id;
      out.push_back(std::move(p));
    };
    if (copies.destinations.empty()) copy_into(ec2, "CopySnapshot", nullptr);
    for (const auto& d : copies.destinations) {
      const std::string action = "CopySnapshot@" + d.region;
      ec2::Result<ec2::Ec2Api*> there = copies.regions != nullptr
                                            ? copies.regions->in(d.region)
                                            : ec2::fail(ec2::ErrorKind::Other, "no client for other regions");
      if (there) {
        copy_into(**there, action, &d);
      } else {
        out.push_back(PermissionProbe{.action = action,
                                      .detail = "could not tell: no EC2 client for " + d.region + ": " +
                                                there.error().describe()});
      }
    }
  }
  // Plain CreateTags (no ec2:CreateAction), an ebsnap:* key on ebsnap's snapshot: what snapshot
  // needs after the thaw.
  if (wants(Permission::RetagSnapshot)) {
    out.push_back(judge("CreateTags", ec2.create_tags({.dry_run = true, .resource_ids = {own_snapshot.value},
                                                       .tags = {{"ebsnap:check", "1"}}}),
                        &owned.snapshot));
  }
  if (wants(Permission::ModifyInstanceAttribute) && delete_on_termination_device) {
    out.push_back(judge("ModifyInstanceAttribute",
                        ec2.modify_instance_attribute(
                            {.dry_run = true, .instance_id = inst, .device = *delete_on_termination_device})));
  }
  return out;
}

RunReport check(const CheckInputs& in) {
  RunReport result = new_report("check", false);
  LocalSystemProbe local;
  SystemProbe& system = in.system != nullptr ? *in.system : local;
  auto add = [&](std::string name, bool ok, std::string detail) -> CheckReport& {
    log_agent().info("check name={} ok={} detail=\"{}\"", name, ok, detail);
    return result.checks.emplace_back(CheckReport{.name = std::move(name), .ok = ok, .detail = std::move(detail)});
  };

  // IMDS (v2: the client only speaks v2) and identity.
  ec2::InstanceId instance;
  std::string az;
  std::string imds_region;
  if (in.imds == nullptr) {
    add("imds", false, "IMDS is disabled (AWS_EC2_METADATA_DISABLED)");
  } else if (auto id = in.imds->identity_document(); !id) {
    add("imds", false, "IMDSv2 not reachable: " + id.error().describe());
  } else {
    instance = id->instance_id;
    az = id->availability_zone;
    imds_region = id->region;
    add("imds", true, "IMDSv2 reachable");
    add("identity", !instance.empty(),
        fmt::format("instance {} in {} (account {}, {})", instance.value, az, id->account_id, id->instance_type));
  }
  const std::string region = in.region.value_or(imds_region);
  add("region", !region.empty(), region.empty() ? "no region: set it in the config, --region or AWS_REGION"
                                                : region + (in.region ? "" : " (from IMDS)"));

  if (in.credentials == nullptr) {
    add("credentials", false, "no credential provider");
  } else if (auto c = in.credentials->credentials(); !c) {
    add("credentials", false, "no credentials: " + c.error().describe());
  } else {
    // The source, never the keys.
    add("credentials", true, "from " + in.credentials->source());
  }

  if (in.config != nullptr) {
    std::size_t volumes = 0;
    for (const auto& g : in.config->groups) volumes += g.volumes.size();
    add("config", true, fmt::format("{}: {} group(s), {} volume(s)", in.config->source.string(), in.config->groups.size(), volumes));
  } else {
    add("config", false, in.config_error.value_or("no configuration"));
  }

  const bool udevd = system.udevd_running();
  add("udevd", udevd, udevd ? "running" : "not running: devices of attached volumes would not be announced");

  // Tools and freeze support for the filesystems the config uses (both when there is no config).
  std::set<std::string> filesystems;
  if (in.config != nullptr) {
    for (const auto& g : in.config->groups) {
      for (const auto& v : g.volumes) filesystems.insert(std::string(to_string(v.filesystem)));
    }
  } else {
    filesystems = {"ext4", "xfs"};
  }
  for (const auto& fs : filesystems) {
    const std::string tool = "mkfs." + fs;
    auto path = system.find_executable(tool);
    add(tool, path.has_value(), path ? *path : tool + " not found (install " + (fs == "xfs" ? "xfsprogs" : "e2fsprogs") + ")");
    // FIFREEZE works on every filesystem the kernel can mount here among ours (ext4, xfs).
    const bool supported = system.kernel_supports(fs);
    add("freeze." + fs, supported, supported ? "kernel supports " + fs + " (FIFREEZE/FITHAW)" : "kernel does not know " + fs);
  }

  if (in.ec2 == nullptr) {
    add("ec2", false, "no EC2 client: " + in.ec2_error.value_or("unknown reason"));
  } else {
    // A prune that cannot list or delete would do nothing, silently, run after run: say so here.
    std::vector<std::string> pruned;
    if (in.config != nullptr) {
      for (const auto& g : in.config->groups) {
        if (g.retention) pruned.push_back(g.name);
      }
    }
    // What the commands this configuration uses need (agent/core/iam_plan.h): what `ebsnap
    // iam-policy` grants for it. Without a configuration, everything.
    const auto plan = plan_iam_policy(in.config, {});
    const Permissions& needed = plan ? plan->permissions : every_permission();
    const CopyProbeTargets copies{.regions = in.regions, .destinations = copy_destinations_of(in.config)};
    for (const auto& p :
         probe_permissions(*in.ec2, instance, az, region, delete_on_termination_device(in.config), needed, copies)) {
      // Unproven is what the recommended policy answers before ebsnap has made anything: no problem found.
      const bool ok = p.verdict == PermissionProbe::Verdict::Allowed || p.verdict == PermissionProbe::Verdict::Unproven;
      std::string detail = p.detail;
      if (!pruned.empty() && (p.action == "DescribeSnapshots" || p.action == "DeleteSnapshot")) {
        detail += fmt::format("; prune of {} (retention) {}", fmt::join(pruned, ", "),
                              ok ? "needs it" : "cannot work without it");
      }
      auto& item = add("ec2:" + p.action, ok, detail);
      item.verdict = std::string(to_string(p.verdict));
      item.tagged_resource = p.tagged_resource;
      if (p.verdict == PermissionProbe::Verdict::Missing) {
        // "CopySnapshot@us-west-2" is the action CopySnapshot.
        auto action = std::string("ec2:").append(p.action.substr(0, p.action.find('@')));
        if (std::ranges::find(result.missing_actions, action) == result.missing_actions.end()) {
          result.missing_actions.push_back(std::move(action));
        }
      }
    }
  }
  if (in.config != nullptr && in.filters != nullptr) {
    const auto& clock = in.clock != nullptr ? *in.clock : ec2::system_clock();
    const auto snapshots = deleting_snapshots(in.ec2, *in.config, *in.filters);
    for (const auto& w : delete_on_termination_warnings(*in.config, *in.filters, snapshots, clock.now())) {
      add("delete_on_termination." + w.group, true, w.detail).warning = true;
    }
  }
  return result;
}

}  // namespace agent
