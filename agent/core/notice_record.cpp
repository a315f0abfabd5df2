#include "agent/core/notice_record.h"

#include <fmt/format.h>

#include <algorithm>

#include "agent/config/validate_rules.h"
#include "platform/run_dir.h"

namespace agent {
namespace {

// A run id as make_run_id writes it, or any word of the same alphabet (never a path or a space).
bool is_run_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::ranges::all_of(id, [](char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '.';
  });
}

}  // namespace

std::string format_notice_record(const NoticeRecord& r) {
  std::string out = fmt::format("notice={}\ngroup={}\n", r.notice, r.group);
  for (const auto& id : r.run_ids) out += "run_id=" + id + "\n";
  out += fmt::format("done={}\n", r.done ? 1 : 0);
  return out;
}

std::optional<NoticeRecord> parse_notice_record(std::string_view text) {
  NoticeRecord r;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (line.empty()) continue;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const auto key = line.substr(0, eq);
    const auto value = line.substr(eq + 1);
    if (key == "notice") {
      r.notice = value;
    } else if (key == "group") {
      r.group = value;
    } else if (key == "run_id" && is_run_id(value)) {
      r.run_ids.emplace_back(value);
    } else if (key == "done" && (value == "0" || value == "1")) {
      r.done = value == "1";
    } else {
      return std::nullopt;
    }
  }
  if (r.notice.empty() || !rules::is_valid_group_name(r.group)) return std::nullopt;
  return r;
}

std::filesystem::path NoticeRecords::path_for(std::string_view notice, std::string_view group) const {
  return dir_ / fmt::format("{}.{}", notice, group);
}

std::expected<std::optional<NoticeRecord>, std::string> NoticeRecords::load(std::string_view notice,
                                                                          std::string_view group) const {
  const auto path = path_for(notice, group);
  auto text = platform::read_state_file(path);
  if (!text) {
    if (text.error().kind == platform::ErrorKind::NotFound) return std::optional<NoticeRecord>{};
    return std::unexpected(text.error().message);
  }
  auto record = parse_notice_record(*text);
  if (!record || record->notice != notice || record->group != group) {
    return std::unexpected(path.string() + ": not a notice record of " + std::string(notice) + " for group " +
                           std::string(group));
  }
  return record;
}

std::expected<void, std::string> NoticeRecords::save(const NoticeRecord& record) const {
  if (auto checked = platform::check_run_directory(dir_.parent_path(), true); !checked) {
    return std::unexpected(checked.error().message);
  }
  if (auto checked = platform::check_run_directory(dir_, true); !checked) {
    return std::unexpected(checked.error().message);
  }
  if (auto written = platform::write_state_file(path_for(record.notice, record.group), format_notice_record(record), true);
      !written) {
    return std::unexpected(written.error().message);
  }
  return {};
}

}  // namespace agent
