#include "agent/validate_json.h"

namespace agent {

std::expected<nlohmann::ordered_json, std::string> parse_json_text(std::string_view text) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 3, column 7: <what>; last read: '<input>'"
    std::string what = e.what();
    if (const auto cut = what.find("; last read"); cut != std::string::npos) what.resize(cut);
    if (const auto at = what.find(" at line "); at != std::string::npos) {
      return std::unexpected("malformed JSON" + what.substr(at));
    }
    return std::unexpected("malformed JSON at byte " + std::to_string(e.byte));
  }
}

}  // namespace agent
