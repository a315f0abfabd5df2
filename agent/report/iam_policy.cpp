#include "agent/report/iam_policy.h"

#include <nlohmann/json.hpp>

namespace agent {

std::string iam_policy_json(const std::vector<std::string>& actions) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& a : actions) list.push_back(a.starts_with("ec2:") ? a : "ec2:" + a);
  nlohmann::ordered_json statement = {
      {"Sid", "EbsnapMissing"}, {"Effect", "Allow"}, {"Action", list}, {"Resource", "*"}};
  nlohmann::ordered_json policy = {{"Version", "2012-10-17"}, {"Statement", nlohmann::ordered_json::array({statement})}};
  return policy.dump(2) + "\n";
}

}  // namespace agent
