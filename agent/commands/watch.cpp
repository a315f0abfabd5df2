#include "agent/commands/watch.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "agent/core/log.h"
#include "agent/core/restore_points.h"
#include "agent/core/snapshot_record.h"
#include "agent/report/metrics.h"

namespace agent {
namespace {

using Json = nlohmann::json;

std::string_view path_of(Trigger kind) {
  return kind == Trigger::Spot ? k_spot_notice_path : k_rebalance_notice_path;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::ranges::find(list, item) != list.end();
}

// The snapshots of `group` taken by any of the runs.
ec2::Result<std::vector<ec2::Snapshot>> snapshots_of_runs(ec2::Ec2Api& ec2, const std::string& group,
                                                          const std::vector<std::string>& run_ids) {
  return ec2.describe_snapshots({.owner_ids = {"self"},
                                 .filters = {{"tag:" + std::string(k_tag_run_id), run_ids},
                                             {"tag:" + std::string(k_tag_group), {group}}}});
}

// One group's part of a notice, between the decision and the snapshot call.
struct GroupNotice {
  const GroupConfig* group = nullptr;
  NoticeRecord record;
  NoticeGroupReport* out = nullptr;
};

}  // namespace

std::expected<Notice, std::string> parse_notice(Trigger kind, std::string_view body) {
  const std::string where = std::string(path_of(kind));
  const auto doc = Json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::unexpected(where + ": expected a JSON object");
  Notice n{.kind = kind};
  const char* time_key = kind == Trigger::Spot ? "time" : "noticeTime";
  const auto t = doc.find(time_key);
  if (t == doc.end() || !t->is_string()) return std::unexpected(where + ": expected \"" + time_key + "\", a string");
  const auto at = ec2::parse_iso8601(t->get<std::string>());
  if (!at) return std::unexpected(where + ": \"" + time_key + "\": expected an ISO 8601 UTC time");
  n.time = *at;
  if (kind == Trigger::Spot) {
    const auto a = doc.find("action");
    if (a == doc.end() || !a->is_string()) return std::unexpected(where + ": expected \"action\", a string");
    const auto action = a->get<std::string>();
    if (action != "terminate" && action != "stop" && action != "hibernate") {
      return std::unexpected(where + ": \"action\": expected terminate, stop or hibernate");
    }
    n.action = action;
  }
  n.key = std::string(to_string(kind)) + "-" + compact_utc(n.time);
  return n;
}

NoticeAction decide_notice(const std::optional<NoticeRecord>& record) {
  if (!record || record->run_ids.empty()) return NoticeAction::Snapshot;
  return record->done ? NoticeAction::Nothing : NoticeAction::LookForSnapshots;
}

RunReport handle_notice(const RunContext& context, const Notice& notice, const WatchOptions& options) {
  auto& s = context.services;
  RunReport report = new_report("watch", context);
  report.trigger = std::string(to_string(notice.kind));
  report.notice = NoticeReport{.kind = std::string(to_string(notice.kind)),
                               .action = notice.action,
                               .time = ec2::format_iso8601(notice.time)};
  report.notice->groups.reserve(context.groups.size());  // GroupNotice points into it
  const NoticeRecords records(s.options.run_dir);
  const std::string run_id = make_run_id(s.clock, s.random);
  std::vector<GroupNotice> to_snapshot;
  for (const auto* g : context.groups) {
    auto& out = report.notice->groups.emplace_back(NoticeGroupReport{.group = g->name});
    auto loaded = records.load(notice.key, g->name);
    if (!loaded) {
      out.outcome = "failed";
      report.group(g->name).error = "notice record: " + loaded.error();
      log_agent().error("watch notice={} group={} record error=\"{}\" (left alone)", notice.key, g->name, loaded.error());
      continue;
    }
    NoticeRecord record = loaded->value_or(NoticeRecord{.notice = notice.key, .group = g->name});
    out.attempts = static_cast<std::int64_t>(record.run_ids.size());
    if (!record.run_ids.empty()) out.run_id = record.run_ids.back();
    switch (decide_notice(*loaded)) {
      case NoticeAction::Nothing:
        out.outcome = "already-taken";
        continue;
      case NoticeAction::LookForSnapshots: {
        auto found = snapshots_of_runs(s.ec2, g->name, record.run_ids);
        if (!found) {
          out.outcome = "failed";
          report.group(g->name).error = "looking for the notice's earlier runs: " + found.error().describe();
          continue;
        }
        if (!found->empty()) {
          record.done = true;
          if (auto saved = records.save(record); !saved) log_agent().error("watch record error=\"{}\"", saved.error());
          out.outcome = "already-taken";
          log_agent().info("watch notice={} group={} already taken by run_id={}", notice.key, g->name,
                           ec2::find_tag(found->front().tags, k_tag_run_id).value_or("?"));
          continue;
        }
        if (record.run_ids.size() >= k_max_notice_attempts) {
          out.outcome = "failed";
          report.group(g->name).error = "no snapshot after " + std::to_string(record.run_ids.size()) + " runs; given up";
          continue;
        }
        break;
      }
      case NoticeAction::Snapshot: break;
    }
    record.run_ids.push_back(run_id);
    // Before the call: a watch killed during it finds the run id. A record that cannot be written
    // does not stop the snapshot: a second snapshot after a restart costs less than none.
    if (auto saved = records.save(record); !saved) {
      log_agent().error("watch notice={} group={} record error=\"{}\" (snapshotting anyway)", notice.key, g->name,
                        saved.error());
    }
    out.run_id = run_id;
    out.attempts = static_cast<std::int64_t>(record.run_ids.size());
    to_snapshot.push_back({.group = g, .record = std::move(record), .out = &out});
  }
  if (!to_snapshot.empty()) {
    RunContext run = context;
    run.groups.clear();
    for (const auto& t : to_snapshot) run.groups.push_back(t.group);
    RunReport taken = options.snapshot(run, run_id, notice.kind);
    const bool run_failed = taken.error.has_value();
    for (auto& t : to_snapshot) {
      const auto it = std::ranges::find(taken.groups, t.group->name, &GroupReport::name);
      const bool ok = !run_failed && it != taken.groups.end() && it->ok();
      t.out->outcome = ok ? "snapshotted" : "failed";
      if (ok) {
        t.record.done = true;
        if (auto saved = records.save(t.record); !saved) log_agent().error("watch record error=\"{}\"", saved.error());
      }
    }
    absorb_report(report, std::move(taken));
  }
  for (const auto& g : report.notice->groups) {
    log_agent().warn("watch notice={} group={} outcome={} run_id={} attempts={}", notice.key, g.group, g.outcome,
                     g.run_id.empty() ? "-" : g.run_id, g.attempts);
  }
  return report;
}

std::string render_watch_metrics(const WatchMemory& m) {
  using F = MetricFamily;
  F errors{.name = "ebsnap_watch_imds_errors_total", .help = "IMDS GETs of ebsnap watch that failed (not 404).",
           .type = "counter"};
  errors.samples.push_back({.value = static_cast<double>(m.imds_errors)});
  F up{.name = "ebsnap_watch_imds_up", .help = "1 when the last poll of IMDS got an answer.", .type = "gauge"};
  up.samples.push_back({.value = m.imds_failing ? 0.0 : 1.0});
  F notices{.name = "ebsnap_watch_notices_total",
            .help = "Spot interruption and rebalance notices ebsnap watch answered, by kind.", .type = "counter"};
  F times{.name = "ebsnap_watch_notice_time_seconds",
          .help = "The time of the last notice by kind (spot: when the instance goes), Unix seconds.", .type = "gauge"};
  for (const char* kind : {"spot", "rebalance"}) {
    const auto n = m.notices.find(kind);
    notices.samples.push_back({.labels = {{"kind", kind}}, .value = n == m.notices.end() ? 0.0 : static_cast<double>(n->second)});
    if (const auto t = m.last_notice.find(kind); t != m.last_notice.end()) {
      times.samples.push_back(
          {.labels = {{"kind", kind}},
           .value = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(t->second.time_since_epoch()).count())});
    }
  }
  F groups{.name = "ebsnap_watch_notice_groups_total",
           .help = "Groups' answers to notices: snapshotted, already-taken or failed.", .type = "counter"};
  for (const auto& [key, count] : m.outcomes) {
    groups.samples.push_back({.labels = {{"group", key.first}, {"outcome", key.second}}, .value = static_cast<double>(count)});
  }
  return render_metrics({errors, up, notices, times, groups});
}

void poll_notices(const RunContext& context, const WatchOptions& options, WatchMemory& memory) {
  ++memory.polls;
  const bool was_failing = memory.imds_failing;
  const std::int64_t errors_before = memory.imds_errors;
  bool changed = memory.polls == 1;
  bool failed = false;
  for (const Trigger kind : {Trigger::Spot, Trigger::Rebalance}) {
    auto body = options.imds->get(path_of(kind));
    if (!body) {
      if (body.error().http_status == 404) continue;  // no notice: the usual answer
      if (!was_failing && !failed) {
        log_agent().warn("watch IMDS error=\"{}\" (still watching)", body.error().describe());
      }
      ++memory.imds_errors;
      failed = true;
      continue;
    }
    auto notice = parse_notice(kind, *body);
    if (!notice) {
      if (!contains(memory.bad_documents, *body)) {
        log_agent().error("watch {} (not acted on)", notice.error());
        memory.bad_documents.push_back(*body);
      }
      continue;
    }
    if (contains(memory.settled, notice->key)) continue;
    log_agent().warn("watch notice={} action={} time={}", notice->key, notice->action.value_or("-"),
                     ec2::format_iso8601(notice->time));
    RunReport report = handle_notice(context, *notice, options);
    const bool settled = std::ranges::all_of(report.notice->groups, [](const NoticeGroupReport& g) {
      return g.outcome != "failed" || g.attempts >= static_cast<std::int64_t>(k_max_notice_attempts);
    });
    if (settled) memory.settled.push_back(notice->key);
    ++memory.notices[std::string(to_string(kind))];
    memory.last_notice[std::string(to_string(kind))] = notice->time;
    for (const auto& g : report.notice->groups) ++memory.outcomes[{g.group, g.outcome}];
    changed = true;
    finish_report(report);
    options.on_report(report);
  }
  memory.imds_failing = failed;
  if (was_failing && !failed) log_agent().info("watch IMDS answers again");
  if (was_failing != memory.imds_failing || memory.imds_errors != errors_before) changed = true;
  if (changed && options.publish_metrics) options.publish_metrics(render_watch_metrics(memory));
}

RunReport watch(const RunContext& context, const WatchOptions& options) {
  RunReport report = new_report("watch", context);
  log_agent().info("watch groups={} interval_s={}", context.groups.size(), options.interval.count());
  WatchMemory memory;
  do {
    poll_notices(context, options, memory);
  } while (!options.wait(std::chrono::duration_cast<std::chrono::milliseconds>(options.interval)));
  log_agent().info("watch stopped");
  return report;
}

}  // namespace agent
