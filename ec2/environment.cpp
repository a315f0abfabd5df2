#include "ec2/environment.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace ec2 {

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read-only use
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

EnvLookup fixed_environment(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

bool env_flag(const EnvLookup& env, const std::string& name) {
  auto v = env(name);
  if (!v) return false;
  std::string s = *v;
  std::ranges::transform(s, s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s == "true" || s == "1" || s == "yes";
}

}  // namespace ec2
