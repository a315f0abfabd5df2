#include "agent/commands/gc.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "agent/core/group_lock.h"
#include "agent/core/log.h"
#include "agent/core/tags.h"

namespace agent {

namespace gc_step {
std::string remove(const ec2::VolumeId& volume) { return fmt::format("delete {}", volume.value); }
}  // namespace gc_step

std::size_t GcPlan::to_delete() const {
  return static_cast<std::size_t>(std::ranges::count_if(items, [](const GcItem& i) { return i.remove; }));
}

bool is_ours_for_gc(const ec2::Volume& volume, const std::vector<std::string>& groups, const FilterValues& filters) {
  const auto group = ec2::find_tag(volume.tags, k_tag_group);
  if (!group || std::ranges::find(groups, *group) == groups.end()) return false;
  const auto mp = ec2::find_tag(volume.tags, k_tag_mount_point);
  return mp && in_lineage(volume.tags, filters, *mp);
}

GcPlan decide_gc(const GcInputs& in) {
  std::set<std::string> attempt_volumes;
  std::set<std::string> attempt_tokens;
  for (const auto& a : in.attempts) {
    if (a.volume_id) attempt_volumes.insert(*a.volume_id);
    if (!a.token.empty()) attempt_tokens.insert(a.token);
  }
  GcPlan plan;
  for (const auto& v : in.volumes) {
    if (!is_ours_for_gc(v, in.groups, in.filters)) continue;
    GcItem item{.volume = v,
                .group = *ec2::find_tag(v.tags, k_tag_group),
                .mount_point = *ec2::find_tag(v.tags, k_tag_mount_point)};
    const auto attempt = ec2::find_tag(v.tags, k_tag_attempt);
    if (v.state != ec2::VolumeState::Available) {
      item.reason = fmt::format("state {}, not available", ec2::to_string(v.state));
    } else if (!v.attachments.empty()) {
      item.reason = "attached";
    } else if (attempt_volumes.contains(v.id.value) || (attempt && attempt_tokens.contains(*attempt))) {
      item.reason = "named by a live restore attempt of this instance (a mount may be about to attach it)";
    } else if (!v.create_time) {
      item.reason = "its CreateTime is unknown";
    } else if (in.now - *v.create_time <= in.older_than) {
      // Exactly at the bound is not older than it.
      item.reason = fmt::format("created {}, not older than {}s", format_utc(*v.create_time), in.older_than.count());
    } else {
      item.remove = true;
      item.step = gc_step::remove(v.id);
    }
    plan.items.push_back(std::move(item));
  }
  return plan;
}

namespace {

GcReport item_report(const GcItem& item) {
  GcReport r{.volume_id = item.volume.id.value,
             .group = item.group,
             .mount_point = item.mount_point,
             .size_gib = item.volume.size_gib,
             .outcome = item.remove ? GcOutcome::Planned : GcOutcome::Left,
             .reason = item.reason};
  if (item.volume.create_time) r.created_at = format_utc(*item.volume.create_time);
  if (item.remove) r.plan.push_back(item.step);
  return r;
}

class Gc {
 public:
  Gc(const RunContext& c, const GcOptions& o) : c_(c), s_(c.services), o_(o) {
    for (const auto* g : c.groups) groups_.push_back(g->name);
  }
  RunReport run();

 private:
  // The attempts and the volumes as they are now, decided; nullopt after an error in report.
  std::optional<GcPlan> observe(RunReport& report, const std::vector<ec2::VolumeId>& only);
  void act(RunReport& report, const GcPlan& first);

  const RunContext& c_;
  Services& s_;
  const GcOptions& o_;
  std::vector<std::string> groups_;
};

std::optional<GcPlan> Gc::observe(RunReport& report, const std::vector<ec2::VolumeId>& only) {
  auto attempts = live_attempts(s_.options.run_dir);
  if (!attempts) {
    report.add_error("restore attempts cannot be read, so what they protect is unknown: nothing deleted: " +
                     attempts.error().message);
    return std::nullopt;
  }
  // The filters narrow the answer; decide_gc checks the tags EC2 returned.
  std::vector<ec2::Filter> filters{{"tag:" + std::string(k_tag_group), groups_},
                                   {"tag-key", {std::string(k_tag_mount_point)}},
                                   {"status", {"available"}}};
  for (const auto& f : c_.filters) filters.push_back({"tag:" + f.key, {f.value}});
  if (!only.empty()) {
    std::vector<std::string> ids;
    for (const auto& id : only) ids.push_back(id.value);
    filters.push_back({"volume-id", ids});
  }
  auto volumes = s_.ec2.describe_volumes({.filters = filters});
  if (!volumes) {
    report.add_error("DescribeVolumes failed: " + volumes.error().describe());
    return std::nullopt;
  }
  return decide_gc({.volumes = std::move(*volumes),
                    .groups = groups_,
                    .filters = c_.filters,
                    .attempts = std::move(*attempts),
                    .now = s_.clock.now(),
                    .older_than = o_.older_than});
}

void Gc::act(RunReport& report, const GcPlan& first) {
  // Only the groups whose volumes are deleted are locked: a mount of such a group waits, and gc
  // does not race its CreateVolume → AttachVolume.
  std::vector<const GroupConfig*> locked;
  std::vector<ec2::VolumeId> ids;
  for (const auto& item : first.items) {
    if (!item.remove) continue;
    ids.push_back(item.volume.id);
    for (const auto* g : c_.groups) {
      if (g->name == item.group && std::ranges::find(locked, g) == locked.end()) locked.push_back(g);
    }
  }
  const RunContext lock_context{.services = c_.services,
                                .config = c_.config,
                                .filters = c_.filters,
                                .instance = c_.instance,
                                .groups = locked};
  auto locks = lock_groups(lock_context, "gc");
  if (!locks) {
    for (const auto& item : first.items) report.gc.push_back(item_report(item));
    report.add_error(locks.error().message + ": nothing deleted");
    return;
  }
  // Under the locks, again: a mount that ran meanwhile may have recorded or attached one of them.
  auto now = observe(report, ids);
  if (!now) {
    for (const auto& item : first.items) report.gc.push_back(item_report(item));
    return;
  }
  for (const auto& item : first.items) {
    if (!item.remove) {
      report.gc.push_back(item_report(item));
      continue;
    }
    const auto again = std::ranges::find_if(now->items, [&](const GcItem& i) { return i.volume.id == item.volume.id; });
    if (again == now->items.end() || !again->remove) {
      auto r = item_report(again == now->items.end() ? item : *again);
      r.plan.clear();
      r.outcome = GcOutcome::Left;
      if (again == now->items.end()) r.reason = "no longer available (or no longer ebsnap's) when looked at again";
      report.gc.push_back(std::move(r));
      continue;
    }
    auto r = item_report(*again);
    r.plan.clear();
    if (auto deleted = s_.ec2.delete_volume({.volume_id = item.volume.id}); !deleted) {
      // In use since it was described (IncorrectState/VolumeInUse), or gone: this volume only.
      log_agent().error("gc group={} mount_point={} volume_id={} status=failed error=\"{}\"", item.group,
                        item.mount_point, item.volume.id, deleted.error().describe());
      r.outcome = GcOutcome::Failed;
      r.reason = "DeleteVolume failed: " + deleted.error().describe();
    } else {
      log_agent().info("gc group={} mount_point={} volume_id={} deleted=1", item.group, item.mount_point,
                       item.volume.id);
      r.outcome = GcOutcome::Deleted;
      r.steps.push_back(item.step);
    }
    report.gc.push_back(std::move(r));
  }
}

RunReport Gc::run() {
  RunReport report = new_report("gc", s_.options.dry_run);
  auto plan = observe(report, {});
  if (!plan) return report;
  if (s_.options.dry_run || plan->to_delete() == 0) {
    for (const auto& item : plan->items) report.gc.push_back(item_report(item));
    return report;
  }
  if (!o_.assume_yes) {
    std::optional<std::string> refused;
    if (!o_.confirm) {
      refused = "gc without a terminal to ask on: add --yes to confirm; nothing was deleted";
    } else if (!o_.confirm(*plan)) {
      refused = "not confirmed: nothing was deleted";
    }
    if (refused) {
      for (const auto& item : plan->items) report.gc.push_back(item_report(item));
      report.add_error(*refused);
      return report;
    }
  }
  act(report, *plan);
  return report;
}

}  // namespace

RunReport gc(const RunContext& context, const GcOptions& options) { return Gc(context, options).run(); }

}  // namespace agent
