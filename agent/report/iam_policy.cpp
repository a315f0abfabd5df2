#include "agent/report/iam_policy.h"

#include <set>

#include "agent/iam_policy_document.h"

namespace agent {

using Json = nlohmann::ordered_json;

const Json& recommended_iam_policy() {
  static const Json policy = Json::parse(k_iam_policy_document);
  return policy;
}

std::string iam_policy_json(const std::vector<std::string>& actions) {
  std::set<std::string> wanted;
  for (const auto& a : actions) wanted.insert(a.starts_with("ec2:") ? a : "ec2:" + a);
  const Json& policy = recommended_iam_policy();
  Json statements = Json::array();
  for (const auto& statement : policy["Statement"]) {
    const Json& listed = statement["Action"];
    Json granted = Json::array();
    for (const auto& a : listed.is_array() ? listed : Json::array({listed})) {
      if (wanted.contains(a.get<std::string>())) granted.push_back(a);
    }
    if (granted.empty()) continue;
    Json narrowed = statement;
    narrowed["Action"] = listed.is_array() ? granted : granted.front();
    statements.push_back(std::move(narrowed));
  }
  const Json out = {{"Version", policy["Version"]}, {"Statement", std::move(statements)}};
  return out.dump(2) + "\n";
}

}  // namespace agent
