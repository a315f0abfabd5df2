#include "agent/config/validate_json.h"

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "agent/config/validate.h"

namespace agent {
namespace {

using Json = nlohmann::ordered_json;

// Where the parser is, to name the path of a repeated key.
class KeyTracker {
 public:
  bool on_event(nlohmann::detail::parse_event_t event, const Json& parsed) {
    using E = nlohmann::detail::parse_event_t;
    switch (event) {
      case E::object_start:
        element_begins();
        stack_.push_back(Level{.object = true});
        break;
      case E::array_start:
        element_begins();
        stack_.push_back(Level{.object = false});
        break;
      case E::key: {
        auto& top = stack_.back();
        top.key = parsed.get<std::string>();
        if (!top.keys.insert(top.key).second && !duplicate_) duplicate_ = path_of_current_key();
        break;
      }
      case E::value:
        element_begins();
        break;
      case E::object_end:
      case E::array_end:
        if (!stack_.empty()) stack_.pop_back();
        break;
    }
    return true;
  }

  [[nodiscard]] const std::optional<std::string>& duplicate() const { return duplicate_; }

 private:
  struct Level {
    bool object = true;
    std::string key;
    std::int64_t index = -1;
    std::set<std::string> keys;
  };

  void element_begins() {
    if (!stack_.empty() && !stack_.back().object) ++stack_.back().index;
  }

  std::string path_of_current_key() const {
    std::string path = "$";
    for (const auto& level : stack_) {
      if (level.object) {
        path = json_path_child(path, level.key);
      } else {
        path += '[';
        path += std::to_string(level.index);
        path += ']';
      }
    }
    return path;
  }

  std::vector<Level> stack_;
  std::optional<std::string> duplicate_;
};

}  // namespace

std::expected<nlohmann::ordered_json, JsonTextError> parse_json_text(std::string_view text) {
  KeyTracker tracker;
  Json doc;
  try {
    doc = Json::parse(text, [&tracker](int, nlohmann::detail::parse_event_t event, Json& parsed) {
      return tracker.on_event(event, parsed);
    });
  } catch (const nlohmann::json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 3, column 7: <what>; last read: '<input>'"
    std::string what = e.what();
    if (const auto cut = what.find("; last read"); cut != std::string::npos) what.resize(cut);
    if (const auto at = what.find(" at line "); at != std::string::npos) {
      return std::unexpected(JsonTextError{.message = "malformed JSON" + what.substr(at)});
    }
    return std::unexpected(JsonTextError{.message = "malformed JSON at byte " + std::to_string(e.byte)});
  } catch (const nlohmann::json::out_of_range&) {
    // A number beyond a double (1e99999): nlohmann throws out_of_range (406), not parse_error,
    // and it escaped to std::terminate (found by tests/fuzz/config). Its message quotes the
    // number; like the parse errors above, the input is not repeated.
    return std::unexpected(JsonTextError{.message = "malformed JSON: a number too large for a double"});
  }
  if (tracker.duplicate()) {
    return std::unexpected(JsonTextError{.json_path = *tracker.duplicate(), .message = "expected each key once; this one is repeated"});
  }
  return doc;
}

}  // namespace agent
