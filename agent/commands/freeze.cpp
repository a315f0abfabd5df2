#include "agent/commands/freeze.h"

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>

#include "agent/core/epoch_ms.h"
#include "agent/core/freeze_window.h"
#include "agent/core/group_lock.h"
#include "agent/core/hook_phases.h"
#include "agent/core/log.h"
#include "agent/core/snapshot_record.h"
#include "platform/freeze.h"
#include "platform/freeze_state.h"
#include "platform/run_dir.h"
#include "platform/thaw_guardian.h"

namespace agent {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::filesystem::path hold_record_path(const std::filesystem::path& run_dir, const std::string& group) {
  return run_dir / ("hold-" + group + ".json");
}
std::filesystem::path hold_socket_path(const std::filesystem::path& run_dir, const std::string& group) {
  return run_dir / ("hold-" + group + ".sock");
}
std::filesystem::path hold_result_path(const std::filesystem::path& run_dir, const std::string& group) {
  return run_dir / ("hold-" + group + ".result");
}

std::string serialize_hold_record(const HoldRecord& r) {
  const auto frozen_ms = duration_cast<milliseconds>(r.frozen_at.time_since_epoch()).count();
  return nlohmann::ordered_json{{"version", 1},
                                {"group", r.group},
                                {"guardian_pid", r.guardian_pid},
                                {"guardian_start", r.guardian_start},
                                {"mount_points", r.mount_points},
                                {"bound_ms", r.bound_ms},
                                {"frozen_at", format_utc(r.frozen_at)},
                                {"frozen_at_ms", frozen_ms},
                                {"freeze_offset_ms", r.freeze_offset_ms}}
             .dump(2) +
         "\n";
}

std::optional<HoldRecord> parse_hold_record(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    // at(), not value("version", 0): value() throws when the key holds another type (a string).
    if (j.at("version") != 1) return std::nullopt;
    // Integers only: get<int>() of a number with a fraction or exponent (1e300) casts a double
    // out of range, which is undefined.
    for (const char* key : {"guardian_pid", "guardian_start", "bound_ms", "frozen_at_ms", "freeze_offset_ms"}) {
      if (!j.at(key).is_number_integer()) return std::nullopt;
    }
    HoldRecord r;
    r.group = j.at("group").get<std::string>();
    r.guardian_pid = j.at("guardian_pid").get<int>();
    r.guardian_start = j.at("guardian_start").get<unsigned long long>();
    r.mount_points = j.at("mount_points").get<std::vector<std::string>>();
    r.bound_ms = j.at("bound_ms").get<std::int64_t>();
    const auto frozen_at = time_from_epoch_ms(j.at("frozen_at_ms").get<std::int64_t>());
    if (!frozen_at) return std::nullopt;
    r.frozen_at = *frozen_at;
    r.freeze_offset_ms = j.at("freeze_offset_ms").get<std::int64_t>();
    if (r.guardian_pid <= 0 || r.mount_points.empty()) return std::nullopt;
    return r;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

platform::Result<HoldRecord> read_hold_record(const std::filesystem::path& run_dir, const std::string& group) {
  if (auto checked = platform::check_run_directory(run_dir, false); !checked) return std::unexpected(checked.error());
  const auto path = hold_record_path(run_dir, group);
  auto text = platform::read_state_file(path);
  if (!text) return std::unexpected(text.error());
  auto record = parse_hold_record(*text);
  if (!record || record->group != group) {
    return platform::fail(platform::ErrorKind::Refused, path.string() + ": not a hold record of group " + group);
  }
  return *record;
}

namespace {

// A zombie (exited, not reaped yet by its new parent) holds nothing any more.
bool zombie(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

}  // namespace

bool hold_guardian_alive(const HoldRecord& record) {
  const auto start = process_start_time(record.guardian_pid);
  return start != 0 && start == record.guardian_start && !zombie(record.guardian_pid);
}

namespace {

std::string step_freeze(const std::string& mp) { return "freeze " + mp; }

void remove_hold_files(const std::filesystem::path& run_dir, const std::string& group) {
  ::unlink(hold_record_path(run_dir, group).c_str());
  ::unlink(hold_result_path(run_dir, group).c_str());
}

HookContext volume_context(const GroupConfig& g, const VolumeConfig& v) {
  return HookContext{.group = g.name, .mount_point = v.mount_point, .device = v.device};
}

// The post-hooks of a group whose hold ended (or never began): post_snapshot of each volume,
// post_snapshots, on_failure when not ok. A failed post-hook is the group's error.
void post_hooks(HookPhases& hooks, const GroupConfig& g, GroupReport& out) {
  const bool ok = out.ok();
  std::vector<std::string> failed;
  for (std::size_t i = 0; i < g.volumes.size(); ++i) {
    const bool volume_ok = i < out.volumes.size() && out.volumes[i].outcome != Outcome::Failed &&
                           out.volumes[i].outcome != Outcome::Skipped;
    if (auto post = hooks.post_volume(volume_context(g, g.volumes[i]), volume_ok)) failed.push_back(post->describe());
  }
  if (auto post = hooks.post_group(ok)) failed.push_back(post->describe());
  if (!ok) {
    std::string error = out.error.value_or("");
    for (const auto& v : out.volumes) {
      if (error.empty() && v.outcome == Outcome::Failed) error = v.mount_point + ": " + v.reason.value_or("");
    }
    hooks.on_failure(HookContext{.group = g.name}, error);
  }
  for (const auto& line : failed) out.add_error(line);
}

void fail_group(GroupReport& out, const std::string& reason, Outcome outcome = Outcome::Failed) {
  out.add_error(reason);
  for (auto& v : out.volumes) {
    if (v.outcome == Outcome::Held) continue;
    v.outcome = outcome;
    if (!v.reason) v.reason = reason;
  }
  log_agent().error("freeze group={} error=\"{}\"", out.name, reason);
}

RunReport freeze_locked(const RunContext& c, const FreezeHoldOptions& options) {
  auto& s = c.services;
  RunReport report = new_report("freeze", c);
  const GroupConfig& g = *c.groups.front();
  GroupReport& out = report.group(g.name);
  for (const auto& v : g.volumes) {
    out.volumes.push_back({.mount_point = v.mount_point, .device = v.device, .outcome = Outcome::Planned});
  }
  const std::string run_dir = s.options.run_dir.string();
  if (!g.freeze) {
    report.refused = true;
    report.add_error("group \"" + g.name + "\" has \"freeze\": false: there is nothing to hold frozen");
    return report;
  }
  const auto bound = duration_cast<milliseconds>(options.timeout.value_or(c.config.freeze_timeout));

  // One hold per group: a guardian still holding it refuses this one; a dead one's record goes.
  if (auto previous = read_hold_record(s.options.run_dir, g.name)) {
    if (hold_guardian_alive(*previous)) {
      report.refused = true;
      report.add_error(fmt::format("group \"{}\" is held frozen already by ebsnap's guardian pid {} since {} (for at "
                                   "most {} s): run `ebsnap thaw {}` first",
                                   g.name, previous->guardian_pid, format_utc(previous->frozen_at),
                                   previous->bound_ms / 1000, g.name));
      return report;
    }
    out.warnings.push_back(fmt::format("the hold of {} (guardian pid {}) was never released by `ebsnap thaw {}`: its "
                                       "post-hooks did not run",
                                       format_utc(previous->frozen_at), previous->guardian_pid, g.name));
    if (!s.options.dry_run) remove_hold_files(s.options.run_dir, g.name);
  } else if (previous.error().kind != platform::ErrorKind::NotFound) {
    report.add_error(previous.error().describe());
    return report;
  }

  std::vector<std::string> mounts;
  for (const auto& v : g.volumes) mounts.push_back(v.mount_point);
  if (auto freezable = platform::check_freezable(s.freeze_ops, mounts, {.runtime_dir = run_dir}); !freezable) {
    fail_group(out, freezable.error().describe());
    return report;
  }
  if (s.options.dry_run) {
    for (auto& v : out.volumes) {
      v.reason = fmt::format("would run the pre-hooks, syncfs, freeze and hold until `ebsnap thaw {}` or {} s", g.name,
                             bound.count() / 1000);
      v.plan = {"pre-hooks", "syncfs " + v.mount_point, step_freeze(v.mount_point),
                fmt::format("hold (at most {} s)", bound.count() / 1000)};
    }
    return report;
  }

  HookPhases hooks(s.hooks, g, HookPhases::k_snapshot, duration_cast<milliseconds>(c.config.timeouts.hook), false);
  if (auto pre = hooks.pre_group(); !pre) {
    fail_group(out, pre.error().describe(), Outcome::Skipped);
    post_hooks(hooks, g, out);
    return report;
  }
  for (const auto& v : g.volumes) {
    if (auto pre = hooks.pre_volume(volume_context(g, v)); !pre) {
      fail_group(out, pre.error().describe(), Outcome::Skipped);
      post_hooks(hooks, g, out);
      return report;
    }
  }
  if (auto synced = platform::sync_filesystems(s.freeze_ops, mounts); !synced) {
    fail_group(out, "syncfs: " + synced.error().describe());
    post_hooks(hooks, g, out);
    return report;
  }

  auto opened = FreezeWindow::open(s.guardians, s.freeze_ops, s.clock,
                                   {.group = g.name,
                                    .mount_points = mounts,
                                    .bound = bound,
                                    .run_dir = run_dir,
                                    .hold_socket = hold_socket_path(s.options.run_dir, g.name).string(),
                                    .hold_result = hold_result_path(s.options.run_dir, g.name).string()});
  if (!opened) {
    fail_group(out, opened.error().message);
    post_hooks(hooks, g, out);
    return report;
  }
  const auto frozen_at = s.clock.now();
  if (!opened->already_frozen().empty()) {
    // A hold must freeze all of them itself: someone else's freeze is not ours to hand over.
    const auto foreign = opened->already_frozen();
    (void)opened->close();
    for (const auto& mp : foreign) {
      auto v = std::ranges::find(out.volumes, mp, &VolumeReport::mount_point);
      v->outcome = Outcome::Failed;
      v->reason = not_snapshotted(resolve_foreign_freeze(s.freeze_ops, run_dir, mp));
    }
    fail_group(out, "not every filesystem of the group could be frozen by this run: nothing is held");
    post_hooks(hooks, g, out);
    return report;
  }
  auto held = opened->hold();
  if (!held) {
    fail_group(out, "hold: " + held.error().describe() + "; thawed");
    post_hooks(hooks, g, out);
    return report;
  }
  HoldRecord record{.group = g.name,
                    .guardian_pid = held->guardian_pid,
                    .guardian_start = process_start_time(held->guardian_pid),
                    .mount_points = mounts,
                    .bound_ms = bound.count(),
                    .frozen_at = frozen_at,
                    .freeze_offset_ms = held->freeze_offset.count()};
  if (auto written = platform::write_state_file(hold_record_path(s.options.run_dir, g.name),
                                                serialize_hold_record(record), true);
      !written) {
    // Without its record nobody could release the hold but the bound: release it now.
    auto released = platform::release_hold(hold_socket_path(s.options.run_dir, g.name).string(), held->guardian_pid, mounts);
    fail_group(out, "hold record: " + written.error().describe() +
                        (released ? "; thawed" : "; the guardian thaws at its bound: " + released.error().describe()));
    post_hooks(hooks, g, out);
    return report;
  }
  for (auto& v : out.volumes) {
    v.outcome = Outcome::Held;
    v.reason = fmt::format("frozen; held by the guardian pid {} until `ebsnap thaw {}`, or {} s at most",
                           held->guardian_pid, g.name, bound.count() / 1000);
    v.steps = {step_freeze(v.mount_point), "hold"};
  }
  log_agent().info("hold group={} guardian_pid={} bound_ms={} mount_points={}", g.name, held->guardian_pid, bound.count(),
                   mounts.size());
  return report;
}

RunReport thaw_locked(const RunContext& c) {
  auto& s = c.services;
  RunReport report = new_report("thaw", c);
  const GroupConfig& g = *c.groups.front();
  GroupReport& out = report.group(g.name);
  auto record = read_hold_record(s.options.run_dir, g.name);
  if (!record) {
    out.add_error(record.error().kind == platform::ErrorKind::NotFound
                         ? "group \"" + g.name + "\" is not held frozen: no `ebsnap freeze " + g.name +
                               " --hold` is recorded in " + s.options.run_dir.string()
                         : record.error().describe());
    return report;
  }
  const bool alive = hold_guardian_alive(*record);
  for (const auto& v : g.volumes) out.volumes.push_back({.mount_point = v.mount_point, .device = v.device, .outcome = Outcome::Planned});
  if (s.options.dry_run) {
    for (auto& v : out.volumes) {
      v.reason = alive ? fmt::format("would ask the guardian pid {} to thaw, then run the post-hooks", record->guardian_pid)
                       : fmt::format("the guardian pid {} is gone: would read its report, or thaw what its freeze state "
                                     "file says it left frozen, then run the post-hooks",
                                     record->guardian_pid);
      v.plan = {"thaw " + v.mount_point, "post-hooks"};
    }
    return report;
  }

  std::optional<platform::GuardianReport> guardian;
  std::optional<std::string> not_held;
  std::optional<std::string> silent;  // why the live guardian did not report
  if (alive) {
    auto released = platform::release_hold(hold_socket_path(s.options.run_dir, g.name).string(), record->guardian_pid,
                                           record->mount_points);
    if (released) {
      guardian = *released;
    } else {
      log_agent().warn("thaw group={} guardian_pid={} error=\"{}\"", g.name, record->guardian_pid, released.error().describe());
      silent = released.error().describe();
    }
  }
  if (!guardian) {
    // Thawed unasked (its bound, a signal) and gone; its report is in the result file. The
    // guardian may also have reported just now, as we asked.
    if (auto result = platform::read_hold_result(hold_result_path(s.options.run_dir, g.name).string(), record->mount_points)) {
      guardian = *result;
    }
  }
  if (guardian && guardian->trigger != platform::GuardianTrigger::Done) {
    not_held = guardian->trigger == platform::GuardianTrigger::Timeout
                   ? fmt::format("the guardian thawed at its bound ({} s) before `ebsnap thaw {}`: the freeze did not last "
                                 "until now, so a snapshot taken since is not proven frozen",
                                 record->bound_ms / 1000, g.name)
                   : fmt::format("the guardian thawed on {} before `ebsnap thaw {}`: the freeze did not last until now",
                                 to_string(guardian->trigger), g.name);
  }
  if (!guardian) {
    // No report: a killed guardian (the kernel keeps its freeze) or one that does not answer. The
    // filesystems of the record may still be frozen by it, or thawed since and frozen again by
    // someone else (an operator's fsfreeze after `ebsnap thaw --all`): only the freeze state files
    // say which freezes are a dead ebsnap's, and only those are ours to thaw.
    not_held = silent ? fmt::format("the guardian pid {} did not answer ({}) and left no report: the freeze's end is "
                                    "unknown; it thaws by itself {} s after {}, or run `ebsnap thaw --all`",
                                    record->guardian_pid, *silent, record->bound_ms / 1000, format_utc(record->frozen_at))
                      : fmt::format("the guardian pid {} is gone without a report (killed?): the freeze's end is unknown",
                                    record->guardian_pid);
    std::set<std::string> thawed;
    for (const auto& mp : record->mount_points) {
      const auto resolved = resolve_foreign_freeze(s.freeze_ops, s.options.run_dir.string(), mp, false);
      if (resolved.action == ForeignFreeze::Action::Thawed) thawed.insert(mp);
      auto v = std::ranges::find(out.volumes, mp, &VolumeReport::mount_point);
      if (v == out.volumes.end()) {
        out.warnings.push_back(resolved.reason);  // no longer in the group's config
        continue;
      }
      if (resolved.action != ForeignFreeze::Action::LeftAlone) v->steps = {"thaw " + mp};
      v->outcome = Outcome::Failed;
      v->reason = resolved.reason;
    }
    // Its freeze state file is settled once all it names is thawed. Left behind, it would make a
    // later freeze of those filesystems by someone else look like the dead guardian's.
    if (auto states = platform::read_freeze_states(s.options.run_dir.string())) {
      for (const auto& st : *states) {
        if (st.agent_pid == record->guardian_pid &&
            std::ranges::all_of(st.mount_points, [&](const std::string& mp) { return thawed.contains(mp); })) {
          ::unlink(st.path.c_str());
        }
      }
    }
  } else {
    out.guardian_trigger = std::string(to_string(guardian->trigger));
    const auto window = guardian->elapsed.count() - record->freeze_offset_ms;
    out.freeze_window_ms = std::max<std::int64_t>(0, window);
    for (const auto& m : guardian->mounts) {
      auto v = std::ranges::find(out.volumes, m.mount_point, &VolumeReport::mount_point);
      if (v == out.volumes.end()) continue;
      v->steps = {"thaw " + m.mount_point};
      if (m.outcome == platform::ThawOutcome::Failed) {
        v->outcome = Outcome::Failed;
        v->reason = fmt::format("FITHAW failed (errno {}): run `ebsnap thaw --all`", m.errno_value);
      } else if (not_held) {
        v->outcome = Outcome::Failed;
        v->reason = std::string("not frozen until now (") + std::string(to_string(m.outcome)) + ")";
      } else {
        v->outcome = Outcome::Thawed;
        if (out.freeze_window_ms) v->freeze_ms = out.freeze_window_ms;
      }
    }
  }
  if (not_held) out.add_error(*not_held);
  remove_hold_files(s.options.run_dir, g.name);
  log_agent().info("thaw group={} guardian_pid={} held={} freeze_window_ms={}", g.name, record->guardian_pid, !not_held,
                   out.freeze_window_ms.value_or(-1));

  HookPhases hooks(s.hooks, g, HookPhases::k_snapshot, duration_cast<milliseconds>(c.config.timeouts.hook), false);
  post_hooks(hooks, g, out);
  hooks.on_success(report);
  return report;
}

}  // namespace

RunReport freeze_hold(const RunContext& context, const FreezeHoldOptions& options) {
  return with_group_locks(context, "freeze", [&] { return freeze_locked(context, options); });
}

RunReport thaw_hold(const RunContext& context) {
  return with_group_locks(context, "thaw", [&] { return thaw_locked(context); });
}

}  // namespace agent
