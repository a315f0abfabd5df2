#include "ec2/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace ec2 {
namespace {
spdlog::logger& named(const char* name) {
  if (auto existing = spdlog::get(name)) return *existing;
  return *spdlog::stderr_logger_mt(name);
}
}  // namespace

spdlog::logger& log_ec2() {
  static spdlog::logger& l = named("ec2");
  return l;
}
spdlog::logger& log_imds() {
  static spdlog::logger& l = named("imds");
  return l;
}
}  // namespace ec2
