#pragma once
// The EC2 requests a client sent, by action: every attempt (a retry is a request of its own, and
// counts against EC2's token buckets like the first), and those EC2 throttled. Shared by the
// clients of one run (Ec2ClientOptions::call_stats), read once the run is done for its report
// and metrics. Thread-safe: volumes run on threads of their own.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace ec2 {

struct ActionCalls {
  std::uint64_t requests = 0;
  std::uint64_t throttled = 0;
  bool operator==(const ActionCalls&) const = default;
};

class CallStats {
 public:
  void record(std::string_view action, bool throttled);
  [[nodiscard]] std::map<std::string, ActionCalls> by_action() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, ActionCalls, std::less<>> calls_;
};

}  // namespace ec2
