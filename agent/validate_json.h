#pragma once
// JSON text → document, with a one-line error that gives line and column and never quotes the
// input (userdata and config files may hold secrets; nlohmann's "last read: ..." is dropped).
#include <expected>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace agent {

// Error: "malformed JSON at line 3, column 7: syntax error while parsing value - invalid literal".
[[nodiscard]] std::expected<nlohmann::ordered_json, std::string> parse_json_text(std::string_view text);

}  // namespace agent
