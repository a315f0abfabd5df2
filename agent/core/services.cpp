#include "agent/core/services.h"

namespace agent {

ec2::Waiter Services::waiter(std::chrono::seconds timeout) const {
  auto o = options.waiter;
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  return ec2::Waiter(o, clock, sleeper, random);
}

}  // namespace agent
