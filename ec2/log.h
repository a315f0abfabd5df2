#pragma once
#include <spdlog/spdlog.h>

namespace ec2 {
// Named loggers of this layer; they write to stderr, never to a file (a file may be on a
// frozen filesystem). Level and pattern follow spdlog's global settings.
[[nodiscard]] spdlog::logger& log_ec2();
[[nodiscard]] spdlog::logger& log_imds();
}  // namespace ec2
