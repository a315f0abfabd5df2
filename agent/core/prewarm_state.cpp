#include "agent/core/prewarm_state.h"

#include <fmt/format.h>

#include <charconv>
#include <sstream>

#include "agent/core/mount_point_key.h"
#include "platform/run_dir.h"

namespace agent {
namespace {

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

}  // namespace

std::optional<PrewarmState> parse_prewarm_state(std::string_view text) {
  PrewarmState s;
  std::optional<std::uint64_t> size;
  std::optional<std::uint64_t> offset;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const auto key = line.substr(0, eq);
    auto value = line.substr(eq + 1);
    if (key == "group") s.group = std::move(value);
    if (key == "mount_point") s.mount_point = std::move(value);
    if (key == "volume_id") s.volume_id = std::move(value);
    if (key == "size_bytes") size = parse_u64(value);
    if (key == "offset") offset = parse_u64(value);
    if (key == "done") s.done = value == "1";
  }
  if (!size || !offset || *offset > *size || s.volume_id.empty()) return std::nullopt;
  s.size_bytes = *size;
  s.offset = *offset;
  return s;
}

std::int64_t PrewarmState::percent() const {
  if (done) return 100;
  if (size_bytes == 0) return 0;
  return static_cast<std::int64_t>(std::min<std::uint64_t>(99, offset * 100 / size_bytes));
}

std::filesystem::path PrewarmStates::path_for(std::string_view group, std::string_view mount_point) const {
  return run_dir_ / fmt::format("prewarm-{}-{}.state", group, mount_point_key(mount_point));
}

std::expected<std::optional<PrewarmState>, std::string> PrewarmStates::load(
    std::string_view group, std::string_view mount_point) const {
  auto text = platform::read_state_file(path_for(group, mount_point));
  if (!text) {
    if (text.error().kind == platform::ErrorKind::NotFound) return std::optional<PrewarmState>{};
    return std::unexpected(text.error().message);
  }
  auto state = parse_prewarm_state(*text);
  if (!state || state->group != group || state->mount_point != mount_point)
    return std::optional<PrewarmState>{};
  return state;
}

std::expected<void, std::string> PrewarmStates::save(const PrewarmState& s) const {
  if (auto checked = platform::check_run_directory(run_dir_, true); !checked) {
    return std::unexpected(checked.error().message);
  }
  const auto body = fmt::format("group={}\nmount_point={}\nvolume_id={}\nsize_bytes={}\noffset={}\ndone={}\n",
                                s.group, s.mount_point, s.volume_id, s.size_bytes, s.offset, s.done ? 1 : 0);
  if (auto written = platform::write_state_file(path_for(s.group, s.mount_point), body, false); !written) {
    return std::unexpected(written.error().message);
  }
  return {};
}

std::uint64_t resume_offset(const std::optional<PrewarmState>& saved, std::string_view volume_id,
                            std::uint64_t size_bytes) {
  if (!saved || saved->volume_id != volume_id || saved->size_bytes != size_bytes) return 0;
  return saved->done ? size_bytes : saved->offset;
}

void report_prewarm_state(const PrewarmState& state, VolumeReport& v) {
  v.prewarm_state = state.done ? "done" : (state.offset > 0 ? "partial" : "not-started");
  v.prewarm_percent = state.percent();
  v.prewarm_offset_bytes = static_cast<std::int64_t>(state.offset);
}

}  // namespace agent
