#include "agent/commands/snapshot.h"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <ctime>

#include "agent/core/freeze_window.h"
#include "agent/core/hook_phases.h"
#include "agent/core/log.h"
#include "agent/core/our_volumes.h"
#include "agent/core/snapshot_record.h"
#include "agent/core/group_lock.h"
#include "ebsnap/try.h"
#include "platform/freeze.h"

namespace agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

// A CreateSnapshot(s) answer can be lost after EC2 applied it; the snapshots then show up in
// DescribeSnapshots by their run tag, but not always at once (eventual consistency).
constexpr std::array k_reconcile_delays = {milliseconds{1'000}, milliseconds{2'000}, milliseconds{4'000}};
// How long a request of a run that died may still reach EC2 and be applied, beyond the freeze
// bound: the HTTP client's total timeout (30 s) times its attempts, with backoff, rounded up.
constexpr std::chrono::minutes k_in_flight_margin{5};

// The words of a snapshot's plan (--dry-run) and of the steps a real run carried out.
namespace snapshot_step {
std::string freeze(const std::string& mount_point) { return "freeze " + mount_point; }
std::string thaw(const std::string& mount_point) { return "thaw " + mount_point; }
}  // namespace snapshot_step

// One volume of a group as this run found it.
struct Member {
  const VolumeConfig* config = nullptr;
  VolumeReport* out = nullptr;
  ec2::Volume volume;
  bool boot = false;
  bool freeze = false;
  std::optional<Consistency> consistency;  // of its snapshot, once there is one
};
using Part = std::vector<Member*>;

// The facts of the instance, read once per run before any freeze.
struct InstanceFacts {
  ec2::Instance instance;
  std::vector<ec2::Volume> attached;  // every volume attached to this instance
};

// The tags common to every snapshot of a call (same key and value), in the first's order.
std::vector<ec2::Tag> common_tags(const std::vector<std::vector<ec2::Tag>>& per_volume) {
  if (per_volume.empty()) return {};
  std::vector<ec2::Tag> out;
  for (const auto& tag : per_volume.front()) {
    const bool everywhere = std::ranges::all_of(per_volume, [&](const std::vector<ec2::Tag>& tags) {
      return ec2::find_tag(tags, tag.key) == tag.value;
    });
    if (everywhere) out.push_back(tag);
  }
  return out;
}

// The call one partition of a group (all with the same consistency) is snapshotted with.
std::string call_name(const Part& part) {
  return part.size() == 1 ? "CreateSnapshot " + part.front()->volume.id.value : "CreateSnapshots";
}

struct CallOutcome {
  std::string call;
  ec2::Result<std::vector<ec2::Snapshot>> snapshots = std::vector<ec2::Snapshot>{};
  microseconds latency{};  // request → response
};

// The snapshot call for one partition. One volume: CreateSnapshot with its exact tags. More: one
// CreateSnapshots for exactly these volumes (ExcludeBootVolume unless the boot volume is one of
// them; ExcludeDataVolumeIds = every other attached volume), common tags at creation and the
// volumes' own tags copied.
CallOutcome snapshot_call(ec2::Ec2Api& ec2, const ec2::Clock& clock, const InstanceFacts& facts, const Part& part,
                          const std::vector<std::vector<ec2::Tag>>& tags, const std::string& description,
                          bool dry_run) {
  CallOutcome out{.call = call_name(part)};
  const auto started = clock.monotonic();
  if (part.size() == 1) {
    auto r = ec2.create_snapshot({.dry_run = dry_run,
                                  .volume_id = part.front()->volume.id,
                                  .description = description,
                                  .tag_specifications = {{"snapshot", tags.front()}}});
    if (r) {
      out.snapshots = std::vector<ec2::Snapshot>{std::move(*r)};
    } else {
      out.snapshots = std::unexpected(r.error());
    }
  } else {
    ec2::CreateSnapshotsOptions o{.dry_run = dry_run, .instance_id = facts.instance.id};
    o.instance_specification.exclude_boot_volume = std::ranges::none_of(part, [](const Member* m) { return m->boot; });
    for (const auto& v : facts.attached) {
      const bool ours = std::ranges::any_of(part, [&](const Member* m) { return m->volume.id == v.id; });
      const bool boot = std::ranges::any_of(facts.instance.block_device_mappings, [&](const ec2::InstanceBlockDevice& b) {
        return b.volume_id == v.id && b.device_name == facts.instance.root_device_name;
      });
      // The boot volume is excluded by ExcludeBootVolume, never by id (it is not a data volume).
      if (!ours && !boot) o.instance_specification.exclude_data_volume_ids.push_back(v.id);
    }
    o.description = description;
    o.tag_specifications = {{"snapshot", common_tags(tags)}};
    o.copy_tags_from_source = "volume";
    out.snapshots = ec2.create_snapshots(o);
  }
  out.latency = duration_cast<microseconds>(clock.monotonic() - started);
  return out;
}

std::string rate_note(const ec2::Error& e) {
  if (e.kind == ec2::ErrorKind::RateExceeded) {
    return "SnapshotCreationPerVolumeRateExceeded: EC2 limits how often a volume can be snapshotted; "
           "not retried while frozen; run it again later (" + e.describe() + ")";
  }
  if (e.kind == ec2::ErrorKind::Unauthorized) return "not permitted by IAM: " + e.describe();
  return e.describe();
}

std::int64_t ms_of(microseconds d) { return duration_cast<milliseconds>(d).count(); }

// The snapshot of one group, as a short sequence of named steps (snapshot.h has the protocol).
class GroupRun {
 public:
  GroupRun(const RunContext& c, const GroupConfig& group, const std::string& run_id, std::string_view trigger,
           const InstanceFacts& facts, GroupReport& report)
      : c_(c), s_(c.services), group_(group), run_id_(run_id), trigger_(trigger), facts_(facts), report_(report),
        hooks_(s_.hooks, group, HookPhases::k_snapshot, duration_cast<milliseconds>(c.config.timeouts.hook),
               s_.options.dry_run) {
    // Fixed once per run, before the call: the snapshots' StartTime is moments later.
    if (group.retention && group.retention->expire_after) {
      expires_ = expires_tag_value(s_.clock.now(), *group.retention->expire_after);
    }
  }

  void run() {
    report_.volumes.reserve(group_.volumes.size());  // members point into it
    for (const auto& vc : group_.volumes) report_.volumes.push_back({.mount_point = vc.mount_point, .device = vc.device});
    for (std::size_t i = 0; i < group_.volumes.size(); ++i) resolve(group_.volumes[i], report_.volumes[i]);
    if (s_.options.dry_run) return plan();
    if (pre_hooks() && !members_.empty()) snapshot();
    post_hooks();
  }

  // Last, once the group's work (its prune too) is done.
  void on_success(RunReport& report) { hooks_.on_success(report); }

 private:
  // The group's snapshot: the steps outside the window, the window, the steps after it.
  void snapshot() {
    if (!sync()) return;
    auto record = begin_record();
    if (!record) return;
    std::optional<FreezeWindow> window;
    std::vector<Member*> foreign;  // frozen by someone else: left out of the call, settled after
    if (!frozen_.empty()) {
      auto opened = FreezeWindow::open(s_.guardians, s_.freeze_ops, s_.clock, window_options());
      if (!opened) {
        remove_run_record(*record);
        return fail_all(opened.error().message);
      }
      window.emplace(std::move(*opened));
      foreign = set_aside(window->already_frozen());
    }
    auto beside = start_unfrozen_call(*record);
    if (window && window->expired()) {
      // The bound passed before the call was even made (a FIFREEZE slower than the bound): the
      // guardian thawed, so a snapshot now would be neither frozen nor what was asked for.
      for (auto* m : frozen_) {
        fail_volume(*m->out, fmt::format("the freeze bound ({} ms) passed before CreateSnapshots was sent (a slow "
                                         "FIFREEZE?): the guardian thawed; not snapshotted",
                                         window_options().bound.count()));
      }
      frozen_.clear();
    }
    frozen_call(*record);
    // FITHAW now: once EC2 has answered "pending", the point in time is fixed.
    const Consistency verdict = window ? close_window(*window) : Consistency::Frozen;
    beside->join();
    for (auto* m : foreign) {
      fail_volume(*m->out, not_snapshotted(resolve_foreign_freeze(s_.freeze_ops, s_.options.run_dir.string(),
                                                                  m->config->mount_point)));
    }
    std::vector<ec2::Snapshot> created;
    bool unknown = false;  // a call whose outcome we do not know: the record must stay
    if (frozen_call_) settle(*record, *frozen_call_, frozen_, verdict, created, unknown);
    if (unfrozen_call_) settle(*record, *unfrozen_call_, unfrozen_, Consistency::Unfrozen, created, unknown);
    finish_record(*record, created, unknown);
  }

  void fail_volume(VolumeReport& v, std::string reason) {
    v.outcome = Outcome::Failed;
    log_agent().error("snapshot group={} mount_point={} error=\"{}\"", group_.name, v.mount_point, reason);
    v.reason = std::move(reason);
  }

  // Every member not snapshotted gets `outcome` and the reason; the group's error says it once.
  void fail_all(const std::string& reason, Outcome outcome = Outcome::Failed) {
    if (!report_.error) report_.error = reason;
    for (auto& m : members_) {
      if (m.out->outcome == Outcome::Snapshotted) continue;
      m.out->outcome = outcome;
      m.out->reason = reason;
    }
    log_agent().error("snapshot group={} error=\"{}\"", group_.name, reason);
  }

  // Which attached volume is the configured one, is it mounted there, and may it be frozen.
  void resolve(const VolumeConfig& vc, VolumeReport& out) {
    std::vector<ec2::Volume> candidates;
    for (const auto& v : facts_.attached) {
      if (ec2::find_tag(v.tags, k_tag_mount_point) == vc.mount_point) candidates.push_back(v);
    }
    if (candidates.empty()) {
      return fail_volume(out, "no volume of ours for " + vc.mount_point + " is attached to " +
                                  c_.instance.instance_id.value + " (run `ebsnap mount " + group_.name + "` first)");
    }
    if (candidates.size() > 1) {
      return fail_volume(out, "several attached volumes are tagged for " + vc.mount_point + ": " +
                                  candidates[0].id.value + ", " + candidates[1].id.value);
    }
    out.volume_id = candidates.front().id.value;
    auto mounted = mounted_volume_at(s_.mounter, s_.devices, vc.mount_point, candidates, c_.instance.instance_id);
    if (!mounted || !mounted->mounted()) {
      return fail_volume(out, vc.mount_point + " is not mounted" +
                                  (mounted ? std::string() : ": " + mounted.error().describe()));
    }
    if (!mounted->ours()) {
      return fail_volume(out, vc.mount_point + " is mounted from " + mounted->source + ", which is not " +
                                  *out.volume_id + ": " + mounted->why_not);
    }
    Member m{.config = &vc, .out = &out, .volume = *mounted->volume};
    const auto* attachment = attachment_to(m.volume, c_.instance.instance_id);
    m.boot = attachment != nullptr && attachment->device == facts_.instance.root_device_name;
    if (!group_.freeze) {
      out.reason = "freeze: false";
    } else if (auto freezable = platform::check_freezable(s_.freeze_ops, {vc.mount_point},
                                                          {.runtime_dir = s_.options.run_dir.string()});
               !freezable) {
      // "/", "/boot", the runtime dir's filesystem: snapshotted without a freeze, tagged so.
      out.reason = "not frozen: " + freezable.error().message;
    } else {
      m.freeze = true;
    }
    members_.push_back(std::move(m));
  }

  [[nodiscard]] std::vector<ec2::Tag> tags_for(const Member& m, Consistency c) const {
    return snapshot_tags(group_, c_.filters,
                         LineageKey{.group = group_.name, .mount_point = m.config->mount_point, .device = m.config->device},
                         c_.instance.instance_id, m.volume.id, c, run_id_, expires_, trigger_);
  }
  [[nodiscard]] std::vector<std::vector<ec2::Tag>> tags_of(const Part& part, Consistency c) const {
    std::vector<std::vector<ec2::Tag>> out;
    for (const auto* m : part) out.push_back(tags_for(*m, c));
    return out;
  }
  [[nodiscard]] std::string description() const { return "ebsnap " + group_.name + " run " + run_id_; }

  // The steps of a member, in the words of the plan: freeze, the call, thaw.
  [[nodiscard]] static std::vector<std::string> steps_of(const Member& m, const Part& part) {
    if (!m.freeze) return {call_name(part)};
    return {snapshot_step::freeze(m.config->mount_point), call_name(part), snapshot_step::thaw(m.config->mount_point)};
  }

  // --dry-run: each partition's call with DryRun, which EC2 answers with a permission verdict.
  void plan() {
    partition();
    for (const Part* part : {&frozen_, &unfrozen_}) {
      if (part->empty()) continue;
      const bool frozen = part == &frozen_;
      const auto c = frozen ? Consistency::Frozen : Consistency::Unfrozen;
      auto call = snapshot_call(s_.ec2, s_.clock, facts_, *part, tags_of(*part, c), description(), true);
      report_.ec2_calls.push_back(call.call);
      const bool permitted = !call.snapshots && call.snapshots.error().kind == ec2::ErrorKind::DryRunOk;
      for (auto* m : *part) {
        m->out->consistency = std::string(to_string(c));
        if (!permitted) {
          fail_volume(*m->out, "DryRun " + call.call + ": " +
                                   (call.snapshots ? std::string("answered without DryRunOperation")
                                                   : rate_note(call.snapshots.error())));
          continue;
        }
        m->out->outcome = Outcome::Planned;
        m->out->reason = std::string(frozen ? "would freeze, " : "would not freeze, ") + call.call +
                         (m->out->reason ? "; " + *m->out->reason : "");
        m->out->plan = steps_of(*m, *part);
      }
    }
  }

  void partition() {
    frozen_.clear();
    unfrozen_.clear();
    for (auto& m : members_) (m.freeze ? frozen_ : unfrozen_).push_back(&m);
  }

  [[nodiscard]] HookContext context_of(const Member& m) const {
    return HookContext{.group = group_.name,
                       .mount_point = m.config->mount_point,
                       .device = m.config->device,
                       .volume_id = m.volume.id.value,
                       .snapshot_id = m.out->snapshot_id};
  }

  // pre_snapshots, then pre_snapshot of each volume: one failure stops the group's snapshot (it
  // is one point in time for all of them); nothing is frozen then.
  bool pre_hooks() {
    if (auto pre = hooks_.pre_group(); !pre) {
      fail_all(pre.error().describe(), Outcome::Skipped);
      return false;
    }
    for (const auto& m : members_) {
      if (auto pre = hooks_.pre_volume(context_of(m)); !pre) {
        fail_all(pre.error().describe(), Outcome::Skipped);
        return false;
      }
    }
    return true;
  }

  // post_snapshot of each volume, post_snapshots, and on_failure once for the group. A failed
  // post-hook fails the group (reported after on_failure, which is for the snapshot's failure).
  void post_hooks() {
    const bool ok = report_.ok();
    std::vector<std::string> failed;
    for (const auto& m : members_) {
      if (auto post = hooks_.post_volume(context_of(m), m.out->outcome == Outcome::Snapshotted)) {
        m.out->warnings.push_back(post->describe());
        failed.push_back(post->describe());
      }
    }
    if (auto post = hooks_.post_group(ok)) failed.push_back(post->describe());
    if (!ok) {
      std::string error = report_.error.value_or("");
      for (const auto& v : report_.volumes) {
        if (error.empty() && v.outcome == Outcome::Failed) error = v.mount_point + ": " + v.reason.value_or("");
      }
      hooks_.on_failure(HookContext{.group = group_.name}, error);
    }
    for (const auto& line : failed) report_.error = report_.error ? *report_.error + "; " + line : line;
  }

  // syncfs outside the window: the FIFREEZE that follows has little left to write.
  bool sync() {
    std::vector<std::string> mounts;
    for (const auto& m : members_) mounts.push_back(m.config->mount_point);
    if (auto synced = platform::sync_filesystems(s_.freeze_ops, mounts); !synced) {
      fail_all("syncfs: " + synced.error().describe());
      return false;
    }
    partition();
    return true;
  }

  // The record first: from the first FIFREEZE on, a SIGKILL must leave enough behind for the
  // next run to correct the tags of what this run created (agent/core/snapshot_record.h).
  std::optional<RunRecord> begin_record() {
    const int pid = static_cast<int>(::getpid());
    RunRecord record{.run_id = run_id_,
                     .group = group_.name,
                     .instance_id = c_.instance.instance_id.value,
                     .pid = pid,
                     .pid_start = process_start_time(pid),
                     .started_at = s_.clock.now(),
                     .in_flight_until = s_.clock.now() + c_.config.freeze_timeout + k_in_flight_margin};
    for (const Part* part : {&frozen_, &unfrozen_}) {
      const auto c = part == &frozen_ ? Consistency::Frozen : Consistency::Unfrozen;
      for (const auto* m : *part) {
        record.volumes.push_back({.volume_id = m->volume.id, .mount_point = m->config->mount_point,
                                  .intended = c, .verdict = {}, .tags = tags_for(*m, c)});
      }
    }
    if (auto written = write_run_record(s_.options.run_dir, record); !written) {
      fail_all("run record: " + written.error().describe());
      return std::nullopt;
    }
    return record;
  }

  [[nodiscard]] FreezeWindowOptions window_options() const {
    FreezeWindowOptions o{.group = group_.name,
                          .bound = duration_cast<milliseconds>(c_.config.freeze_timeout),
                          .run_dir = s_.options.run_dir.string()};
    for (const auto* m : frozen_) o.mount_points.push_back(m->config->mount_point);
    return o;
  }

  // FIFREEZE said someone else froze them: never snapshotted (let alone tagged "frozen") by this
  // run. Only taken out of the frozen call here, inside the window; what to say (and a dead
  // ebsnap's freeze to thaw) is settled after it.
  std::vector<Member*> set_aside(const std::vector<std::string>& mount_points) {
    std::vector<Member*> out;
    for (const auto& mp : mount_points) {
      auto m = std::ranges::find_if(frozen_, [&](const Member* x) { return x->config->mount_point == mp; });
      if (m == frozen_.end()) continue;
      out.push_back(*m);
      frozen_.erase(m);
    }
    return out;
  }

  // The tags each volume's snapshot is created with: the record's.
  [[nodiscard]] static std::vector<std::vector<ec2::Tag>> record_tags(const RunRecord& record, const Part& part) {
    std::vector<std::vector<ec2::Tag>> out;
    for (const auto* m : part) {
      out.push_back(std::ranges::find(record.volumes, m->volume.id, &RunRecordVolume::volume_id)->tags);
    }
    return out;
  }

  // The unfrozen volumes' call runs beside the frozen one, so that it never delays the thaw.
  [[nodiscard]] std::unique_ptr<TaskGroup> start_unfrozen_call(const RunRecord& record) {
    auto group = s_.tasks.group();
    if (unfrozen_.empty()) return group;
    group->spawn([this, tags = record_tags(record, unfrozen_)] {
      unfrozen_call_ = snapshot_call(s_.ec2, s_.clock, facts_, unfrozen_, tags, description(), false);
    });
    return group;
  }

  void frozen_call(const RunRecord& record) {
    if (frozen_.empty()) return;
    frozen_call_ = snapshot_call(s_.ec2, s_.clock, facts_, frozen_, record_tags(record, frozen_), description(), false);
    report_.call_ms = ms_of(frozen_call_->latency);
  }

  // FITHAW and the guardian's report: the windows, and whether the freeze held until the answer.
  Consistency close_window(FreezeWindow& window) {
    const auto closed = window.close();
    if (closed.window) report_.freeze_window_ms = ms_of(*closed.window);
    if (closed.trigger) report_.guardian_trigger = std::string(to_string(*closed.trigger));
    for (auto* m : frozen_) {
      if (auto it = closed.mounts.find(m->config->mount_point); it != closed.mounts.end()) {
        m->out->freeze_ms = ms_of(it->second);
      }
    }
    if (closed.error) fail_all(*closed.error);
    return closed.held ? Consistency::Frozen : Consistency::WatchdogThawed;
  }

  // What a call's answer (or its loss) means for the volumes of its partition.
  void settle(const RunRecord& record, const CallOutcome& call, const Part& part, Consistency c,
              std::vector<ec2::Snapshot>& created, bool& unknown) {
    report_.ec2_calls.push_back(call.call);
    if (call.snapshots) return take(*call.snapshots, part, c, created);
    const auto& e = call.snapshots.error();
    if (!e.maybe_applied && e.kind != ec2::ErrorKind::Timeout) {
      for (auto* m : part) fail_volume(*m->out, call.call + ": " + rate_note(e));
      return;
    }
    // The answer was lost: find what EC2 did by our run tag rather than asking again (a second
    // CreateSnapshot would make a second snapshot), and only what the tag cannot have been
    // copied onto. Not proven to be taken while frozen.
    take(prove_by_run_tag(record, find_by_run_tag(part)).proven, part, c == Consistency::Unfrozen ? c : Consistency::WatchdogThawed, created);
    for (auto* m : part) {
      if (m->out->outcome == Outcome::Snapshotted) {
        m->out->reason = "the response was lost; found by ebsnap:run-id=" + run_id_ +
                         "; not proven to be taken while frozen, tagged " + std::string(to_string(*m->consistency));
      } else {
        unknown = true;
        fail_volume(*m->out, "the response was lost (" + e.describe() + ") and no snapshot with ebsnap:run-id=" +
                                 run_id_ + " is visible yet; a later ebsnap run reconciles it");
      }
    }
  }

  // Takes the answered snapshots of a partition into the report.
  void take(const std::vector<ec2::Snapshot>& snapshots, const Part& part, Consistency c,
            std::vector<ec2::Snapshot>& created) {
    created.insert(created.end(), snapshots.begin(), snapshots.end());
    for (auto* m : part) {
      auto it = std::ranges::find(snapshots, m->volume.id, &ec2::Snapshot::volume_id);
      if (it == snapshots.end()) {
        if (!snapshots.empty()) fail_volume(*m->out, "no snapshot of " + m->volume.id.value + " in the answer (detached meanwhile?)");
        continue;
      }
      m->consistency = c;
      m->out->outcome = Outcome::Snapshotted;
      m->out->snapshot_id = it->id.value;
      m->out->consistency = std::string(to_string(c));
      m->out->steps = steps_of(*m, part);
    }
  }

  std::vector<ec2::Snapshot> find_by_run_tag(const Part& part) {
    for (std::size_t round = 0;; ++round) {
      auto found = s_.ec2.describe_snapshots(
          {.owner_ids = {"self"},
           .filters = {{"tag:" + std::string(k_tag_run_id), {run_id_}}, {"tag:" + std::string(k_tag_group), {group_.name}}}});
      if (found) {
        const bool all = std::ranges::all_of(part, [&](const Member* m) {
          return std::ranges::any_of(*found, [&](const ec2::Snapshot& s) { return s.volume_id == m->volume.id; });
        });
        if (all || round >= k_reconcile_delays.size()) return *found;
      } else {
        log_agent().warn("reconcile run_id={} DescribeSnapshots error=\"{}\"", run_id_, found.error().describe());
        if (round >= k_reconcile_delays.size()) return {};
      }
      s_.sleeper.sleep_for(k_reconcile_delays[round]);
    }
  }

  // After the thaw: each snapshot's final consistency (a lost answer cannot prove the freeze
  // held), the per-snapshot tags the call could not set, then the record goes, unless an
  // outcome is unknown or a tag failed: a later run finishes it.
  void finish_record(RunRecord& record, const std::vector<ec2::Snapshot>& created, bool unknown) {
    for (auto& rv : record.volumes) {
      auto m = std::ranges::find_if(members_, [&](const Member& x) { return x.volume.id == rv.volume_id; });
      if (m != members_.end() && m->out->outcome == Outcome::Snapshotted) rv.verdict = m->consistency;
    }
    if (unknown) {
      if (auto w = write_run_record(s_.options.run_dir, record); !w) {
        log_agent().error("run record error=\"{}\"", w.error().describe());
      }
    }
    auto fix = apply_final_tags(s_.ec2, record, created);
    if (fix.error) {
      log_agent().error("snapshot group={} tags error=\"{}\" (the run record stays; a later run retries)", group_.name,
                        *fix.error);
    } else if (!unknown) {
      remove_run_record(record);
    }
    for (const auto& m : members_) {
      auto& v = *m.out;
      if (v.outcome != Outcome::Snapshotted) continue;
      if (fix.error) v.reason = (v.reason ? *v.reason + "; " : std::string()) + *fix.error;
      log_agent().info("snapshot group={} mount_point={} volume_id={} snapshot_id={} consistency={} freeze_ms={}",
                       group_.name, v.mount_point, m.volume.id, *v.snapshot_id, *v.consistency, v.freeze_ms.value_or(-1));
    }
  }

  const RunContext& c_;
  Services& s_;
  const GroupConfig& group_;
  const std::string& run_id_;
  std::string_view trigger_;  // ebsnap:trigger; empty: none
  std::string expires_;  // ebsnap:expires of this run's snapshots; empty without expire_after
  const InstanceFacts& facts_;
  GroupReport& report_;
  HookPhases hooks_;
  std::vector<Member> members_;
  Part frozen_;
  Part unfrozen_;
  std::optional<CallOutcome> frozen_call_;
  std::optional<CallOutcome> unfrozen_call_;  // written by its own thread, read once it is joined
};

ec2::Result<InstanceFacts> read_instance(ec2::Ec2Api& ec2, const InstanceContext& instance) {
  EBSNAP_TRY_ASSIGN(auto instances, ec2.describe_instances({.instance_ids = {instance.instance_id}}));
  if (instances.empty()) {
    return ec2::fail(ec2::ErrorKind::NotFound, "DescribeInstances did not return " + instance.instance_id.value);
  }
  InstanceFacts facts{.instance = instances.front()};
  std::vector<ec2::VolumeId> ids;
  for (const auto& b : facts.instance.block_device_mappings) ids.push_back(b.volume_id);
  if (ids.empty()) return facts;
  EBSNAP_TRY_ASSIGN(facts.attached, ec2.describe_volumes({.volume_ids = ids}));
  return facts;
}

// The run, holding the groups' locks.
RunReport snapshot_locked(const RunContext& context, const SnapshotOptions& options) {
  auto& s = context.services;
  RunReport report = new_report("snapshot", context);
  if (options.trigger) report.trigger = std::string(to_string(*options.trigger));
  const std::string run_id = options.run_id.empty() ? make_run_id(s.clock, s.random) : options.run_id;
  if (!s.options.dry_run) {
    // A run that died mid-snapshot left tags that may lie; correct them before adding ours.
    report.reconciled = reconcile_interrupted_snapshots(s.ec2, s.clock, s.options.run_dir);
  }
  auto facts = read_instance(s.ec2, context.instance);
  if (!facts) {
    report.add_error("describe instance " + context.instance.instance_id.value + ": " + facts.error().describe());
    return report;
  }
  log_agent().info("snapshot run_id={} groups={} attached_volumes={} dry_run={}", run_id, context.groups.size(),
                   facts->attached.size(), s.options.dry_run);
  for (const auto* g : context.groups) {
    const std::string_view trigger = options.trigger ? to_string(*options.trigger) : std::string_view{};
    GroupRun group_run(context, *g, run_id, trigger, *facts, report.group(g->name));
    group_run.run();
    // Its window is closed (thawed, guardian finished): the mount points are not kept open, so
    // that what comes next in this process (shutdown's unmount, a watch that runs on) finds them
    // free.
    s.freeze_ops.release();
    // The shipped timer keeps the group within its policy with no second unit. Only after a run
    // that succeeded: the new run is then the newest the planner keeps.
    if (options.prune && !s.options.dry_run && g->retention && g->retention->prune_after_snapshot &&
        report.group(g->name).ok()) {
      options.prune(context, *g, report);
    }
    group_run.on_success(report);
  }
  return report;
}

}  // namespace

RunReport snapshot(const RunContext& context, const SnapshotOptions& options) {
  return with_group_locks(context, "snapshot", [&] { return snapshot_locked(context, options); });
}

}  // namespace agent
