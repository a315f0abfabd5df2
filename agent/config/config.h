#pragma once
// The configuration of a run: what the config file (merged with the userdata "ebsnap" overlay)
// says, after strict validation. Everything here is plain data; the orchestration reads it and
// never has to re-check it (devices, mount points, ranges and hook files are already valid).
#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent {

enum class FsType { Ext4, Xfs };
enum class VolumeType { Gp2, Gp3, Io1, Io2, St1, Sc1, Standard };

[[nodiscard]] std::string_view to_string(FsType type);
[[nodiscard]] std::string_view to_string(VolumeType type);
[[nodiscard]] std::optional<FsType> parse_fs_type(std::string_view name);
[[nodiscard]] std::optional<VolumeType> parse_volume_type(std::string_view name);

struct VolumeConfig {
  std::string device;       // as configured: /dev/sd[f-z] or /dev/xvd[f-z]
  std::string mount_point;  // absolute, normalised, never "/"
  std::int64_t size_gib = 0;  // 1..16384; used when no snapshot exists yet
  FsType filesystem = FsType::Ext4;
  std::string mount_options = "defaults";
  VolumeType volume_type = VolumeType::Gp3;
  std::optional<std::int32_t> iops;             // only io1, io2, gp3
  std::optional<std::int32_t> throughput_mibps; // only gp3
  bool encrypted = false;
  std::optional<std::string> kms_key_id;        // only with encrypted
  // VolumeInitializationRate (MiB/s, 100..300) for a volume restored from a snapshot; never sent
  // for an empty one (EC2 refuses it there).
  std::optional<std::int32_t> initialization_rate_mibps;
  // Read every block once after mount (ebsnap prewarm): a volume restored from a snapshot loads
  // its blocks from S3 on first read.
  bool prewarm = false;
  std::optional<std::int32_t> prewarm_mibps;    // only with prewarm; none: as fast as the volume reads
  // mount sets the attachment's DeleteOnTermination (ModifyInstanceAttribute) once attached: EC2
  // deletes the volume when the instance is terminated. false never clears a flag set earlier.
  bool delete_on_termination = false;
};

inline constexpr std::int32_t k_max_prewarm_mibps = 100'000;

enum class HookPhase {
  PreMounts, PostMounts, PreMount, PostMount,
  PreUnmounts, PostUnmounts, PreUnmount, PostUnmount,
  PreSnapshots, PostSnapshots, PreSnapshot, PostSnapshot,
  OnFailure, OnSuccess,
};
inline constexpr std::array k_hook_phases = {
    HookPhase::PreMounts,     HookPhase::PostMounts,    HookPhase::PreMount,
    HookPhase::PostMount,     HookPhase::PreUnmounts,   HookPhase::PostUnmounts,
    HookPhase::PreUnmount,    HookPhase::PostUnmount,   HookPhase::PreSnapshots,
    HookPhase::PostSnapshots, HookPhase::PreSnapshot,   HookPhase::PostSnapshot,
    HookPhase::OnFailure,     HookPhase::OnSuccess,
};
// The name used in the config file and in EBSNAP_PHASE: "pre_snapshot", ...
[[nodiscard]] std::string_view to_string(HookPhase phase);
[[nodiscard]] std::optional<HookPhase> parse_hook_phase(std::string_view name);
// Phases named pre_* (a failure stops the operation); post_*, on_failure and on_success always run.
[[nodiscard]] bool is_pre_phase(HookPhase phase);

// One hook: argv[0] is an absolute path to a root-owned executable; never run by a shell.
// In the config a hook is either an argv array or a single path string.
using HookCommand = std::vector<std::string>;

struct Hooks {
  std::map<HookPhase, std::vector<HookCommand>> by_phase;

  // The hooks of a phase, in config order; empty when none.
  [[nodiscard]] const std::vector<HookCommand>& of(HookPhase phase) const;
  [[nodiscard]] bool empty() const { return by_phase.empty(); }
};

// What prune keeps of a group's snapshot runs (issue 12; the planner is
// agent/commands/prune_decide.h). Counts are of runs, never of snapshots: a run is kept or deleted
// whole. Safety rules no policy overrides (the newest completed run of each mount point, pending,
// pinned or unowned snapshots) are the planner's, not settings.
inline constexpr std::int32_t k_max_retention_count = 100'000;
inline constexpr std::int32_t k_default_max_deletes_per_run = 500;

struct RetentionPolicy {
  std::int32_t keep_last = 0;  // the newest completed runs
  std::int32_t hourly = 0;     // GFS: the newest completed run of each of the last N UTC hours with one
  std::int32_t daily = 0;      //   ... days
  std::int32_t weekly = 0;     //   ... ISO 8601 weeks
  std::int32_t monthly = 0;    //   ... months
  std::int32_t yearly = 0;     //   ... years
  std::chrono::seconds min_age{3600};                // every run younger than this is kept
  std::optional<std::chrono::seconds> expire_after;  // snapshot sets ebsnap:expires = start + this
  std::int32_t max_deletes_per_run = k_default_max_deletes_per_run;  // ≥ the group's volume count
  bool prune_after_snapshot = false;  // snapshot prunes the group after a successful run

  friend bool operator==(const RetentionPolicy&, const RetentionPolicy&) = default;
};

// Where a group's restore points are copied for disaster recovery (issue 14; ebsnap copy,
// agent/commands/copy.h). Copies are made by CopySnapshot in `region`, from the run's region.
inline constexpr std::int32_t k_max_copies_in_flight = 20;  // EC2's concurrent copies per destination
inline constexpr std::int32_t k_default_copies_in_flight = 10;
inline constexpr std::int32_t k_min_completion_minutes = 15;    // CompletionDurationMinutes: 15..2880,
inline constexpr std::int32_t k_max_completion_minutes = 2880;  // in steps of 15

struct CopyDestination {
  std::string region;
  // The destination region's KMS key (id, alias or ARN): copies are encrypted with it. Required
  // when a volume of the group is encrypted (a key does not cross regions).
  std::optional<std::string> kms_key_id;
  // What `prune GROUP --region <region>` keeps there; none: prune refuses that region.
  std::optional<RetentionPolicy> retention;
  bool prune_after_copy = false;  // copy prunes the destination after copying (needs retention)
  // EC2's time-based copy: each copy completes within this many minutes (the RPO one can state).
  std::optional<std::int32_t> completion_minutes;

  friend bool operator==(const CopyDestination&, const CopyDestination&) = default;
};

struct GroupConfig {
  std::string name;  // [A-Za-z0-9_.-]+
  std::vector<VolumeConfig> volumes;
  std::map<std::string, std::string> tags;  // extra tags; no "aws:" or "ebsnap:" keys
  bool freeze = true;
  Hooks hooks;
  std::optional<RetentionPolicy> retention;  // none: prune has nothing to apply
  // What `ebsnap shutdown` (the mount unit's ExecStop, the sysvinit stop) does for the group: one
  // consistent snapshot (ebsnap:trigger=shutdown), then, with unmount_on_shutdown, unmount and detach.
  bool snapshot_on_shutdown = false;
  bool unmount_on_shutdown = false;
  std::vector<CopyDestination> copy_to;  // distinct regions, in config order
  bool copy_after_snapshot = false;      // snapshot copies the run once it completed (needs copy_to)
  // Where the group was defined, for messages: the config file or the userdata origin, and
  // the JSON path of the group in it ("$.groups.solr" or "$.ebsnap.groups.solr").
  std::string source_file;
  std::string json_path;
};

struct Timeouts {
  std::chrono::seconds volume_available{300};  // CreateVolume → available
  std::chrono::seconds device_wait{120};       // AttachVolume → device node (udev)
  std::chrono::seconds pending_snapshot{600};  // restore waits for a pending newest snapshot
  std::chrono::seconds hook{60};               // each hook process
  std::chrono::seconds lock{60};               // another run holds the group (agent/core/group_lock.h)
  // How long one EC2 call may keep being throttled (ec2/pacing.h) before the throttle is its
  // error; 0: a throttle is retried as other errors are. A fleet that boots together waits its
  // turn at EC2's shared buckets: 10,000 instances × 4 CreateVolume at 5 a second is over two
  // hours, and every instance in line is making progress.
  std::chrono::seconds throttled{10'800};
};

// Static credentials from the config file. Secret: never log, never print; the loader refuses
// a file holding them when group or others can read it.
struct StaticCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::optional<std::string> session_token;
};

inline constexpr std::string_view k_default_config_path = "/etc/ebsnap/ebsnap.json";
inline constexpr std::int64_t k_min_freeze_timeout_s = 1;
inline constexpr std::int64_t k_max_freeze_timeout_s = 120;
inline constexpr std::int32_t k_default_delete_rate_per_s = 2;
inline constexpr std::int32_t k_max_fleet_size = 100'000;
inline constexpr std::int64_t k_max_fleet_window_s = 3600;
inline constexpr std::int32_t k_max_delete_rate_per_s = 5;  // EC2's refill rate
inline constexpr std::chrono::seconds k_default_untagged_run_window{10};
inline constexpr std::int64_t k_max_untagged_run_window_s = 3600;

struct Config {
  std::filesystem::path source;      // the config file it came from
  std::optional<std::string> region; // from config or userdata; --region overrides (cli)
  std::vector<std::string> filter_tags{"role", "cluster", "environment"};
  std::chrono::seconds freeze_timeout{10};  // 1..120 s
  Timeouts timeouts;
  std::optional<StaticCredentials> credentials;
  // Hooks in the userdata overlay: refused unless the config file says so (anyone allowed to
  // ModifyInstanceAttribute can change the userdata). Config file only.
  bool allow_userdata_hooks = false;
  bool allow_userdata_retention = false;  // a group's retention in the userdata overlay
  // prune's DeleteSnapshot pace. EC2's DeleteSnapshot bucket (100 burst, 5/s refill) is shared by
  // everything in the account and region: the default leaves most of it to others. Config file only.
  std::int32_t delete_rate_per_s = k_default_delete_rate_per_s;
  // "compat": {"snaptastic": true}: Snaptastic's snapshots join the lineages (agent/core/compat.h).
  // Config file only: prune deletes them once their `expires` has passed.
  bool compat_snaptastic = false;
  // Snapshots without ebsnap:run-id (older ones, other tools') whose StartTimes lie within this of
  // the first are one restore point (agent/core/restore_points.h). Config file only.
  std::chrono::seconds untagged_run_window = k_default_untagged_run_window;
  // An empty filter_tags: every instance with the same mount point shares one lineage (a dev box
  // would restore prod's). Refused unless the config file says so. Config file only.
  bool allow_empty_filter_tags = false;
  // Where Prometheus textfile metrics go (agent/report/metrics.h); --metrics-dir overrides; none:
  // node_exporter's Debian directory when it exists. Config file only.
  std::optional<std::string> metrics_dir;
  // copy's bound on its copies in flight per destination region, below EC2's 20 (which every copy
  // of the account shares). Config file only.
  std::int32_t copies_in_flight = k_default_copies_in_flight;
  // How many instances may run ebsnap at the same moment in this account and region (an Auto
  // Scaling group launched at once, a fleet-wide prune): above 1, mount and prune take their
  // share of EC2's request buckets from their first call instead of learning the fleet from
  // throttles (ec2/pacing.h). Config file or userdata (the launch template knows the group's size).
  std::int32_t fleet_size = 1;
  // The time over which those instances start (a rolling deploy, an instance refresh): each takes
  // its share of a window's refill at a time, at the start of each window of its own (ec2/pacing.h).
  // Zero: they start together. Config file or userdata.
  std::chrono::seconds fleet_window{0};
  std::vector<GroupConfig> groups;  // in file order; userdata groups replace or follow

  [[nodiscard]] const GroupConfig* find_group(std::string_view name) const;
};

// The group's copy_to entry for `region`; nullptr when it copies nothing there.
[[nodiscard]] const CopyDestination* find_copy_destination(const GroupConfig& group, std::string_view region);

// A configuration problem: one line naming the file, the JSON path and what was expected.
struct ConfigError {
  std::string file;       // config path, "userdata", "--userdata" or "@<file>"
  std::string json_path;  // "$.groups.solr.volumes[0].size_gib"; empty for whole-file problems
  std::string message;    // what was expected / what is wrong

  // "<file>: <json_path>: <message>" (json_path omitted when empty). Never holds a secret.
  [[nodiscard]] std::string describe() const;
};

// The filter tags with their values from userdata, in filter_tags order. Together with
// "ebsnap:mount-point" they select a snapshot lineage.
struct FilterValue {
  std::string key;
  std::string value;
  bool operator==(const FilterValue&) const = default;
};
using FilterValues = std::vector<FilterValue>;

struct Userdata;  // agent/config/userdata.h

// Reads and validates the config file. Refused: a missing file, one that cannot be read or whose
// mode grants no read permission at all (0000: honoured even when running as root, where open()
// would succeed), malformed JSON (line and column), any schema error (agent/validate.h), and a
// file holding credentials that group or others can access (mode & 077) or that another user
// owns. A file with "groups": {} is accepted here; apply_userdata requires a group in the end.
[[nodiscard]] std::expected<Config, ConfigError> load_config_file(const std::filesystem::path& path);

// Merges the userdata "ebsnap" overlay (if any) over a config from load_config_file: top-level
// keys replace the file's, groups replace same-named groups or are appended. Then checks the
// whole (at least one group, devices and mount points unique across all groups).
[[nodiscard]] std::expected<Config, ConfigError> apply_userdata(Config config, const Userdata& userdata);

// load_config_file + apply_userdata.
[[nodiscard]] std::expected<Config, ConfigError> load_config(const std::filesystem::path& path,
                                                             const Userdata& userdata);

}  // namespace agent
