// The config file and the userdata overlay, through the whole validator: the file's bytes as
// load_config_file parses and validates them (parse_json_text, config_from_document), then the
// userdata as the agent reads it (parse_userdata, apply_userdata, resolve_filter_values).
// Input: the config file's bytes, a NUL, the userdata's bytes (no NUL: the instance has none).
#include "agent/config/config.h"
#include "agent/config/userdata.h"
#include "agent/config/validate.h"
#include "agent/config/validate_json.h"
#include "tests/fuzz/fuzz_driver.h"

namespace fuzz {

void fuzz_one(std::span<const std::uint8_t> data) {
  const std::string_view input(reinterpret_cast<const char*>(data.data()), data.size());
  const auto nul = input.find('\0');
  const std::string_view file = input.substr(0, nul);
  std::optional<std::string> userdata_text;
  if (nul != std::string_view::npos) userdata_text = std::string(input.substr(nul + 1));

  auto doc = agent::parse_json_text(file);
  if (!doc) {
    use(doc.error().message);
    return;
  }
  auto config = agent::config_from_document(*doc, "/etc/ebsnap/ebsnap.json");
  if (!config) {
    use(config.error().describe());
    return;
  }
  auto userdata = agent::parse_userdata(userdata_text, "userdata");
  if (!userdata) {
    use(userdata.error().describe());
    return;
  }
  auto merged = agent::apply_userdata(std::move(*config), *userdata);
  if (!merged) {
    use(merged.error().describe());
    return;
  }
  auto filters = agent::resolve_filter_values(*merged, *userdata);
  if (!filters) use(filters.error().describe());
}

}  // namespace fuzz
