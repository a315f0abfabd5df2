#pragma once
// Userdata: JSON, Snaptastic-compatible. Top-level string values ("role", "cluster",
// "environment", ...) feed the filter tags; an optional "ebsnap" object has the config file's
// schema and is merged over the config file (see load_config).
//
// Userdata that is not a JSON object (a cloud-init script, say) is not an error by itself: it
// only becomes one when a command needs filter values from it. Raw userdata is never logged and
// never quoted in a message.
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "agent/config/config.h"

namespace agent {

struct Userdata {
  std::string origin = "userdata";  // for messages: "userdata", "--userdata", "@/path/file"
  bool present = false;             // false: the instance has no userdata
  // Why the userdata cannot serve as JSON ("not valid JSON at line 1, column 1"); only an error
  // when filter values are needed.
  std::optional<std::string> problem;
  std::map<std::string, std::string> values;     // top-level string values
  std::map<std::string, std::string> non_string; // other top-level keys → their JSON type
  std::optional<nlohmann::ordered_json> ebsnap;  // the "ebsnap" overlay object
};

// Parses userdata text (nullopt: the instance has none). Fails only when the userdata is JSON
// and its "ebsnap" member is not an object: that is meant for us and wrong.
[[nodiscard]] std::expected<Userdata, ConfigError> parse_userdata(const std::optional<std::string>& text,
                                                                  std::string origin);

// The value of --userdata: inline JSON, or "@FILE" to read FILE. Returns the text and sets
// origin to "--userdata" or "@FILE".
struct UserdataText {
  std::string text;
  std::string origin;
};
[[nodiscard]] std::expected<UserdataText, ConfigError> read_userdata_option(std::string_view value);

// The filter tags with their userdata values, in config order. Fails with one line when the
// userdata is missing, not JSON, or lacks a value (or has a non-string or empty one).
[[nodiscard]] std::expected<FilterValues, ConfigError> resolve_filter_values(const Config& config,
                                                                             const Userdata& userdata);

}  // namespace agent
