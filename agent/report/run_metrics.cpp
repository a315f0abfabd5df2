#include "agent/report/run_metrics.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "agent/report/metrics.h"
#include "platform/run_dir.h"

namespace agent {
namespace {

struct FamilyInfo {
  std::string_view name;
  std::string_view type;
  std::string_view help;
};

constexpr std::array<FamilyInfo, 14> k_families = {{
    {"ebsnap_last_run_timestamp_seconds", "gauge", "When the command last ran for the group (its start), Unix seconds."},
    {"ebsnap_last_success_timestamp_seconds", "gauge", "When the command last succeeded for the group, Unix seconds."},
    {"ebsnap_last_failure_timestamp_seconds", "gauge", "When the command last failed for the group, Unix seconds."},
    {"ebsnap_last_run_duration_seconds", "gauge",
     "How long the command's last run for the group took, all its groups (mount: the restore)."},
    {"ebsnap_runs_total", "counter", "Runs of the command for the group."},
    {"ebsnap_run_failures_total", "counter", "Runs of the command for the group that failed."},
    {"ebsnap_last_freeze_window_seconds", "gauge",
     "The group's last freeze window: from the first filesystem frozen to the last thawed."},
    {"ebsnap_watchdog_thawed_total", "counter",
     "Snapshots whose filesystems the guardian thawed before the call ended (ebsnap:consistency=watchdog-thawed)."},
    {"ebsnap_snapshots_deleted_total", "counter", "Snapshots the group's retention deleted."},
    {"ebsnap_newest_snapshot_timestamp_seconds", "gauge",
     "check-backups: when each mount point's newest completed snapshot started (a copy's: its source's), in "
     "each region checked, Unix seconds."},
    {"ebsnap_prewarm_progress_ratio", "gauge",
     "prewarm: the share of each mount point's volume read so far (1: every block initialized)."},
    {"ebsnap_ec2_requests_total", "counter", "EC2 requests the command sent, by action; each retry counts."},
    {"ebsnap_ec2_throttled_total", "counter", "EC2 requests of the command that EC2 throttled, by action."},
    {"ebsnap_metrics_written_timestamp_seconds", "gauge", "When ebsnap last wrote this file, Unix seconds."},
}};

bool labelled_by_region(std::string_view command) {
  return command == "check-backups" || command == "prune" || command == "copy";
}

// The group's samples an older ebsnap wrote without the region label: they would stay in the file
// for ever beside the labelled ones (an alert on their age would fire a day after an upgrade).
void drop_unlabelled(MetricSamples& samples, const std::string& group) {
  const auto of_group = fmt::format("group=\"{}\"", group);
  std::erase_if(samples, [&](const auto& sample) {
    const auto& key = sample.first;
    return key.find(of_group) != std::string::npos && key.find("region=\"") == std::string::npos;
  });
}

double unix_seconds(std::chrono::system_clock::time_point t) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count()) / 1000.0;
}

// One group's samples after `report`.
void merge_group(const RunReport& report, const GroupReport& g, MetricSamples& samples) {
  // check-backups, prune and copy run per region (--region R: a copy_to region's copies): each
  // region's are series of their own, so that the copies' age is alarmed on apart from home's.
  const bool by_region = labelled_by_region(report.command) && !report.region.empty();
  std::vector<std::pair<std::string, std::string>> labels{{"command", report.command}, {"group", g.name}};
  if (by_region) {
    labels.emplace_back("region", report.region);
    drop_unlabelled(samples, g.name);
  }
  const auto key = [&labels](std::string_view name) { return metric_key(name, labels); };
  const double started = unix_seconds(report.started_at);
  const bool ok = g.ok() && !report.error;
  samples[key("ebsnap_last_run_timestamp_seconds")] = started;
  samples[key(ok ? "ebsnap_last_success_timestamp_seconds" : "ebsnap_last_failure_timestamp_seconds")] = started;
  samples[key("ebsnap_last_run_duration_seconds")] = static_cast<double>(report.duration_ms.value_or(0)) / 1000.0;
  samples[key("ebsnap_runs_total")] += 1;
  samples[key("ebsnap_run_failures_total")] += ok ? 0 : 1;  // present from the first run on
  if (g.freeze_window_ms) {
    samples[key("ebsnap_last_freeze_window_seconds")] = static_cast<double>(*g.freeze_window_ms) / 1000.0;
    samples[key("ebsnap_watchdog_thawed_total")] += static_cast<double>(
        std::ranges::count(g.volumes, std::optional<std::string>("watchdog-thawed"), &VolumeReport::consistency));
  }
  for (const auto& p : report.prune) {
    if (p.group == g.name) samples[key("ebsnap_snapshots_deleted_total")] += static_cast<double>(p.deleted.size());
  }
  if (report.command == "prewarm") {
    for (const auto& v : g.volumes) {
      if (!v.prewarm_percent) continue;
      samples[metric_key("ebsnap_prewarm_progress_ratio", {{"group", g.name}, {"mount_point", v.mount_point}})] =
          static_cast<double>(*v.prewarm_percent) / 100.0;
    }
  }
  if (report.command != "check-backups") return;
  for (const auto& v : g.volumes) {
    if (!v.latest_snapshot_age_s) continue;  // its age when the run started, to the second
    std::vector<std::pair<std::string, std::string>> where{{"group", g.name}, {"mount_point", v.mount_point}};
    if (by_region) where.emplace_back("region", report.region);
    samples[metric_key("ebsnap_newest_snapshot_timestamp_seconds", where)] =
        std::floor(started) - static_cast<double>(*v.latest_snapshot_age_s);
  }
}

}  // namespace

MetricSamples parse_metric_samples(std::string_view text) {
  MetricSamples out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const auto line = text.substr(start, end - start);
    start = end + 1;
    const auto space = line.rfind(' ');
    if (line.empty() || line.front() == '#' || space == std::string_view::npos) continue;
    double value = 0;
    const auto number = line.substr(space + 1);
    const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    // Not a number ebsnap writes (nan, inf): a sample no counter can go on from.
    if (ec != std::errc{} || ptr != number.data() + number.size() || !std::isfinite(value)) continue;
    out[std::string(line.substr(0, space))] = value;
  }
  return out;
}

bool has_run_metrics(std::string_view command) {
  // freeze and thaw: DLM's pre and post scripts (thaw GROUP's report has the hold's freeze window;
  // a hold that ended at its bound is thaw's failure). thaw --all and thaw MOUNT are not counted.
  constexpr std::array<std::string_view, 11> k_counted = {"mount",    "snapshot",      "unmount", "prune", "gc",
                                                          "prewarm",  "shutdown",      "freeze",  "thaw",
                                                          "check-backups", "copy"};
  return std::ranges::find(k_counted, command) != k_counted.end();
}

MetricSamples merge_run_metrics(const RunReport& report, MetricSamples previous) {
  for (const auto& g : report.groups) merge_group(report, g, previous);
  for (const auto& [action, r] : report.ec2_requests) {
    const std::vector<std::pair<std::string, std::string>> labels{{"command", report.command}, {"action", action}};
    previous[metric_key("ebsnap_ec2_requests_total", labels)] += static_cast<double>(r.requests);
    previous[metric_key("ebsnap_ec2_throttled_total", labels)] += static_cast<double>(r.throttled);
  }
  previous[metric_key("ebsnap_metrics_written_timestamp_seconds", {{"command", report.command}})] =
      unix_seconds(std::chrono::system_clock::now());
  return previous;
}

std::string render_run_metrics(const MetricSamples& samples) {
  std::string out;
  for (const auto& f : k_families) {
    std::string lines;
    for (auto it = samples.lower_bound(std::string(f.name)); it != samples.end() && it->first.starts_with(f.name); ++it) {
      const auto rest = std::string_view(it->first).substr(f.name.size());
      if (!rest.empty() && rest.front() != '{') continue;  // another family whose name starts alike
      lines += fmt::format("{} {}\n", it->first, metric_value(it->second));
    }
    if (!lines.empty()) out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}", f.name, f.help, f.name, f.type, lines);
  }
  return out;
}

std::expected<void, std::string> publish_run_metrics(const std::filesystem::path& dir, const RunReport& report) {
  const std::string name = "ebsnap-" + report.command;
  const auto lock_path = dir / fmt::format(".{}.lock", name);
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock < 0) return std::unexpected(fmt::format("metrics: open {}: {}", lock_path.string(), std::strerror(errno)));
  while (::flock(lock, LOCK_EX) != 0 && errno == EINTR) {
  }
  auto previous = platform::read_state_file(dir / (name + ".prom"));
  std::expected<void, std::string> written;
  if (previous || previous.error().kind == platform::ErrorKind::NotFound) {
    const auto merged = merge_run_metrics(report, parse_metric_samples(previous.value_or(std::string())));
    written = write_metrics_file(dir, name, render_run_metrics(merged));
  } else {
    written = std::unexpected("metrics: " + previous.error().describe());
  }
  ::close(lock);
  return written;
}

}  // namespace agent
