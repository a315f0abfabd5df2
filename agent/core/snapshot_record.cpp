#include "agent/core/snapshot_record.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agent/core/epoch_ms.h"
#include "agent/core/log.h"
#include "ebsnap/try.h"
#include "platform/run_dir.h"

namespace agent {
namespace {

using nlohmann::json;
constexpr std::string_view k_prefix = "snapshot-";
constexpr std::string_view k_suffix = ".run";

long long to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::optional<Consistency> parse_consistency(std::string_view s) {
  for (auto c : {Consistency::Frozen, Consistency::Unfrozen, Consistency::WatchdogThawed}) {
    if (to_string(c) == s) return c;
  }
  return std::nullopt;
}

json to_json(const RunRecord& r) {
  json volumes = json::array();
  for (const auto& v : r.volumes) {
    json tags = json::array();
    for (const auto& t : v.tags) tags.push_back({t.key, t.value});
    volumes.push_back({{"volume_id", v.volume_id.value},
                       {"mount_point", v.mount_point},
                       {"intended", to_string(v.intended)},
                       {"verdict", v.verdict ? json(to_string(*v.verdict)) : json(nullptr)},
                       {"tags", tags}});
  }
  return {{"format", "ebsnap-snapshot-run 1"},
          {"run_id", r.run_id},
          {"group", r.group},
          {"instance_id", r.instance_id},
          {"pid", r.pid},
          {"pid_start", r.pid_start},
          {"started_at_ms", to_ms(r.started_at)},
          {"in_flight_until_ms", to_ms(r.in_flight_until)},
          {"volumes", volumes}};
}

std::optional<RunRecord> from_json(const json& j) {
  if (!j.is_object() || j.value("format", "") != "ebsnap-snapshot-run 1") return std::nullopt;
  // Integers only: get<int>() of a number with a fraction or exponent (1e300) casts a double
  // out of range, which is undefined.
  for (const char* key : {"pid", "pid_start", "started_at_ms", "in_flight_until_ms"}) {
    if (!j.at(key).is_number_integer()) return std::nullopt;
  }
  RunRecord r;
  r.run_id = j.at("run_id").get<std::string>();
  r.group = j.at("group").get<std::string>();
  r.instance_id = j.at("instance_id").get<std::string>();
  r.pid = j.at("pid").get<int>();
  r.pid_start = j.at("pid_start").get<unsigned long long>();
  const auto started_at = time_from_epoch_ms(j.at("started_at_ms").get<std::int64_t>());
  const auto in_flight_until = time_from_epoch_ms(j.at("in_flight_until_ms").get<std::int64_t>());
  if (!started_at || !in_flight_until) return std::nullopt;
  r.started_at = *started_at;
  r.in_flight_until = *in_flight_until;
  for (const auto& v : j.at("volumes")) {
    RunRecordVolume vol;
    vol.volume_id = ec2::VolumeId{v.at("volume_id").get<std::string>()};
    vol.mount_point = v.at("mount_point").get<std::string>();
    vol.intended = parse_consistency(v.at("intended").get<std::string>()).value_or(Consistency::Frozen);
    if (v.at("verdict").is_string()) vol.verdict = parse_consistency(v.at("verdict").get<std::string>());
    for (const auto& t : v.at("tags")) vol.tags.push_back({t.at(0).get<std::string>(), t.at(1).get<std::string>()});
    r.volumes.push_back(std::move(vol));
  }
  if (r.run_id.empty()) return std::nullopt;
  return r;
}

}  // namespace

std::optional<RunRecord> parse_run_record(std::string_view text) {
  try {
    return from_json(json::parse(text));
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

Consistency RunRecordVolume::final_consistency() const {
  if (verdict) return *verdict;
  return intended == Consistency::Frozen ? Consistency::WatchdogThawed : intended;
}

platform::Result<void> write_run_record(const std::filesystem::path& run_dir, RunRecord& record) {
  EBSNAP_TRY(platform::check_run_directory(run_dir, true));
  record.path = run_dir / (std::string(k_prefix) + record.run_id + "-" + record.group + std::string(k_suffix));
  return platform::write_state_file(record.path, to_json(record).dump() + "\n", false);
}

void remove_run_record(const RunRecord& record) {
  if (!record.path.empty() && ::unlink(record.path.c_str()) != 0 && errno != ENOENT) {
    log_agent().warn("remove run record file={} error=\"{}\"", record.path.string(), std::strerror(errno));
  }
}

std::vector<RunRecord> read_run_records(const std::filesystem::path& run_dir) {
  std::vector<RunRecord> out;
  if (auto checked = platform::check_run_directory(run_dir, false); !checked) {
    if (checked.error().kind != platform::ErrorKind::NotFound) {
      log_agent().error("run records not read error=\"{}\"", checked.error().describe());
    }
    return out;
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(k_prefix) || !name.ends_with(k_suffix)) continue;
    auto text = platform::read_state_file(entry.path());
    if (!text) {
      log_agent().warn("run record file={} error=\"{}\"; ignored", entry.path().string(), text.error().describe());
      continue;
    }
    auto r = parse_run_record(*text);
    if (!r) {
      log_agent().warn("run record file={} not recognised; ignored", entry.path().string());
      continue;
    }
    r->path = entry.path();
    out.push_back(std::move(*r));
  }
  std::ranges::sort(out, [](const RunRecord& a, const RunRecord& b) { return a.started_at < b.started_at; });
  return out;
}

unsigned long long process_start_time(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  // Fields 3.. follow; starttime is field 22, i.e. the 20th after the name.
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return 0;
  }
  return std::strtoull(field.c_str(), nullptr, 10);
}

bool record_owner_alive(const RunRecord& record) {
  if (record.pid == ::getpid()) return true;
  const auto start = process_start_time(record.pid);
  return start != 0 && start == record.pid_start;
}

ByRunTag prove_by_run_tag(const RunRecord& record, const std::vector<ec2::Snapshot>& found) {
  ByRunTag out;
  for (const auto& snap : found) {
    const bool named = std::ranges::any_of(record.volumes, [&](const RunRecordVolume& v) { return v.volume_id == snap.volume_id; });
    const bool in_run = snap.start_time && *snap.start_time >= record.started_at - k_run_clock_skew &&
                        *snap.start_time <= record.in_flight_until + k_run_clock_skew;
    const bool tagged = ec2::find_tag(snap.tags, k_tag_run_id) == record.run_id;
    if (named && in_run && tagged) {
      out.proven.push_back(snap);
      continue;
    }
    log_agent().warn("snapshot_id={} volume_id={} carries ebsnap:run-id={} but is not provably of that run ({}): left alone",
                     snap.id, snap.volume_id, record.run_id,
                     !tagged ? "its tag differs" : !named ? "its volume is not in the run record" : "it started outside the run");
    out.unproven.push_back(snap);
  }
  return out;
}

TagFixups apply_final_tags(ec2::Ec2Api& ec2, const RunRecord& record, const std::vector<ec2::Snapshot>& found) {
  TagFixups out;
  // Snapshots needing the same tags go in one CreateTags call.
  std::map<std::vector<std::pair<std::string, std::string>>, std::vector<std::string>> batches;
  for (const auto& snap : found) {
    auto vol = std::ranges::find_if(record.volumes, [&](const RunRecordVolume& v) { return v.volume_id == snap.volume_id; });
    if (vol == record.volumes.end()) {
      // CreateSnapshots took every volume of the instance but the excluded ones: one attached
      // after we listed them got a snapshot nobody asked for. It carries our run id; remove it.
      auto r = ec2.delete_snapshot({.snapshot_id = snap.id});
      if (r) {
        out.deleted.push_back(snap.id);
        log_agent().warn("deleted snapshot_id={} volume_id={} run_id={}: its volume is not in the group",
                         snap.id, snap.volume_id, record.run_id);
      } else if (!out.error) {
        out.error = "delete stray snapshot " + snap.id.value + ": " + r.error().describe();
      }
      continue;
    }
    std::vector<std::pair<std::string, std::string>> missing;
    for (auto tag : vol->tags) {
      if (tag.key == k_tag_consistency) tag.value = std::string(to_string(vol->final_consistency()));
      if (ec2::find_tag(snap.tags, tag.key) != tag.value) missing.emplace_back(tag.key, tag.value);
    }
    if (!missing.empty()) batches[missing].push_back(snap.id.value);
  }
  for (const auto& [tags, ids] : batches) {
    ec2::CreateTagsOptions o{.resource_ids = ids};
    for (const auto& [k, v] : tags) o.tags.push_back({k, v});
    auto r = ec2.create_tags(o);
    if (!r) {
      if (!out.error) out.error = "CreateTags: " + r.error().describe();
      continue;
    }
    for (const auto& id : ids) out.retagged.push_back(ec2::SnapshotId{id});
  }
  return out;
}

std::vector<ReconcileReport> reconcile_interrupted_snapshots(ec2::Ec2Api& ec2, const ec2::Clock& clock,
                                                            const std::filesystem::path& run_dir, bool include_live) {
  std::vector<ReconcileReport> out;
  for (const auto& record : read_run_records(run_dir)) {
    if (!include_live && record_owner_alive(record)) continue;
    ReconcileReport result{.run_id = record.run_id, .group = record.group};
    auto found = ec2.describe_snapshots({.owner_ids = {"self"},
                                         .filters = {{"tag:" + std::string(k_tag_run_id), {record.run_id}},
                                                     {"tag:" + std::string(k_tag_group), {record.group}}}});
    if (!found) {
      result.error = "DescribeSnapshots: " + found.error().describe();
      log_agent().warn("reconcile run_id={} group={} error=\"{}\"", record.run_id, record.group, *result.error);
      out.push_back(std::move(result));
      continue;
    }
    auto split = prove_by_run_tag(record, *found);
    for (const auto& s : split.proven) result.found.push_back(s.id.value);
    for (const auto& s : split.unproven) result.left_alone.push_back(s.id.value);
    auto fix = apply_final_tags(ec2, record, split.proven);
    for (const auto& id : fix.retagged) result.retagged.push_back(id.value);
    for (const auto& id : fix.deleted) result.deleted.push_back(id.value);
    result.error = fix.error;
    const bool all_found = std::ranges::all_of(record.volumes, [&](const RunRecordVolume& v) {
      return std::ranges::any_of(split.proven, [&](const ec2::Snapshot& s) { return s.volume_id == v.volume_id; });
    });
    if (!result.error && (all_found || clock.now() >= record.in_flight_until)) {
      remove_run_record(record);
      result.record_removed = true;
      result.note = all_found ? "every snapshot of the run found" : "no call of the run can still be in flight";
    } else if (!result.error) {
      result.note = "a call of the run may still be in flight; looking again on the next run";
    }
    log_agent().info("reconcile run_id={} group={} found={} retagged={} deleted={} record_removed={}", record.run_id,
                     record.group, result.found.size(), result.retagged.size(), result.deleted.size(),
                     result.record_removed);
    out.push_back(std::move(result));
  }
  return out;
}

std::string make_run_id(const ec2::Clock& clock, ec2::RandomSource& random) {
  const auto now = clock.now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::string hex;
  for (int i = 0; i < 8; ++i) hex += "0123456789abcdef"[static_cast<int>(random.uniform() * 16) & 15];
  return std::string(stamp) + "." + std::to_string(1000 + ms).substr(1) + "-" + hex;
}

}  // namespace agent
