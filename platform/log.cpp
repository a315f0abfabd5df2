#include "platform/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace platform {
namespace {
spdlog::logger& named(const char* name) {
  if (auto existing = spdlog::get(name)) return *existing;
  return *spdlog::stderr_logger_mt(name);
}
}  // namespace

spdlog::logger& log_udev() {
  static spdlog::logger& l = named("udev");
  return l;
}
spdlog::logger& log_mount() {
  static spdlog::logger& l = named("mount");
  return l;
}
spdlog::logger& log_freeze() {
  static spdlog::logger& l = named("freeze");
  return l;
}
spdlog::logger& log_blkid() {
  static spdlog::logger& l = named("blkid");
  return l;
}
}  // namespace platform
