#include "agent/commands/unmount.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "agent/core/hook_phases.h"
#include "agent/core/inspect.h"
#include "agent/core/log.h"
#include "agent/core/tags.h"
#include "agent/core/group_lock.h"
#include "ec2/waiter.h"

namespace agent {

namespace unmount_step {
std::string unmount(const std::string& mount_point, const std::string& devnode) {
  return fmt::format("unmount {} ({})", mount_point, devnode);
}
std::string detach(const ec2::VolumeId& volume, const std::string& attached_as) {
  return fmt::format("detach {} ({})", volume.value, attached_as);
}
std::string remove(const ec2::VolumeId& volume) { return fmt::format("delete {} once it is available", volume.value); }
std::string remove_leftover(const ec2::VolumeId& volume) {
  return fmt::format("delete {} (detached, left by an earlier run)", volume.value);
}
std::string left_alone(const ec2::VolumeId& volume) {
  return fmt::format("volume {} is detached and tagged as ours, but no record shows this instance's unmount "
                     "detached it: left alone; delete it yourself if it is yours",
                     volume.value);
}
}  // namespace unmount_step

UnmountDecision decide_unmount(const std::string& mount_point, const std::vector<ec2::Volume>& ours,
                               const MountedAt& mounted, const ec2::InstanceId& instance, bool delete_volumes,
                               const std::vector<DetachRecord>& records) {
  UnmountDecision d;
  auto attached = attached_to(ours, instance);
  if (delete_volumes) {
    // An unmount --delete-volumes that died between DetachVolume and DeleteVolume left the volume
    // detached. Its tags say ours, but anyone allowed CreateTags can copy them onto any volume:
    // only the detach record that run wrote before DetachVolume proves it. The records live on a
    // tmpfs, so after a reboot a leftover is left alone (reported): the safe way to be wrong.
    for (const auto& v : ours) {
      const bool leftover = v.state == ec2::VolumeState::Available && v.attachments.empty() &&
                            ec2::find_tag(v.tags, k_tag_instance_id) == instance.value;
      if (!leftover) continue;
      if (!detach_recorded(records, v.id, mount_point, instance)) {
        d.left_alone.push_back(v.id);
      } else if (!attached && d.action == UnmountAction::NothingAttached) {
        // One per run, and none while a volume is attached here (two runs that died leave two):
        // the next run deletes the next one.
        d.action = UnmountAction::DeleteLeftover;
        d.volume = v;
        d.plan.push_back(unmount_step::remove_leftover(v.id));
      }
    }
  }
  if (!attached) return d;
  d.action = UnmountAction::Detach;
  d.volume = *attached;
  if (mounted.mounted()) {
    if (mounted.ours() && mounted.volume->id == attached->id) {
      d.unmount = true;
      d.plan.push_back(unmount_step::unmount(mount_point, mounted.source));
    } else {
      d.left_mounted = fmt::format("{} holds {}, not volume {}: left mounted", mount_point, mounted.source,
                                   attached->id.value);
    }
  }
  const auto* a = attachment_to(*attached, instance);
  d.plan.push_back(unmount_step::detach(attached->id, a != nullptr ? a->device : ""));
  if (delete_volumes) d.plan.push_back(unmount_step::remove(attached->id));
  return d;
}

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

struct Item {
  const GroupConfig* group = nullptr;
  const VolumeConfig* volume = nullptr;
  HookPhases* hooks = nullptr;
  VolumeReport out;
  UnmountDecision decision;
  bool detached = false;
};

class Unmount {
 public:
  Unmount(const RunContext& c, bool delete_volumes)
      : c_(c), s_(c.services), delete_(delete_volumes), dry_run_(c.services.options.dry_run) {}

  RunReport run();

 private:
  void fail(Item& item, std::string reason) {
    log_agent().error("unmount group={} mount_point={} volume_id={} status=failed reason=\"{}\"", item.group->name,
                      item.volume->mount_point, item.out.volume_id.value_or("-"), reason);
    item.out.outcome = Outcome::Failed;
    item.out.reason = std::move(reason);
  }
  [[nodiscard]] static HookContext context(const Item& item) {
    return HookContext{.group = item.group->name,
                       .mount_point = item.volume->mount_point,
                       .device = item.volume->device,
                       .volume_id = item.out.volume_id};
  }
  void error(const std::string& message) {
    std::lock_guard lock(mutex_);
    errors_.push_back(message);
  }
  void observe_and_decide(std::vector<Item>& items);
  [[nodiscard]] HookPhases hooks_of(const GroupConfig& group) const {
    return HookPhases(s_.hooks, group, HookPhases::k_unmount, duration_cast<milliseconds>(c_.config.timeouts.hook),
                      dry_run_);
  }
  void unmount_group(const GroupConfig& group, std::vector<Item*>& mine);
  void unmount_and_detach(Item& item);
  void delete_detached(std::vector<Item*>& items);
  // A record of this mount point whose volume EC2 no longer describes among ours is spent: its
  // volume was deleted (by a run killed once its DeleteVolume had left: nothing else of that run
  // is left to finish) or is ours no more. Removed, so that records do not pile up.
  void drop_records_of_gone_volumes(const Item& item, const std::vector<ec2::Volume>& ours,
                                    std::vector<DetachRecord>& records) {
    std::erase_if(records, [&](const DetachRecord& r) {
      if (r.mount_point != item.volume->mount_point) return false;
      const bool described = std::ranges::any_of(ours, [&](const ec2::Volume& v) {
        return v.id == r.volume_id && v.state != ec2::VolumeState::Deleted;
      });
      if (described) return false;
      remove_detach_record(s_.options.run_dir, r.volume_id, item.group->name);
      log_agent().info(
          "unmount group={} mount_point={} volume_id={} detach record removed: the volume is gone",
          item.group->name, r.mount_point, r.volume_id);
      return true;
    });
  }
  // True when EC2 says volume `id` is attached to this instance no more.
  [[nodiscard]] bool detached_meanwhile(const ec2::VolumeId& id) const {
    auto now = s_.ec2.describe_volumes({.volume_ids = {id}});
    return now && now->size() == 1 && attachment_to(now->front(), c_.instance.instance_id) == nullptr;
  }

  const RunContext& c_;
  Services& s_;
  bool delete_;
  bool dry_run_;
  std::mutex mutex_;
  std::vector<std::string> errors_;
};

void Unmount::observe_and_decide(std::vector<Item>& items) {
  std::vector<VolumeKey> keys;
  for (const auto& item : items) keys.push_back({item.group->name, item.volume->mount_point});
  const auto observed = observe_mounts(s_.ec2, s_.mounter, s_.devices, c_.filters, keys, c_.instance.instance_id);
  // The detach records are an observed fact like the volumes: read once per group (whose lock
  // this run holds), before deciding; they only matter to a run that deletes.
  std::map<std::string, std::vector<DetachRecord>> records;
  if (delete_) {
    for (const auto* group : c_.groups) records[group->name] = read_detach_records(s_.options.run_dir, group->name);
  }
  // One DescribeVolumes observes every volume: its failure is each volume's reason in the report,
  // and one line in the log, not one per volume.
  std::set<std::string> logged;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    const auto& mp = item.volume->mount_point;
    const auto& mounted = observed[i].mounted;
    if (observed[i].problem) {
      const auto& problem = *observed[i].problem;
      if (logged.insert(problem).second) {
        log_agent().error("unmount status=failed mount_points={} reason=\"{}\"",
                          std::ranges::count(observed, observed[i].problem, &ObservedMount::problem), problem);
      }
      item.out.outcome = Outcome::Failed;
      item.out.reason = problem;
      continue;
    }
    if (delete_ && !dry_run_) drop_records_of_gone_volumes(item, observed[i].ours, records[item.group->name]);
    item.decision =
        decide_unmount(mp, observed[i].ours, mounted, c_.instance.instance_id, delete_, records[item.group->name]);
    const auto& d = item.decision;
    if (d.volume) item.out.volume_id = d.volume->id.value;
    if (d.left_mounted) item.out.warnings.push_back(*d.left_mounted);
    for (const auto& id : d.left_alone) {
      log_agent().warn("unmount group={} mount_point={} volume_id={} left_alone=1 reason=\"no detach record\"",
                       item.group->name, mp, id);
      item.out.left_alone.push_back(id.value);
      item.out.warnings.push_back(unmount_step::left_alone(id));
    }
    if (d.unmount) item.out.devnode = mounted.source;
    if (d.action == UnmountAction::NothingAttached) {
      item.out.outcome = Outcome::NotAttached;
    } else if (d.action == UnmountAction::DeleteLeftover) {
      item.detached = true;
      item.out.outcome = Outcome::Unmounted;
      item.out.warnings.push_back(fmt::format(
          "volume {} was left detached by an earlier unmount of this instance (its detach record says so): deleting it",
          d.volume->id.value));
    } else if (!d.unmount) {
      if (auto found = s_.devices.find_by_serial(d.volume->id.value); found && *found) item.out.devnode = (*found)->devnode;
    }
    if (dry_run_) {
      item.out.plan = d.plan;
      if (d.action != UnmountAction::NothingAttached) item.out.outcome = Outcome::Planned;
    }
  }
}

void Unmount::unmount_and_detach(Item& item) {
  const auto& mp = item.volume->mount_point;
  const auto& volume = *item.decision.volume;
  const auto& id = volume.id;
  const auto* attachment = attachment_to(volume, c_.instance.instance_id);
  const std::string attached_as = attachment != nullptr ? attachment->device : item.volume->device;
  const std::string devnode = item.out.devnode.value_or("");

  if (auto pre = item.hooks->pre_volume(context(item)); !pre) return fail(item, pre.error().describe());
  if (item.decision.unmount) {
    if (auto r = s_.mounter.unmount(mp); !r) {
      if (r.error().kind == platform::ErrorKind::Busy) {
        return fail(item, fmt::format("{} is busy (a process still uses it): {}; volume {} left attached", mp,
                                      r.error().describe(), id.value));
      }
      return fail(item, fmt::format("unmount {}: {}", mp, r.error().describe()));
    }
    item.out.steps.push_back(unmount_step::unmount(mp, devnode));
    log_agent().info("unmount group={} mount_point={} volume_id={} devnode={} unmounted=1", item.group->name, mp, id,
                     devnode);
  }
  // Detaching a volume that is still mounted somewhere (a second mount, a bind mount, a mount in
  // another namespace such as a container's) would pull the disk from under a live filesystem.
  if (devnode.empty()) {
    return fail(item, fmt::format("the block device of volume {} is not present here, so whether something still "
                                  "uses it cannot be checked; not detaching blind",
                                  id.value));
  }
  auto elsewhere = s_.mounter.find_by_source(devnode);
  if (elsewhere && !elsewhere->empty()) {
    return fail(item, fmt::format("volume {} ({}) is still mounted on {}; not detaching", id.value, devnode,
                                  elsewhere->front().target));
  }
  // (A device node gone meanwhile is held by nobody.)
  if (auto unused = s_.devices.check_not_in_use(devnode); !unused && unused.error().kind != platform::ErrorKind::NotFound) {
    return fail(item, fmt::format("volume {}: {}; not detaching", id.value, unused.error().message));
  }
  if (delete_) {
    // Before DetachVolume, durably: a run killed after the call leaves the volume detached, and
    // this record is the only thing that lets the next run delete it (tags prove nothing).
    DetachRecord record{.volume_id = id,
                        .group = item.group->name,
                        .mount_point = mp,
                        .instance_id = c_.instance.instance_id.value,
                        .written_at = s_.clock.now()};
    if (auto written = write_detach_record(s_.options.run_dir, record); !written) {
      return fail(item, fmt::format("volume {} not detached: its detach record (what lets a rerun delete it) cannot "
                                    "be written: {}",
                                    id.value, written.error().describe()));
    }
  }
  auto detached = s_.ec2.detach_volume({.volume_id = id, .instance_id = c_.instance.instance_id, .device = attached_as});
  if (!detached && detached.error().kind == ec2::ErrorKind::IncorrectState && detached_meanwhile(id)) {
    // The DetachVolume of a run killed with that call in flight can land between this run's
    // describe and its own call; EC2 then refuses this one (IncorrectState: "in the 'available'
    // state"). Detached is what the call was for: go on as if it had been this one.
    log_agent().info(
        "unmount group={} mount_point={} volume_id={} detached meanwhile (an earlier run's DetachVolume)",
        item.group->name, mp, id);
  } else if (!detached) {
    // EC2 answered with a refusal (not a lost answer, not a resend after one): the volume is
    // attached as it was, so there is nothing for a rerun to finish, and a record kept would
    // let a later run delete it once someone else detaches it. After a lost answer the call may
    // have gone through: the record stays.
    if (delete_ && !detached.error().maybe_applied) remove_detach_record(s_.options.run_dir, id, item.group->name);
    return fail(item, "DetachVolume failed: " + detached.error().describe());
  }
  log_agent().info("unmount group={} mount_point={} volume_id={} detach=sent", item.group->name, mp, id);
  if (auto gone = s_.devices.wait_for_removal(devnode, s_.clock.monotonic() + c_.config.timeouts.device_wait); !gone) {
    return fail(item, fmt::format("{} of volume {} did not go after DetachVolume: {}", devnode, id.value,
                                  gone.error().describe()));
  }
  item.out.steps.push_back(unmount_step::detach(id, attached_as));
  item.detached = true;
  item.out.outcome = Outcome::Unmounted;
}

void Unmount::delete_detached(std::vector<Item*>& items) {
  std::vector<ec2::VolumeId> ids;
  std::vector<Item*> waiting;
  for (auto* item : items) {
    if (!item->detached) continue;
    ids.push_back(item->decision.volume->id);
    waiting.push_back(item);
  }
  if (ids.empty()) return;
  auto available = s_.waiter(c_.config.timeouts.volume_available).volumes(s_.ec2, ids, ec2::VolumeState::Available);
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    Item& item = *waiting[i];
    if (!available) {
      fail(item, "detached, but not deleted: " + available.error().describe());
      continue;
    }
    const auto& v = (*available)[i];
    // Ours, as described now: the tags of this configured volume, and attached nowhere.
    const bool ours = ec2::find_tag(v.tags, k_tag_group) == item.group->name &&
                      ec2::find_tag(v.tags, k_tag_mount_point) == item.volume->mount_point &&
                      in_lineage(v.tags, c_.filters, item.volume->mount_point) && v.attachments.empty();
    if (!ours) {
      // Someone changed it since this run (or the one that died) detached it: what the record
      // proves no longer holds, so it goes, and the volume is theirs to deal with.
      remove_detach_record(s_.options.run_dir, v.id, item.group->name);
      fail(item, fmt::format("volume {} is not tagged as ours for {} (or attached again): not deleted", v.id.value,
                             item.volume->mount_point));
      continue;
    }
    if (auto r = s_.ec2.delete_volume({.volume_id = v.id}); !r) {
      if (r.error().kind != ec2::ErrorKind::NotFound) {
        // Kept: the next unmount --delete-volumes finishes the job.
        fail(item, "DeleteVolume failed: " + r.error().describe());
        continue;
      }
      // Described available a moment ago, and now not found: deleted, which is what was asked.
      // The client resends a DeleteVolume whose answer was lost (the connection reset after EC2
      // served it), and EC2 answers the resend InvalidVolume.NotFound; or the DeleteVolume of a
      // run killed with that call in flight landed in between.
      log_agent().info("unmount group={} mount_point={} volume_id={} deleted=already", item.group->name,
                       item.volume->mount_point, v.id);
    } else {
      log_agent().info("unmount group={} mount_point={} volume_id={} deleted=1", item.group->name,
                       item.volume->mount_point, v.id);
    }
    remove_detach_record(s_.options.run_dir, v.id, item.group->name);
    item.out.steps.push_back(item.decision.action == UnmountAction::DeleteLeftover
                                 ? unmount_step::remove_leftover(v.id)
                                 : unmount_step::remove(v.id));
    item.out.outcome = Outcome::Deleted;
  }
}

void Unmount::unmount_group(const GroupConfig& group, std::vector<Item*>& mine) {
  HookPhases hooks = hooks_of(group);
  for (auto* item : mine) item->hooks = &hooks;
  if (auto pre = hooks.pre_group(); !pre) {
    for (auto* item : mine) fail(*item, pre.error().describe());
  } else {
    auto tasks = s_.tasks.group();
    for (auto* item : mine) {
      if (!item->detached) tasks->spawn([this, item] { unmount_and_detach(*item); });
    }
    tasks->join();
  }
  if (delete_) delete_detached(mine);
  bool ok = true;
  for (auto* item : mine) {
    const bool failed = item->out.outcome == Outcome::Failed;
    ok = ok && !failed;
    if (auto post = hooks.post_volume(context(*item), !failed)) error(post->describe());
    if (failed) hooks.on_failure(context(*item), item->out.reason.value_or(""));
  }
  if (auto post = hooks.post_group(ok)) error(post->describe());
}

RunReport Unmount::run() {
  RunReport report = new_report("unmount", c_);
  std::vector<Item> items;
  for (const auto* group : c_.groups) {
    for (const auto& v : group->volumes) {
      Item item{.group = group, .volume = &v};
      item.out.mount_point = v.mount_point;
      item.out.device = v.device;
      items.push_back(std::move(item));
    }
  }
  observe_and_decide(items);
  if (!dry_run_) {
    for (const auto* group : c_.groups) {
      std::vector<Item*> mine;
      for (auto& item : items) {
        if (item.group == group && item.decision.volume && !item.out.reason) mine.push_back(&item);
      }
      if (!mine.empty()) unmount_group(*group, mine);
    }
  }
  for (auto& item : items) report.group(item.group->name).volumes.push_back(std::move(item.out));
  for (const auto& e : errors_) report.add_error(e);
  for (const auto* group : c_.groups) hooks_of(*group).on_success(report);
  return report;
}

}  // namespace

namespace {

// The inspections of the groups: found by their tags, unmounted and deleted like live volumes
// with --delete-volumes (the same proofs: attached here, or a detach record), then their empty
// directories removed.
RunReport unmount_inspections(const RunContext& context, const UnmountOptions& options) {
  auto& s = context.services;
  const auto prefix = options.prefix.empty() ? s.options.run_dir / "inspect" : options.prefix;
  std::deque<GroupConfig> groups;
  std::vector<const GroupConfig*> refs;
  for (const auto* g : context.groups) {
    auto found = s.ec2.describe_volumes(
        ec2::DescribeVolumesOptions{.filters = inspect_volume_filters(context.filters, g->name, options.run_id)});
    if (!found) {
      RunReport report = new_report("unmount", context);
      report.not_run("DescribeVolumes (inspections) failed: " + found.error().describe());
      return report;
    }
    refs.push_back(&groups.emplace_back(inspected_group(*g, *found, context.filters, options.run_id, prefix)));
    log_agent().info("unmount group={} inspect=1 volumes={}", g->name, refs.back()->volumes.size());
  }
  RunContext inspections = context;
  inspections.groups = refs;
  RunReport report = Unmount(inspections, true).run();
  if (!s.options.dry_run) {
    for (const auto& g : report.groups) {
      for (const auto& v : g.volumes) {
        if (v.outcome != Outcome::Deleted && v.outcome != Outcome::NotAttached) continue;
        if (auto removed = s.mounter.remove_empty_directories(v.mount_point, prefix.string()); !removed) {
          log_agent().warn("unmount group={} mount_point={} remove_directories_failed=\"{}\"", g.name, v.mount_point,
                           removed.error().describe());
        }
      }
    }
  }
  return report;
}

}  // namespace

RunReport unmount(const RunContext& context, const UnmountOptions& options) {
  return with_group_locks(context, "unmount", [&] {
    return options.inspect ? unmount_inspections(context, options) : Unmount(context, options.delete_volumes).run();
  });
}

}  // namespace agent
