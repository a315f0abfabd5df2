#pragma once
// The metrics of ebsnap's runs, for node_exporter's textfile collector (agent/report/metrics.h):
// one file per command, ebsnap-<command>.prom, holding every group that command has run for. A
// run replaces its own groups' samples and keeps the other groups'; counters go on from the
// file's values (a file removed starts them again at 0, which Prometheus reads as a reset).
//
// Per command and group: the last run's, success's and failure's time, the last run's duration
// (mount: the restore), runs and failures; snapshot, shutdown: the last freeze window and the
// snapshots the guardian thawed (watchdog-thawed); prune: the snapshots deleted;
// check-backups: each mount point's newest completed snapshot's time; prewarm: each mount point's
// share read. check-backups, prune and copy label their group's samples with the run's region
// (check-backups --region R watches a copy_to region's copies: the copy lag), and drop the group's
// samples an older ebsnap wrote without it. Per command and EC2 action: the requests sent and those throttled.
#include <expected>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "agent/report/report.h"

namespace agent {

// A metrics file's samples: the name and labels exactly as written (metric_key) → the value.
// Comments and lines that are not a sample are skipped.
using MetricSamples = std::map<std::string, double>;
[[nodiscard]] MetricSamples parse_metric_samples(std::string_view text);

// Whether a command's runs are counted: mount, snapshot, unmount, prune, gc, prewarm, shutdown,
// freeze, thaw (GROUP), check-backups and copy (the others change nothing; watch writes its own file).
[[nodiscard]] bool has_run_metrics(std::string_view command);

// The samples after `report` (not a dry run): `previous` with the run's groups updated.
[[nodiscard]] MetricSamples merge_run_metrics(const RunReport& report, MetricSamples previous);

// The file's text: HELP and TYPE of each family that has samples, then its samples.
[[nodiscard]] std::string render_run_metrics(const MetricSamples& samples);

// Reads <dir>/ebsnap-<command>.prom, merges the report in and replaces the file, holding
// <dir>/.ebsnap-<command>.lock meanwhile: two runs of one command for different groups at once
// keep each other's samples.
[[nodiscard]] std::expected<void, std::string> publish_run_metrics(const std::filesystem::path& dir,
                                                                   const RunReport& report);

}  // namespace agent
