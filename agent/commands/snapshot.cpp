#include "agent/commands/snapshot.h"

#include <algorithm>
#include <unistd.h>

#include <array>
#include <ctime>
#include <map>
#include <set>
#include <thread>

#include "agent/core/log.h"
#include "platform/freeze.h"

namespace agent {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;

// A CreateSnapshot(s) answer can be lost after EC2 applied it; the snapshots then show up in
// DescribeSnapshots by their run tag, but not always at once (eventual consistency).
constexpr std::array k_reconcile_delays = {std::chrono::milliseconds{1'000}, std::chrono::milliseconds{2'000},
                                           std::chrono::milliseconds{4'000}};
// How long a request of a run that died may still reach EC2 and be applied, beyond the freeze
// bound: the HTTP client's total timeout (30 s) times its attempts, with backoff, rounded up.
constexpr std::chrono::minutes k_in_flight_margin{5};

// One volume of a group as this run found it.
struct Member {
  const VolumeConfig* config = nullptr;
  std::size_t index = 0;  // into GroupSnapshotResult::volumes
  ec2::Volume volume;
  bool boot = false;
  bool freeze = false;
};

// The facts of the instance, read once per run before any freeze.
struct InstanceFacts {
  ec2::Instance instance;
  std::vector<ec2::Volume> attached;  // every volume attached to this instance
};

VolumeSnapshotResult& result_of(GroupSnapshotResult& g, const Member& m) { return g.volumes[m.index]; }

std::string describe_hook(const HookError& e) { return e.describe(); }

// The tags common to every snapshot of `members` (same key and value), in the first's order.
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

struct CallOutcome {
  ec2::Result<std::vector<ec2::Snapshot>> snapshots = std::vector<ec2::Snapshot>{};
  std::vector<std::string> calls;
  Steady::time_point started{};
  Steady::time_point answered{};
};

// The snapshot call(s) for one partition of the group (all with the same consistency). One
// volume: CreateSnapshot with its exact tags. More: one CreateSnapshots for exactly these
// volumes (ExcludeBootVolume unless the boot volume is one of them; ExcludeDataVolumeIds =
// every other attached volume), common tags at creation and the volumes' own tags copied.
CallOutcome snapshot_call(ec2::Ec2Api& ec2, const InstanceFacts& facts, const std::vector<const Member*>& part,
                          const std::vector<std::vector<ec2::Tag>>& tags, const std::string& description,
                          bool dry_run) {
  CallOutcome out;
  out.started = Steady::now();
  if (part.size() == 1) {
    out.calls.push_back("CreateSnapshot " + part.front()->volume.id.value);
    auto r = ec2.create_snapshot({.dry_run = dry_run,
                                  .volume_id = part.front()->volume.id,
                                  .description = description,
                                  .tag_specifications = {{"snapshot", tags.front()}}});
    out.answered = Steady::now();
    if (r) {
      out.snapshots = std::vector<ec2::Snapshot>{std::move(*r)};
    } else {
      out.snapshots = std::unexpected(r.error());
    }
    return out;
  }
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
  out.calls.push_back("CreateSnapshots");
  out.snapshots = ec2.create_snapshots(o);
  out.answered = Steady::now();
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

class GroupRun {
 public:
  GroupRun(const Config& config, const GroupConfig& group, const FilterValues& filters,
           const InstanceContext& instance, Services& services, const HookRunner& hooks, const std::string& run_id,
           const InstanceFacts& facts)
      : config_(config), group_(group), filters_(filters), instance_(instance), services_(services), hooks_(hooks),
        run_id_(run_id), facts_(facts) {
    result_.name = group.name;
  }

  GroupSnapshotResult run() {
    for (const auto& vc : group_.volumes) {
      result_.volumes.push_back({.mount_point = vc.mount_point, .device = vc.device});
    }
    resolve();
    if (services_.options.dry_run) {
      plan();
      return std::move(result_);
    }
    const bool pre_ok = pre_hooks();
    if (pre_ok && !members_.empty()) snapshot();
    post_hooks();
    return std::move(result_);
  }

 private:
  void fail_volume(std::size_t index, std::string reason) {
    auto& v = result_.volumes[index];
    v.outcome = SnapshotOutcome::Failed;
    v.reason = std::move(reason);
    log_agent().error("snapshot group={} mount_point={} error=\"{}\"", group_.name, v.mount_point, v.reason);
  }
  void fail_all(const std::string& reason, SnapshotOutcome outcome = SnapshotOutcome::Failed) {
    if (!result_.error) result_.error = reason;
    for (const auto& m : members_) {
      auto& v = result_of(result_, m);
      if (v.outcome == SnapshotOutcome::Snapshotted) continue;
      v.outcome = outcome;
      v.reason = reason;
    }
    log_agent().error("snapshot group={} error=\"{}\"", group_.name, reason);
  }

  // Which attached volume is each configured one, is it mounted there, and may it be frozen.
  void resolve() {
    platform::FreezeOptions freeze_options{.runtime_dir = services_.options.run_dir.string()};
    for (std::size_t i = 0; i < group_.volumes.size(); ++i) {
      const auto& vc = group_.volumes[i];
      auto& out = result_.volumes[i];
      std::vector<const ec2::Volume*> candidates;
      for (const auto& v : facts_.attached) {
        if (ec2::find_tag(v.tags, k_tag_mount_point) == vc.mount_point) candidates.push_back(&v);
      }
      if (candidates.empty()) {
        fail_volume(i, "no volume of ours for " + vc.mount_point + " is attached to " + instance_.instance_id.value +
                           " (run `ebsnap mount " + group_.name + "` first)");
        continue;
      }
      if (candidates.size() > 1) {
        fail_volume(i, "several attached volumes are tagged for " + vc.mount_point + ": " + candidates[0]->id.value +
                           ", " + candidates[1]->id.value);
        continue;
      }
      const ec2::Volume& volume = *candidates.front();
      out.volume_id = volume.id;
      auto attachment = std::ranges::find_if(volume.attachments, [&](const ec2::VolumeAttachment& a) {
        return a.instance_id == instance_.instance_id;
      });
      auto mounted = services_.mounter.find_by_target(vc.mount_point);
      if (!mounted || !*mounted) {
        fail_volume(i, vc.mount_point + " is not mounted" +
                           (mounted ? std::string() : ": " + mounted.error().describe()));
        continue;
      }
      platform::VolumeQuery query{.volume_id = volume.id.value,
                                  .device_hint = attachment != volume.attachments.end() ? attachment->device : vc.device};
      if (auto verified = services_.devices.verify((*mounted)->source, query); !verified) {
        fail_volume(i, vc.mount_point + " is mounted from " + (*mounted)->source + ", which is not " +
                           volume.id.value + ": " + verified.error().describe());
        continue;
      }
      Member m{.config = &vc, .index = i, .volume = volume};
      m.boot = attachment != volume.attachments.end() && attachment->device == facts_.instance.root_device_name;
      if (!group_.freeze) {
        out.reason = "freeze: false";
      } else if (auto freezable = platform::check_freezable(services_.freeze_ops, {vc.mount_point}, freeze_options);
                 !freezable) {
        // "/", "/boot", the runtime dir's filesystem: snapshotted without a freeze, tagged so.
        out.reason = "not frozen: " + freezable.error().message;
      } else {
        m.freeze = true;
      }
      members_.push_back(std::move(m));
    }
  }

  [[nodiscard]] std::vector<ec2::Tag> tags_for(const Member& m, Consistency c) const {
    return snapshot_tags(group_, filters_,
                         LineageKey{.group = group_.name, .mount_point = m.config->mount_point, .device = m.config->device},
                         instance_.instance_id, m.volume.id, c, run_id_);
  }

  [[nodiscard]] std::vector<const Member*> partition(bool frozen) const {
    std::vector<const Member*> out;
    for (const auto& m : members_) {
      if (m.freeze == frozen) out.push_back(&m);
    }
    return out;
  }

  [[nodiscard]] std::string description() const { return "ebsnap " + group_.name + " run " + run_id_; }

  void plan() {
    for (bool frozen : {true, false}) {
      auto part = partition(frozen);
      if (part.empty()) continue;
      std::vector<std::vector<ec2::Tag>> tags;
      for (const auto* m : part) tags.push_back(tags_for(*m, frozen ? Consistency::Frozen : Consistency::Unfrozen));
      auto call = snapshot_call(services_.ec2, facts_, part, tags, description(), true);
      for (auto& c : call.calls) result_.calls.push_back(c);
      const bool permitted = !call.snapshots && call.snapshots.error().kind == ec2::ErrorKind::DryRunOk;
      for (const auto* m : part) {
        auto& v = result_of(result_, *m);
        v.consistency = frozen ? Consistency::Frozen : Consistency::Unfrozen;
        if (permitted) {
          v.outcome = SnapshotOutcome::Planned;
          v.reason = std::string(frozen ? "would freeze, " : "would not freeze, ") + call.calls.front() +
                     (v.reason.empty() ? "" : "; " + v.reason);
        } else {
          fail_volume(m->index, "DryRun " + call.calls.front() + ": " +
                                    (call.snapshots ? std::string("answered without DryRunOperation")
                                                    : rate_note(call.snapshots.error())));
        }
      }
    }
  }

  bool pre_hooks() {
    if (auto r = hooks_(group_.hooks, HookPhase::pre_snapshots, HookContext{.group = group_.name}); !r) {
      fail_all(describe_hook(r.error()), SnapshotOutcome::Skipped);
      return false;
    }
    for (const auto& m : members_) {
      auto r = hooks_(group_.hooks, HookPhase::pre_snapshot, context_of(m));
      if (!r) {
        fail_all(describe_hook(r.error()), SnapshotOutcome::Skipped);
        return false;
      }
    }
    return true;
  }

  [[nodiscard]] HookContext context_of(const Member& m) const {
    const auto& v = result_.volumes[m.index];
    HookContext c{.group = group_.name, .mount_point = m.config->mount_point, .device = m.config->device,
                  .volume_id = m.volume.id.value};
    if (v.snapshot_id) c.snapshot_id = v.snapshot_id->value;
    return c;
  }

  void post_hooks() {
    const bool ok = result_.ok();
    for (const auto& m : members_) {
      auto c = context_of(m);
      c.ok = result_of(result_, m).outcome == SnapshotOutcome::Snapshotted;
      if (auto r = hooks_(group_.hooks, HookPhase::post_snapshot, c); !r) {
        log_agent().warn("snapshot group={} post hook error=\"{}\"", group_.name, describe_hook(r.error()));
      }
    }
    HookContext c{.group = group_.name, .ok = ok};
    if (auto r = hooks_(group_.hooks, HookPhase::post_snapshots, c); !r) {
      log_agent().warn("snapshot group={} post hook error=\"{}\"", group_.name, describe_hook(r.error()));
    }
    if (!ok) {
      std::string error = result_.error.value_or("");
      if (error.empty()) {
        for (const auto& v : result_.volumes) {
          if (v.outcome == SnapshotOutcome::Failed) {
            error = v.mount_point + ": " + v.reason;
            break;
          }
        }
      }
      c.error = error;
      if (auto r = hooks_(group_.hooks, HookPhase::on_failure, c); !r) {
        log_agent().warn("snapshot group={} on_failure hook error=\"{}\"", group_.name, describe_hook(r.error()));
      }
    }
  }

  void snapshot() {
    std::vector<std::string> all_mounts;
    for (const auto& m : members_) all_mounts.push_back(m.config->mount_point);
    // syncfs outside the window: the FIFREEZE that follows has little left to write.
    if (auto synced = platform::sync_filesystems(services_.freeze_ops, all_mounts); !synced) {
      fail_all("syncfs: " + synced.error().describe());
      return;
    }
    const auto frozen_part = partition(true);
    const auto unfrozen_part = partition(false);
    std::vector<std::string> freeze_mounts;
    for (const auto* m : frozen_part) freeze_mounts.push_back(m->config->mount_point);

    // The record first: from the first FIFREEZE on, a SIGKILL must leave enough behind for the
    // next run to correct the tags of what this run created (agent/snapshot_record.h).
    RunRecord record{.run_id = run_id_,
                     .group = group_.name,
                     .instance_id = instance_.instance_id.value,
                     .pid = static_cast<int>(::getpid()),
                     .pid_start = process_start_time(static_cast<int>(::getpid())),
                     .started_at = services_.clock.now(),
                     .in_flight_until = services_.clock.now() + config_.freeze_timeout + k_in_flight_margin};
    std::vector<std::vector<ec2::Tag>> frozen_tags;
    std::vector<std::vector<ec2::Tag>> unfrozen_tags;
    for (const auto* m : frozen_part) {
      frozen_tags.push_back(tags_for(*m, Consistency::Frozen));
      record.volumes.push_back({.volume_id = m->volume.id, .mount_point = m->config->mount_point,
                                .intended = Consistency::Frozen, .verdict = {}, .tags = frozen_tags.back()});
    }
    for (const auto* m : unfrozen_part) {
      unfrozen_tags.push_back(tags_for(*m, Consistency::Unfrozen));
      record.volumes.push_back({.volume_id = m->volume.id, .mount_point = m->config->mount_point,
                                .intended = Consistency::Unfrozen, .verdict = {}, .tags = unfrozen_tags.back()});
    }
    if (auto written = write_run_record(services_.options.run_dir, record); !written) {
      fail_all("run record: " + written.error());
      return;
    }

    std::unique_ptr<FreezeGuard> guard;
    std::optional<platform::FreezeSet> frozen;
    Steady::time_point guard_started{};
    if (!freeze_mounts.empty()) {
      // The guardian exists before the first FIFREEZE: from then on our death thaws.
      guard_started = Steady::now();
      auto started = services_.guardian_launcher().start(
          {.mount_points = freeze_mounts,
           .freeze_bound = duration_cast<std::chrono::milliseconds>(config_.freeze_timeout),
           .state_dir = services_.options.run_dir.string()});
      if (!started) {
        remove_run_record(record);
        fail_all("thaw guardian: " + started.error().describe() + "; nothing was frozen");
        return;
      }
      guard = std::move(*started);
      auto set = platform::FreezeSet::freeze(services_.freeze_ops, freeze_mounts,
                                             {.runtime_dir = services_.options.run_dir.string()});
      if (!set) {
        // FreezeSet thawed what it froze; the guardian thaws anything left and leaves.
        auto report = guard->finish();
        remove_run_record(record);
        fail_all("freeze: " + set.error().describe() +
                 (report ? "" : "; thaw guardian: " + report.error().describe()));
        return;
      }
      frozen.emplace(std::move(*set));
      for (const auto& e : frozen->entries()) {
        if (e.state == platform::FreezeState::AlreadyFrozen) {
          if (auto ex = guard->exclude(e.mount_point); !ex) {
            log_agent().warn("thaw guardian exclude mount_point={} error=\"{}\"", e.mount_point, ex.error().describe());
          }
        }
      }
    }

    // The unfrozen volumes' call runs beside the frozen one, so that it never delays the thaw.
    std::optional<CallOutcome> unfrozen_call;
    std::jthread unfrozen_thread;
    if (!unfrozen_part.empty()) {
      unfrozen_thread = std::jthread([&] {
        unfrozen_call = snapshot_call(services_.ec2, facts_, unfrozen_part, unfrozen_tags, description(), false);
      });
    }
    std::optional<CallOutcome> frozen_call;
    if (!frozen_part.empty()) {
      frozen_call = snapshot_call(services_.ec2, facts_, frozen_part, frozen_tags, description(), false);
    }
    // FITHAW now: once EC2 has answered "pending", the point in time is fixed.
    Consistency verdict = Consistency::Frozen;
    if (frozen) {
      auto thawed = frozen->thaw();
      if (!thawed) {
        log_agent().error("thaw group={} error=\"{}\" (the guardian thaws what is left)", group_.name,
                          thawed.error().describe());
      }
      auto report = guard->finish();
      if (report) {
        result_.guardian_trigger = report->trigger;
      } else {
        log_agent().error("thaw guardian group={} error=\"{}\"", group_.name, report.error().describe());
      }
      measure(*frozen, report ? &*report : nullptr, guard_started, verdict);
      if (!thawed && !report) {
        fail_all("thaw failed and the guardian did not report: run `ebsnap thaw --all` now");
      }
    }
    if (unfrozen_thread.joinable()) unfrozen_thread.join();
    if (frozen_call) {
      result_.call_latency = duration_cast<microseconds>(frozen_call->answered - frozen_call->started);
    }

    // Everything below happens after the thaw: tags, reconciliation, hooks.
    std::vector<ec2::Snapshot> created;
    bool unknown = false;  // a call whose outcome we do not know: the record must stay
    auto settle = [&](std::optional<CallOutcome>& call, const std::vector<const Member*>& part, Consistency c) {
      if (!call) return;
      for (auto& name : call->calls) result_.calls.push_back(name);
      if (call->snapshots) {
        take(*call->snapshots, part, c, created);
        return;
      }
      const auto& e = call->snapshots.error();
      if (e.maybe_applied || e.kind == ec2::ErrorKind::Timeout) {
        // The answer was lost: find what EC2 did by our run tag rather than asking again
        // (a second CreateSnapshot would make a second snapshot).
        auto found = find_by_run_tag(part);
        take(found, part, c == Consistency::Unfrozen ? c : Consistency::WatchdogThawed, created);
        for (const auto* m : part) {
          auto& v = result_of(result_, *m);
          if (v.outcome == SnapshotOutcome::Snapshotted) {
            v.reason = "the response was lost; found by ebsnap:run-id=" + run_id_ +
                       "; not proven to be taken while frozen, tagged " + std::string(to_string(*v.consistency));
          } else {
            unknown = true;
            fail_volume(m->index, "the response was lost (" + e.describe() +
                                      ") and no snapshot with ebsnap:run-id=" + run_id_ +
                                      " is visible yet; a later ebsnap run reconciles it");
          }
        }
        return;
      }
      for (const auto* m : part) fail_volume(m->index, call->calls.front() + ": " + rate_note(e));
    };
    settle(frozen_call, frozen_part, verdict);
    settle(unfrozen_call, unfrozen_part, Consistency::Unfrozen);

    // What each snapshot must end with: the consistency we can vouch for (a lost answer cannot
    // prove the freeze held, so those are watchdog-thawed like a dead run's); unknown outcomes
    // keep no verdict, and the record stays for a later run.
    for (auto& rv : record.volumes) {
      auto v = std::ranges::find_if(result_.volumes, [&](const VolumeSnapshotResult& x) { return x.volume_id == rv.volume_id; });
      if (v != result_.volumes.end() && v->outcome == SnapshotOutcome::Snapshotted) rv.verdict = v->consistency;
    }
    if (unknown) {
      if (auto w = write_run_record(services_.options.run_dir, record); !w) {
        log_agent().error("run record error=\"{}\"", w.error());
      }
    }
    // Per-snapshot tags the call could not set, and consistency corrections: CreateTags, now
    // that nothing is frozen.
    auto fix = apply_final_tags(services_.ec2, record, created);
    if (fix.error) {
      log_agent().error("snapshot group={} tags error=\"{}\" (the run record stays; a later run retries)",
                        group_.name, *fix.error);
      for (auto& v : result_.volumes) {
        if (v.outcome == SnapshotOutcome::Snapshotted) v.reason += (v.reason.empty() ? "" : "; ") + *fix.error;
      }
    } else if (!unknown) {
      remove_run_record(record);
    }
    for (const auto& v : result_.volumes) {
      if (v.outcome == SnapshotOutcome::Snapshotted) {
        log_agent().info("snapshot group={} mount_point={} volume_id={} snapshot_id={} consistency={} freeze_us={}",
                         group_.name, v.mount_point, v.volume_id->value, v.snapshot_id->value,
                         to_string(*v.consistency), v.freeze_window ? v.freeze_window->count() : -1);
      }
    }
  }

  // Takes the answered snapshots of a partition into the result.
  void take(const std::vector<ec2::Snapshot>& snapshots, const std::vector<const Member*>& part, Consistency c,
            std::vector<ec2::Snapshot>& created) {
    for (const auto& s : snapshots) created.push_back(s);
    for (const auto* m : part) {
      auto it = std::ranges::find_if(snapshots, [&](const ec2::Snapshot& s) { return s.volume_id == m->volume.id; });
      if (it == snapshots.end()) continue;
      auto& v = result_of(result_, *m);
      v.outcome = SnapshotOutcome::Snapshotted;
      v.snapshot_id = it->id;
      v.consistency = c;
    }
    for (const auto* m : part) {
      auto& v = result_of(result_, *m);
      if (v.outcome != SnapshotOutcome::Snapshotted && !v.snapshot_id && !snapshots.empty()) {
        fail_volume(m->index, "no snapshot of " + m->volume.id.value + " in the answer (detached meanwhile?)");
      }
    }
  }

  std::vector<ec2::Snapshot> find_by_run_tag(const std::vector<const Member*>& part) {
    for (std::size_t round = 0;; ++round) {
      auto found = services_.ec2.describe_snapshots(
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
      services_.sleeper.sleep_for(k_reconcile_delays[round]);
    }
  }

  // The windows, and whether the freeze held until the response (our FITHAW found it frozen).
  void measure(const platform::FreezeSet& set, const platform::GuardianReport* report, Steady::time_point guard_started,
               Consistency& verdict) {
    std::optional<Steady::time_point> first;
    std::optional<Steady::time_point> last;
    const std::optional<Steady::time_point> guardian_thaw =
        report ? std::optional{guard_started + report->elapsed} : std::nullopt;
    for (const auto& e : set.entries()) {
      std::optional<Steady::time_point> end;
      if (e.state == platform::FreezeState::Thawed) {
        end = e.thawed_at;
      } else if (e.state == platform::FreezeState::NotFrozen) {
        // Thawed before our FITHAW (the guardian's bound passed first): not proven consistent.
        verdict = Consistency::WatchdogThawed;
        end = guardian_thaw.value_or(e.thawed_at);
      } else if (e.state == platform::FreezeState::AlreadyFrozen) {
        continue;  // someone else's freeze: not ours to measure
      } else if (e.state == platform::FreezeState::ThawFailed) {
        end = guardian_thaw;
      }
      if (!end) continue;
      const auto window = duration_cast<microseconds>(*end - e.freeze_started);
      if (!first || e.freeze_started < *first) first = e.freeze_started;
      if (!last || *end > *last) last = *end;
      for (auto& v : result_.volumes) {
        if (v.mount_point == e.mount_point) v.freeze_window = window;
      }
    }
    if (first && last) result_.freeze_window = duration_cast<microseconds>(*last - *first);
    log_agent().info("thaw group={} freeze_window_us={} guardian_trigger={} verdict={}", group_.name,
                     result_.freeze_window ? result_.freeze_window->count() : -1,
                     report ? to_string(report->trigger) : "unknown", to_string(verdict));
  }

  const Config& config_;
  const GroupConfig& group_;
  const FilterValues& filters_;
  const InstanceContext& instance_;
  Services& services_;
  const HookRunner& hooks_;
  const std::string& run_id_;
  const InstanceFacts& facts_;
  std::vector<Member> members_;
  GroupSnapshotResult result_;
};

ec2::Result<InstanceFacts> read_instance(ec2::Ec2Api& ec2, const InstanceContext& instance) {
  auto instances = ec2.describe_instances({.instance_ids = {instance.instance_id}});
  if (!instances) return std::unexpected(instances.error());
  if (instances->empty()) return ec2::fail(ec2::ErrorKind::NotFound, "DescribeInstances did not return " + instance.instance_id.value);
  InstanceFacts facts{.instance = instances->front()};
  std::vector<ec2::VolumeId> ids;
  for (const auto& b : facts.instance.block_device_mappings) ids.push_back(b.volume_id);
  if (ids.empty()) return facts;
  auto volumes = ec2.describe_volumes({.volume_ids = ids});
  if (!volumes) return std::unexpected(volumes.error());
  facts.attached = std::move(*volumes);
  return facts;
}

}  // namespace

bool GroupSnapshotResult::ok() const {
  return !error && std::ranges::all_of(volumes, [](const VolumeSnapshotResult& v) {
           return v.outcome == SnapshotOutcome::Snapshotted || v.outcome == SnapshotOutcome::Planned;
         });
}

bool SnapshotResult::ok() const {
  return !error && std::ranges::all_of(groups, [](const GroupSnapshotResult& g) { return g.ok(); });
}

std::string make_run_id(const ec2::Clock& clock, ec2::RandomSource& random) {
  const std::time_t t = std::chrono::system_clock::to_time_t(clock.now());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
  std::string hex;
  for (int i = 0; i < 8; ++i) hex += "0123456789abcdef"[static_cast<int>(random.uniform() * 16) & 15];
  return std::string(stamp) + "-" + hex;
}

SnapshotResult take_snapshots(const Config& config, const FilterValues& filters, const InstanceContext& instance,
                              Services& services, const SnapshotOptions& options) {
  SnapshotResult result{.run_id = options.run_id.empty() ? make_run_id(services.clock, services.random) : options.run_id,
                        .dry_run = services.options.dry_run};
  HookRunner hooks = options.hooks;
  if (!hooks) {
    hooks = [&config](const Hooks& h, HookPhase phase, const HookContext& c) {
      return run_hooks(h, phase, c, HookRunOptions{.timeout = config.timeouts.hook});
    };
  }
  std::vector<const GroupConfig*> groups;
  for (const auto& name : options.groups) {
    const auto* g = config.find_group(name);
    if (g == nullptr) {
      result.error = "unknown group " + name;
      return result;
    }
    groups.push_back(g);
  }
  if (!services.options.dry_run) {
    // A run that died mid-snapshot left tags that may lie; correct them before adding ours.
    result.reconciled = reconcile_interrupted_snapshots(services.ec2, services.clock, services.options.run_dir);
  }
  auto facts = read_instance(services.ec2, instance);
  if (!facts) {
    result.error = "describe instance " + instance.instance_id.value + ": " + facts.error().describe();
    return result;
  }
  log_agent().info("snapshot run_id={} groups={} attached_volumes={} dry_run={}", result.run_id, groups.size(),
                   facts->attached.size(), services.options.dry_run);
  for (const auto* g : groups) {
    GroupRun run(config, *g, filters, instance, services, hooks, result.run_id, *facts);
    result.groups.push_back(run.run());
  }
  return result;
}

}  // namespace agent
