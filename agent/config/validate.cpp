#include "agent/config/validate.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "agent/config/file_checks.h"
#include "agent/config/validate_rules.h"
#include "agent/config/validate_suggest.h"
#include "ebsnap/try.h"

namespace agent {
namespace {

using Json = nlohmann::ordered_json;

template <class T>
using Checked = std::expected<T, ConfigError>;

constexpr std::array<std::string_view, 16> k_top_keys = {
    "region",           "filter_tags", "freeze_timeout_s", "timeouts", "credentials", "allow_userdata_hooks",
    "allow_userdata_retention", "allow_empty_filter_tags", "delete_rate_per_s", "compat", "untagged_run_window_s",
    "metrics_dir", "copies_in_flight", "fleet_size", "fleet_window_s", "groups"};
constexpr std::array<std::string_view, 1> k_compat_keys = {"snaptastic"};
constexpr std::array<std::string_view, 6> k_timeout_keys = {"volume_available_s", "device_wait_s",
                                                            "pending_snapshot_s", "hook_s", "lock_s", "throttled_s"};
constexpr std::array<std::string_view, 3> k_credential_keys = {"access_key_id", "secret_access_key",
                                                               "session_token"};
constexpr std::array<std::string_view, 9> k_group_keys = {
    "volumes", "tags", "freeze", "hooks", "retention", "snapshot_on_shutdown", "unmount_on_shutdown", "copy_to",
    "copy_after_snapshot"};
constexpr std::array<std::string_view, 5> k_copy_to_keys = {"region", "kms_key_id", "retention", "prune_after_copy",
                                                            "completion_minutes"};
constexpr std::array<std::string_view, 6> k_retention_count_keys = {"keep_last", "hourly",  "daily",
                                                                    "weekly",    "monthly", "yearly"};
constexpr std::array<std::string_view, 10> k_retention_keys = {
    "keep_last", "hourly",       "daily",        "weekly", "monthly", "yearly", "min_age", "expire_after",
    "max_deletes_per_run", "prune_after_snapshot"};
constexpr std::array<std::string_view, 14> k_volume_keys = {
    "device",           "mount_point", "size_gib",   "filesystem",    "mount_options",
    "volume_type",      "iops",        "encrypted",  "throughput_mibps", "kms_key_id",
    "initialization_rate_mibps", "prewarm", "prewarm_mibps", "delete_on_termination"};

std::string type_name(const Json& value) {
  if (value.is_number_integer()) return "integer";
  if (value.is_number_float()) return "number";
  return value.type_name();
}

// A short rendering of a scalar for messages; never used for credentials.
std::string shown(const Json& value) {
  if (value.is_string()) {
    auto s = value.get<std::string>();
    if (s.size() > 64) s = s.substr(0, 61) + "...";
    return Json(s).dump();
  }
  if (value.is_primitive()) return value.dump();
  return type_name(value);
}

std::string join(std::span<const std::string_view> words) {
  std::string out;
  for (const auto w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

bool is_identifier(std::string_view key) {
  if (key.empty()) return false;
  for (const char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string index_path(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

class Validator {
 public:
  explicit Validator(const ValidateOptions& options) : options_(options) {}

  [[nodiscard]] std::unexpected<ConfigError> fail(std::string path, std::string message) const {
    return std::unexpected(ConfigError{.file = options_.file, .json_path = std::move(path), .message = std::move(message)});
  }

  [[nodiscard]] Checked<void> known_keys(const Json& object, std::string_view path,
                                         std::span<const std::string_view> allowed) const {
    for (const auto& [key, value] : object.items()) {
      bool known = false;
      for (const auto a : allowed) known = known || a == key;
      if (known) continue;
      const auto shown_key = Json(key).dump();
      if (const auto guess = closest_match(key, allowed)) {
        return fail(json_path_child(path, key), "unknown key " + shown_key + "; did you mean " + std::string(*guess) + "?");
      }
      return fail(json_path_child(path, key), "unknown key " + shown_key + "; expected one of: " + join(allowed));
    }
    return {};
  }

  [[nodiscard]] Checked<const Json*> object_at(const Json& value, const std::string& path, std::string_view what) const {
    if (!value.is_object()) return fail(path, "expected " + std::string(what) + " (a JSON object), got " + type_name(value));
    return &value;
  }

  // Never echoes the value: it may be a credential.
  [[nodiscard]] Checked<std::string> string_at(const Json& value, const std::string& path, std::string_view what) const {
    if (!value.is_string()) return fail(path, "expected " + std::string(what) + " (a string), got " + type_name(value));
    auto s = value.get<std::string>();
    if (s.empty()) return fail(path, "expected " + std::string(what) + ", got an empty string");
    return s;
  }

  [[nodiscard]] Checked<bool> bool_at(const Json& value, const std::string& path) const {
    if (!value.is_boolean()) return fail(path, "expected true or false, got " + shown(value));
    return value.get<bool>();
  }

  [[nodiscard]] Checked<std::int64_t> integer_at(const Json& value, const std::string& path, rules::Range range,
                                                 std::string_view unit) const {
    const std::string expected = "expected an integer " + std::to_string(range.min) + ".." + std::to_string(range.max) +
                                 (unit.empty() ? "" : " (" + std::string(unit) + ")");
    if (!value.is_number_integer()) return fail(path, expected + ", got " + shown(value));
    if (value.is_number_unsigned() &&
        value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return fail(path, expected + ", got " + shown(value));
    }
    const auto n = value.get<std::int64_t>();
    if (!range.contains(n)) return fail(path, expected + ", got " + std::to_string(n));
    return n;
  }

  [[nodiscard]] Checked<std::vector<std::string>> filter_tags(const Json& value, const std::string& path) const {
    if (!value.is_array()) return fail(path, "expected an array of tag keys, got " + type_name(value));
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const auto p = index_path(path, i);
      EBSNAP_TRY_ASSIGN(auto key, string_at(value[i], p, "a tag key"));
      if (auto problem = rules::tag_key_problem(key)) return fail(p, "expected " + *problem + ", got " + shown(value[i]));
      for (const auto& k : keys) {
        if (k == key) return fail(p, "expected unique tag keys; " + shown(value[i]) + " is listed twice");
      }
      keys.push_back(std::move(key));
    }
    return keys;
  }

  [[nodiscard]] Checked<Timeouts> timeouts(const Json& value, const std::string& path) const {
    EBSNAP_TRY(object_at(value, path, "timeouts"));
    EBSNAP_TRY(known_keys(value, path, k_timeout_keys));
    Timeouts t;
    const auto seconds = [&](std::string_view key, rules::Range range, std::chrono::seconds& out) -> Checked<void> {
      const auto it = value.find(key);
      if (it == value.end()) return {};
      EBSNAP_TRY_ASSIGN(const auto n, integer_at(*it, json_path_child(path, key), range, "seconds"));
      out = std::chrono::seconds(n);
      return {};
    };
    EBSNAP_TRY(seconds("volume_available_s", {1, 3600}, t.volume_available));
    EBSNAP_TRY(seconds("device_wait_s", {1, 3600}, t.device_wait));
    EBSNAP_TRY(seconds("pending_snapshot_s", {0, 86400}, t.pending_snapshot));
    EBSNAP_TRY(seconds("hook_s", {1, 3600}, t.hook));
    EBSNAP_TRY(seconds("lock_s", {0, 3600}, t.lock));
    EBSNAP_TRY(seconds("throttled_s", {0, 86400}, t.throttled));
    return t;
  }

  [[nodiscard]] Checked<StaticCredentials> credentials(const Json& value, const std::string& path) const {
    if (options_.kind == DocumentKind::UserdataOverlay) {
      return fail(path, "credentials are not accepted in userdata (any process on the instance can read it); "
                        "use the instance role or a config file with mode 0600");
    }
    EBSNAP_TRY(object_at(value, path, "credentials"));
    EBSNAP_TRY(known_keys(value, path, k_credential_keys));
    StaticCredentials c;
    for (const auto key : {std::string_view{"access_key_id"}, std::string_view{"secret_access_key"}}) {
      if (!value.contains(key)) return fail(json_path_child(path, key), "missing; expected a string");
    }
    EBSNAP_TRY_ASSIGN(c.access_key_id, string_at(value["access_key_id"], json_path_child(path, "access_key_id"), "an access key id"));
    EBSNAP_TRY_ASSIGN(c.secret_access_key, string_at(value["secret_access_key"], json_path_child(path, "secret_access_key"), "a secret access key"));
    if (const auto it = value.find("session_token"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(c.session_token, string_at(*it, json_path_child(path, "session_token"), "a session token"));
    }
    return c;
  }

  [[nodiscard]] Checked<std::chrono::seconds> duration_at(const Json& value, const std::string& path) const {
    const std::string expected = "expected a duration such as \"90m\", \"1h\", \"1d12h\" or \"400d\" (units s, m, h, d, w)";
    if (!value.is_string()) return fail(path, expected + ", got " + shown(value));
    const auto d = rules::parse_duration(value.get<std::string>());
    if (!d) return fail(path, expected + ", got " + shown(value));
    return *d;
  }

  // The whole object must be written out deliberately: "retention": {} would keep nothing but the
  // newest run of each mount point, so at least one count is required ("keep_last": 0 says that).
  // `of_copies`: a copy_to's policy, which takes no prune_after_snapshot (prune_after_copy is
  // the copy_to's own key).
  [[nodiscard]] Checked<RetentionPolicy> retention(const Json& value, const std::string& path,
                                                   std::size_t volume_count, bool of_copies = false) const {
    EBSNAP_TRY(object_at(value, path, "a retention policy"));
    EBSNAP_TRY(known_keys(value, path, k_retention_keys));
    if (of_copies && value.contains("prune_after_snapshot")) {
      return fail(json_path_child(path, "prune_after_snapshot"),
                  "not accepted in a copy_to's retention; \"prune_after_copy\": true beside it prunes the destination "
                  "after each copy");
    }
    if (of_copies && value.contains("expire_after")) {
      return fail(json_path_child(path, "expire_after"),
                  "not accepted in a copy_to's retention: copies carry no ebsnap:expires (use the counts and min_age)");
    }
    const auto at = [&](std::string_view key) { return json_path_child(path, key); };
    if (std::ranges::none_of(k_retention_count_keys, [&](std::string_view key) { return value.contains(key); })) {
      return fail(path, "expected at least one of " + join(k_retention_count_keys) +
                            ": without one every run but the newest would be deleted (\"keep_last\": 0 says so)");
    }
    RetentionPolicy r;
    const auto count = [&](std::string_view key, rules::Range range, std::string_view unit,
                           std::int32_t& out) -> Checked<void> {
      const auto it = value.find(key);
      if (it == value.end()) return {};
      EBSNAP_TRY_ASSIGN(const auto n, integer_at(*it, at(key), range, unit));
      out = static_cast<std::int32_t>(n);
      return {};
    };
    EBSNAP_TRY(count("keep_last", {0, k_max_retention_count}, "runs", r.keep_last));
    EBSNAP_TRY(count("hourly", {0, k_max_retention_count}, "hours", r.hourly));
    EBSNAP_TRY(count("daily", {0, k_max_retention_count}, "days", r.daily));
    EBSNAP_TRY(count("weekly", {0, k_max_retention_count}, "ISO weeks", r.weekly));
    EBSNAP_TRY(count("monthly", {0, k_max_retention_count}, "months", r.monthly));
    EBSNAP_TRY(count("yearly", {0, k_max_retention_count}, "years", r.yearly));
    // A run is deleted whole or not at all: a bound below the group's volume count would never
    // let one go.
    const auto volumes = static_cast<std::int64_t>(std::max<std::size_t>(volume_count, 1));
    EBSNAP_TRY(count("max_deletes_per_run", {volumes, k_max_retention_count},
                     "snapshots; a run of this group is " + std::to_string(volumes) + ", deleted whole",
                     r.max_deletes_per_run));
    if (const auto it = value.find("min_age"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(r.min_age, duration_at(*it, at("min_age")));
    }
    if (const auto it = value.find("prune_after_snapshot"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(r.prune_after_snapshot, bool_at(*it, at("prune_after_snapshot")));
    }
    if (const auto it = value.find("expire_after"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(r.expire_after, duration_at(*it, at("expire_after")));
      if (*r.expire_after < std::chrono::hours(1) || *r.expire_after < r.min_age) {
        const auto min_age = value.contains("min_age") ? shown(value["min_age"]) : std::string("1h by default");
        return fail(at("expire_after"), "expected a duration of at least 1h and at least min_age (" + min_age +
                                            ": a run younger than min_age is kept, expired or not), got " + shown(*it));
      }
    }
    return r;
  }

  [[nodiscard]] Checked<HookCommand> hook(const Json& value, const std::string& path) const {
    HookCommand argv;
    if (value.is_string()) {
      argv.push_back(value.get<std::string>());
    } else if (value.is_array()) {
      if (value.empty()) return fail(path, "expected a hook: a path or a non-empty argv array");
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_string()) {
          return fail(index_path(path, i), "expected a string argument, got " + type_name(value[i]));
        }
        argv.push_back(value[i].get<std::string>());
      }
    } else {
      return fail(path, "expected a hook: a path or an argv array of strings, got " + type_name(value));
    }
    const std::string program_path = value.is_array() ? index_path(path, 0) : path;
    if (argv.front().empty() || argv.front().front() != '/') {
      return fail(program_path, "expected an absolute path to an executable, got " + Json(argv.front()).dump());
    }
    if (options_.check_hook_files) {
      if (auto problem = hook_program_problem(argv.front())) return fail(program_path, "expected " + *problem);
    }
    return argv;
  }

  [[nodiscard]] Checked<Hooks> hooks(const Json& value, const std::string& path) const {
    EBSNAP_TRY(object_at(value, path, "hooks by phase"));
    std::vector<std::string_view> phase_names;
    for (const auto phase : k_hook_phases) phase_names.push_back(to_string(phase));
    EBSNAP_TRY(known_keys(value, path, phase_names));
    Hooks h;
    for (const auto& [key, entry] : value.items()) {
      const auto phase = *parse_hook_phase(key);
      const auto phase_path = json_path_child(path, key);
      auto& list = h.by_phase[phase];
      if (entry.is_string()) {
        EBSNAP_TRY_ASSIGN(auto command, hook(entry, phase_path));
        list.push_back(std::move(command));
      } else if (entry.is_array()) {
        for (std::size_t i = 0; i < entry.size(); ++i) {
          EBSNAP_TRY_ASSIGN(auto command, hook(entry[i], index_path(phase_path, i)));
          list.push_back(std::move(command));
        }
      } else {
        return fail(phase_path, "expected a hook path or an array of hooks, got " + type_name(entry));
      }
      if (list.empty()) h.by_phase.erase(phase);
    }
    return h;
  }

  [[nodiscard]] Checked<VolumeConfig> volume(const Json& value, const std::string& path) const {
    EBSNAP_TRY(object_at(value, path, "a volume"));
    EBSNAP_TRY(known_keys(value, path, k_volume_keys));
    for (const auto key : {std::string_view{"device"}, std::string_view{"mount_point"}, std::string_view{"size_gib"}}) {
      if (!value.contains(key)) {
        return fail(json_path_child(path, key), "missing; every volume needs device, mount_point and size_gib");
      }
    }
    VolumeConfig v;
    const auto at = [&](std::string_view key) { return json_path_child(path, key); };

    EBSNAP_TRY_ASSIGN(v.device, string_at(value["device"], at("device"), "a device name"));
    if (!rules::is_valid_device_name(v.device)) {
      return fail(at("device"), "expected a device name /dev/sd[f-z] or /dev/xvd[f-z], got " + shown(value["device"]));
    }
    EBSNAP_TRY_ASSIGN(v.mount_point, string_at(value["mount_point"], at("mount_point"), "a mount point"));
    if (auto problem = rules::mount_point_problem(v.mount_point)) {
      return fail(at("mount_point"), "expected " + *problem + ", got " + shown(value["mount_point"]));
    }
    if (const auto it = value.find("filesystem"); it != value.end()) {
      const auto fs = it->is_string() ? parse_fs_type(it->get<std::string>()) : std::nullopt;
      if (!fs) return fail(at("filesystem"), "expected \"ext4\" or \"xfs\", got " + shown(*it));
      v.filesystem = *fs;
    }
    if (const auto it = value.find("mount_options"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(v.mount_options, string_at(*it, at("mount_options"), "comma-separated mount options"));
      for (const char c : v.mount_options) {
        if (c == ' ' || c == '\t' || c == '\n') {
          return fail(at("mount_options"), "expected comma-separated mount options without spaces, got " + shown(*it));
        }
      }
    }
    if (const auto it = value.find("volume_type"); it != value.end()) {
      const auto type = it->is_string() ? parse_volume_type(it->get<std::string>()) : std::nullopt;
      if (!type) return fail(at("volume_type"), "expected one of gp2, gp3, io1, io2, st1, sc1, standard, got " + shown(*it));
      v.volume_type = *type;
    }
    const auto type_name_str = std::string(to_string(v.volume_type));
    EBSNAP_TRY_ASSIGN(v.size_gib, integer_at(value["size_gib"], at("size_gib"), rules::size_range(v.volume_type),
                                             "GiB for " + type_name_str));
    if (const auto it = value.find("iops"); it != value.end()) {
      const auto range = rules::iops_range(v.volume_type);
      if (!range) {
        return fail(at("iops"), "expected no iops: volume_type " + type_name_str + " takes none (only gp3, io1, io2 do)");
      }
      EBSNAP_TRY_ASSIGN(const auto iops, integer_at(*it, at("iops"), *range, "IOPS for " + type_name_str));
      v.iops = static_cast<std::int32_t>(iops);
    } else if (rules::requires_iops(v.volume_type)) {
      const auto range = *rules::iops_range(v.volume_type);
      return fail(at("iops"), "missing; volume_type " + type_name_str + " needs iops " + std::to_string(range.min) +
                                  ".." + std::to_string(range.max));
    }
    if (const auto it = value.find("throughput_mibps"); it != value.end()) {
      const auto range = rules::throughput_range(v.volume_type);
      if (!range) {
        return fail(at("throughput_mibps"),
                    "expected no throughput_mibps: volume_type " + type_name_str + " takes none (only gp3 does)");
      }
      EBSNAP_TRY_ASSIGN(const auto mibps, integer_at(*it, at("throughput_mibps"), *range, "MiB/s"));
      v.throughput_mibps = static_cast<std::int32_t>(mibps);
    }
    if (const auto it = value.find("encrypted"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(v.encrypted, bool_at(*it, at("encrypted")));
    }
    if (const auto it = value.find("kms_key_id"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(v.kms_key_id, string_at(*it, at("kms_key_id"), "a KMS key id, ARN or alias"));
      if (!v.encrypted) return fail(at("kms_key_id"), "expected \"encrypted\": true alongside kms_key_id");
    }
    if (const auto it = value.find("initialization_rate_mibps"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(const auto mibps, integer_at(*it, at("initialization_rate_mibps"),
                                                     rules::initialization_rate_range(), "MiB/s"));
      v.initialization_rate_mibps = static_cast<std::int32_t>(mibps);
    }
    if (const auto it = value.find("prewarm"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(v.prewarm, bool_at(*it, at("prewarm")));
    }
    if (const auto it = value.find("prewarm_mibps"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(const auto mibps,
                        integer_at(*it, at("prewarm_mibps"), {1, k_max_prewarm_mibps}, "MiB/s"));
      if (!v.prewarm) return fail(at("prewarm_mibps"), "expected \"prewarm\": true alongside prewarm_mibps");
      v.prewarm_mibps = static_cast<std::int32_t>(mibps);
    }
    if (const auto it = value.find("delete_on_termination"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(v.delete_on_termination, bool_at(*it, at("delete_on_termination")));
    }
    return v;
  }

  [[nodiscard]] Checked<GroupConfig> group(const std::string& name, const Json& value, const std::string& path) const {
    if (!rules::is_valid_group_name(name)) {
      return fail(path, "expected a group name of 1..64 characters [A-Za-z0-9_.-], got " + Json(name).dump());
    }
    EBSNAP_TRY(object_at(value, path, "a group"));
    EBSNAP_TRY(known_keys(value, path, k_group_keys));
    GroupConfig g{.name = name, .source_file = options_.file, .json_path = path};
    const auto volumes_it = value.find("volumes");
    const auto volumes_path = json_path_child(path, "volumes");
    if (volumes_it == value.end()) return fail(volumes_path, "missing; expected an array of volumes");
    if (!volumes_it->is_array() || volumes_it->empty()) {
      return fail(volumes_path, "expected a non-empty array of volumes, got " +
                                    (volumes_it->is_array() ? std::string("an empty array") : type_name(*volumes_it)));
    }
    for (std::size_t i = 0; i < volumes_it->size(); ++i) {
      EBSNAP_TRY_ASSIGN(auto v, volume((*volumes_it)[i], index_path(volumes_path, i)));
      g.volumes.push_back(std::move(v));
    }
    if (const auto it = value.find("tags"); it != value.end()) {
      const auto tags_path = json_path_child(path, "tags");
      EBSNAP_TRY(object_at(*it, tags_path, "tags"));
      for (const auto& [key, tag_value] : it->items()) {
        const auto p = json_path_child(tags_path, key);
        if (auto problem = rules::tag_key_problem(key)) return fail(p, "expected " + *problem);
        if (!tag_value.is_string()) return fail(p, "expected a string tag value, got " + type_name(tag_value));
        auto s = tag_value.get<std::string>();
        if (auto problem = rules::tag_value_problem(s)) return fail(p, "expected " + *problem);
        g.tags.emplace(key, std::move(s));
      }
    }
    if (const auto it = value.find("freeze"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(g.freeze, bool_at(*it, json_path_child(path, "freeze")));
    }
    if (const auto it = value.find("snapshot_on_shutdown"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(g.snapshot_on_shutdown, bool_at(*it, json_path_child(path, "snapshot_on_shutdown")));
    }
    if (const auto it = value.find("unmount_on_shutdown"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(g.unmount_on_shutdown, bool_at(*it, json_path_child(path, "unmount_on_shutdown")));
    }
    if (const auto it = value.find("hooks"); it != value.end()) {
      if (!options_.allow_hooks) {
        return fail(json_path_child(path, "hooks"),
                    "hooks are not accepted in userdata unless the config file says \"allow_userdata_hooks\": true "
                    "(anyone who may change the instance's userdata would choose what runs as root)");
      }
      EBSNAP_TRY_ASSIGN(g.hooks, hooks(*it, json_path_child(path, "hooks")));
    }
    if (const auto it = value.find("retention"); it != value.end()) {
      if (!options_.allow_retention) {
        return fail(json_path_child(path, "retention"),
                    "retention is not accepted in userdata unless the config file says \"allow_userdata_retention\": "
                    "true (anyone who may change the instance's userdata would choose which snapshots are deleted)");
      }
      EBSNAP_TRY_ASSIGN(g.retention, retention(*it, json_path_child(path, "retention"), g.volumes.size()));
    }
    if (const auto it = value.find("copy_to"); it != value.end()) {
      EBSNAP_TRY_ASSIGN(g.copy_to, copy_to(*it, json_path_child(path, "copy_to"), g));
    }
    if (const auto it = value.find("copy_after_snapshot"); it != value.end()) {
      const auto p = json_path_child(path, "copy_after_snapshot");
      EBSNAP_TRY_ASSIGN(g.copy_after_snapshot, bool_at(*it, p));
      if (g.copy_after_snapshot && g.copy_to.empty()) return fail(p, "expected \"copy_to\" beside it: nowhere to copy to");
    }
    return g;
  }

  [[nodiscard]] Checked<std::vector<CopyDestination>> copy_to(const Json& value, const std::string& path,
                                                              const GroupConfig& g) const {
    if (!value.is_array() || value.empty()) {
      return fail(path, "expected a non-empty array of destinations such as [{\"region\": \"us-west-2\"}], got " +
                            (value.is_array() ? std::string("an empty array") : type_name(value)));
    }
    const bool encrypted = std::ranges::any_of(g.volumes, [](const VolumeConfig& v) { return v.encrypted; });
    std::vector<CopyDestination> out;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const auto p = index_path(path, i);
      const auto& entry = value[i];
      EBSNAP_TRY(object_at(entry, p, "a copy destination"));
      EBSNAP_TRY(known_keys(entry, p, k_copy_to_keys));
      const auto at = [&](std::string_view key) { return json_path_child(p, key); };
      CopyDestination d;
      const auto region = entry.find("region");
      if (region == entry.end()) return fail(at("region"), "missing; expected a region such as us-west-2");
      EBSNAP_TRY_ASSIGN(d.region, string_at(*region, at("region"), "a region"));
      if (!rules::is_valid_region(d.region)) {
        return fail(at("region"), "expected a region such as us-west-2, got " + shown(*region));
      }
      for (const auto& other : out) {
        if (other.region == d.region) return fail(at("region"), "expected distinct regions; " + shown(*region) + " is listed twice");
      }
      if (const auto it = entry.find("kms_key_id"); it != entry.end()) {
        EBSNAP_TRY_ASSIGN(d.kms_key_id, string_at(*it, at("kms_key_id"), "a KMS key id, alias or ARN"));
      } else if (encrypted) {
        return fail(at("kms_key_id"), "missing; the group has encrypted volumes, and a KMS key does not cross regions: "
                                      "expected the key in " + d.region + " that encrypts the copies");
      }
      if (const auto it = entry.find("retention"); it != entry.end()) {
        if (!options_.allow_retention) {
          return fail(at("retention"), "retention is not accepted in userdata unless the config file says "
                                       "\"allow_userdata_retention\": true (anyone who may change the instance's "
                                       "userdata would choose which snapshots are deleted)");
        }
        EBSNAP_TRY_ASSIGN(d.retention, retention(*it, at("retention"), g.volumes.size(), true));
      }
      if (const auto it = entry.find("prune_after_copy"); it != entry.end()) {
        EBSNAP_TRY_ASSIGN(d.prune_after_copy, bool_at(*it, at("prune_after_copy")));
        if (d.prune_after_copy && !d.retention) {
          return fail(at("prune_after_copy"), "expected \"retention\" beside it: nothing says what to keep");
        }
      }
      if (const auto it = entry.find("completion_minutes"); it != entry.end()) {
        EBSNAP_TRY_ASSIGN(const auto minutes, integer_at(*it, at("completion_minutes"),
                                                         {k_min_completion_minutes, k_max_completion_minutes},
                                                         "minutes, in steps of 15"));
        if (minutes % 15 != 0) {
          return fail(at("completion_minutes"), "expected a multiple of 15 minutes (EC2's steps), got " + shown(*it));
        }
        d.completion_minutes = static_cast<std::int32_t>(minutes);
      }
      out.push_back(std::move(d));
    }
    return out;
  }

  [[nodiscard]] Checked<ConfigLayer> document(const Json& doc) const {
    const auto& root = options_.root_path;
    EBSNAP_TRY(object_at(doc, root, "a configuration object"));
    EBSNAP_TRY(known_keys(doc, root, k_top_keys));
    ConfigLayer layer;
    layer.config.source = options_.file;
    for (const auto& [key, value] : doc.items()) layer.keys.insert(key);
    const auto at = [&](std::string_view key) { return json_path_child(root, key); };
    auto& c = layer.config;
    if (const auto it = doc.find("region"); it != doc.end()) {
      EBSNAP_TRY_ASSIGN(c.region, string_at(*it, at("region"), "a region"));
      if (!rules::is_valid_region(*c.region)) {
        return fail(at("region"), "expected a region such as eu-west-1, got " + shown(*it));
      }
    }
    if (const auto it = doc.find("filter_tags"); it != doc.end()) {
      EBSNAP_TRY_ASSIGN(c.filter_tags, filter_tags(*it, at("filter_tags")));
    }
    if (const auto it = doc.find("freeze_timeout_s"); it != doc.end()) {
      EBSNAP_TRY_ASSIGN(const auto seconds,
                        integer_at(*it, at("freeze_timeout_s"), {k_min_freeze_timeout_s, k_max_freeze_timeout_s}, "seconds"));
      c.freeze_timeout = std::chrono::seconds(seconds);
    }
    if (const auto it = doc.find("timeouts"); it != doc.end()) {
      EBSNAP_TRY_ASSIGN(c.timeouts, timeouts(*it, at("timeouts")));
    }
    if (const auto it = doc.find("credentials"); it != doc.end()) {
      EBSNAP_TRY_ASSIGN(c.credentials, credentials(*it, at("credentials")));
    }
    for (auto [key, flag] : {std::pair{"allow_userdata_hooks", &c.allow_userdata_hooks},
                             std::pair{"allow_userdata_retention", &c.allow_userdata_retention},
                             std::pair{"allow_empty_filter_tags", &c.allow_empty_filter_tags}}) {
      const auto it = doc.find(key);
      if (it == doc.end()) continue;
      if (options_.kind == DocumentKind::UserdataOverlay) return fail(at(key), "accepted in the config file only");
      EBSNAP_TRY_ASSIGN(*flag, bool_at(*it, at(key)));
    }
    if (const auto it = doc.find("delete_rate_per_s"); it != doc.end()) {
      if (options_.kind == DocumentKind::UserdataOverlay) return fail(at("delete_rate_per_s"), "accepted in the config file only");
      EBSNAP_TRY_ASSIGN(const auto rate, integer_at(*it, at("delete_rate_per_s"), {1, k_max_delete_rate_per_s},
                                                    "DeleteSnapshot calls per second (EC2 refills 5/s for the whole account)"));
      c.delete_rate_per_s = static_cast<std::int32_t>(rate);
    }
    if (const auto it = doc.find("copies_in_flight"); it != doc.end()) {
      if (options_.kind == DocumentKind::UserdataOverlay) return fail(at("copies_in_flight"), "accepted in the config file only");
      EBSNAP_TRY_ASSIGN(const auto n, integer_at(*it, at("copies_in_flight"), {1, k_max_copies_in_flight},
                                                 "copies per destination region; EC2 allows 20 for the whole account"));
      c.copies_in_flight = static_cast<std::int32_t>(n);
    }
    if (const auto it = doc.find("fleet_size"); it != doc.end()) {
      EBSNAP_TRY_ASSIGN(const auto n, integer_at(*it, at("fleet_size"), {1, k_max_fleet_size},
                                                 "instances that may run ebsnap at once in this account and region"));
      c.fleet_size = static_cast<std::int32_t>(n);
    }
    if (const auto it = doc.find("fleet_window_s"); it != doc.end()) {
      EBSNAP_TRY_ASSIGN(const auto seconds, integer_at(*it, at("fleet_window_s"), {0, k_max_fleet_window_s},
                                                       "seconds over which the fleet_size instances start"));
      c.fleet_window = std::chrono::seconds(seconds);
    }
    if (const auto it = doc.find("untagged_run_window_s"); it != doc.end()) {
      if (options_.kind == DocumentKind::UserdataOverlay) return fail(at("untagged_run_window_s"), "accepted in the config file only");
      EBSNAP_TRY_ASSIGN(const auto seconds, integer_at(*it, at("untagged_run_window_s"),
                                                       {1, k_max_untagged_run_window_s}, "seconds"));
      c.untagged_run_window = std::chrono::seconds(seconds);
    }
    if (const auto it = doc.find("metrics_dir"); it != doc.end()) {
      if (options_.kind == DocumentKind::UserdataOverlay) return fail(at("metrics_dir"), "accepted in the config file only");
      EBSNAP_TRY_ASSIGN(auto dir, string_at(*it, at("metrics_dir"), "an absolute directory"));
      if (!dir.starts_with('/')) return fail(at("metrics_dir"), "expected an absolute directory, got " + shown(*it));
      c.metrics_dir = std::move(dir);
    }
    if (const auto it = doc.find("compat"); it != doc.end()) {
      if (options_.kind == DocumentKind::UserdataOverlay) return fail(at("compat"), "accepted in the config file only");
      EBSNAP_TRY(object_at(*it, at("compat"), "an object such as {\"snaptastic\": true}"));
      EBSNAP_TRY(known_keys(*it, at("compat"), k_compat_keys));
      if (const auto s = it->find("snaptastic"); s != it->end()) {
        EBSNAP_TRY_ASSIGN(c.compat_snaptastic, bool_at(*s, json_path_child(at("compat"), "snaptastic")));
      }
    }
    const auto groups_it = doc.find("groups");
    if (groups_it == doc.end()) {
      if (options_.kind == DocumentKind::ConfigFile) {
        return fail(at("groups"), "missing; expected an object mapping group names to groups");
      }
    } else {
      EBSNAP_TRY(object_at(*groups_it, at("groups"), "an object mapping group names to groups"));
      for (const auto& [name, value] : groups_it->items()) {
        EBSNAP_TRY_ASSIGN(auto g, group(name, value, json_path_child(at("groups"), name)));
        c.groups.push_back(std::move(g));
      }
    }
    return layer;
  }

 private:
  const ValidateOptions& options_;
};

std::string volume_path(const GroupConfig& group, std::size_t i) {
  return index_path(json_path_child(group.json_path, "volumes"), i);
}

}  // namespace

std::string json_path_child(std::string_view path, std::string_view key) {
  if (is_identifier(key)) return std::string(path) + "." + std::string(key);
  return std::string(path) + "[" + Json(std::string(key)).dump() + "]";
}

std::expected<ConfigLayer, ConfigError> validate_document(const nlohmann::ordered_json& doc,
                                                          const ValidateOptions& options) {
  return Validator(options).document(doc);
}

Config merge_layers(Config base, const ConfigLayer& overlay) {
  Config merged = std::move(base);
  const auto& o = overlay.config;
  const auto& keys = overlay.keys;
  if (keys.contains("region")) merged.region = o.region;
  if (keys.contains("filter_tags")) merged.filter_tags = o.filter_tags;
  if (keys.contains("freeze_timeout_s")) merged.freeze_timeout = o.freeze_timeout;
  if (keys.contains("timeouts")) merged.timeouts = o.timeouts;
  if (keys.contains("credentials")) merged.credentials = o.credentials;
  if (keys.contains("fleet_size")) merged.fleet_size = o.fleet_size;
  if (keys.contains("fleet_window_s")) merged.fleet_window = o.fleet_window;
  for (const auto& group : o.groups) {
    bool replaced = false;
    for (auto& existing : merged.groups) {
      if (existing.name == group.name) {
        existing = group;
        replaced = true;
      }
    }
    if (!replaced) merged.groups.push_back(group);
  }
  return merged;
}

std::expected<void, ConfigError> validate_config_as_a_whole(const Config& config, bool require_groups) {
  if (config.filter_tags.empty() && !config.allow_empty_filter_tags) {
    return std::unexpected(ConfigError{
        .file = config.source.string(),
        .json_path = "$.filter_tags",
        .message = "expected at least one filter tag: without one, every instance with the same mount point shares "
                   "one snapshot lineage (a dev box would restore prod's); set \"allow_empty_filter_tags\": true "
                   "in the config file if that is what you want"});
  }
  if (require_groups && config.groups.empty()) {
    return std::unexpected(ConfigError{.file = config.source.string(),
                                       .json_path = "$.groups",
                                       .message = "expected at least one group"});
  }
  struct Seen {
    const GroupConfig* group;
    std::size_t index;
  };
  std::map<char, Seen> slots;
  std::map<std::string, Seen> mount_points;
  for (const auto& group : config.groups) {
    for (std::size_t i = 0; i < group.volumes.size(); ++i) {
      const auto& v = group.volumes[i];
      const auto here = volume_path(group, i);
      const auto fail = [&](std::string_view key, std::string message) {
        return std::unexpected(ConfigError{.file = group.source_file, .json_path = json_path_child(here, key), .message = std::move(message)});
      };
      const auto where = [&](const Seen& s) {
        return (s.group->source_file == group.source_file ? std::string() : s.group->source_file + " ") +
               volume_path(*s.group, s.index);
      };
      if (const auto [it, inserted] = slots.emplace(rules::device_slot(v.device), Seen{&group, i}); !inserted) {
        return fail("device", "expected a device used by one volume only; " + v.device + " is also the device of " +
                                  where(it->second) + " (" + it->second.group->volumes[it->second.index].device + ")");
      }
      if (const auto [it, inserted] = mount_points.emplace(v.mount_point, Seen{&group, i}); !inserted) {
        return fail("mount_point", "expected a mount point used by one volume only; " + v.mount_point +
                                       " is also the mount point of " + where(it->second));
      }
    }
    for (const auto& [key, value] : group.tags) {
      for (const auto& filter : config.filter_tags) {
        if (filter == key) {
          return std::unexpected(ConfigError{
              .file = group.source_file,
              .json_path = json_path_child(json_path_child(group.json_path, "tags"), key),
              .message = "expected a tag that is not a filter tag; the value of " + key + " comes from userdata"});
        }
      }
    }
  }
  return {};
}

}  // namespace agent
