#include "agent/commands/mount.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "agent/core/client_tokens.h"
#include "agent/core/hooks.h"
#include "agent/core/log.h"
#include "agent/core/our_volumes.h"
#include "agent/core/tags.h"
#include "ec2/waiter.h"
#include "platform/device_names.h"
#include "platform/mount_point.h"
#include "platform/probe.h"

namespace agent {

std::string_view to_string(VolumeStatus status) {
  switch (status) {
    case VolumeStatus::Restored:
      return "restored";
    case VolumeStatus::Created:
      return "created";
    case VolumeStatus::AlreadyMounted:
      return "already-mounted";
    case VolumeStatus::Failed:
      return "failed";
  }
  return "failed";
}

bool RestoreResult::ok() const {
  return errors.empty() && std::ranges::none_of(volumes, [](const VolumeOutcome& v) {
           return v.status == VolumeStatus::Failed;
         });
}

namespace {

// Attempts to get CreateVolume through when the ClientToken of the previous attempt turns out
// to be spent (its volume deleted, or the parameters changed since).
constexpr int k_create_passes = 2;
// AttachVolume retries with the next free device name when the name is in use.
constexpr int k_attach_name_tries = 4;
// Poll rounds a volume named by a replayed ClientToken may stay invisible before it is taken as
// deleted (DescribeVolumes is eventually consistent right after CreateVolume).
constexpr int k_invisible_rounds = 5;

// What has to happen for one configured volume.
enum class Plan {
  Done,        // finished (already mounted, or failed)
  Attach,      // a volume of ours exists, not attached: wait for available, attach, mount
  WaitDevice,  // a volume of ours is attached to this instance: wait for its device, mount
  Create,      // create it (from a snapshot or empty), then as Attach
};

struct Item {
  const GroupConfig* group = nullptr;
  const VolumeConfig* volume = nullptr;
  VolumeOutcome out;
  Plan plan = Plan::Done;
  std::optional<ec2::Volume> ec2_volume;  // the volume we work with, as last described
  std::optional<RestoreAttempt> attempt;  // the attempt its ClientToken belongs to
  bool replayed_token = false;            // the attempt came from an earlier run
  std::optional<ec2::Snapshot> snapshot;  // to restore from (Create)
  bool pre_mount_ran = false;
  bool on_failure_ran = false;
  bool started = false;  // its attach-and-mount thread runs: only that thread touches it now
};

class Restore {
 public:
  Restore(Services& services, const Config& config, const FilterValues& filters,
          const InstanceContext& instance)
      : s_(services),
        config_(config),
        filters_(filters),
        instance_(instance),
        tokens_(services.options.run_dir),
        hook_options_{.timeout =
                          std::chrono::duration_cast<std::chrono::milliseconds>(config.timeouts.hook)} {}

  RestoreResult run(const std::vector<const GroupConfig*>& groups);

 private:
  void fail(Item& item, std::string reason);
  [[nodiscard]] bool survey(std::vector<Item>& items);
  void choose_snapshots_for(std::vector<Item>& items);
  void wait_for_pending_snapshots(std::vector<Item*>& waiting);
  void plan_dry_run(Item& item);
  void run_group_hook(HookPhase phase, const GroupConfig& group, std::vector<Item*>& items, bool ok);
  void create(Item& item);
  void wait_available(std::vector<Item*>& items, std::vector<Item*>& gone,
                      const std::function<void(Item&)>& start);
  void attach_and_mount(Item& item);
  void finish(Item& item);
  [[nodiscard]] ec2::Result<std::string> attach(Item& item, platform::VolumeWatch& watch);
  [[nodiscard]] std::string diagnose_missing_device(const Item& item, const std::string& name);
  void mount(Item& item, const std::string& devnode, bool from_snapshot);
  [[nodiscard]] std::expected<void, std::string> format(Item& item, const std::string& devnode,
                                                        const std::string& fs_type, bool redo_interrupted);
  void on_failure_hooks(Item& item);
  [[nodiscard]] HookContext hook_context(const Item& item) const;

  Services& s_;
  const Config& config_;
  const FilterValues& filters_;
  const InstanceContext& instance_;
  ClientTokens tokens_;
  HookRunOptions hook_options_;
  std::mutex names_mutex_;
  std::set<std::string> claimed_names_;  // device names this run attaches with (or will)
  std::mutex errors_mutex_;
  std::vector<std::string> errors_;
};

void Restore::fail(Item& item, std::string reason) {
  log_agent().error("mount group={} mount_point={} volume_id={} status=failed reason=\"{}\"",
                    item.group->name, item.volume->mount_point,
                    item.out.volume_id ? item.out.volume_id->value : "-", reason);
  item.out.status = VolumeStatus::Failed;
  item.out.reason = std::move(reason);
  item.plan = Plan::Done;
}

HookContext Restore::hook_context(const Item& item) const {
  HookContext c{
      .group = item.group->name, .mount_point = item.volume->mount_point, .device = item.volume->device};
  if (item.out.volume_id) c.volume_id = item.out.volume_id->value;
  if (item.out.snapshot_id) c.snapshot_id = item.out.snapshot_id->value;
  return c;
}

void Restore::on_failure_hooks(Item& item) {
  if (s_.options.dry_run || item.on_failure_ran || item.group->hooks.of(HookPhase::on_failure).empty())
    return;
  item.on_failure_ran = true;
  auto c = hook_context(item);
  c.ok = false;
  c.error = item.out.reason;
  if (auto r = run_hooks(item.group->hooks, HookPhase::on_failure, c, hook_options_); !r) {
    log_agent().error("hook phase=on_failure group={} mount_point={} error=\"{}\"", item.group->name,
                      item.volume->mount_point, r.error().describe());
  }
}

// Step 1: what is there already (one DescribeVolumes, the mount table, the attempt files).
bool Restore::survey(std::vector<Item>& items) {
  std::vector<VolumeKey> keys;
  for (const auto& item : items) keys.push_back({item.group->name, item.volume->mount_point});
  auto ours = describe_our_volumes(s_.ec2, filters_, keys);
  if (!ours) {
    const auto reason = "DescribeVolumes failed: " + ours.error().describe();
    for (auto& item : items) fail(item, reason);
    return false;
  }
  for (auto& item : items) {
    const auto& mp = item.volume->mount_point;
    const auto& candidates = (*ours)[mp];
    auto attached = attached_to(candidates, instance_.instance_id);
    if (attached) {
      if (const auto* a = attachment_to(*attached, instance_.instance_id)) {
        std::lock_guard lock(names_mutex_);
        claimed_names_.insert(a->device);
      }
    }

    auto mounted = s_.mounter.find_by_target(mp);
    if (!mounted) {
      fail(item, "cannot read the mount table: " + mounted.error().describe());
      continue;
    }
    if (*mounted) {
      const auto& info = **mounted;
      auto serial = s_.devices.serial_of(info.source);
      const std::string own_serial = serial ? *serial : std::string{};
      const auto mine = std::ranges::find_if(candidates, [&](const ec2::Volume& c) {
        return serial.has_value() && device_is_volume(info.source, own_serial, c, instance_.instance_id);
      });
      if (mine != candidates.end()) {
        item.out.status = VolumeStatus::AlreadyMounted;
        item.out.volume_id = mine->id;
        item.out.snapshot_id = mine->snapshot_id;
        item.out.devnode = info.source;
        item.out.filesystem = info.fs_type;
        if (const auto* a = attachment_to(*mine, instance_.instance_id)) item.out.attached_as = a->device;
        item.plan = Plan::Done;
        log_agent().info("mount group={} mount_point={} volume_id={} devnode={} status=already-mounted",
                         item.group->name, mp, mine->id, info.source);
        continue;
      }
      fail(item, fmt::format(
                     "{} is already a mount point of {} (serial '{}'), which is not a volume of ours for it; "
                     "unmount it first",
                     mp, info.source, own_serial));
      continue;
    }

    auto attempt = tokens_.load(item.group->name, mp);
    if (!attempt) {
      fail(item, attempt.error().message);
      continue;
    }
    if (attached) {
      // A run that died after AttachVolume: take its volume over (with its attempt, which says
      // whether its mkfs completed).
      item.plan = Plan::WaitDevice;
      if (*attempt && ec2::find_tag(attached->tags, k_tag_attempt) == (*attempt)->token) item.attempt = **attempt;
      item.ec2_volume = *attached;
      item.out.volume_id = attached->id;
      item.out.snapshot_id = attached->snapshot_id;
      item.out.reused = true;
      if (const auto* a = attachment_to(*attached, instance_.instance_id)) item.out.attached_as = a->device;
      log_agent().info("mount group={} mount_point={} volume_id={} reuse=attached", item.group->name, mp,
                       attached->id);
      continue;
    }

    if (*attempt) {
      const auto& token = (*attempt)->token;
      auto made = std::ranges::find_if(candidates, [&](const ec2::Volume& v) {
        return ec2::find_tag(v.tags, k_tag_attempt) == token && v.attachments.empty() &&
               (v.state == ec2::VolumeState::Creating || v.state == ec2::VolumeState::Available);
      });
      if (made != candidates.end()) {
        // A run that died between CreateVolume and AttachVolume: its volume is found by its tags.
        item.plan = Plan::Attach;
        item.ec2_volume = *made;
        item.attempt = **attempt;
        item.out.volume_id = made->id;
        item.out.snapshot_id = made->snapshot_id;
        item.out.reused = true;
        log_agent().info("mount group={} mount_point={} volume_id={} reuse=attempt", item.group->name, mp,
                         made->id);
        continue;
      }
      if (!(*attempt)->volume_id) {
        // CreateVolume may or may not have got through before the run died: the same token
        // returns the volume if it did, and creates it if it did not.
        item.attempt = **attempt;
        item.replayed_token = true;
      }
      // Otherwise the attempt's volume was created and is gone since: its token is spent.
    }
    item.plan = Plan::Create;
  }
  return true;
}

// Step 2: one DescribeSnapshots for every mount point that needs a volume.
void Restore::choose_snapshots_for(std::vector<Item>& items) {
  std::vector<std::string> mount_points;
  for (const auto& item : items) {
    if (item.plan == Plan::Create) mount_points.push_back(item.volume->mount_point);
  }
  if (mount_points.empty()) return;
  auto snapshots = s_.ec2.describe_snapshots(ec2::DescribeSnapshotsOptions{
      .owner_ids = {"self"}, .filters = lineage_filters(filters_, mount_points)});
  if (!snapshots) {
    const auto reason = "DescribeSnapshots failed: " + snapshots.error().describe();
    for (auto& item : items) {
      if (item.plan == Plan::Create) fail(item, reason);
    }
    return;
  }
  const auto choices = choose_snapshots(*snapshots, filters_, mount_points);
  std::vector<Item*> waiting;
  for (auto& item : items) {
    if (item.plan != Plan::Create) continue;
    const auto& choice = choices.at(item.volume->mount_point);
    for (const auto& id : choice.skipped_errors) {
      log_agent().warn("mount group={} mount_point={} snapshot_id={} skipped=state-error", item.group->name,
                       item.volume->mount_point, id);
      item.out.warnings.push_back(fmt::format("snapshot {} is in state error: skipped", id.value));
    }
    if (!choice.snapshot && !choice.skipped_errors.empty()) {
      // Every snapshot of the lineage failed: an empty volume would look like a first boot and
      // hide the loss of the data. An operator decides.
      fail(item,
           fmt::format("every snapshot of the lineage of {} is in state error; refusing to create an empty "
                       "volume in its place",
                       item.volume->mount_point));
      continue;
    }
    item.snapshot = choice.snapshot;
    if (choice.snapshot) item.out.snapshot_id = choice.snapshot->id;
    if (choice.newest_is_pending) waiting.push_back(&item);
  }
  if (!waiting.empty()) wait_for_pending_snapshots(waiting);
}

// A newest snapshot still pending is waited for: restoring the older one would silently lose
// what the newest holds.
void Restore::wait_for_pending_snapshots(std::vector<Item*>& waiting) {
  if (s_.options.dry_run) {
    for (auto* item : waiting) {
      item->out.plan.push_back(fmt::format("wait for pending snapshot {} (at most {} s)",
                                           item->snapshot->id.value,
                                           config_.timeouts.pending_snapshot.count()));
    }
    return;
  }
  std::vector<ec2::SnapshotId> ids;
  for (auto* item : waiting) {
    log_agent().info("mount group={} mount_point={} snapshot_id={} wait=pending", item->group->name,
                     item->volume->mount_point, item->snapshot->id);
    if (std::ranges::find(ids, item->snapshot->id) == ids.end()) ids.push_back(item->snapshot->id);
  }
  auto options = s_.options.waiter;
  options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config_.timeouts.pending_snapshot);
  ec2::Waiter waiter(options, s_.clock, s_.sleeper, s_.random);
  auto done = waiter.snapshots_until(
      s_.ec2, ids, [](const ec2::SnapshotId&, const std::optional<ec2::Snapshot>& snap) {
        if (!snap) return ec2::WaitCheck{ec2::WaitVerdict::Pending, "not visible"};
        if (snap->state == ec2::SnapshotState::Completed || snap->state == ec2::SnapshotState::Error) {
          return ec2::WaitCheck{ec2::WaitVerdict::Done, {}};
        }
        return ec2::WaitCheck{ec2::WaitVerdict::Pending, "state " + std::string(ec2::to_string(snap->state))};
      });
  for (auto* item : waiting) {
    if (!done) {
      fail(*item, fmt::format("the newest snapshot {} of {} is not completed ({}); not restoring older data",
                              item->snapshot->id.value, item->volume->mount_point, done.error().describe()));
      continue;
    }
    const auto at = std::ranges::find(ids, item->snapshot->id) - ids.begin();
    const auto& snap = (*done)[static_cast<std::size_t>(at)];
    if (snap->state != ec2::SnapshotState::Completed) {
      fail(*item,
           fmt::format("the newest snapshot {} of {} went to state error while we waited for it; a rerun "
                       "restores the newest completed one",
                       item->snapshot->id.value, item->volume->mount_point));
      continue;
    }
    item->snapshot = *snap;
  }
}

void Restore::plan_dry_run(Item& item) {
  const auto& v = *item.volume;
  auto& plan = item.out.plan;
  const bool from_snapshot = item.snapshot.has_value() || (item.ec2_volume && item.ec2_volume->snapshot_id);
  switch (item.plan) {
    case Plan::Done:
      return;
    case Plan::Create:
      if (item.snapshot) {
        plan.push_back(fmt::format("create a {} volume in {} from snapshot {}", to_string(v.volume_type),
                                   instance_.availability_zone, item.snapshot->id.value));
      } else {
        plan.push_back(fmt::format("create an empty {} GiB {} volume in {}", v.size_gib,
                                   to_string(v.volume_type), instance_.availability_zone));
      }
      [[fallthrough]];
    case Plan::Attach:
      if (item.plan == Plan::Attach) plan.push_back("reuse volume " + item.out.volume_id->value);
      plan.push_back(fmt::format("attach it to {} as {}", instance_.instance_id.value, v.device));
      [[fallthrough]];
    case Plan::WaitDevice:
      if (item.plan == Plan::WaitDevice)
        plan.push_back("reuse volume " + item.out.volume_id->value + " attached here");
      plan.push_back("wait for its device (serial = volume id)");
      if (!from_snapshot)
        plan.push_back(fmt::format("mkfs.{} (the device must be empty)", to_string(v.filesystem)));
      plan.push_back(fmt::format("mount it on {} ({})", v.mount_point, v.mount_options));
      break;
  }
  item.out.status = from_snapshot ? VolumeStatus::Restored : VolumeStatus::Created;
  item.out.filesystem = std::string(to_string(v.filesystem));
  item.plan = Plan::Done;
}

void Restore::run_group_hook(HookPhase phase, const GroupConfig& group, std::vector<Item*>& items, bool ok) {
  if (group.hooks.of(phase).empty()) return;
  HookContext c{.group = group.name};
  if (!is_pre_phase(phase)) c.ok = ok;
  auto r = run_hooks(group.hooks, phase, c, hook_options_);
  if (r) return;
  const auto message = r.error().describe();
  log_agent().error("hook phase={} group={} error=\"{}\"", to_string(phase), group.name, message);
  if (!is_pre_phase(phase)) {
    std::lock_guard lock(errors_mutex_);
    errors_.push_back(message);
    return;
  }
  for (auto* item : items) {
    if (item->plan == Plan::Done) continue;
    fail(*item, message);
    on_failure_hooks(*item);
  }
}

// Step 3, one thread per volume.
void Restore::create(Item& item) {
  const auto& v = *item.volume;
  for (int pass = 0; pass < k_create_passes; ++pass) {
    if (!item.attempt) {
      auto begun = tokens_.begin(item.group->name, v.mount_point);
      if (!begun) return fail(item, begun.error().message);
      item.attempt = *begun;
      item.replayed_token = false;
    }
    ec2::CreateVolumeOptions o{.availability_zone = instance_.availability_zone};
    if (item.snapshot) {
      o.snapshot_id = item.snapshot->id;
      // A size larger than the snapshot's grows the volume; the filesystem keeps its size
      // until an operator grows it.
      if (v.size_gib > item.snapshot->volume_size_gib) o.size_gib = static_cast<int>(v.size_gib);
    } else {
      o.size_gib = static_cast<int>(v.size_gib);
    }
    o.volume_type = std::string(to_string(v.volume_type));
    o.iops = v.iops;
    o.throughput = v.throughput_mibps;
    if (v.encrypted) o.encrypted = true;
    if (v.kms_key_id) o.kms_key_id = *v.kms_key_id;
    o.tag_specifications = {ec2::TagSpecification{
        .resource_type = "volume",
        .tags = volume_tags(*item.group, filters_, {item.group->name, v.mount_point, v.device},
                            instance_.instance_id, item.attempt->token)}};
    o.client_token = item.attempt->token;
    const auto asked = s_.clock.monotonic();
    auto created = s_.ec2.create_volume(o);
    const auto create_ms = std::chrono::duration_cast<std::chrono::milliseconds>(s_.clock.monotonic() - asked);
    if (!created) {
      const bool spent = created.error().aws_code == "IdempotentParameterMismatch";
      if (spent && item.replayed_token) {
        // The earlier attempt asked for something else (a newer snapshot appeared since): its
        // token cannot serve this one.
        log_agent().info("mount group={} mount_point={} attempt={} spent=parameters-changed",
                         item.group->name, v.mount_point, item.attempt->token);
        item.attempt.reset();
        continue;
      }
      return fail(item, "CreateVolume failed: " + created.error().describe());
    }
    if (created->state == ec2::VolumeState::Deleting || created->state == ec2::VolumeState::Deleted) {
      log_agent().info("mount group={} mount_point={} attempt={} volume_id={} spent=volume-deleted",
                       item.group->name, v.mount_point, item.attempt->token, created->id);
      item.attempt.reset();
      continue;
    }
    item.attempt->volume_id = created->id.value;
    if (auto r = tokens_.record(item.group->name, v.mount_point, *item.attempt); !r) {
      // The volume exists and carries the attempt tag: a rerun still finds it.
      log_agent().warn("mount group={} mount_point={} volume_id={} record_attempt_failed=\"{}\"",
                       item.group->name, v.mount_point, created->id, r.error().message);
    }
    log_agent().info("mount group={} mount_point={} volume_id={} snapshot_id={} created=1 create_ms={}",
                     item.group->name, v.mount_point, created->id, item.snapshot ? item.snapshot->id.value : "-",
                     create_ms.count());
    item.ec2_volume = *created;
    item.out.volume_id = created->id;
    item.plan = Plan::Attach;
    return;
  }
  fail(item, "CreateVolume: the restore attempt's ClientToken could not be used");
}

// Step 4: one DescribeVolumes per round for every volume not yet available.
// Each volume goes on to its attach as soon as a poll sees it available (`start`), not when the
// whole batch is: volumes of one run become available at different times.
void Restore::wait_available(std::vector<Item*>& items, std::vector<Item*>& gone,
                             const std::function<void(Item&)>& start) {
  std::vector<ec2::VolumeId> ids;
  std::vector<Item*> waiting;
  std::map<ec2::VolumeId, Item*> by_id;
  for (auto* item : items) {
    if (item->plan != Plan::Attach) continue;
    if (item->ec2_volume->state == ec2::VolumeState::Available) {
      start(*item);
      continue;
    }
    ids.push_back(item->ec2_volume->id);
    waiting.push_back(item);
    by_id[item->ec2_volume->id] = item;
  }
  if (ids.empty()) return;
  auto options = s_.options.waiter;
  options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config_.timeouts.volume_available);
  ec2::Waiter waiter(options, s_.clock, s_.sleeper, s_.random);
  std::map<ec2::VolumeId, int> invisible;
  std::map<ec2::VolumeId, ec2::VolumeState> last;
  std::set<ec2::VolumeId> may_vanish;
  for (auto* item : waiting) {
    if (item->replayed_token) may_vanish.insert(item->ec2_volume->id);
  }
  auto done =
      waiter.volumes_until(s_.ec2, ids, [&](const ec2::VolumeId& id, const std::optional<ec2::Volume>& v) {
        if (!v) {
          // A volume named by a replayed token that EC2 no longer shows was deleted since.
          if (may_vanish.contains(id) && ++invisible[id] >= k_invisible_rounds) {
            last[id] = ec2::VolumeState::Deleted;
            return ec2::WaitCheck{ec2::WaitVerdict::Done, {}};
          }
          return ec2::WaitCheck{ec2::WaitVerdict::Pending, "not visible yet"};
        }
        last[id] = v->state;
        if (v->state == ec2::VolumeState::Creating)
          return ec2::WaitCheck{ec2::WaitVerdict::Pending, "state creating"};
        if (v->state == ec2::VolumeState::Available) {
          Item& item = *by_id.at(id);
          item.ec2_volume = *v;
          start(item);
        }
        return ec2::WaitCheck{ec2::WaitVerdict::Done, {}};
      });
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    Item& item = *waiting[i];
    if (item.started) continue;
    const auto state = last.contains(ids[i]) ? last[ids[i]] : ec2::VolumeState::Unknown;
    if ((state == ec2::VolumeState::Deleted || state == ec2::VolumeState::Deleting) && item.replayed_token) {
      item.attempt.reset();
      item.plan = Plan::Create;
      gone.push_back(&item);
      continue;
    }
    if (!done) {
      fail(item,
           fmt::format("volume {} did not become available: {}", ids[i].value, done.error().describe()));
    } else {
      fail(item,
           fmt::format("volume {} is in state {} instead of available", ids[i].value, ec2::to_string(state)));
    }
  }
}

// Step 5: attach with the udev watch armed first; the device with the volume's serial is the
// proof of attachment.
ec2::Result<std::string> Restore::attach(Item& item, platform::VolumeWatch& watch) {
  (void)watch;  // armed by the caller before this AttachVolume, which is all it takes
  std::string name = item.volume->device;
  for (int attempt = 0;; ++attempt) {
    auto attached = s_.ec2.attach_volume(ec2::AttachVolumeOptions{
        .volume_id = item.ec2_volume->id, .instance_id = instance_.instance_id, .device = name});
    if (attached) return name;
    if (attached.error().kind != ec2::ErrorKind::InUse || attempt + 1 >= k_attach_name_tries) {
      return std::unexpected(std::move(attached.error()));
    }
    // The name is taken on this instance (by a volume that is not ours, or one being detached):
    // the next free one, avoiding the names other volumes of this run use.
    std::set<std::string> in_use;
    auto described =
        s_.ec2.describe_instances(ec2::DescribeInstancesOptions{.instance_ids = {instance_.instance_id}});
    if (described) {
      for (const auto& i : *described) {
        for (const auto& m : i.block_device_mappings) in_use.insert(m.device_name);
        if (!i.root_device_name.empty()) in_use.insert(i.root_device_name);
      }
    }
    in_use.insert(name);
    std::lock_guard lock(names_mutex_);
    in_use.insert(claimed_names_.begin(), claimed_names_.end());
    auto next = platform::next_free_device_name(name, in_use);
    if (!next) return ec2::fail(ec2::ErrorKind::InUse, "no free device name: " + next.error().describe());
    log_agent().info("mount group={} mount_point={} volume_id={} device={} in_use=1 next_device={}",
                     item.group->name, item.volume->mount_point, item.ec2_volume->id, name, *next);
    claimed_names_.insert(*next);
    name = *next;
  }
}

std::string Restore::diagnose_missing_device(const Item& item, const std::string& name) {
  const auto& id = item.ec2_volume->id;
  auto described = s_.ec2.describe_volumes(ec2::DescribeVolumesOptions{.volume_ids = {id}});
  std::string ec2_says = "EC2 could not be asked";
  if (described && !described->empty()) {
    const auto& v = described->front();
    if (const auto* a = attachment_to(v, instance_.instance_id)) {
      ec2_says = fmt::format("EC2 says the attachment as {} is {}", a->device, ec2::to_string(a->state));
    } else {
      ec2_says = fmt::format("EC2 says the volume is {} and not attached here", ec2::to_string(v.state));
    }
  }
  return fmt::format("no block device with serial {} appeared within {} s after attaching as {} ({})",
                     id.value, config_.timeouts.device_wait.count(), name, ec2_says);
}

void Restore::attach_and_mount(Item& item) {
  const auto& v = *item.volume;
  std::string name = item.out.attached_as.empty() ? v.device : item.out.attached_as;
  // Armed before AttachVolume: a device that appears between the attach and the wait is seen.
  auto watch = s_.devices.arm_watch();
  if (!watch) return fail(item, "cannot watch for block devices: " + watch.error().describe());
  if (item.plan == Plan::Attach) {
    const auto asked = s_.clock.monotonic();
    auto attached = attach(item, *watch);
    const auto attach_ms = std::chrono::duration_cast<std::chrono::milliseconds>(s_.clock.monotonic() - asked);
    if (!attached)
      return fail(item, fmt::format("AttachVolume {} failed: {}", item.ec2_volume->id.value,
                                    attached.error().describe()));
    name = *attached;
    item.out.attached_as = name;
    log_agent().info("mount group={} mount_point={} volume_id={} device={} attach=sent attach_ms={}",
                     item.group->name, v.mount_point, item.ec2_volume->id, name, attach_ms.count());
  }
  const platform::VolumeQuery query{.volume_id = item.ec2_volume->id.value, .device_hint = name};
  const auto deadline = s_.clock.monotonic() + config_.timeouts.device_wait;
  auto device = s_.devices.wait_for_volume(*watch, query, deadline);
  if (!device) {
    if (device.error().kind == platform::ErrorKind::Timeout)
      return fail(item, diagnose_missing_device(item, name));
    return fail(item, "waiting for the device: " + device.error().describe());
  }
  item.out.devnode = device->devnode;
  log_agent().info("mount group={} mount_point={} volume_id={} devnode={} serial={} device=arrived",
                   item.group->name, v.mount_point, item.ec2_volume->id, device->devnode, device->serial);
  mount(item, device->devnode, item.ec2_volume->snapshot_id.has_value());
}

// mkfs of the attempt's new volume, recorded in the attempt once done: a rerun after a kill
// tells a completed mkfs from an interrupted one by that record, not by what blkid finds.
std::expected<void, std::string> Restore::format(Item& item, const std::string& devnode, const std::string& fs_type,
                                                 bool redo_interrupted) {
  if (auto ok = s_.devices.make_filesystem(
          devnode, platform::MkfsOptions{.fs_type = fs_type, .redo_interrupted = redo_interrupted});
      !ok) {
    return std::unexpected("mkfs: " + ok.error().describe());
  }
  item.out.formatted = true;
  if (item.attempt) {
    item.attempt->formatted = true;
    if (auto r = tokens_.record(item.group->name, item.volume->mount_point, *item.attempt); !r) {
      log_agent().warn("mount group={} mount_point={} record_mkfs_failed=\"{}\"", item.group->name,
                       item.volume->mount_point, r.error().message);
    }
  }
  return {};
}

void Restore::mount(Item& item, const std::string& devnode, bool from_snapshot) {
  const auto& v = *item.volume;
  const platform::VolumeQuery query{.volume_id = item.ec2_volume->id.value,
                                    .device_hint = item.out.attached_as};
  auto content = s_.devices.probe(devnode);
  if (!content) return fail(item, "blkid " + devnode + ": " + content.error().describe());
  std::string fs_type = std::string(to_string(v.filesystem));
  if (from_snapshot) {
    // A volume restored from a snapshot must carry the filesystem: never mkfs it.
    if (auto ok = platform::check_has_filesystem(devnode, *content); !ok) {
      return fail(item, fmt::format("volume {} from snapshot {}: {}", item.ec2_volume->id.value,
                                    item.ec2_volume->snapshot_id->value, ok.error().describe()));
    }
    if (content->fs_type != fs_type) {
      item.out.warnings.push_back(
          fmt::format("the snapshot holds {}, the configuration says {}: mounted as {}", content->fs_type,
                      fs_type, content->fs_type));
      log_agent().warn("mount group={} mount_point={} fs_found={} fs_configured={}", item.group->name,
                       v.mount_point, content->fs_type, fs_type);
      fs_type = content->fs_type;
    }
  } else if (item.out.reused && item.attempt && !item.attempt->formatted &&
             platform::classify(*content) != platform::DeviceContent::Empty) {
    // The new, empty volume of an earlier run that was killed during its mkfs (its attempt never
    // recorded the mkfs as done): what is on it is a partial filesystem of ours, which mount
    // calls corrupt. Nothing else has held this volume: format it again.
    if (auto ok = s_.devices.verify(devnode, query); !ok) return fail(item, "refusing mkfs: " + ok.error().describe());
    log_agent().warn("mount group={} mount_point={} volume_id={} devnode={} mkfs={} redo=interrupted-by-earlier-run",
                     item.group->name, v.mount_point, item.ec2_volume->id, devnode, fs_type);
    if (auto ok = format(item, devnode, fs_type, /*redo_interrupted=*/true); !ok) return fail(item, ok.error());
  } else if (item.out.reused && platform::classify(*content) == platform::DeviceContent::Filesystem &&
             content->fs_type == fs_type) {
    // An empty volume of an earlier run that died after its mkfs completed (or whose attempt is
    // no longer known: a filesystem of ours is never formatted again).
    log_agent().info("mount group={} mount_point={} volume_id={} mkfs=done-by-earlier-run", item.group->name,
                     v.mount_point, item.ec2_volume->id);
  } else {
    if (auto ok = platform::check_empty_for_mkfs(devnode, *content); !ok) {
      return fail(item, fmt::format("new volume {}: {}", item.ec2_volume->id.value, ok.error().describe()));
    }
    if (auto ok = s_.devices.verify(devnode, query); !ok) {
      return fail(item, "refusing mkfs: " + ok.error().describe());
    }
    log_agent().info("mount group={} mount_point={} volume_id={} devnode={} mkfs={}", item.group->name,
                     v.mount_point, item.ec2_volume->id, devnode, fs_type);
    if (auto ok = format(item, devnode, fs_type, /*redo_interrupted=*/false); !ok) return fail(item, ok.error());
  }
  item.out.filesystem = fs_type;
  if (auto ok = s_.devices.verify(devnode, query); !ok)
    return fail(item, "refusing to mount: " + ok.error().describe());

  if (!item.group->hooks.of(HookPhase::pre_mount).empty()) {
    item.pre_mount_ran = true;
    if (auto r = run_hooks(item.group->hooks, HookPhase::pre_mount, hook_context(item), hook_options_); !r) {
      return fail(item, r.error().describe());
    }
  }
  auto mounted = platform::MountPoint::mount(
      s_.mounter, platform::MountRequest{.source = devnode,
                                         .target = v.mount_point,
                                         .fs_type = fs_type,
                                         .options = v.mount_options == "defaults" ? "" : v.mount_options,
                                         .create_target = true});
  if (!mounted) return fail(item, "mount: " + mounted.error().describe());
  // The attempt is over: a later restore of this mount point is a new one.
  if (auto r = tokens_.finish(item.group->name, v.mount_point); !r) {
    log_agent().warn("mount group={} mount_point={} finish_attempt_failed=\"{}\"", item.group->name,
                     v.mount_point, r.error().message);
  }
  mounted->release();
  item.out.status = from_snapshot ? VolumeStatus::Restored : VolumeStatus::Created;
  item.plan = Plan::Done;
  log_agent().info("mount group={} mount_point={} volume_id={} devnode={} snapshot_id={} status={}",
                   item.group->name, v.mount_point, item.ec2_volume->id, devnode,
                   item.out.snapshot_id ? item.out.snapshot_id->value : "-", to_string(item.out.status));
}

// Attach, mount and the post_mount hooks of one volume (on a thread of its own).
void Restore::finish(Item& item) {
  attach_and_mount(item);
  const bool failed = item.out.status == VolumeStatus::Failed;
  // Post hooks always run for a volume this run worked on, with its status.
  if (item.pre_mount_ran || !item.group->hooks.of(HookPhase::post_mount).empty()) {
    auto c = hook_context(item);
    c.ok = !failed;
    if (auto r = run_hooks(item.group->hooks, HookPhase::post_mount, c, hook_options_); !r) {
      log_agent().error("hook phase=post_mount group={} mount_point={} error=\"{}\"", item.group->name,
                        item.volume->mount_point, r.error().describe());
      item.out.warnings.push_back(r.error().describe());
      std::lock_guard lock(errors_mutex_);
      errors_.push_back(r.error().describe());
    }
  }
  if (failed) on_failure_hooks(item);
}

template <class Fn>
void in_parallel(std::vector<Item*>& items, Fn fn) {
  std::vector<std::jthread> threads;
  threads.reserve(items.size());
  for (auto* item : items) threads.emplace_back([item, &fn] { fn(*item); });
}

RestoreResult Restore::run(const std::vector<const GroupConfig*>& group_list) {
  RestoreResult result{.dry_run = s_.options.dry_run};
  std::vector<Item> items;
  for (const auto* group : group_list) {
    for (const auto& v : group->volumes) {
      Item item{.group = group, .volume = &v};
      item.out.group = group->name;
      item.out.mount_point = v.mount_point;
      item.out.device = v.device;
      items.push_back(std::move(item));
    }
  }
  for (const auto& item : items) claimed_names_.insert(item.volume->device);

  if (survey(items)) {
    choose_snapshots_for(items);
    if (s_.options.dry_run) {
      for (auto& item : items) plan_dry_run(item);
    } else {
      // The groups with work to do, in config order.
      std::vector<const GroupConfig*> groups;
      std::map<const GroupConfig*, std::vector<Item*>> by_group;
      for (auto& item : items) {
        if (item.plan == Plan::Done) continue;
        if (!by_group.contains(item.group)) groups.push_back(item.group);
        by_group[item.group].push_back(&item);
      }
      for (const auto* g : groups) run_group_hook(HookPhase::pre_mounts, *g, by_group[g], true);

      {
        // One thread per volume from the moment it can be attached; joined at the end of this block.
        std::vector<std::jthread> workers;
        const std::function<void(Item&)> start = [&](Item& item) {
          item.started = true;
          workers.emplace_back([this, &item] { finish(item); });
        };
        for (auto& item : items) {
          if (item.plan == Plan::WaitDevice) start(item);  // attached by an earlier run
        }
        std::vector<Item*> to_create;
        std::vector<Item*> waiting;
        for (auto& item : items) {
          if (item.plan == Plan::Create) to_create.push_back(&item);
          if (item.plan == Plan::Attach) waiting.push_back(&item);  // an earlier attempt's volume
        }
        for (int pass = 0; pass < k_create_passes; ++pass) {
          in_parallel(to_create, [this](Item& item) { create(item); });
          for (auto* item : to_create) {
            if (item->plan == Plan::Attach) waiting.push_back(item);
          }
          std::vector<Item*> gone;
          wait_available(waiting, gone, start);
          waiting.clear();
          to_create = std::move(gone);
          if (to_create.empty()) break;
        }
        for (auto* item : to_create)
          fail(*item, "the restore attempt's volume was deleted while we waited for it");
      }
      // Whatever step a volume failed at (creating, waiting, before any of it), on_failure once.
      for (auto& item : items) {
        if (item.out.status == VolumeStatus::Failed) on_failure_hooks(item);
      }
      for (const auto* g : groups) {
        auto& list = by_group[g];
        const bool ok =
            std::ranges::none_of(list, [](const Item* i) { return i->out.status == VolumeStatus::Failed; });
        run_group_hook(HookPhase::post_mounts, *g, list, ok);
      }
    }
  }
  for (auto& item : items) result.volumes.push_back(std::move(item.out));
  result.errors = std::move(errors_);
  return result;
}

}  // namespace

RestoreResult restore_groups(Services& services, const Config& config, const FilterValues& filters,
                             const InstanceContext& instance, const std::vector<const GroupConfig*>& groups) {
  Restore restore(services, config, filters, instance);
  return restore.run(groups);
}

}  // namespace agent
