#pragma once
// Reads environment variables through a function, so tests can supply their own.
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace ec2 {

// Returns the value of a variable, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// getenv(3).
[[nodiscard]] EnvLookup process_environment();
// A fixed map (tests).
[[nodiscard]] EnvLookup fixed_environment(std::map<std::string, std::string> values);

// True for "true"/"1"/"yes" (case-insensitive), as the AWS SDKs read boolean variables.
[[nodiscard]] bool env_flag(const EnvLookup& env, const std::string& name);

}  // namespace ec2
