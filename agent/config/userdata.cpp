#include "agent/config/userdata.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/config/validate.h"
#include "agent/config/validate_json.h"
#include "agent/config/validate_rules.h"

namespace agent {
namespace {

// EC2 caps userdata at 16 KiB; a file given with @ may be larger, but not absurdly.
constexpr std::size_t k_max_userdata_bytes = 1 << 20;

std::string joined_filter_tags(const Config& config) {
  std::string out;
  for (const auto& key : config.filter_tags) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

}  // namespace

std::expected<Userdata, ConfigError> parse_userdata(const std::optional<std::string>& text, std::string origin) {
  Userdata userdata{.origin = std::move(origin)};
  if (!text) return userdata;
  userdata.present = true;
  auto doc = parse_json_text(*text);
  if (!doc) {
    // Not an error yet: a cloud-init script is fine as long as nothing needs filter values.
    userdata.problem = doc.error().json_path.empty() ? "not JSON (" + doc.error().message + ")"
                                                    : "not usable JSON (" + doc.error().json_path + ": " +
                                                          doc.error().message + ")";
    return userdata;
  }
  if (!doc->is_object()) {
    userdata.problem = std::string("not a JSON object (got ") + doc->type_name() + ")";
    return userdata;
  }
  for (auto& [key, value] : doc->items()) {
    if (key == "ebsnap") {
      if (!value.is_object()) {
        return std::unexpected(ConfigError{.file = userdata.origin,
                                           .json_path = "$.ebsnap",
                                           .message = std::string("expected an object with the config file's schema, got ") +
                                                      value.type_name()});
      }
      userdata.ebsnap = std::move(value);
    } else if (value.is_string()) {
      userdata.values.emplace(key, value.get<std::string>());
    } else {
      userdata.non_string.emplace(key, value.type_name());
    }
  }
  return userdata;
}

std::expected<UserdataText, ConfigError> read_userdata_option(std::string_view value) {
  if (!value.starts_with('@')) return UserdataText{.text = std::string(value), .origin = "--userdata"};
  const std::string path(value.substr(1));
  const auto error = [&](std::string message) {
    return std::unexpected(ConfigError{.file = "--userdata", .json_path = "", .message = std::move(message)});
  };
  if (path.empty()) return error("expected JSON or @FILE, got @ without a file name");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return error("cannot read " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[8192];
  for (;;) {
    const auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      return error("cannot read " + path + ": " + std::strerror(saved));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > k_max_userdata_bytes) {
      ::close(fd);
      return error("cannot use " + path + ": larger than 1 MiB");
    }
  }
  ::close(fd);
  return UserdataText{.text = std::move(text), .origin = "@" + path};
}

std::expected<FilterValues, ConfigError> resolve_filter_values(const Config& config, const Userdata& userdata) {
  FilterValues values;
  if (config.filter_tags.empty()) return values;
  const auto error = [&](std::string path, std::string message) {
    return std::unexpected(ConfigError{.file = userdata.origin, .json_path = std::move(path), .message = std::move(message)});
  };
  const auto need = "the filter tags " + joined_filter_tags(config) + " need values from JSON userdata";
  if (!userdata.present) return error("", "no userdata; " + need + " (or --userdata)");
  if (userdata.problem) return error("", *userdata.problem + "; " + need);
  for (const auto& key : config.filter_tags) {
    const auto path = json_path_child("$", key);
    if (const auto it = userdata.values.find(key); it != userdata.values.end()) {
      if (it->second.empty()) return error(path, "expected a non-empty string for filter tag " + key);
      if (auto problem = rules::tag_value_problem(it->second)) return error(path, "expected " + *problem);
      values.push_back(FilterValue{.key = key, .value = it->second});
    } else if (const auto other = userdata.non_string.find(key); other != userdata.non_string.end()) {
      return error(path, "expected a string for filter tag " + key + ", got " + other->second);
    } else {
      return error(path, "missing; filter tag " + key + " needs a value in userdata");
    }
  }
  return values;
}

}  // namespace agent
