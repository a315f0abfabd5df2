#include "agent/report/metrics.h"

#include <fmt/format.h>

#include <cmath>

#include "platform/run_dir.h"

namespace agent {
namespace {

std::string escaped(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string metric_value(double v) {
  // An integer without a decimal point where a double holds it exactly (|v| < 2^53): a cast to
  // long long of a value beyond its range is undefined (a previous file's 1.8e20 was one).
  if (std::isfinite(v) && std::fabs(v) < 0x1p53 && v == std::trunc(v)) {
    return std::to_string(static_cast<long long>(v));
  }
  return fmt::format("{}", v);
}

std::string metric_key(std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels) {
  std::string out(name);
  if (labels.empty()) return out;
  out += '{';
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += fmt::format("{}=\"{}\"", labels[i].first, escaped(labels[i].second));
  }
  out += '}';
  return out;
}

std::string render_metrics(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const auto& f : families) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
    for (const auto& s : f.samples) {
      out += metric_key(f.name, s.labels);
      out += ' ';
      out += metric_value(s.value);
      out += '\n';
    }
  }
  return out;
}

std::optional<std::filesystem::path> resolve_metrics_dir(const std::optional<std::string>& option,
                                                         const std::optional<std::string>& config) {
  if (option) return std::filesystem::path(*option);
  if (config) return std::filesystem::path(*config);
  std::error_code ec;
  if (std::filesystem::is_directory(k_default_metrics_dir, ec))
    return std::filesystem::path(k_default_metrics_dir);
  return std::nullopt;
}

std::expected<void, std::string> write_metrics_file(const std::filesystem::path& dir, std::string_view name,
                                                    std::string_view text) {
  // The temporary file is <name>.prom.tmp: the collector reads *.prom only.
  auto written = platform::write_state_file(dir / (std::string(name) + ".prom"), text, false, 0644);
  if (!written) return std::unexpected("metrics: " + written.error().describe());
  return {};
}

}  // namespace agent
