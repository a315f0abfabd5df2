#pragma once
#include <spdlog/spdlog.h>

namespace agent {
[[nodiscard]] spdlog::logger& log_agent();
// Sets every logger's level and a key=value friendly pattern on stderr.
// verbosity: -1 quiet (errors only), 0 info, 1 debug, 2 trace.
void configure_logging(int verbosity);
}  // namespace agent
