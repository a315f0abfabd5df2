#include "agent/commands/mount.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <expected>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "agent/commands/mount_decide.h"
#include "agent/core/client_tokens.h"
#include "agent/core/compat.h"
#include "agent/core/group_lock.h"
#include "agent/core/inspect.h"
#include "agent/core/hook_phases.h"
#include "agent/core/log.h"
#include "agent/core/our_volumes.h"
#include "agent/core/progress.h"
#include "agent/core/restore_points.h"
#include "agent/core/tags.h"
#include "ec2/waiter.h"
#include "platform/device_names.h"
#include "platform/mount_point.h"

namespace agent {
namespace {

// Attempts to get CreateVolume through when the ClientToken of the previous attempt turns out
// to be spent (its volume deleted, or the parameters changed since).
constexpr int k_create_passes = 2;
// AttachVolume retries with the next free device name when the name is in use.
constexpr int k_attach_name_tries = 4;
// Poll rounds a volume named by a replayed ClientToken may stay invisible before it is taken as
// deleted (DescribeVolumes is eventually consistent right after CreateVolume).
constexpr int k_invisible_rounds = 5;

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Where a volume is in the act step.
enum class Stage {
  Done,        // finished (already mounted, or failed, or mounted)
  Attach,      // a volume of ours exists, not attached: wait for available, attach, mount
  WaitDevice,  // a volume of ours is attached to this instance: wait for its device, mount
  Create,      // create it (from a snapshot or empty), then as Attach
};

struct Item {
  const GroupConfig* group = nullptr;
  const VolumeConfig* volume = nullptr;
  VolumeReport out;
  HookPhases* hooks = nullptr;
  VolumeDecision decision;
  Stage stage = Stage::Done;
  std::optional<ec2::Volume> ec2_volume;  // the volume we work with, as last described
  std::optional<RestoreAttempt> attempt;  // the attempt its ClientToken belongs to
  bool replayed_token = false;            // the attempt came from an earlier run
  std::optional<ec2::Snapshot> snapshot;  // to restore from (Create)
  bool newest_is_pending = false;         // the snapshot was pending when chosen
  bool reused = false;                    // a volume left by an earlier run that died
  bool mounted_now = false;               // something is mounted at the mount point
  bool started = false;  // its attach-and-mount thread runs: only that thread touches it now
  std::optional<platform::DeviceIdentity> accepted;  // the disk wait_for_volume took as the volume
  bool delete_on_termination = false;  // set the attachment's flag once attached (needs_delete_on_termination)
  std::optional<std::string> delete_on_termination_error;  // the group's error line when that failed
  std::chrono::steady_clock::time_point began{};
};

class Mount {
 public:
  Mount(const RunContext& c, const MountOptions& options)
      : c_(c), s_(c.services), options_(options), tokens_(c.services.options.run_dir), dry_run_(c.services.options.dry_run) {}

  RunReport run();

 private:
  void fail(Item& item, std::string reason);
  void observe_and_decide(std::vector<Item>& items);
  void take_decision(Item& item, VolumeDecision decision);
  void choose_restore_points(std::vector<Item>& items);
  [[nodiscard]] std::expected<std::vector<ec2::Snapshot>, std::string> describe_lineages(
      const std::vector<std::string>& mount_points);
  [[nodiscard]] GroupHistory history_of(const GroupConfig& group, const std::vector<ec2::Snapshot>& snapshots) const;
  const RestorePoint* take_choice(const GroupConfig& group, const GroupHistory& history, const PointChoice& choice);
  [[nodiscard]] std::vector<const GroupConfig*> inspect_groups(RunReport& report);
  void take_inspect_snapshots(std::vector<Item>& items);
  [[nodiscard]] std::optional<std::string> refuse_if_mounted(const std::vector<Item>& items) const;
  void wait_for_pending_snapshots(std::vector<Item*>& waiting);
  void plan(Item& item);
  [[nodiscard]] FormatDecision predicted_format(const Item& item);
  void act(std::vector<Item>& items);
  void create_and_attach(std::vector<Item>& items, const std::function<void(Item&)>& start);
  void create(Item& item);
  void attach_and_mount(Item& item);
  void finish(Item& item);
  [[nodiscard]] ec2::Result<std::string> attach(Item& item);
  // The device this instance has the volume attached (attaching) as, after an AttachVolume error
  // that may hide a served call; nullopt when it is not attached here.
  [[nodiscard]] std::optional<std::string> attached_here_after_all(const Item& item, const ec2::Error& error);
  void set_delete_on_termination(Item& item, const std::string& device);
  // `refused`: what wait_for_volume saw under the volume's name and could not take ("" if nothing).
  [[nodiscard]] std::string diagnose_missing_device(const Item& item, const std::string& name,
                                                    const std::string& refused);
  void format_and_mount(Item& item, const std::string& devnode);
  [[nodiscard]] bool format(Item& item, const std::string& devnode, const FormatDecision& decision);
  [[nodiscard]] HookContext hook_context(const Item& item) const;
  [[nodiscard]] FormatInputs format_inputs(const Item& item) const;
  [[nodiscard]] static platform::VolumeQuery device_query(const Item& item);
  void error(const std::string& line);

  const RunContext& c_;
  Services& s_;
  const MountOptions& options_;
  ClientTokens tokens_;
  bool dry_run_;
  std::map<const GroupConfig*, std::unique_ptr<HookPhases>> hooks_;
  std::mutex names_mutex_;
  std::set<std::string> claimed_names_;  // device names this run attaches with (or will)
  std::mutex errors_mutex_;
  std::vector<std::string> errors_;
  struct Chosen {
    std::optional<RestorePointReport> restore_point;
    std::vector<SkippedRunReport> skipped_runs;
  };
  std::map<std::string, Chosen> chosen_;  // by group name
  std::deque<GroupConfig> inspect_groups_;  // --inspect: the groups mounted instead of the live ones
  std::map<std::string, ec2::Snapshot> inspect_snapshots_;  // --inspect: by inspection mount point
};

void Mount::fail(Item& item, std::string reason) {
  log_agent().error("mount group={} mount_point={} volume_id={} status=failed reason=\"{}\"", item.group->name,
                    item.volume->mount_point, item.out.volume_id.value_or("-"), reason);
  item.out.outcome = Outcome::Failed;
  item.out.reason = std::move(reason);
  item.stage = Stage::Done;
}

void Mount::error(const std::string& line) {
  std::lock_guard lock(errors_mutex_);
  errors_.push_back(line);
}

HookContext Mount::hook_context(const Item& item) const {
  return HookContext{.group = item.group->name,
                     .mount_point = item.volume->mount_point,
                     .device = item.volume->device,
                     .volume_id = item.out.volume_id,
                     .snapshot_id = item.out.snapshot_id};
}

FormatInputs Mount::format_inputs(const Item& item) const {
  FormatInputs in{.from_snapshot = item.snapshot.has_value() || (item.ec2_volume && item.ec2_volume->snapshot_id),
                  .reused = item.reused,
                  .configured = item.volume->filesystem};
  if (item.attempt) in.attempt_formatted = item.attempt->formatted;
  return in;
}

// What the volume's device is checked against: its serial, or (Xen, no serial) the name it was
// attached with, its size and, once accepted, that very disk.
platform::VolumeQuery Mount::device_query(const Item& item) {
  return platform::VolumeQuery{.volume_id = item.ec2_volume->id.value,
                               .device_hint = item.out.attached_as.value_or(item.volume->device),
                               .size_bytes = platform::gib_bytes(static_cast<std::uint64_t>(item.ec2_volume->size_gib)),
                               .accepted = item.accepted,
                               .already_attached = item.stage == Stage::WaitDevice};
}

// Observe (one DescribeVolumes, the mount table, the attempt files), then decide per volume.
void Mount::observe_and_decide(std::vector<Item>& items) {
  std::vector<VolumeKey> keys;
  for (const auto& item : items) keys.push_back({item.group->name, item.volume->mount_point});
  auto observed = observe_mounts(s_.ec2, s_.mounter, s_.devices, c_.filters, keys, c_.instance.instance_id);
  // One DescribeVolumes observes every volume: its failure is each volume's reason in the report,
  // and one line in the log, not one per volume.
  std::set<std::string> logged;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    const auto& mp = item.volume->mount_point;
    if (observed[i].problem) {
      const auto& problem = *observed[i].problem;
      if (logged.insert(problem).second) {
        log_agent().error("mount status=failed mount_points={} reason=\"{}\"",
                          std::ranges::count(observed, observed[i].problem, &ObservedMount::problem), problem);
      }
      item.out.outcome = Outcome::Failed;
      item.out.reason = problem;
      item.stage = Stage::Done;
      continue;
    }
    ObservedVolume o{.mount_point = mp, .mounted = std::move(observed[i].mounted), .ours = std::move(observed[i].ours)};
    item.mounted_now = o.mounted.mounted();
    o.attached = attached_to(o.ours, c_.instance.instance_id);
    if (o.attached) {
      if (const auto* a = attachment_to(*o.attached, c_.instance.instance_id)) claimed_names_.insert(a->device);
    }
    if (!o.mounted.mounted()) {
      auto attempt = tokens_.load(item.group->name, mp);
      if (!attempt) {
        fail(item, attempt.error().message);
        continue;
      }
      o.attempt = *attempt;
    }
    take_decision(item, decide_volume(o));
  }
}

void Mount::take_decision(Item& item, VolumeDecision d) {
  const auto& mp = item.volume->mount_point;
  item.decision = d;
  if (d.volume) {
    item.ec2_volume = d.volume;
    item.out.volume_id = d.volume->id.value;
    if (d.volume->snapshot_id) item.out.snapshot_id = d.volume->snapshot_id->value;
    if (const auto* a = attachment_to(*d.volume, c_.instance.instance_id)) item.out.attached_as = a->device;
  }
  item.attempt = d.attempt;
  item.delete_on_termination = needs_delete_on_termination(*item.volume, d, c_.instance.instance_id);
  switch (d.action) {
    case VolumeAction::Fail:
      return fail(item, d.reason);
    case VolumeAction::AlreadyMounted: {
      const auto mounted = mounted_volume_at(s_.mounter, s_.devices, mp, {*d.volume}, c_.instance.instance_id);
      item.out.outcome = Outcome::AlreadyMounted;
      if (mounted) {
        item.out.devnode = mounted->source;
        item.out.filesystem = mounted->fs_type;
      }
      log_agent().info("mount group={} mount_point={} volume_id={} devnode={} status=already-mounted",
                       item.group->name, mp, d.volume->id, item.out.devnode.value_or("-"));
      return;
    }
    case VolumeAction::ReuseAttached:
      item.stage = Stage::WaitDevice;
      item.reused = true;
      log_agent().info("mount group={} mount_point={} volume_id={} reuse=attached", item.group->name, mp, d.volume->id);
      return;
    case VolumeAction::ReuseAttempt:
      item.stage = Stage::Attach;
      item.reused = true;
      log_agent().info("mount group={} mount_point={} volume_id={} reuse=attempt", item.group->name, mp, d.volume->id);
      return;
    case VolumeAction::Create:
      item.stage = Stage::Create;
      item.replayed_token = d.replay_token;
      return;
  }
}

// One DescribeSnapshots (and Snaptastic's with compat) for the lineages of `mount_points`.
std::expected<std::vector<ec2::Snapshot>, std::string> Mount::describe_lineages(
    const std::vector<std::string>& mount_points) {
  auto snapshots = s_.ec2.describe_snapshots(
      ec2::DescribeSnapshotsOptions{.owner_ids = {"self"}, .filters = lineage_filters(c_.filters, mount_points)});
  if (!snapshots) return std::unexpected("DescribeSnapshots failed: " + snapshots.error().describe());
  if (c_.config.compat_snaptastic) {
    // Snaptastic's lineage: no run id, so grouped by StartTime like other untagged snapshots.
    auto theirs = s_.ec2.describe_snapshots(
        ec2::DescribeSnapshotsOptions{.owner_ids = {"self"}, .filters = snaptastic_filters(c_.filters, mount_points)});
    if (!theirs) return std::unexpected("DescribeSnapshots (Snaptastic's) failed: " + theirs.error().describe());
    std::ranges::move(adopt_snaptastic(*theirs, c_.filters, mount_points, {}), std::back_inserter(*snapshots));
  }
  return std::move(*snapshots);
}

GroupHistory Mount::history_of(const GroupConfig& group, const std::vector<ec2::Snapshot>& snapshots) const {
  std::vector<std::string> mount_points;
  for (const auto& v : group.volumes) mount_points.push_back(v.mount_point);
  return restore_points({.snapshots = snapshots,
                         .group = group.name,
                         .filters = c_.filters,
                         .mount_points = mount_points,
                         .untagged_window = c_.config.untagged_run_window});
}

// Logs and reports the point chosen for `group` and the newer ones passed over.
const RestorePoint* Mount::take_choice(const GroupConfig& group, const GroupHistory& history, const PointChoice& choice) {
  auto& chosen = chosen_[group.name];
  for (const auto& skipped : choice.skipped) {
    log_agent().warn("mount group={} run_id={} skipped=incomplete reason=\"{}\"", group.name, skipped.run_id,
                     skipped.reason);
    chosen.skipped_runs.push_back({.run_id = skipped.run_id, .time = format_utc(skipped.time), .reason = skipped.reason});
  }
  if (!choice.point) return nullptr;
  const auto& point = history.points[*choice.point];
  log_agent().info("mount group={} restore_point={} time={} skipped_runs={}", group.name, point.run_id,
                   format_utc(point.time), choice.skipped.size());
  chosen.restore_point =
      RestorePointReport{.run_id = point.run_id, .time = format_utc(point.time), .consistency = point.consistency};
  return &point;
}

// --inspect: per group its point, and the group of inspection volumes that restores it. A group
// whose point cannot be had fails with the reason and gets nothing.
std::vector<const GroupConfig*> Mount::inspect_groups(RunReport& report) {
  std::vector<std::string> mount_points;
  for (const auto* g : c_.groups) {
    for (const auto& v : g->volumes) mount_points.push_back(v.mount_point);
  }
  std::vector<const GroupConfig*> out;
  auto snapshots = describe_lineages(mount_points);
  if (!snapshots) {
    report.not_run(snapshots.error());
    return out;
  }
  const auto prefix = inspect_prefix(c_, options_.prefix);
  for (const auto* g : c_.groups) {
    const auto history = history_of(*g, *snapshots);
    auto choice = choose_restore_point(history, options_.point);
    if (!choice.refusal && !choice.point) choice.refusal = "group " + g->name + " has no restore point to inspect";
    if (choice.refusal) {
      log_agent().error("mount group={} inspect=refused reason=\"{}\"", g->name, *choice.refusal);
      report.group(g->name).error = *choice.refusal;
      continue;
    }
    const auto* point = take_choice(*g, history, choice);
    const auto& group = inspect_groups_.emplace_back(inspect_group(*g, *point, prefix));
    for (const auto& v : group.volumes) {
      const auto live = std::ranges::find_if(g->volumes, [&](const VolumeConfig& l) {
        return inspect_mount_point(prefix, g->name, point->run_id, l.mount_point) == v.mount_point;
      });
      inspect_snapshots_.emplace(v.mount_point, *point->member(live->mount_point)->snapshot);
    }
    out.push_back(&group);
  }
  return out;
}

// One DescribeSnapshots for every group with a volume to create (all of the group's mount points:
// a restore point is complete only over all of them), then per group its restore point.
void Mount::choose_restore_points(std::vector<Item>& items) {
  std::vector<const GroupConfig*> groups;
  std::vector<std::string> mount_points;
  for (const auto& item : items) {
    if (item.stage == Stage::Done || std::ranges::find(groups, item.group) != groups.end()) continue;
    if (item.stage != Stage::Create && !options_.point.explicit_choice()) continue;
    groups.push_back(item.group);
    for (const auto& v : item.group->volumes) mount_points.push_back(v.mount_point);
  }
  if (groups.empty()) return;
  const auto fail_group = [&](const GroupConfig* g, const std::string& reason) {
    for (auto& item : items) {
      if (item.group == g && item.stage != Stage::Done) fail(item, reason);
    }
  };
  auto snapshots = describe_lineages(mount_points);
  if (!snapshots) {
    for (const auto* g : groups) fail_group(g, snapshots.error());
    return;
  }
  std::vector<Item*> waiting;
  for (const auto* g : groups) {
    const auto history = history_of(*g, *snapshots);
    const auto choice = choose_restore_point(history, options_.point);
    if (choice.refusal) {
      fail_group(g, *choice.refusal);
      continue;
    }
    const RestorePoint* point = take_choice(*g, history, choice);
    for (auto& item : items) {
      if (item.group != g || item.stage == Stage::Done) continue;
      const auto& mp = item.volume->mount_point;
      const PointMember* member = point ? point->member(mp) : nullptr;
      if (item.stage != Stage::Create) {
        if (!options_.point.explicit_choice()) continue;
        // --as-of/--run with a volume an earlier attempt left: only if it is the chosen one's.
        const auto want = member && member->snapshot ? std::optional{member->snapshot->id} : std::nullopt;
        if (item.ec2_volume->snapshot_id != want) {
          fail(item, fmt::format("volume {} left by an earlier run is not from restore point {}; unmount it (or "
                                 "delete it) before restoring another point",
                                 item.ec2_volume->id.value, point ? point->run_id : "-"));
        }
        continue;
      }
      if (member && member->snapshot) {
        item.snapshot = *member->snapshot;
        item.out.snapshot_id = member->snapshot->id.value;
        item.newest_is_pending = member->state == MemberState::Pending;
        if (item.newest_is_pending) waiting.push_back(&item);
        continue;
      }
      // Empty: a first boot, or a mount point added to the group after the chosen point.
      if (const auto f = std::ranges::find(history.foreign, mp, &ForeignSnapshots::mount_point); f != history.foreign.end()) {
        fail(item, fmt::format("{} has no snapshot of group {} but {} of group {}; refusing to create an empty volume "
                               "in its place",
                               mp, g->name, f->count, f->group));
        continue;
      }
      const bool has_history = std::ranges::any_of(history.points, [&mp](const RestorePoint& p) {
        const auto* m = p.member(mp);
        return m != nullptr && m->snapshot != nullptr;
      });
      if (point && has_history) {
        item.out.warnings.push_back(fmt::format("added to the group after restore point {}: starts empty",
                                                point->run_id));
        log_agent().warn("mount group={} mount_point={} restore_point={} starts=empty", g->name, mp, point->run_id);
      }
    }
  }
  if (!waiting.empty() && !dry_run_) wait_for_pending_snapshots(waiting);
}

// A newest snapshot still pending is waited for: restoring the older one would silently lose
// what the newest holds.
void Mount::wait_for_pending_snapshots(std::vector<Item*>& waiting) {
  std::vector<ec2::SnapshotId> ids;
  for (auto* item : waiting) {
    log_agent().info("mount group={} mount_point={} snapshot_id={} wait=pending", item->group->name,
                     item->volume->mount_point, item->snapshot->id);
    if (std::ranges::find(ids, item->snapshot->id) == ids.end()) ids.push_back(item->snapshot->id);
  }
  // Progress: the snapshots' percentages added up, each as EC2 last said it.
  Progress progress(s_.clock, "mount: newest snapshots", options_.progress_bar);
  std::map<ec2::SnapshotId, int> percent;
  const auto percent_sum = [&] {
    std::uint64_t sum = 0;
    for (const auto& [id, p] : percent) sum += static_cast<std::uint64_t>(std::clamp(p, 0, 100));
    return sum;
  };
  const auto detail = [&] { return fmt::format("{}% of {} pending", percent_sum() / ids.size(), ids.size()); };
  const auto show = [&] {
    progress.update(percent_sum(), 100 * ids.size(), detail(), [&] {
      log_agent().info("mount wait=pending snapshots={} progress_percent={}", ids.size(), percent_sum() / ids.size());
    });
  };
  auto done = s_.waiter(c_.config.timeouts.pending_snapshot)
                  .snapshots_until(s_.ec2, ids, [&](const ec2::SnapshotId& id, const std::optional<ec2::Snapshot>& snap) {
                    if (snap) percent[id] = snap->state == ec2::SnapshotState::Completed ? 100 : snap->progress;
                    show();
                    if (!snap) return ec2::WaitCheck{ec2::WaitVerdict::Pending, "not visible"};
                    if (snap->state == ec2::SnapshotState::Completed || snap->state == ec2::SnapshotState::Error) {
                      return ec2::WaitCheck{ec2::WaitVerdict::Done, {}};
                    }
                    return ec2::WaitCheck{ec2::WaitVerdict::Pending,
                                          "state " + std::string(ec2::to_string(snap->state))};
                  });
  progress.finish(percent_sum(), 100 * ids.size(), detail());
  for (auto* item : waiting) {
    if (!done) {
      fail(*item, fmt::format("the newest snapshot {} of {} is not completed ({}); not restoring older data",
                              item->snapshot->id.value, item->volume->mount_point, done.error().describe()));
      continue;
    }
    const auto at = std::ranges::find(ids, item->snapshot->id) - ids.begin();
    const auto& snap = (*done)[static_cast<std::size_t>(at)];
    if (snap->state != ec2::SnapshotState::Completed) {
      fail(*item, fmt::format("the newest snapshot {} of {} went to state error while we waited for it; a rerun "
                              "restores the newest completed one",
                              item->snapshot->id.value, item->volume->mount_point));
      continue;
    }
    item->out.steps.push_back(mount_step::wait_pending(item->snapshot->id, c_.config.timeouts.pending_snapshot));
    item->snapshot = *snap;
  }
}

// --dry-run: the format step of a volume whose device is here already is decided from what
// blkid finds on it, exactly as the real run will; otherwise it is predicted.
FormatDecision Mount::predicted_format(const Item& item) {
  const auto inputs = format_inputs(item);
  if (item.stage == Stage::WaitDevice) {
    auto device = s_.devices.find_by_serial(item.ec2_volume->id.value);
    if (device && *device) {
      if (auto content = s_.devices.probe((*device)->devnode)) return decide_format(inputs, (*device)->devnode, *content);
    }
  }
  return predict_format(inputs);
}

void Mount::plan(Item& item) {
  // Of a volume already mounted, at most the attachment's DeleteOnTermination is left to set.
  const bool mounted = item.decision.action == VolumeAction::AlreadyMounted;
  if (item.stage == Stage::Done && !mounted) return;
  const auto format = mounted ? FormatDecision{} : predicted_format(item);
  item.out.plan = plan_volume(PlanInputs{.volume = *item.volume,
                                         .decision = item.decision,
                                         .snapshot = item.snapshot ? std::optional{item.snapshot->id} : std::nullopt,
                                         .wait_pending = item.newest_is_pending,
                                         .pending_bound = c_.config.timeouts.pending_snapshot,
                                         .format = format,
                                         .availability_zone = c_.instance.availability_zone,
                                         .instance = c_.instance.instance_id,
                                         .delete_on_termination = item.delete_on_termination});
  if (mounted) return;
  item.out.outcome = format.action == FormatAction::Refuse ? Outcome::Failed : Outcome::Planned;
  if (format.action == FormatAction::Refuse) item.out.reason = format.reason;
  item.out.filesystem = std::string(to_string(item.volume->filesystem));
  item.stage = Stage::Done;
}

// Step 1: CreateVolume in parallel, one thread per volume.
void Mount::create(Item& item) {
  const auto& v = *item.volume;
  for (int pass = 0; pass < k_create_passes; ++pass) {
    if (!item.attempt) {
      auto begun = tokens_.begin(item.group->name, v.mount_point);
      if (!begun) return fail(item, begun.error().message);
      item.attempt = *begun;
      item.replayed_token = false;
    }
    ec2::CreateVolumeOptions o{.availability_zone = c_.instance.availability_zone};
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
    // In a region the group copies to (a fail-over), the volume's key is that copy_to's: a key
    // does not cross regions, and that one encrypts the copies restored here.
    if (const auto* there = find_copy_destination(*item.group, c_.instance.region); there && there->kms_key_id) {
      if (v.encrypted) o.kms_key_id = *there->kms_key_id;
    }
    o.initialization_rate = initialization_rate(v, item.snapshot.has_value());
    o.tag_specifications = {ec2::TagSpecification{
        .resource_type = "volume",
        .tags = volume_tags(*item.group, c_.filters, {item.group->name, v.mount_point, v.device},
                            c_.instance.instance_id, item.attempt->token)}};
    o.client_token = item.attempt->token;
    const auto asked = s_.clock.monotonic();
    auto created = s_.ec2.create_volume(o);
    const auto create_ms = duration_cast<milliseconds>(s_.clock.monotonic() - asked);
    if (!created) {
      if (created.error().kind == ec2::ErrorKind::IdempotencyMismatch && item.replayed_token) {
        // The earlier attempt asked for something else (a newer snapshot appeared since): its
        // token cannot serve this one.
        log_agent().info("mount group={} mount_point={} attempt={} spent=parameters-changed", item.group->name,
                         v.mount_point, item.attempt->token);
        item.attempt.reset();
        continue;
      }
      return fail(item, "CreateVolume failed: " + created.error().describe());
    }
    if (created->state == ec2::VolumeState::Deleting || created->state == ec2::VolumeState::Deleted) {
      log_agent().info("mount group={} mount_point={} attempt={} volume_id={} spent=volume-deleted", item.group->name,
                       v.mount_point, item.attempt->token, created->id);
      item.attempt.reset();
      continue;
    }
    item.attempt->volume_id = created->id.value;
    if (auto r = tokens_.record(item.group->name, v.mount_point, *item.attempt); !r) {
      // The volume exists and carries the attempt tag: a rerun still finds it.
      log_agent().warn("mount group={} mount_point={} volume_id={} record_attempt_failed=\"{}\"", item.group->name,
                       v.mount_point, created->id, r.error().message);
    }
    log_agent().info("mount group={} mount_point={} volume_id={} snapshot_id={} created=1 create_ms={}",
                     item.group->name, v.mount_point, created->id, item.snapshot ? item.snapshot->id.value : "-",
                     create_ms.count());
    item.out.steps.push_back(mount_step::create(v, c_.instance.availability_zone,
                                                item.snapshot ? std::optional{item.snapshot->id} : std::nullopt));
    item.ec2_volume = *created;
    item.out.volume_id = created->id.value;
    item.stage = Stage::Attach;
    return;
  }
  fail(item, "CreateVolume: the restore attempt's ClientToken could not be used");
}

// ModifyInstanceAttribute once the volume is attached (attaching is enough: EC2 keeps the mapping
// from the AttachVolume on). A failure is the group's error, not the volume's: the volume stays
// attached and is mounted all the same; only EC2 would keep it when the instance is terminated.
void Mount::set_delete_on_termination(Item& item, const std::string& device) {
  if (!item.delete_on_termination) return;
  const auto& id = item.ec2_volume->id;
  auto set = s_.ec2.modify_instance_attribute(
      ec2::ModifyInstanceAttributeOptions{.instance_id = c_.instance.instance_id, .device = device});
  if (!set) {
    log_agent().error("mount group={} mount_point={} volume_id={} device={} delete_on_termination=failed error=\"{}\"",
                      item.group->name, item.volume->mount_point, id, device, set.error().describe());
    item.delete_on_termination_error =
        fmt::format("{}: ModifyInstanceAttribute DeleteOnTermination of volume {} as {} failed: {}; EC2 will not "
                    "delete it with the instance",
                    item.volume->mount_point, id.value, device, set.error().describe());
    return;
  }
  item.out.steps.push_back(mount_step::delete_on_termination(device));
  log_agent().info("mount group={} mount_point={} volume_id={} device={} delete_on_termination=set", item.group->name,
                   item.volume->mount_point, id, device);
}

// An AttachVolume whose answer was lost (the connection reset after EC2 served it) is sent again
// by the client, and EC2 answers the resend VolumeInUse (IncorrectState): the volume is attached,
// to us. So is it after a network error the client gave up on. Either way DescribeVolumes says
// whether the volume is attaching or attached to this instance, and as which device.
std::optional<std::string> Mount::attached_here_after_all(const Item& item, const ec2::Error& error) {
  if (error.kind != ec2::ErrorKind::IncorrectState && !error.maybe_applied) return std::nullopt;
  const auto& id = item.ec2_volume->id;
  auto described = s_.ec2.describe_volumes(ec2::DescribeVolumesOptions{.volume_ids = {id}});
  if (!described || described->empty()) return std::nullopt;
  const auto* a = attachment_to(described->front(), c_.instance.instance_id);
  if (a == nullptr || (a->state != ec2::AttachmentState::Attaching && a->state != ec2::AttachmentState::Attached)) {
    return std::nullopt;
  }
  log_agent().info("mount group={} mount_point={} volume_id={} device={} attach=already-here error=\"{}\"",
                   item.group->name, item.volume->mount_point, id, a->device, error.describe());
  return a->device;
}

// AttachVolume, after the caller armed the udev watch; a device name in use → the next free one.
ec2::Result<std::string> Mount::attach(Item& item) {
  std::string name = item.volume->device;
  for (int attempt = 0;; ++attempt) {
    auto attached = s_.ec2.attach_volume(ec2::AttachVolumeOptions{
        .volume_id = item.ec2_volume->id, .instance_id = c_.instance.instance_id, .device = name});
    if (attached) return name;
    if (auto here = attached_here_after_all(item, attached.error())) return *here;
    if (attached.error().kind != ec2::ErrorKind::InUse || attempt + 1 >= k_attach_name_tries) {
      return std::unexpected(std::move(attached.error()));
    }
    // The name is taken on this instance (by a volume that is not ours, or one being detached):
    // the next free one, avoiding the names other volumes of this run use.
    std::set<std::string> in_use;
    auto described = s_.ec2.describe_instances(ec2::DescribeInstancesOptions{.instance_ids = {c_.instance.instance_id}});
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
    log_agent().info("mount group={} mount_point={} volume_id={} device={} in_use=1 next_device={}", item.group->name,
                     item.volume->mount_point, item.ec2_volume->id, name, *next);
    claimed_names_.insert(*next);
    name = *next;
  }
}

std::string Mount::diagnose_missing_device(const Item& item, const std::string& name, const std::string& refused) {
  const auto& id = item.ec2_volume->id;
  auto described = s_.ec2.describe_volumes(ec2::DescribeVolumesOptions{.volume_ids = {id}});
  std::string ec2_says = "EC2 could not be asked";
  if (described && !described->empty()) {
    const auto& v = described->front();
    if (const auto* a = attachment_to(v, c_.instance.instance_id)) {
      ec2_says = fmt::format("EC2 says the attachment as {} is {}", a->device, ec2::to_string(a->state));
    } else {
      ec2_says = fmt::format("EC2 says the volume is {} and not attached here", ec2::to_string(v.state));
    }
  }
  return fmt::format("no block device with serial {} appeared within {} s after attaching as {} ({}){}", id.value,
                     c_.config.timeouts.device_wait.count(), name, ec2_says,
                     refused.empty() ? "" : "; refused: " + refused);
}

// Step 3: attach with the udev watch armed first; the device with the volume's serial is the
// proof of attachment.
void Mount::attach_and_mount(Item& item) {
  const auto& v = *item.volume;
  std::string name = item.out.attached_as.value_or(v.device);
  // Armed before AttachVolume: a device that appears between the attach and the wait is seen.
  auto watch = s_.devices.arm_watch();
  if (!watch) return fail(item, "cannot watch for block devices: " + watch.error().describe());
  if (item.stage == Stage::Attach) {
    const auto asked = s_.clock.monotonic();
    auto attached = attach(item);
    const auto attach_ms = duration_cast<milliseconds>(s_.clock.monotonic() - asked);
    if (!attached) {
      return fail(item,
                  fmt::format("AttachVolume {} failed: {}", item.ec2_volume->id.value, attached.error().describe()));
    }
    name = *attached;
    item.out.attached_as = name;
    item.out.steps.push_back(mount_step::attach(c_.instance.instance_id, name));
    log_agent().info("mount group={} mount_point={} volume_id={} device={} attach=sent attach_ms={}", item.group->name,
                     v.mount_point, item.ec2_volume->id, name, attach_ms.count());
  }
  set_delete_on_termination(item, name);
  const auto query = device_query(item);
  auto device = s_.devices.wait_for_volume(*watch, query, s_.clock.monotonic() + c_.config.timeouts.device_wait);
  if (!device) {
    const auto& e = device.error();
    if (e.kind == platform::ErrorKind::Timeout) {
      const auto semicolon = e.message.find("; ");
      return fail(item, diagnose_missing_device(item, name,
                                                semicolon == std::string::npos ? "" : e.message.substr(semicolon + 2)));
    }
    if (e.kind == platform::ErrorKind::Mismatch && query.already_attached) {
      // Attached before this run, on a device without serial (Xen) that was there before this run
      // looked: its name proves nothing (an instance-store disk can carry it), and no new device
      // will appear to prove it. Only a fresh attachment can, and only a volume this boot's
      // restore attempt names is attached again after a detach (any other would be replaced by a
      // new volume: decide_volume takes no volume on its tags alone).
      const auto& id = item.ec2_volume->id.value;
      const std::string what_to_do =
          item.decision.attempt
              ? fmt::format("detach it (aws ec2 detach-volume --volume-id {}, once nothing uses that device) and run "
                            "mount again: its restore attempt attaches it afresh",
                            id)
              : fmt::format("detaching it would not help (without this boot's restore attempt a new volume would "
                            "take its place): check by hand that the device is {} and mount it on {} yourself",
                            id, v.mount_point);
      return fail(item, fmt::format("volume {} was attached as {} before this run, so its device cannot be proven: "
                                    "{}; {}",
                                    id, name, e.message, what_to_do));
    }
    return fail(item, "waiting for the device: " + e.describe());
  }
  item.accepted = platform::identity_of(*device);
  item.out.devnode = device->devnode;
  item.out.steps.push_back(mount_step::wait_device());
  log_agent().info("mount group={} mount_point={} volume_id={} devnode={} serial={} device=arrived", item.group->name,
                   v.mount_point, item.ec2_volume->id, device->devnode, device->serial);
  format_and_mount(item, device->devnode);
}

// mkfs (after the serial is checked again), recorded in the attempt once done: a rerun after a
// kill tells a completed mkfs from an interrupted one by that record, not by what blkid finds.
bool Mount::format(Item& item, const std::string& devnode, const FormatDecision& decision) {
  if (auto ok = s_.devices.verify(devnode, device_query(item)); !ok) {
    fail(item, "refusing mkfs: " + ok.error().describe());
    return false;
  }
  const bool redo = decision.action == FormatAction::RedoMkfs;
  log_agent().log(redo ? spdlog::level::warn : spdlog::level::info,
                  "mount group={} mount_point={} volume_id={} devnode={} mkfs={}{}", item.group->name,
                  item.volume->mount_point, item.ec2_volume->id, devnode, decision.fs_type,
                  redo ? " redo=interrupted-by-earlier-run" : "");
  if (auto ok = s_.devices.make_filesystem(devnode, {.fs_type = decision.fs_type, .redo_interrupted = redo}); !ok) {
    fail(item, "mkfs: " + ok.error().describe());
    return false;
  }
  item.out.formatted = true;
  if (item.attempt) {
    item.attempt->formatted = true;
    if (auto r = tokens_.record(item.group->name, item.volume->mount_point, *item.attempt); !r) {
      log_agent().warn("mount group={} mount_point={} record_mkfs_failed=\"{}\"", item.group->name,
                       item.volume->mount_point, r.error().message);
    }
  }
  return true;
}

void Mount::format_and_mount(Item& item, const std::string& devnode) {
  const auto& v = *item.volume;
  auto content = s_.devices.probe(devnode);
  if (!content) return fail(item, "blkid " + devnode + ": " + content.error().describe());
  const auto decision = decide_format(format_inputs(item), devnode, *content);
  switch (decision.action) {
    case FormatAction::Refuse: {
      const bool from_snapshot = format_inputs(item).from_snapshot;
      return fail(item, from_snapshot ? fmt::format("volume {} from snapshot {}: {}", item.ec2_volume->id.value,
                                                    item.ec2_volume->snapshot_id->value, decision.reason)
                                      : fmt::format("new volume {}: {}", item.ec2_volume->id.value, decision.reason));
    }
    case FormatAction::Mkfs:
    case FormatAction::RedoMkfs:
      if (!format(item, devnode, decision)) return;
      break;
    case FormatAction::UseAsIs:
      if (decision.note) {
        item.out.warnings.push_back(*decision.note);
        log_agent().warn("mount group={} mount_point={} volume_id={} note=\"{}\"", item.group->name, v.mount_point,
                         item.ec2_volume->id, *decision.note);
      }
      break;
  }
  item.out.steps.push_back(mount_step::format(decision));
  item.out.filesystem = decision.fs_type;
  if (auto ok = s_.devices.verify(devnode, device_query(item)); !ok) {
    return fail(item, "refusing to mount: " + ok.error().describe());
  }
  if (auto pre = item.hooks->pre_volume(hook_context(item)); !pre) return fail(item, pre.error().describe());
  // Looked at again just before mounting: something mounted there since it was observed (by hand,
  // by systemd; another ebsnap holds the group's lock) would be hidden under a second mount.
  auto now_there = s_.mounter.find_by_target(v.mount_point);
  if (!now_there) return fail(item, "look at " + v.mount_point + " again: " + now_there.error().describe());
  if (*now_there) {
    return fail(item, fmt::format("{} was mounted from {} after ebsnap looked; not stacking volume {} on it "
                                  "(left attached)",
                                  v.mount_point, (*now_there)->source, item.ec2_volume->id.value));
  }
  auto mounted = platform::MountPoint::mount(s_.mounter, {.source = devnode,
                                                          .target = v.mount_point,
                                                          .fs_type = decision.fs_type,
                                                          .options = mount_options_for(v),
                                                          .create_target = true});
  if (!mounted) return fail(item, "mount: " + mounted.error().describe());
  // The attempt is over: a later restore of this mount point is a new one.
  if (auto r = tokens_.finish(item.group->name, v.mount_point); !r) {
    log_agent().warn("mount group={} mount_point={} finish_attempt_failed=\"{}\"", item.group->name, v.mount_point,
                     r.error().message);
  }
  mounted->release();
  item.out.steps.push_back(mount_step::mount(v));
  item.out.outcome = item.reused ? Outcome::Reused : (format_inputs(item).from_snapshot ? Outcome::Restored : Outcome::Created);
  item.stage = Stage::Done;
  log_agent().info("mount group={} mount_point={} volume_id={} devnode={} snapshot_id={} status={}", item.group->name,
                   v.mount_point, item.ec2_volume->id, devnode, item.out.snapshot_id.value_or("-"),
                   to_string(item.out.outcome));
}

// Attach, mount and the post_mount hooks of one volume (on a thread of its own).
void Mount::finish(Item& item) {
  if (item.decision.action == VolumeAction::ReuseAttached) item.out.steps.push_back(mount_step::reuse(item.ec2_volume->id, true));
  if (item.decision.action == VolumeAction::ReuseAttempt) item.out.steps.insert(item.out.steps.begin(), mount_step::reuse(item.ec2_volume->id, false));
  attach_and_mount(item);
  const bool failed = item.out.outcome == Outcome::Failed;
  if (auto post = item.hooks->post_volume(hook_context(item), !failed)) {
    item.out.warnings.push_back(post->describe());
    error(post->describe());
  }
  if (failed) item.hooks->on_failure(hook_context(item), item.out.reason.value_or(""));
  item.out.duration_ms = duration_cast<milliseconds>(s_.clock.monotonic() - item.began).count();
}

// Create what is missing and start each volume's attach-and-mount as soon as it is available.
// Each volume joins one poll when its CreateVolume returns, and a round is still one
// DescribeVolumes for all the volumes pending. Under throttling an instance's CreateVolume calls
// come minutes apart; its first volumes are attached meanwhile, not after the last is created
// (bench/fleet: boot-1000).
void Mount::create_and_attach(std::vector<Item>& items, const std::function<void(Item&)>& start) {
  std::mutex returned_mutex;     // guards the two below, shared with the create tasks
  std::vector<Item*> returned;  // to poll: their CreateVolume returned (or an earlier attempt's volume)
  std::size_t creating = 0;     // create tasks spawned and not yet returned
  std::set<const Item*> created_again;
  auto creates = s_.tasks.group();  // after what its tasks use: joined before those go
  const auto create_beside = [&](Item& item) {
    {
      std::lock_guard lock(returned_mutex);
      ++creating;
    }
    creates->spawn([&, it = &item] {
      create(*it);
      std::lock_guard lock(returned_mutex);
      returned.push_back(it);
      --creating;
    });
  };
  // Sorted before any task starts: a started item belongs to its task, which moves its stage on
  // (ThreadSanitizer saw a loop over all the items read the stage of an item being mounted).
  std::vector<Item*> attached;
  std::vector<Item*> to_create;
  for (auto& item : items) {
    if (item.stage == Stage::WaitDevice) attached.push_back(&item);  // attached by an earlier run
    if (item.stage == Stage::Create) to_create.push_back(&item);
    if (item.stage == Stage::Attach) returned.push_back(&item);  // an earlier attempt's volume
  }
  const std::size_t total = to_create.size() + returned.size();
  for (auto* item : attached) start(*item);
  for (auto* item : to_create) create_beside(*item);

  std::map<ec2::VolumeId, Item*> polled;  // pending in the poll
  std::map<ec2::VolumeId, int> invisible;
  std::uint64_t created = 0;  // seen past state creating (or failed to create)
  Progress progress(s_.clock, "mount: volumes", options_.progress_bar);
  const auto detail = [&] { return fmt::format("{}/{} created", created, total); };
  const ec2::Waiter::Join join = [&](bool idle) -> std::optional<std::vector<ec2::VolumeId>> {
    for (;;) {
      std::vector<Item*> taken;
      bool more = false;  // creates still running
      {
        std::lock_guard lock(returned_mutex);
        taken.swap(returned);
        more = creating > 0;
      }
      std::vector<ec2::VolumeId> ids;
      for (auto* item : taken) {
        if (item->stage != Stage::Attach) {
          ++created;  // its create failed
          continue;
        }
        if (item->ec2_volume->state == ec2::VolumeState::Available) {
          ++created;
          start(*item);
          continue;
        }
        ids.push_back(item->ec2_volume->id);
        polled[item->ec2_volume->id] = item;
      }
      if (!ids.empty() || !idle) return ids;
      if (!more) return std::nullopt;
      creates->wait_any();
    }
  };
  // A volume named by a replayed token that EC2 no longer shows was deleted since: created anew.
  const auto create_again = [&](Item& item) {
    if (!created_again.insert(&item).second) {
      return fail(item, "the restore attempt's volume was deleted while we waited for it");
    }
    item.attempt.reset();
    item.stage = Stage::Create;
    create_beside(item);
  };
  const auto check = [&](const ec2::VolumeId& id, const std::optional<ec2::Volume>& v) {
    progress.update(created, total, detail(),
                    [&] { log_agent().info("mount wait=volumes created={}/{}", created, total); });
    Item& item = *polled.at(id);
    if (!v) {
      if (!item.replayed_token || ++invisible[id] < k_invisible_rounds) {
        return ec2::WaitCheck{ec2::WaitVerdict::Pending, "not visible yet"};
      }
      polled.erase(id);
      create_again(item);
      return ec2::WaitCheck{ec2::WaitVerdict::Done, {}};
    }
    if (v->state == ec2::VolumeState::Creating) return ec2::WaitCheck{ec2::WaitVerdict::Pending, "state creating"};
    polled.erase(id);
    if (v->state == ec2::VolumeState::Available) {
      ++created;
      item.ec2_volume = *v;
      start(item);
    } else if ((v->state == ec2::VolumeState::Deleted || v->state == ec2::VolumeState::Deleting) &&
               item.replayed_token) {
      create_again(item);
    } else {
      ++created;
      fail(item, fmt::format("volume {} is in state {} instead of available", id.value, ec2::to_string(v->state)));
    }
    return ec2::WaitCheck{ec2::WaitVerdict::Done, {}};
  };
  const auto not_available = [&](Item& item, const ec2::Error& why) {
    fail(item, fmt::format("volume {} did not become available: {}", item.ec2_volume->id.value, why.describe()));
  };
  const ec2::Waiter::Expired expired = [&](const ec2::VolumeId& id, const ec2::Error& timeout) {
    not_available(*polled.at(id), timeout);
    polled.erase(id);
  };
  auto done = s_.waiter(c_.config.timeouts.volume_available).volumes_joining(s_.ec2, join, check, expired);
  // The wait ends with every create returned, unless a DescribeVolumes failed for good.
  creates->join();
  if (!done) {
    // Every volume not yet attached fails with it, those whose create returned since too.
    for (auto& [id, item] : polled) not_available(*item, done.error());
    for (auto* item : returned) {
      if (item->stage == Stage::Attach) not_available(*item, done.error());
    }
  }
  progress.finish(created, total, detail());
}

void Mount::act(std::vector<Item>& items) {
  for (auto& item : items) {
    if (item.decision.action == VolumeAction::AlreadyMounted)
      set_delete_on_termination(item, item.out.attached_as.value_or(item.volume->device));
  }
  // The groups with work to do, in config order: their pre_mounts hook first.
  std::vector<const GroupConfig*> groups;
  for (auto& item : items) {
    if (item.stage == Stage::Done || std::ranges::find(groups, item.group) != groups.end()) continue;
    groups.push_back(item.group);
  }
  for (const auto* g : groups) {
    if (auto pre = hooks_.at(g)->pre_group(); !pre) {
      for (auto& item : items) {
        if (item.group == g && item.stage != Stage::Done) fail(item, pre.error().describe());
      }
    }
  }
  {
    // One task per volume from the moment it can be attached; all joined here.
    auto workers = s_.tasks.group();
    const std::function<void(Item&)> start = [&](Item& item) {
      item.started = true;
      workers->spawn([this, &item] { finish(item); });
    };
    create_and_attach(items, start);
    workers->join();
  }
  // Whatever step a volume failed at (creating, waiting, before any of it), on_failure once.
  for (auto& item : items) {
    if (item.out.outcome == Outcome::Failed) item.hooks->on_failure(hook_context(item), item.out.reason.value_or(""));
  }
  for (const auto* g : groups) {
    const bool ok = std::ranges::none_of(items, [&](const Item& i) { return i.group == g && i.out.outcome == Outcome::Failed; });
    if (auto post = hooks_.at(g)->post_group(ok)) error(post->describe());
  }
}

RunReport Mount::run() {
  RunReport report = new_report("mount", c_);
  std::vector<Item> items;
  const auto groups = options_.inspect ? inspect_groups(report) : c_.groups;
  for (const auto* group : groups) {
    hooks_[group] = std::make_unique<HookPhases>(s_.hooks, *group, HookPhases::k_mount,
                                                 duration_cast<milliseconds>(c_.config.timeouts.hook), dry_run_);
    for (const auto& v : group->volumes) {
      Item item{.group = group, .volume = &v, .hooks = hooks_[group].get(), .began = s_.clock.monotonic()};
      item.out.mount_point = v.mount_point;
      item.out.device = v.device;
      items.push_back(std::move(item));
      claimed_names_.insert(v.device);
    }
  }
  observe_and_decide(items);
  if (auto refusal = refuse_if_mounted(items)) {
    log_agent().error("mount refused=\"{}\"", *refusal);
    report.refused = true;
    report.not_run(*refusal);
    return report;
  }
  if (options_.inspect) {
    take_inspect_snapshots(items);
  } else {
    choose_restore_points(items);
  }
  if (dry_run_) {
    for (auto& item : items) plan(item);
  } else {
    act(items);
  }
  for (auto& item : items) {
    auto& group = report.group(item.group->name);
    if (item.delete_on_termination_error) group.add_error(*item.delete_on_termination_error);
    group.volumes.push_back(std::move(item.out));
  }
  for (const auto& [name, chosen] : chosen_) {
    auto& out = report.group(name);
    out.restore_point = chosen.restore_point;
    out.skipped_runs = chosen.skipped_runs;
  }
  for (const auto& e : errors_) report.add_error(e);
  for (const auto* group : groups) hooks_.at(group)->on_success(report);
  return report;
}

// --inspect: each volume to create from its member of the point (waited for when pending).
void Mount::take_inspect_snapshots(std::vector<Item>& items) {
  std::vector<Item*> waiting;
  for (auto& item : items) {
    if (item.stage != Stage::Create) continue;
    item.snapshot = inspect_snapshots_.at(item.volume->mount_point);
    item.out.snapshot_id = item.snapshot->id.value;
    item.newest_is_pending = item.snapshot->state != ec2::SnapshotState::Completed;
    if (item.newest_is_pending) waiting.push_back(&item);
  }
  if (!waiting.empty() && !dry_run_) wait_for_pending_snapshots(waiting);
}

// --as-of and --run replace what a group holds: never over live data, which an operator unmounts
// first. Anything mounted at one of the group's mount points (ours or not) refuses the whole run.
std::optional<std::string> Mount::refuse_if_mounted(const std::vector<Item>& items) const {
  if (!options_.point.explicit_choice() || options_.inspect) return std::nullopt;
  for (const auto& item : items) {
    if (!item.mounted_now) continue;
    return fmt::format("{} of group {} is mounted; restoring {} replaces live data: run 'ebsnap unmount {}' first",
                       item.volume->mount_point, item.group->name,
                       options_.point.run_id ? "run " + *options_.point.run_id : std::string("an earlier point"),
                       item.group->name);
  }
  return std::nullopt;
}

}  // namespace

std::filesystem::path inspect_prefix(const RunContext& context, const std::filesystem::path& prefix) {
  return prefix.empty() ? context.services.options.run_dir / "inspect" : prefix;
}

RunReport mount(const RunContext& context, const MountOptions& options) {
  return with_group_locks(context, "mount", [&context, &options] { return Mount(context, options).run(); });
}

}  // namespace agent
