// load_config_file / apply_userdata / load_config (declared in agent/config/config.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/config/config.h"
#include "agent/config/userdata.h"
#include "agent/config/validate.h"
#include "agent/config/validate_json.h"
#include "agent/config/file_checks.h"
#include "platform/fd.h"
#include "platform/trusted_path.h"

namespace agent {
namespace {

constexpr std::size_t k_max_config_bytes = 4 << 20;

}  // namespace

std::expected<Config, ConfigError> load_config_file(const std::filesystem::path& path) {
  const auto error = [&](std::string json_path, std::string message) {
    return std::unexpected(ConfigError{.file = path.string(), .json_path = std::move(json_path), .message = std::move(message)});
  };
  const platform::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    const int e = errno;
    if (e == ENOENT) return error("", "no such file (give --config FILE or set EBSNAP_CONFIG)");
    return error("", std::string("cannot read: ") + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return error("", std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return error("", "expected a regular file");
  // Root can open a file of mode 0000; an operator who removed every read bit meant "do not use".
  if ((st.st_mode & (S_IRUSR | S_IRGRP | S_IROTH)) == 0) {
    return error("", "unreadable: mode " + platform::mode_octal(st.st_mode) + " grants no read permission");
  }
  // It names the programs ebsnap runs as root: whoever can change it, or the directories above
  // it, is root (platform/trusted_path.h).
  if (!platform::trusted_owner(st.st_uid)) {
    return error("", "refused: owned by uid " + std::to_string(st.st_uid) +
                         "; the config file must be owned by root (it names the programs ebsnap runs as root)");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return error("", "refused: group or others can write it (mode " + platform::mode_octal(st.st_mode) + "); chmod go-w");
  }
  if (auto problem = platform::untrusted_directory_problem(path.string())) return error("", "refused: " + *problem);
  std::string text;
  char buf[16384];
  for (;;) {
    const auto n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return error("", std::string("cannot read: ") + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > k_max_config_bytes) return error("", "expected a config file smaller than 4 MiB");
  }
  auto doc = parse_json_text(text);
  if (!doc) return error(doc.error().json_path, doc.error().message);
  if (doc->is_object() && doc->contains("credentials")) {
    if ((st.st_mode & 077) != 0) {
      return error("$.credentials", "refused: the file holds credentials and group or others can access it (mode " +
                                        platform::mode_octal(st.st_mode) + "); expected mode 0600 or stricter");
    }
    if (st.st_uid != ::geteuid()) {
      return error("$.credentials", "refused: the file holds credentials and is owned by uid " +
                                        std::to_string(st.st_uid) + ", not by the user running ebsnap");
    }
  }
  return config_from_document(*doc, path.string());
}

std::expected<Config, ConfigError> config_from_document(const nlohmann::ordered_json& doc, const std::string& file) {
  auto layer = validate_document(doc, ValidateOptions{.file = file});
  if (!layer) return std::unexpected(std::move(layer).error());
  if (auto whole = validate_config_as_a_whole(layer->config, /*require_groups=*/false); !whole) {
    return std::unexpected(std::move(whole).error());
  }
  return std::move(layer->config);
}

std::expected<Config, ConfigError> apply_userdata(Config config, const Userdata& userdata) {
  if (userdata.ebsnap) {
    auto overlay = validate_document(*userdata.ebsnap, ValidateOptions{.file = userdata.origin,
                                                                       .root_path = "$.ebsnap",
                                                                       .kind = DocumentKind::UserdataOverlay,
                                                                       .allow_hooks = config.allow_userdata_hooks,
                                                                       .allow_retention = config.allow_userdata_retention});
    if (!overlay) return std::unexpected(std::move(overlay).error());
    config = merge_layers(std::move(config), *overlay);
  }
  if (auto whole = validate_config_as_a_whole(config); !whole) return std::unexpected(std::move(whole).error());
  return config;
}

std::expected<Config, ConfigError> load_config(const std::filesystem::path& path, const Userdata& userdata) {
  auto config = load_config_file(path);
  if (!config) return config;
  return apply_userdata(std::move(*config), userdata);
}

}  // namespace agent
