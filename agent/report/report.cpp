#include "agent/report/report.h"

#include <algorithm>
#include <ctime>
#include <iterator>
#include <map>

#include <fmt/format.h>

#include "agent/report/iam_policy.h"
#include "agent/version.h"

namespace agent {
namespace {

using Json = nlohmann::ordered_json;

std::string_view thaw_outcome(const ThawReport& t) { return t.outcome ? to_string(*t.outcome) : "planned"; }

template <class T>
Json or_null(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
}

Json volume_json(const VolumeReport& v) {
  return Json{{"mount_point", v.mount_point},
              {"device", v.device},
              {"volume_id", or_null(v.volume_id)},
              {"snapshot_id", or_null(v.snapshot_id)},
              {"outcome", to_string(v.outcome)},
              {"reason", or_null(v.reason)},
              {"freeze_ms", or_null(v.freeze_ms)},
              {"consistency", or_null(v.consistency)},
              {"duration_ms", or_null(v.duration_ms)},
              {"state", or_null(v.state)},
              {"size_gib", or_null(v.size_gib)},
              {"latest_snapshot_id", or_null(v.latest_snapshot_id)},
              {"latest_snapshot_time", or_null(v.latest_snapshot_time)},
              {"latest_snapshot_state", or_null(v.latest_snapshot_state)},
              {"attached_as", or_null(v.attached_as)},
              {"devnode", or_null(v.devnode)},
              {"filesystem", or_null(v.filesystem)},
              {"formatted", or_null(v.formatted)},
              {"plan", v.plan},
              {"warnings", v.warnings},
              {"steps", v.steps},
              {"left_alone", v.left_alone},
              {"latest_snapshot_age_s", or_null(v.latest_snapshot_age_s)},
              {"initialization_progress", or_null(v.initialization_progress)},
              {"initialization_eta_s", or_null(v.initialization_eta_s)},
              {"fast_restored", or_null(v.fast_restored)},
              {"prewarm_state", or_null(v.prewarm_state)},
              {"prewarm_percent", or_null(v.prewarm_percent)},
              {"prewarm_offset_bytes", or_null(v.prewarm_offset_bytes)},
              {"prewarm_from_bytes", or_null(v.prewarm_from_bytes)},
              {"prewarm_bytes_read", or_null(v.prewarm_bytes_read)},
              {"prewarm_mibps", or_null(v.prewarm_mibps)},
              {"delete_on_termination", or_null(v.delete_on_termination)}};
}

std::string seconds_text(std::int64_t ms) {
  if (ms < 1000) return std::to_string(ms) + " ms";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string dash(const std::optional<std::string>& s) { return s ? *s : "-"; }

// Left-aligned columns separated by two spaces; the last column is not padded.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string volume_line_detail(const VolumeReport& v) {
  std::string detail(to_string(v.outcome));
  switch (v.outcome) {
    case Outcome::Restored:
      if (v.snapshot_id) detail += " from " + *v.snapshot_id;
      break;
    case Outcome::Snapshotted:
      if (v.snapshot_id) detail += " " + *v.snapshot_id;
      if (v.consistency || v.freeze_ms) {
        detail += " (";
        if (v.consistency) detail += *v.consistency;
        if (v.consistency && v.freeze_ms) detail += ", ";
        if (v.freeze_ms) detail += seconds_text(*v.freeze_ms);
        detail += ")";
      }
      break;
    case Outcome::Prewarmed:
      if (v.prewarm_bytes_read && v.prewarm_mibps) {
        detail += fmt::format(" ({:.0f} MiB read at {:.1f} MiB/s)",
                              static_cast<double>(*v.prewarm_bytes_read) / (1 << 20), *v.prewarm_mibps);
      }
      break;
    default:
      break;
  }
  if (v.reason) detail += ": " + *v.reason;
  if (v.duration_ms && v.outcome != Outcome::Snapshotted) detail += " (" + seconds_text(*v.duration_ms) + ")";
  return detail;
}

std::string render_groups(const RunReport& report) {
  std::string out;
  for (const auto& g : report.groups) {
    out += report.command + " " + g.name + ": " + (g.ok() ? "ok" : "FAILED");
    if (g.freeze_window_ms) out += ", freeze window " + seconds_text(*g.freeze_window_ms);
    out += "\n";
    if (g.error) out += "  error: " + *g.error + "\n";
    if (g.restore_point) {
      out += "  restore point " + g.restore_point->run_id + " of " + g.restore_point->time + " (" +
             dash(g.restore_point->consistency) + ")\n";
    }
    for (const auto& s : g.skipped_runs) out += "  skipped newer run " + s.run_id + " of " + s.time + ": " + s.reason + "\n";
    for (const auto& w : g.warnings) out += "  warning: " + w + "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& v : g.volumes) {
      rows.push_back({"  " + v.mount_point, v.devnode ? v.device + " (" + *v.devnode + ")" : v.device,
                      dash(v.volume_id), volume_line_detail(v)});
    }
    out += table(rows);
    for (const auto& v : g.volumes) {
      for (const auto& step : v.plan) out += "    " + v.mount_point + ": would " + step + "\n";
      for (const auto& w : v.warnings) out += "    " + v.mount_point + ": warning: " + w + "\n";
    }
  }
  return out;
}

// How far the volume has loaded its snapshot's blocks: "42%, 10m left", "100%", "fast restore", "-".
std::string initialization_text(const VolumeReport& v) {
  if (v.fast_restored.value_or(false)) return "fast restore";
  if (!v.initialization_progress) return "-";
  std::string out = std::to_string(*v.initialization_progress) + "%";
  if (*v.initialization_progress < 100 && v.initialization_eta_s) {
    out += ", " + format_age(std::chrono::seconds{*v.initialization_eta_s}) + " left";
  }
  return out;
}

// list's PREWARM column: "done", "45%", or "-" (no pre-warm recorded for the volume attached now).
std::string prewarm_column(const VolumeReport& v) {
  if (!v.prewarm_state) return "-";
  if (*v.prewarm_state == "done") return "done";
  return std::to_string(v.prewarm_percent.value_or(0)) + "%";
}

// list's ON TERMINATION column: what EC2 does with the volume when the instance is terminated.
std::string on_termination_column(const VolumeReport& v) {
  if (!v.delete_on_termination) return "-";
  return *v.delete_on_termination ? "delete" : "keep";
}

std::string render_list(const RunReport& report) {
  std::vector<std::vector<std::string>> rows{{"GROUP", "MOUNT POINT", "DEVICE", "VOLUME", "STATE", "SIZE",
                                              "LATEST SNAPSHOT", "TAKEN", "INITIALIZED", "PREWARM",
                                              "ON TERMINATION"}};
  std::string errors;
  std::string warnings;
  for (const auto& g : report.groups) {
    if (g.error) errors += g.name + ": error: " + *g.error + "\n";
    for (const auto& v : g.volumes) {
      rows.push_back({g.name, v.mount_point, v.device, dash(v.volume_id),
                      v.outcome == Outcome::Failed ? "error: " + dash(v.reason) : dash(v.state),
                      v.size_gib ? std::to_string(*v.size_gib) + " GiB" : "-", dash(v.latest_snapshot_id),
                      dash(v.latest_snapshot_time), initialization_text(v), prewarm_column(v),
                      on_termination_column(v)});
      for (const auto& w : v.warnings) warnings += g.name + " " + v.mount_point + ": warning: " + w + "\n";
    }
  }
  return table(rows) + warnings + errors;
}

std::string render_check(const RunReport& report) {
  std::string out;
  for (const auto& c : report.checks) {
    out += std::string(!c.ok ? "[FAIL] " : c.warning ? "[warn] " : "[ok]   ") + c.name + ": " + c.detail + "\n";
  }
  if (!report.missing_actions.empty()) {
    out += "missing permissions; an IAM policy that grants them:\n" + iam_policy_json(report.missing_actions);
  }
  return out;
}

// One line per mount point, for monitoring (the first word is the verdict):
// "[ok]   solr /mnt/solr newest completed snap-… 2026-12-05T10:00:00.000Z (3h12m old) frozen"
// "[FAIL] solr /mnt/solr newest completed snap-… … (30h0m old) frozen: older than --max-age 26h"
std::string render_check_backups(const RunReport& report) {
  std::string out;
  for (const auto& g : report.groups) {
    if (g.error) out += "[FAIL] " + g.name + ": " + *g.error + "\n";
    for (const auto& v : g.volumes) {
      const bool fresh = v.outcome == Outcome::Fresh;
      out += fmt::format("{}{} {}", fresh ? "[ok]   " : "[FAIL] ", g.name, v.mount_point);
      if (v.latest_snapshot_id) {
        out += fmt::format(" newest completed {} {}", *v.latest_snapshot_id, dash(v.latest_snapshot_time));
        if (v.latest_snapshot_age_s) {
          out += fmt::format(" ({} old)", format_age(std::chrono::seconds{*v.latest_snapshot_age_s}));
        }
        out += fmt::format(" {}", dash(v.consistency));
      }
      if (v.reason) out += (v.latest_snapshot_id ? ": " : " ") + *v.reason;
      out += "\n";
      for (const auto& w : v.warnings) out += "    " + v.mount_point + ": " + w + "\n";
    }
  }
  return out;
}

std::string render_thaw(const RunReport& report) {
  std::string out;
  if (report.thaw.empty() && !report.error) out += "nothing was frozen\n";
  for (const auto& t : report.thaw) {
    out += t.mount_point + ": " + std::string(thaw_outcome(t));
    if (t.reason) out += ": " + *t.reason;
    out += "\n";
  }
  return out;
}

// "interrupted run R of group G: 2 snapshots found, 2 retagged watchdog-thawed, record removed"
std::string render_reconciled(const RunReport& report) {
  std::string out;
  for (const auto& r : report.reconciled) {
    out += fmt::format("interrupted run {} of group {}: {} snapshot(s) found, {} retagged watchdog-thawed", r.run_id,
                       r.group, r.found.size(), r.retagged.size());
    if (!r.deleted.empty()) out += fmt::format(", {} deleted (not asked for)", r.deleted.size());
    if (!r.left_alone.empty()) {
      out += fmt::format(", {} left alone (tagged with the run id but not provably its own: {})", r.left_alone.size(),
                         fmt::join(r.left_alone, " "));
    }
    out += r.record_removed ? ", record removed" : ", record kept (" + r.note + ")";
    if (r.error) out += "; error: " + *r.error;
    out += "\n";
  }
  return out;
}

// Per group, newest first, one row per restore point and its members' states:
// "20261203T140000-0a1b  2026-12-03T14:00:00.000Z  frozen  complete  40 GiB  /mnt/pg completed snap-…, …"
std::string render_history(const RunReport& report) {
  std::string out;
  for (const auto& g : report.groups) {
    if (g.error) out += "history " + g.name + ": error: " + *g.error + "\n";
  }
  for (const auto& h : report.history) {
    out += "history " + h.group + (h.region.empty() ? std::string() : " in " + h.region) + ": " +
           std::to_string(h.points.size()) + " restore point(s)";
    if (h.newest_complete_age_s) {
      out += ", the newest complete one " + format_age(std::chrono::seconds(*h.newest_complete_age_s)) + " old";
    } else if (!h.points.empty()) {
      out += ", none complete";
    }
    out += "\n";
    std::vector<std::vector<std::string>> rows{{"  RUN", "TIME", "CONSISTENCY", "STATE", "SIZE", "MEMBERS"}};
    for (const auto& p : h.points) {
      std::string members;
      for (const auto& m : p.members) {
        if (!members.empty()) members += ", ";
        members += m.mount_point + " " + m.state;
        if (m.snapshot_id) members += " " + *m.snapshot_id;
        if (m.state == "pending" && m.progress) {
          members += ' ';
          members += std::to_string(*m.progress);
          members += '%';
        }
      }
      rows.push_back({"  " + p.run_id, p.time, dash(p.consistency), p.complete ? "complete" : "incomplete",
                      std::to_string(p.size_gib) + " GiB", members});
    }
    out += table(rows);
    for (const auto& f : h.foreign) {
      out += fmt::format("  {}: {} snapshot(s) of group {} are not this group's: never restored here\n", f.mount_point,
                         f.count, f.group);
    }
  }
  return out;
}

Json history_json(const HistoryReport& h) {
  Json points = Json::array();
  for (const auto& p : h.points) {
    Json members = Json::array();
    for (const auto& m : p.members) {
      members.push_back(Json{{"mount_point", m.mount_point},
                             {"state", m.state},
                             {"snapshot_id", or_null(m.snapshot_id)},
                             {"size_gib", or_null(m.size_gib)},
                             {"progress", or_null(m.progress)}});
    }
    points.push_back(Json{{"run_id", p.run_id},
                          {"time", p.time},
                          {"tagged", p.tagged},
                          {"consistency", or_null(p.consistency)},
                          {"complete", p.complete},
                          {"problem", or_null(p.problem)},
                          {"size_gib", p.size_gib},
                          {"members", std::move(members)}});
  }
  Json foreign = Json::array();
  for (const auto& f : h.foreign) {
    foreign.push_back(Json{{"mount_point", f.mount_point}, {"group", f.group}, {"count", f.count}});
  }
  return Json{{"group", h.group},
              {"points", std::move(points)},
              {"foreign", std::move(foreign)},
              {"region", h.region},
              {"newest_complete_age_s", or_null(h.newest_complete_age_s)}};
}

Json prune_json(const PruneReport& p) {
  Json runs = Json::array();
  for (const auto& r : p.runs) {
    runs.push_back(Json{{"run_id", r.run_id},
                        {"time", r.time},
                        {"verdict", r.verdict},
                        {"reasons", r.reasons},
                        {"mount_points", r.mount_points},
                        {"snapshots", r.snapshots},
                        {"expires", or_null(r.expires)}});
  }
  Json lineages = Json::array();
  for (const auto& l : p.lineages) {
    lineages.push_back(Json{{"mount_point", l.mount_point}, {"runs", l.runs}, {"newest", or_null(l.newest)}});
  }
  Json failed = Json::array();
  for (const auto& f : p.failed) failed.push_back(Json{{"snapshot_id", f.snapshot_id}, {"error", f.error}});
  return Json{{"group", p.group},
              {"runs", std::move(runs)},
              {"lineages", std::move(lineages)},
              {"planned", p.planned},
              {"deleted", p.deleted},
              {"already_gone", p.already_gone},
              {"in_use", p.in_use},
              {"failed", std::move(failed)},
              {"not_attempted", p.not_attempted},
              {"deferred", p.deferred},
              {"skipped", p.skipped},
              {"throttled", p.throttled},
              {"delete_rate_per_s", p.delete_rate_per_s}};
}

// Per group: a summary line, then per lineage every run with its verdict and reasons, then what
// the deletes came to.
std::string render_prune(const RunReport& report) {
  std::string out;
  for (const auto& p : report.prune) {
    std::size_t kept = 0;
    std::size_t deleting = 0;
    for (const auto& r : p.runs) {
      kept += r.verdict == "keep" ? std::size_t{1} : std::size_t{0};
      deleting += r.verdict == "delete" ? std::size_t{1} : std::size_t{0};
    }
    out += fmt::format("prune {}: {} run(s): {} kept, {} to delete ({} snapshot(s)), {} deferred ({} snapshot(s))\n",
                       p.group, p.runs.size(), kept, deleting, p.planned.size(), p.runs.size() - kept - deleting,
                       p.deferred);
    std::map<std::string_view, const PruneRunReport*> by_id;
    for (const auto& r : p.runs) by_id[r.run_id] = &r;
    const auto run_line = [](const PruneRunReport& r) {
      const std::string verdict = r.verdict == "delete" ? "DELETE" : r.verdict;
      return fmt::format("    {:<6}  {}  {}  {}\n", verdict, r.time, r.run_id, fmt::join(r.reasons, ", "));
    };
    for (const auto& l : p.lineages) {
      out += "  " + l.mount_point + "\n";
      for (const auto& id : l.runs) {
        if (const auto it = by_id.find(id); it != by_id.end()) out += run_line(*it->second);
      }
    }
    for (const auto& r : p.runs) {
      if (r.mount_points.empty()) {
        out += "  (no mount point tag)\n" + run_line(r);
      }
    }
    if (report.dry_run) continue;
    out += fmt::format("  deleted {} of {} snapshot(s)", p.deleted.size() + p.already_gone.size(), p.planned.size());
    if (!p.already_gone.empty()) out += fmt::format(" ({} already gone)", p.already_gone.size());
    if (p.throttled > 0) out += fmt::format(", throttled {} time(s)", p.throttled);
    out += "\n";
    if (!p.in_use.empty()) {
      out += fmt::format("  kept, in use by an AMI: {}\n", fmt::join(p.in_use, " "));
    }
    for (const auto& f : p.failed) out += "  failed: " + f.snapshot_id + ": " + f.error + "\n";
    if (!p.not_attempted.empty()) out += fmt::format("  not attempted: {} snapshot(s)\n", p.not_attempted.size());
  }
  return out;
}

Json copy_json(const CopyReport& c) {
  Json runs = Json::array();
  for (const auto& r : c.runs) {
    Json snapshots = Json::array();
    for (const auto& s : r.snapshots) {
      snapshots.push_back(Json{{"mount_point", s.mount_point},
                               {"source_snapshot_id", s.source_snapshot_id},
                               {"snapshot_id", or_null(s.snapshot_id)},
                               {"state", s.state},
                               {"progress", or_null(s.progress)},
                               {"error", or_null(s.error)}});
    }
    runs.push_back(Json{{"run_id", r.run_id}, {"time", r.time}, {"state", r.state}, {"snapshots", std::move(snapshots)}});
  }
  Json skipped = Json::array();
  for (const auto& s : c.skipped) skipped.push_back(Json{{"run_id", s.run_id}, {"time", s.time}, {"reason", s.reason}});
  return Json{{"group", c.group},
              {"source_region", c.source_region},
              {"region", c.region},
              {"runs", std::move(runs)},
              {"already_copied", c.already_copied},
              {"skipped", std::move(skipped)},
              {"copies_started", c.copies_started},
              {"throttled", c.throttled},
              {"limit_exceeded", c.limit_exceeded},
              {"error", or_null(c.error)}};
}

// Per group and destination: a summary line, then each run not yet whole there with its copies.
std::string render_copy(const RunReport& report) {
  std::string out;
  for (const auto& c : report.copy) {
    std::size_t copied = 0;
    for (const auto& r : c.runs) copied += r.state == "copied" ? std::size_t{1} : std::size_t{0};
    out += fmt::format("copy {} {} -> {}: {} run(s) to copy, {} copied now, {} already there", c.group,
                       c.source_region, c.region, c.runs.size(), copied, c.already_copied);
    if (c.throttled > 0) out += fmt::format(", throttled {} time(s)", c.throttled);
    if (c.limit_exceeded > 0) out += fmt::format(", {} time(s) at EC2's copy limit", c.limit_exceeded);
    out += "\n";
    for (const auto& r : c.runs) {
      out += fmt::format("  {:<13}  {}  {}\n", r.state, r.time, r.run_id);
      for (const auto& s : r.snapshots) {
        out += fmt::format("    {}  {} -> {}  {}{}\n", s.mount_point, s.source_snapshot_id, dash(s.snapshot_id),
                           s.state, s.error ? ": " + *s.error : std::string());
      }
    }
    for (const auto& s : c.skipped) out += fmt::format("  skipped        {}  {}: {}\n", s.time, s.run_id, s.reason);
    if (c.error) out += "  error: " + *c.error + "\n";
  }
  return out;
}

// One line per volume: "vol-... solr /mnt/solr 20 GiB created ...: deleted" (and why).
std::string render_gc(const RunReport& report) {
  std::string out;
  if (report.gc.empty() && !report.error) out += "no available volumes of ebsnap's found\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : report.gc) {
    std::string detail(to_string(g.outcome));
    if (g.reason) detail += ": " + *g.reason;
    rows.push_back({g.volume_id, g.group, g.mount_point, g.size_gib ? std::to_string(*g.size_gib) + " GiB" : "-",
                    "created " + dash(g.created_at), detail});
  }
  out += table(rows);
  for (const auto& g : report.gc) {
    for (const auto& step : g.plan) out += "  would " + step + "\n";
  }
  return out;
}

}  // namespace

std::string_view to_string(GcOutcome outcome) {
  switch (outcome) {
    case GcOutcome::Deleted: return "deleted";
    case GcOutcome::Planned: return "planned";
    case GcOutcome::Left: return "left";
    case GcOutcome::Failed: return "failed";
  }
  return "failed";
}

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::Restored: return "restored";
    case Outcome::Created: return "created";
    case Outcome::Reused: return "reused";
    case Outcome::AlreadyMounted: return "already-mounted";
    case Outcome::Snapshotted: return "snapshotted";
    case Outcome::Unmounted: return "unmounted";
    case Outcome::Deleted: return "deleted";
    case Outcome::NotAttached: return "not-attached";
    case Outcome::Listed: return "listed";
    case Outcome::Planned: return "planned";
    case Outcome::Skipped: return "skipped";
    case Outcome::Failed: return "failed";
    case Outcome::Fresh: return "fresh";
    case Outcome::Stale: return "stale";
    case Outcome::Missing: return "missing";
    case Outcome::NotFrozen: return "not-frozen";
    case Outcome::Prewarmed: return "prewarmed";
    case Outcome::Interrupted: return "interrupted";
    case Outcome::Held: return "held";
    case Outcome::Thawed: return "thawed";
  }
  return "failed";
}

GroupReport& RunReport::group(const std::string& name) {
  for (auto& g : groups) {
    if (g.name == name) return g;
  }
  groups.push_back(GroupReport{.name = name});
  return groups.back();
}

void RunReport::add_error(const std::string& line) {
  error = error ? *error + "; " + line : line;
}

void GroupReport::add_error(const std::string& line) {
  error = error ? *error + "; " + line : line;
}

void RunReport::not_run(const std::string& line) {
  add_error(line);
  for (auto& g : groups) {
    if (!g.error) g.error = "not run: " + line;
  }
}

RunReport new_report(std::string command, bool dry_run, const std::vector<std::string>& group_names) {
  RunReport report{.command = std::move(command), .dry_run = dry_run, .started_at = std::chrono::system_clock::now()};
  for (const auto& name : group_names) (void)report.group(name);
  return report;
}

void finish_report(RunReport& report) {
  report.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() - report.started_at)
          .count();
}

bool GroupReport::ok() const {
  if (error) return false;
  return std::none_of(volumes.begin(), volumes.end(), [](const VolumeReport& v) {
    return v.outcome == Outcome::Failed || v.outcome == Outcome::Stale || v.outcome == Outcome::Missing ||
           v.outcome == Outcome::NotFrozen;
  });
}

bool RunReport::ok() const {
  if (error) return false;
  if (!std::all_of(groups.begin(), groups.end(), [](const GroupReport& g) { return g.ok(); })) return false;
  if (std::any_of(thaw.begin(), thaw.end(), [](const ThawReport& t) { return t.outcome == platform::ThawOutcome::Failed; })) {
    return false;
  }
  if (!std::all_of(checks.begin(), checks.end(), [](const CheckReport& c) { return c.ok; })) return false;
  if (std::any_of(gc.begin(), gc.end(), [](const GcReport& g) { return g.outcome == GcOutcome::Failed; })) return false;
  if (notice && std::ranges::any_of(notice->groups, [](const NoticeGroupReport& g) { return g.outcome == "failed"; })) {
    return false;
  }
  return missing_actions.empty();
}

void absorb_report(RunReport& into, RunReport part) {
  for (auto& g : part.groups) {
    auto& mine = into.group(g.name);
    std::ranges::move(g.volumes, std::back_inserter(mine.volumes));
    if (g.freeze_window_ms) mine.freeze_window_ms = g.freeze_window_ms;
    if (g.call_ms) mine.call_ms = g.call_ms;
    if (g.guardian_trigger) mine.guardian_trigger = g.guardian_trigger;
    std::ranges::move(g.ec2_calls, std::back_inserter(mine.ec2_calls));
    std::ranges::move(g.warnings, std::back_inserter(mine.warnings));
    if (g.error) mine.add_error(*g.error);
  }
  if (part.error) into.add_error(part.command + ": " + *part.error);
  std::ranges::move(part.reconciled, std::back_inserter(into.reconciled));
  std::ranges::move(part.prune, std::back_inserter(into.prune));
  std::ranges::move(part.copy, std::back_inserter(into.copy));
}

std::string format_age(std::chrono::seconds age) {
  const auto s = std::max<std::int64_t>(0, age.count());
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 86400) return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
  return std::to_string(s / 86400) + "d" + std::to_string(s % 86400 / 3600) + "h";
}

std::string format_utc(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

nlohmann::ordered_json to_json(const RunReport& report) {
  Json groups = Json::array();
  for (const auto& g : report.groups) {
    Json volumes = Json::array();
    for (const auto& v : g.volumes) volumes.push_back(volume_json(v));
    Json point = nullptr;
    if (g.restore_point) {
      point = Json{{"run_id", g.restore_point->run_id},
                   {"time", g.restore_point->time},
                   {"consistency", or_null(g.restore_point->consistency)}};
    }
    Json skipped = Json::array();
    for (const auto& s : g.skipped_runs) skipped.push_back(Json{{"run_id", s.run_id}, {"time", s.time}, {"reason", s.reason}});
    groups.push_back(Json{{"name", g.name},
                          {"ok", g.ok()},
                          {"error", or_null(g.error)},
                          {"freeze_window_ms", or_null(g.freeze_window_ms)},
                          {"volumes", std::move(volumes)},
                          {"call_ms", or_null(g.call_ms)},
                          {"guardian_trigger", or_null(g.guardian_trigger)},
                          {"ec2_calls", g.ec2_calls},
                          {"restore_point", std::move(point)},
                          {"skipped_runs", std::move(skipped)},
                          {"warnings", g.warnings}});
  }
  Json thaw = Json::array();
  for (const auto& t : report.thaw) {
    thaw.push_back(Json{{"mount_point", t.mount_point}, {"outcome", thaw_outcome(t)}, {"reason", or_null(t.reason)}});
  }
  Json checks = Json::array();
  for (const auto& c : report.checks) {
    checks.push_back(Json{{"name", c.name},
                          {"ok", c.ok},
                          {"detail", c.detail},
                          {"verdict", or_null(c.verdict)},
                          {"tagged_resource", or_null(c.tagged_resource)},
                          {"warning", c.warning}});
  }
  Json reconciled = Json::array();
  for (const auto& r : report.reconciled) {
    reconciled.push_back(Json{{"run_id", r.run_id},
                              {"group", r.group},
                              {"found", r.found},
                              {"retagged", r.retagged},
                              {"deleted", r.deleted},
                              {"left_alone", r.left_alone},
                              {"record_removed", r.record_removed},
                              {"error", or_null(r.error)},
                              {"note", r.note}});
  }
  Json prune = Json::array();
  for (const auto& p : report.prune) prune.push_back(prune_json(p));
  Json copy = Json::array();
  for (const auto& c : report.copy) copy.push_back(copy_json(c));
  Json gc = Json::array();
  for (const auto& g : report.gc) {
    gc.push_back(Json{{"volume_id", g.volume_id},
                      {"group", g.group},
                      {"mount_point", g.mount_point},
                      {"created_at", or_null(g.created_at)},
                      {"size_gib", or_null(g.size_gib)},
                      {"outcome", to_string(g.outcome)},
                      {"reason", or_null(g.reason)},
                      {"plan", g.plan},
                      {"steps", g.steps}});
  }
  Json history = Json::array();
  for (const auto& h : report.history) history.push_back(history_json(h));
  Json notice = nullptr;
  if (report.notice) {
    Json groups_done = Json::array();
    for (const auto& g : report.notice->groups) {
      groups_done.push_back(
          Json{{"group", g.group}, {"run_id", g.run_id}, {"outcome", g.outcome}, {"attempts", g.attempts}});
    }
    notice = Json{{"kind", report.notice->kind},
                  {"action", or_null(report.notice->action)},
                  {"time", report.notice->time},
                  {"groups", std::move(groups_done)}};
  }
  Json requests = Json::object();
  for (const auto& [action, r] : report.ec2_requests) {
    requests[action] = Json{{"requests", r.requests}, {"throttled", r.throttled}};
  }
  return Json{{"schema", k_report_schema_version},
              {"ebsnap_version", k_version},
              {"command", report.command},
              {"dry_run", report.dry_run},
              {"ok", report.ok()},
              {"error", or_null(report.error)},
              {"started_at", format_utc(report.started_at)},
              {"duration_ms", or_null(report.duration_ms)},
              {"groups", std::move(groups)},
              {"thaw", std::move(thaw)},
              {"checks", std::move(checks)},
              {"missing_actions", report.missing_actions},
              {"reconciled", std::move(reconciled)},
              {"prune", std::move(prune)},
              {"gc", std::move(gc)},
              {"refused", report.refused},
              {"history", std::move(history)},
              {"trigger", or_null(report.trigger)},
              {"notice", std::move(notice)},
              {"ec2_requests", std::move(requests)},
              {"copy", std::move(copy)},
              {"region", report.region.empty() ? Json(nullptr) : Json(report.region)}};
}

std::string render_json(const RunReport& report) { return to_json(report).dump(2) + "\n"; }

std::string render_text(const RunReport& report) {
  std::string out;
  if (report.dry_run) out += "dry run: nothing was changed\n";
  if (report.notice) {
    const auto& n = *report.notice;
    out += "notice: " + n.kind + (n.action ? " " + *n.action : std::string()) + " at " + n.time + "\n";
    for (const auto& g : n.groups) {
      out += "  " + g.group + ": " + g.outcome + ", run " + g.run_id + " (attempt " + std::to_string(g.attempts) + ")\n";
    }
  } else if (report.trigger) {
    out += "trigger: " + *report.trigger + "\n";
  }
  if (report.command == "list") {
    out += render_list(report);
  } else if (report.command == "check") {
    out += render_check(report);
  } else if (report.command == "check-backups") {
    out += render_check_backups(report);
  } else if (report.command == "thaw" && report.groups.empty()) {
    out += render_thaw(report);
  } else if (report.command == "prune" || report.command == "copy") {
    for (const auto& g : report.groups) {
      if (g.error) out += report.command + " " + g.name + ": error: " + *g.error + "\n";
    }
  } else if (report.command == "gc") {
    out += render_gc(report);
  } else if (report.command == "history") {
    out += render_history(report);
  } else {
    out += render_groups(report);
  }
  out += render_prune(report);
  out += render_copy(report);
  out += render_reconciled(report);
  if (report.error) out += report.command + ": error: " + *report.error + "\n";
  return out;
}

}  // namespace agent
