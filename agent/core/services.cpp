#include "agent/core/services.h"

namespace agent {

ec2::Waiter Services::waiter(std::chrono::seconds timeout) const {
  auto o = options.waiter;
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  return ec2::Waiter(o, clock, sleeper, random);
}

Services Services::with_ec2(ec2::Ec2Api& other) const {
  return Services{.ec2 = other,
                  .devices = devices,
                  .mounter = mounter,
                  .freeze_ops = freeze_ops,
                  .clock = clock,
                  .sleeper = sleeper,
                  .random = random,
                  .guardians = guardians,
                  .hooks = hooks,
                  .regions = regions,
                  .options = options};
}

RunReport new_report(std::string command, const RunContext& context) {
  std::vector<std::string> names;
  for (const auto* g : context.groups) names.push_back(g->name);
  auto report = new_report(std::move(command), context.services.options.dry_run, names);
  report.region = context.instance.region;
  return report;
}

}  // namespace agent
