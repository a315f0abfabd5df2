#include "agent/core/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace agent {

spdlog::logger& log_agent() {
  static spdlog::logger& l = [] -> spdlog::logger& {
    if (auto existing = spdlog::get("agent")) return *existing;
    return *spdlog::stderr_logger_mt("agent");
  }();
  return l;
}

void configure_logging(int verbosity) {
  auto level = spdlog::level::info;
  if (verbosity < 0) level = spdlog::level::err;
  if (verbosity == 1) level = spdlog::level::debug;
  if (verbosity >= 2) level = spdlog::level::trace;
  spdlog::set_level(level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %n: %v");
}

}  // namespace agent
