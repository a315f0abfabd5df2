#include "agent/core/services.h"

namespace agent {

ec2::Waiter Services::waiter(std::chrono::seconds timeout) const {
  auto o = options.waiter;
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  return ec2::Waiter(o, clock, sleeper, random);
}

RunReport new_report(std::string command, const RunContext& context) {
  std::vector<std::string> names;
  for (const auto* g : context.groups) names.push_back(g->name);
  auto report = new_report(std::move(command), context.services.options.dry_run, names);
  report.region = context.instance.region;
  return report;
}

}  // namespace agent
