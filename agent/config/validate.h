#pragma once
// Strict validation of a configuration document (the config file, or the "ebsnap" object of
// userdata) into a Config. Unknown keys (with a "did you mean" for typos), wrong types and bad
// values each give one ConfigError naming the file, the JSON path and what was expected.
//
// Schema (every key optional unless marked required):
//   region            string, e.g. "eu-west-1"
//   filter_tags       array of unique tag keys; default ["role", "cluster", "environment"]
//   freeze_timeout_s  integer 1..120; default 10
//   timeouts          { volume_available_s 1..3600 (300), device_wait_s 1..3600 (120),
//                       pending_snapshot_s 0..86400 (600), hook_s 1..3600 (60),
//                       lock_s 0..3600 (60),
//                       throttled_s 0..86400 (10800) }
//   allow_userdata_hooks  boolean, default false; config file only: hooks in the userdata overlay
//   allow_userdata_retention  boolean, default false; config file only: retention in the overlay
//   allow_empty_filter_tags  boolean, default false; config file only: accept filter_tags []
//   fleet_size        integer 1..100000, default 1: instances that may run ebsnap at once in the
//                     account and region (ec2/pacing.h: each takes its share of EC2's buckets)
//   fleet_window_s    integer 0..3600, default 0: seconds over which those instances start
//   untagged_run_window_s  integer 1..3600, default 10; config file only: snapshots without a
//                     run id this close in StartTime are one restore point
//   credentials       { access_key_id (required), secret_access_key (required), session_token }
//                     config file only; refused in userdata
//   groups            required in the config file (may be {}): { NAME: group }
//     group           { volumes (required, non-empty array), tags {key: value}, freeze bool,
//                       hooks { PHASE: hook | [hook, ...] }, retention }
//       retention     { keep_last, hourly, daily, weekly, monthly, yearly: integers 0..100000 (0),
//                       at least one of them written; min_age duration (1h);
//                       expire_after duration ≥ 1h and ≥ min_age (none: no ebsnap:expires tag);
//                       max_deletes_per_run integer ≥ the group's volume count ..100000 (500) }
//                     a duration: "<n><unit>..." with units w, d, h, m, s, largest first ("1d12h")
//       hook          "/path" or ["/path", "arg", ...]
//       volume        { device (required), mount_point (required), size_gib (required),
//                       filesystem "ext4"|"xfs" (ext4), mount_options (defaults),
//                       volume_type (gp3), iops, throughput_mibps, encrypted (false),
//                       kms_key_id (needs encrypted),
//                       initialization_rate_mibps 100..300 (sent only when restoring from a snapshot),
//                       prewarm bool (false),
//                       prewarm_mibps integer 1..100000 (needs prewarm; none: unlimited),
//                       delete_on_termination bool (false): mount sets the attachment's flag }
#include <expected>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/config/config.h"

namespace agent {

enum class DocumentKind { ConfigFile, UserdataOverlay };

struct ValidateOptions {
  std::string file;             // named in every error
  std::string root_path = "$";  // "$" for the config file, "$.ebsnap" for the overlay
  DocumentKind kind = DocumentKind::ConfigFile;
  bool check_hook_files = true;  // stat the hook programs (tests of other rules may skip it)
  bool allow_hooks = true;       // the overlay: only when the config file has allow_userdata_hooks
  bool allow_retention = true;   // the overlay: only when the config file has allow_userdata_retention
};

// A validated document and which top-level keys it set (an overlay replaces exactly those).
struct ConfigLayer {
  Config config;
  std::set<std::string> keys;
};

[[nodiscard]] std::expected<ConfigLayer, ConfigError> validate_document(const nlohmann::ordered_json& doc,
                                                                        const ValidateOptions& options);

// The overlay's top-level keys replace the base's; its groups replace base groups of the same
// name (in place) or are appended.
[[nodiscard]] Config merge_layers(Config base, const ConfigLayer& overlay);

// Rules across groups and layers: at least one group (when require_groups); no two volumes on
// one device slot (/dev/sdf and /dev/xvdf are one) or one mount point; no group tag that is a
// filter tag.
[[nodiscard]] std::expected<void, ConfigError> validate_config_as_a_whole(const Config& config,
                                                                          bool require_groups = true);

// A config file's document (parse_json_text of its bytes) → its config: the schema and the rules
// across groups, as load_config_file applies them once it has checked the file itself. `file`
// names it in messages.
[[nodiscard]] std::expected<Config, ConfigError> config_from_document(const nlohmann::ordered_json& doc,
                                                                     const std::string& file);

// "$.groups.solr", "$.groups[\"a b\"]": the JSON path of a member.
[[nodiscard]] std::string json_path_child(std::string_view path, std::string_view key);

}  // namespace agent
