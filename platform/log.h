#pragma once
#include <spdlog/spdlog.h>

namespace platform {
// Named loggers of this layer, writing to stderr only: never to a file, which may sit on a
// filesystem that is frozen.
[[nodiscard]] spdlog::logger& log_udev();
[[nodiscard]] spdlog::logger& log_mount();
[[nodiscard]] spdlog::logger& log_freeze();
[[nodiscard]] spdlog::logger& log_blkid();
}  // namespace platform
