#pragma once
// Prometheus metrics in the text exposition format, for node_exporter's textfile collector: one
// file per writer under its directory (/var/lib/prometheus/node-exporter on Debian), replaced at
// once (a temporary file in the same directory, then rename), so the collector never reads half
// of one. Names follow Prometheus' rules: ebsnap_ prefix, snake case, base units (_seconds),
// counters end in _total.
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agent {

struct MetricSample {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

struct MetricFamily {
  std::string name;  // [a-zA-Z_:][a-zA-Z0-9_:]*
  std::string help;
  std::string type;  // "gauge" | "counter"
  std::vector<MetricSample> samples;
};

// A sample's name and labels as the file has them: ebsnap_x_total{group="a\"b"}; label values
// escaped (\\, \", \n).
[[nodiscard]] std::string metric_key(std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels);

// A sample's value: an integer without a decimal point, else the shortest exact form.
[[nodiscard]] std::string metric_value(double value);

// "# HELP", "# TYPE" and one line per sample (metric_key, a space, the value).
[[nodiscard]] std::string render_metrics(const std::vector<MetricFamily>& families);

// Debian's prometheus-node-exporter textfile directory.
inline constexpr std::string_view k_default_metrics_dir = "/var/lib/prometheus/node-exporter";

// Where metrics go: --metrics-dir, else the config's "metrics_dir", else the default directory
// when it exists; nullopt: nowhere (no node_exporter here).
[[nodiscard]] std::optional<std::filesystem::path> resolve_metrics_dir(
    const std::optional<std::string>& option, const std::optional<std::string>& config);

// Replaces dir/<name>.prom with `text` (mode 0644: node_exporter does not run as root).
[[nodiscard]] std::expected<void, std::string> write_metrics_file(const std::filesystem::path& dir,
                                                                  std::string_view name,
                                                                  std::string_view text);

}  // namespace agent
