#include "ec2/call_stats.h"

namespace ec2 {

void CallStats::record(std::string_view action, bool throttled) {
  std::lock_guard lock(mutex_);
  auto it = calls_.find(action);
  if (it == calls_.end()) it = calls_.emplace(std::string(action), ActionCalls{}).first;
  ++it->second.requests;
  if (throttled) ++it->second.throttled;
}

std::map<std::string, ActionCalls> CallStats::by_action() const {
  std::lock_guard lock(mutex_);
  return {calls_.begin(), calls_.end()};
}

}  // namespace ec2
