#include "agent/commands/unmount.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <thread>

#include "agent/core/hooks.h"
#include "agent/core/log.h"
#include "agent/core/our_volumes.h"
#include "agent/core/tags.h"
#include "ec2/waiter.h"

namespace agent {

bool UnmountResult::ok() const {
  return errors.empty() && std::ranges::none_of(volumes, [](const UnmountOutcome& v) {
           return v.status == UnmountStatus::Failed;
         });
}

namespace {

struct Item {
  const GroupConfig* group = nullptr;
  const VolumeConfig* volume = nullptr;
  UnmountOutcome out;
  std::optional<ec2::Volume> ec2_volume;
  bool pre_ran = false;
  bool detached = false;
};

class Unmount {
 public:
  Unmount(Services& services, const Config& config, const FilterValues& filters,
          const InstanceContext& instance, bool delete_volumes)
      : s_(services),
        config_(config),
        filters_(filters),
        instance_(instance),
        delete_(delete_volumes),
        hook_options_{.timeout =
                          std::chrono::duration_cast<std::chrono::milliseconds>(config.timeouts.hook)} {}

  UnmountResult run(const std::vector<const GroupConfig*>& groups);

 private:
  void fail(Item& item, std::string reason) {
    log_agent().error("unmount group={} mount_point={} volume_id={} status=failed reason=\"{}\"",
                      item.group->name, item.volume->mount_point,
                      item.out.volume_id ? item.out.volume_id->value : "-", reason);
    item.out.status = UnmountStatus::Failed;
    item.out.reason = std::move(reason);
  }
  [[nodiscard]] HookContext context(const Item& item) const {
    HookContext c{
        .group = item.group->name, .mount_point = item.volume->mount_point, .device = item.volume->device};
    if (item.out.volume_id) c.volume_id = item.out.volume_id->value;
    return c;
  }
  void error(std::string message) {
    std::lock_guard lock(mutex_);
    errors_.push_back(std::move(message));
  }
  void unmount_and_detach(Item& item);
  void delete_detached(std::vector<Item*>& items);
  void post_hooks(Item& item);

  Services& s_;
  const Config& config_;
  const FilterValues& filters_;
  const InstanceContext& instance_;
  bool delete_;
  HookRunOptions hook_options_;
  std::mutex mutex_;
  std::vector<std::string> errors_;
};

void Unmount::unmount_and_detach(Item& item) {
  const auto& mp = item.volume->mount_point;
  const auto& id = item.ec2_volume->id;
  const auto* attachment = attachment_to(*item.ec2_volume, instance_.instance_id);
  const std::string attached_as = attachment != nullptr ? attachment->device : item.volume->device;

  auto found = s_.devices.find_by_serial(id.value);
  if (found && *found) item.out.devnode = (*found)->devnode;
  auto mounted = s_.mounter.find_by_target(mp);
  if (!mounted) return fail(item, "cannot read the mount table: " + mounted.error().describe());
  if (*mounted) {
    const auto& info = **mounted;
    auto serial = s_.devices.serial_of(info.source);
    if (serial && device_is_volume(info.source, *serial, *item.ec2_volume, instance_.instance_id)) {
      item.out.was_mounted = true;
      item.out.devnode = info.source;
    } else if (item.out.devnode.empty() || info.source != item.out.devnode) {
      item.out.warnings.push_back(
          fmt::format("{} holds {}, not volume {}: left mounted", mp, info.source, id.value));
    }
  }

  if (s_.options.dry_run) {
    if (item.out.was_mounted) item.out.plan.push_back(fmt::format("unmount {} ({})", mp, item.out.devnode));
    item.out.plan.push_back(fmt::format("detach {} ({})", id.value, attached_as));
    if (delete_) item.out.plan.push_back(fmt::format("delete {} once it is available", id.value));
    item.out.status = delete_ ? UnmountStatus::Deleted : UnmountStatus::Unmounted;
    return;
  }

  if (!item.group->hooks.of(HookPhase::pre_unmount).empty()) {
    item.pre_ran = true;
    if (auto r = run_hooks(item.group->hooks, HookPhase::pre_unmount, context(item), hook_options_); !r) {
      return fail(item, r.error().describe());
    }
  }
  if (item.out.was_mounted) {
    if (auto r = s_.mounter.unmount(mp); !r) {
      if (r.error().kind == platform::ErrorKind::Busy) {
        return fail(item, fmt::format("{} is busy (a process still uses it): {}; volume {} left attached", mp,
                                      r.error().describe(), id.value));
      }
      return fail(item, fmt::format("unmount {}: {}", mp, r.error().describe()));
    }
    log_agent().info("unmount group={} mount_point={} volume_id={} devnode={} unmounted=1", item.group->name,
                     mp, id, item.out.devnode);
  }
  // Detaching a volume that is still mounted somewhere (a second mount, a bind mount) would pull
  // the disk from under a live filesystem.
  if (!item.out.devnode.empty()) {
    auto elsewhere = s_.mounter.find_by_source(item.out.devnode);
    if (elsewhere && !elsewhere->empty()) {
      return fail(item, fmt::format("volume {} ({}) is still mounted on {}; not detaching", id.value,
                                    item.out.devnode, elsewhere->front().target));
    }
  }
  auto detached = s_.ec2.detach_volume(
      ec2::DetachVolumeOptions{.volume_id = id, .instance_id = instance_.instance_id, .device = attached_as});
  if (!detached) return fail(item, "DetachVolume failed: " + detached.error().describe());
  log_agent().info("unmount group={} mount_point={} volume_id={} detach=sent", item.group->name, mp, id);
  if (!item.out.devnode.empty()) {
    const auto deadline = s_.clock.monotonic() + config_.timeouts.device_wait;
    if (auto gone = s_.devices.wait_for_removal(item.out.devnode, deadline); !gone) {
      return fail(item, fmt::format("{} of volume {} did not go after DetachVolume: {}", item.out.devnode,
                                    id.value, gone.error().describe()));
    }
  }
  item.detached = true;
  item.out.status = UnmountStatus::Unmounted;
}

void Unmount::delete_detached(std::vector<Item*>& items) {
  std::vector<ec2::VolumeId> ids;
  std::vector<Item*> waiting;
  for (auto* item : items) {
    if (!item->detached) continue;
    ids.push_back(item->ec2_volume->id);
    waiting.push_back(item);
  }
  if (ids.empty()) return;
  auto options = s_.options.waiter;
  options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config_.timeouts.volume_available);
  ec2::Waiter waiter(options, s_.clock, s_.sleeper, s_.random);
  auto available = waiter.volumes(s_.ec2, ids, ec2::VolumeState::Available);
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
                      in_lineage(v.tags, filters_, item.volume->mount_point) && v.attachments.empty();
    if (!ours) {
      fail(item, fmt::format("volume {} is not tagged as ours for {} (or attached again): not deleted",
                             v.id.value, item.volume->mount_point));
      continue;
    }
    if (auto r = s_.ec2.delete_volume(ec2::DeleteVolumeOptions{.volume_id = v.id}); !r) {
      fail(item, "DeleteVolume failed: " + r.error().describe());
      continue;
    }
    log_agent().info("unmount group={} mount_point={} volume_id={} deleted=1", item.group->name,
                     item.volume->mount_point, v.id);
    item.out.status = UnmountStatus::Deleted;
  }
}

void Unmount::post_hooks(Item& item) {
  if (s_.options.dry_run) return;
  const bool failed = item.out.status == UnmountStatus::Failed;
  if (item.pre_ran || !item.group->hooks.of(HookPhase::post_unmount).empty()) {
    auto c = context(item);
    c.ok = !failed;
    if (auto r = run_hooks(item.group->hooks, HookPhase::post_unmount, c, hook_options_); !r) {
      log_agent().error("hook phase=post_unmount group={} mount_point={} error=\"{}\"", item.group->name,
                        item.volume->mount_point, r.error().describe());
      error(r.error().describe());
    }
  }
  if (failed && !item.group->hooks.of(HookPhase::on_failure).empty()) {
    auto c = context(item);
    c.ok = false;
    c.error = item.out.reason;
    if (auto r = run_hooks(item.group->hooks, HookPhase::on_failure, c, hook_options_); !r) {
      log_agent().error("hook phase=on_failure group={} error=\"{}\"", item.group->name,
                        r.error().describe());
    }
  }
}

UnmountResult Unmount::run(const std::vector<const GroupConfig*>& groups) {
  UnmountResult result{.dry_run = s_.options.dry_run};
  std::vector<Item> items;
  std::vector<VolumeKey> keys;
  for (const auto* group : groups) {
    for (const auto& v : group->volumes) {
      Item item{.group = group, .volume = &v};
      item.out.group = group->name;
      item.out.mount_point = v.mount_point;
      item.out.device = v.device;
      items.push_back(std::move(item));
      keys.push_back({group->name, v.mount_point});
    }
  }
  auto ours = describe_our_volumes(s_.ec2, filters_, keys);
  if (!ours) {
    for (auto& item : items) fail(item, "DescribeVolumes failed: " + ours.error().describe());
  } else {
    for (auto& item : items) {
      const auto& candidates = (*ours)[item.volume->mount_point];
      auto attached = attached_to(candidates, instance_.instance_id);
      if (!attached) {
        item.out.status = UnmountStatus::NotAttached;
        // An unmount --delete-volumes that died between DetachVolume and DeleteVolume left the
        // volume detached: it is still ours (made by this instance for this mount point).
        auto leftover = std::ranges::find_if(candidates, [&](const ec2::Volume& v) {
          return v.state == ec2::VolumeState::Available && v.attachments.empty() &&
                 ec2::find_tag(v.tags, k_tag_instance_id) == instance_.instance_id.value;
        });
        if (delete_ && leftover != candidates.end()) {
          item.ec2_volume = *leftover;
          item.out.volume_id = leftover->id;
          item.detached = true;
          item.out.status = UnmountStatus::Unmounted;
          item.out.warnings.push_back(fmt::format(
              "volume {} of ours was left detached by an earlier run: deleting it", leftover->id.value));
          if (s_.options.dry_run) {
            item.out.plan.push_back(
                fmt::format("delete {} (detached, left by an earlier run)", leftover->id.value));
            item.out.status = UnmountStatus::Deleted;
          }
        }
        continue;
      }
      item.ec2_volume = *attached;
      item.out.volume_id = attached->id;
    }
    for (const auto* group : groups) {
      std::vector<Item*> mine;
      for (auto& item : items) {
        if (item.group == group && item.ec2_volume) mine.push_back(&item);
      }
      if (mine.empty()) continue;
      bool group_pre_ran = false;
      if (!s_.options.dry_run && !group->hooks.of(HookPhase::pre_unmounts).empty()) {
        group_pre_ran = true;
        if (auto r = run_hooks(group->hooks, HookPhase::pre_unmounts, HookContext{.group = group->name},
                               hook_options_);
            !r) {
          for (auto* item : mine) fail(*item, r.error().describe());
          mine.clear();
        }
      }
      {
        std::vector<std::jthread> threads;
        for (auto* item : mine) {
          if (!item->detached) threads.emplace_back([this, item] { unmount_and_detach(*item); });
        }
      }
      if (delete_ && !s_.options.dry_run) delete_detached(mine);
      for (auto* item : mine) post_hooks(*item);
      if (group_pre_ran || !group->hooks.of(HookPhase::post_unmounts).empty()) {
        if (!s_.options.dry_run) {
          HookContext c{.group = group->name};
          c.ok = std::ranges::none_of(items, [&](const Item& i) {
            return i.group == group && i.out.status == UnmountStatus::Failed;
          });
          if (auto r = run_hooks(group->hooks, HookPhase::post_unmounts, c, hook_options_); !r) {
            log_agent().error("hook phase=post_unmounts group={} error=\"{}\"", group->name,
                              r.error().describe());
            error(r.error().describe());
          }
        }
      }
    }
  }
  for (auto& item : items) result.volumes.push_back(std::move(item.out));
  result.errors = std::move(errors_);
  return result;
}

}  // namespace

UnmountResult unmount_groups(Services& services, const Config& config, const FilterValues& filters,
                             const InstanceContext& instance, const std::vector<const GroupConfig*>& groups,
                             bool delete_volumes) {
  Unmount unmount(services, config, filters, instance, delete_volumes);
  return unmount.run(groups);
}

}  // namespace agent
