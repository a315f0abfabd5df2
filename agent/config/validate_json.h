#pragma once
// JSON text → document, strictly: a key repeated in one object is an error (nlohmann would keep
// the last one silently, hiding an operator's mistake). Errors are one line that gives line and
// column (or the JSON path of the repeated key) and never quote the input: userdata and config
// files may hold secrets, so nlohmann's "last read: ..." is dropped.
#include <expected>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace agent {

struct JsonTextError {
  std::string json_path;  // set for a repeated key: "$.groups.solr.volumes[0].size_gib"
  std::string message;    // "malformed JSON at line 3, column 7: syntax error while parsing value"
};

[[nodiscard]] std::expected<nlohmann::ordered_json, JsonTextError> parse_json_text(std::string_view text);

}  // namespace agent
