#include "agent/core/detach_record.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "agent/core/epoch_ms.h"
#include "agent/core/log.h"
#include "agent/report/report.h"
#include "ebsnap/try.h"
#include "platform/run_dir.h"

namespace agent {
namespace {

using nlohmann::json;
constexpr std::string_view k_prefix = "detach-";
constexpr std::string_view k_suffix = ".record";
constexpr std::string_view k_format = "ebsnap-unmount-detach 1";

// EC2 volume ids: "vol-" and 8 or 17 hex digits. Nothing else goes into a file name.
bool valid_volume_id(std::string_view id) {
  if (!id.starts_with("vol-") || id.size() <= 4 || id.size() > 4 + 17) return false;
  return std::ranges::all_of(id.substr(4),
                             [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

long long to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

json to_json(const DetachRecord& r) {
  return {{"format", k_format},
          {"volume_id", r.volume_id.value},
          {"group", r.group},
          {"mount_point", r.mount_point},
          {"instance_id", r.instance_id},
          {"written_at_ms", to_ms(r.written_at)},
          {"written_at", format_utc(r.written_at)}};
}

std::optional<DetachRecord> from_json(const json& j) {
  if (!j.is_object() || j.value("format", "") != k_format) return std::nullopt;
  DetachRecord r;
  r.volume_id = ec2::VolumeId{j.at("volume_id").get<std::string>()};
  r.group = j.at("group").get<std::string>();
  r.mount_point = j.at("mount_point").get<std::string>();
  r.instance_id = j.at("instance_id").get<std::string>();
  if (!j.at("written_at_ms").is_number_integer()) return std::nullopt;  // get<> of 1e300 is undefined
  const auto written_at = time_from_epoch_ms(j.at("written_at_ms").get<std::int64_t>());
  if (!written_at) return std::nullopt;
  r.written_at = *written_at;
  if (!valid_volume_id(r.volume_id.value) || r.group.empty() || r.mount_point.empty() ||
      r.instance_id.empty()) {
    return std::nullopt;
  }
  return r;
}

}  // namespace

std::optional<DetachRecord> parse_detach_record(std::string_view text) {
  try {
    return from_json(json::parse(text));
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::filesystem::path detach_record_path(const std::filesystem::path& run_dir, const ec2::VolumeId& volume,
                                         std::string_view group) {
  if (!valid_volume_id(volume.value) || group.empty() || group.find('/') != std::string_view::npos) return {};
  return run_dir / (std::string(k_prefix) + volume.value + "-" + std::string(group) + std::string(k_suffix));
}

platform::Result<void> write_detach_record(const std::filesystem::path& run_dir, DetachRecord& record) {
  const auto path = detach_record_path(run_dir, record.volume_id, record.group);
  if (path.empty()) {
    return platform::fail(
        platform::ErrorKind::Refused,
        "no detach record for volume id \"" + record.volume_id.value + "\" of group " + record.group);
  }
  EBSNAP_TRY(platform::check_run_directory(run_dir, true));
  // Durable: the record must be on disk before DetachVolume is sent, so that a crash right after
  // the call (the volume detached, never deleted) finds it.
  EBSNAP_TRY(platform::write_state_file(path, to_json(record).dump() + "\n", true));
  record.path = path;
  return {};
}

void remove_detach_record(const std::filesystem::path& run_dir, const ec2::VolumeId& volume,
                          std::string_view group) {
  const auto path = detach_record_path(run_dir, volume, group);
  if (!path.empty() && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
    log_agent().warn("remove detach record file={} error=\"{}\"", path.string(), std::strerror(errno));
  }
}

std::vector<DetachRecord> read_detach_records(const std::filesystem::path& run_dir, std::string_view group) {
  std::vector<DetachRecord> out;
  if (auto checked = platform::check_run_directory(run_dir, false); !checked) {
    if (checked.error().kind != platform::ErrorKind::NotFound) {
      log_agent().error("detach records not read error=\"{}\"", checked.error().describe());
    }
    return out;
  }
  std::string suffix(1, '-');
  suffix.append(group).append(k_suffix);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir, ec)) {
    const std::string name = entry.path().filename().string();
    // (A group whose name ends like this one's, "x-db" for "db", is sorted out by the contents.)
    if (!name.starts_with(k_prefix) || !name.ends_with(suffix)) continue;
    auto text = platform::read_state_file(entry.path());
    if (!text) {
      log_agent().warn("detach record file={} error=\"{}\": no proof of anything; ignored",
                       entry.path().string(), text.error().describe());
      continue;
    }
    auto r = parse_detach_record(*text);
    if (r && r->group != group) continue;
    // The file name must be the one its contents give: a record copied or renamed onto another
    // volume's name proves nothing about either.
    if (!r || detach_record_path(run_dir, r->volume_id, r->group) != entry.path()) {
      log_agent().warn("detach record file={} not recognised: no proof of anything; ignored",
                       entry.path().string());
      continue;
    }
    r->path = entry.path();
    out.push_back(std::move(*r));
  }
  std::ranges::sort(out, [](const DetachRecord& a, const DetachRecord& b) { return a.path < b.path; });
  return out;
}

bool detach_recorded(const std::vector<DetachRecord>& records, const ec2::VolumeId& volume,
                     std::string_view mount_point, const ec2::InstanceId& instance) {
  return std::ranges::any_of(records, [&](const DetachRecord& r) {
    return r.volume_id == volume && r.mount_point == mount_point && r.instance_id == instance.value;
  });
}

}  // namespace agent
