#include "ec2/types.h"

#include <array>
#include <charconv>
#include <ctime>
#include <utility>

namespace ec2 {

const std::string* find_tag_value(const std::vector<Tag>& tags, std::string_view key) {
  for (const auto& t : tags) {
    if (t.key == key) return &t.value;
  }
  return nullptr;
}

std::optional<std::string> find_tag(const std::vector<Tag>& tags, std::string_view key) {
  const auto* value = find_tag_value(tags, key);
  return value != nullptr ? std::optional{*value} : std::nullopt;
}

namespace {

template <class E, std::size_t N>
E parse_enum(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s, E unknown) {
  for (const auto& [e, name] : table) {
    if (name == s) return e;
  }
  return unknown;
}

template <class E, std::size_t N>
std::string_view enum_name(const std::array<std::pair<E, std::string_view>, N>& table, E e) {
  for (const auto& [v, name] : table) {
    if (v == e) return name;
  }
  return "unknown";
}

constexpr std::array<std::pair<VolumeState, std::string_view>, 6> k_volume_states{{
    {VolumeState::Creating, "creating"},
    {VolumeState::Available, "available"},
    {VolumeState::InUse, "in-use"},
    {VolumeState::Deleting, "deleting"},
    {VolumeState::Deleted, "deleted"},
    {VolumeState::Error, "error"},
}};
constexpr std::array<std::pair<AttachmentState, std::string_view>, 5> k_attachment_states{{
    {AttachmentState::Attaching, "attaching"},
    {AttachmentState::Attached, "attached"},
    {AttachmentState::Detaching, "detaching"},
    {AttachmentState::Detached, "detached"},
    {AttachmentState::Busy, "busy"},
}};
constexpr std::array<std::pair<SnapshotState, std::string_view>, 5> k_snapshot_states{{
    {SnapshotState::Pending, "pending"},
    {SnapshotState::Completed, "completed"},
    {SnapshotState::Error, "error"},
    {SnapshotState::Recoverable, "recoverable"},
    {SnapshotState::Recovering, "recovering"},
}};

bool read_int(std::string_view s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size()) return false;
  const char* first = s.data() + pos;
  auto [ptr, ec] = std::from_chars(first, first + len, out);
  return ec == std::errc{} && ptr == first + len;
}

}  // namespace

std::string_view to_string(VolumeState s) {
  return enum_name(k_volume_states, s);
}
std::string_view to_string(AttachmentState s) {
  return enum_name(k_attachment_states, s);
}
std::string_view to_string(SnapshotState s) {
  return enum_name(k_snapshot_states, s);
}
VolumeState parse_volume_state(std::string_view s) {
  return parse_enum(k_volume_states, s, VolumeState::Unknown);
}
AttachmentState parse_attachment_state(std::string_view s) {
  return parse_enum(k_attachment_states, s, AttachmentState::Unknown);
}
SnapshotState parse_snapshot_state(std::string_view s) {
  return parse_enum(k_snapshot_states, s, SnapshotState::Unknown);
}

std::optional<TimePoint> parse_iso8601(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fff...](Z|+00:00)
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_int(s, 0, 4, year) || s.size() < 19 || s[4] != '-' || !read_int(s, 5, 2, month) || s[7] != '-' ||
      !read_int(s, 8, 2, day) || (s[10] != 'T' && s[10] != ' ') || !read_int(s, 11, 2, hour) ||
      s[13] != ':' || !read_int(s, 14, 2, minute) || s[16] != ':' || !read_int(s, 17, 2, second)) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::chrono::microseconds fraction{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    long long value = 0;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) {
        value = value * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    while (digits < 6) {
      value *= 10;
      ++digits;
    }
    fraction = std::chrono::microseconds{value};
  }
  std::string_view zone = s.substr(pos);
  if (!(zone.empty() || zone == "Z" || zone == "+00:00")) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  auto t = std::chrono::sys_days{ymd} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
           std::chrono::seconds{second} + fraction;
  // TimePoint counts nanoseconds: it spans 1677..2262. A year outside (a damaged response, or
  // the negative years from_chars reads) would overflow the conversion: undefined behaviour.
  // (Found by tests/fuzz/ec2_xml: an attachTime in the year 2426.)
  using std::chrono::microseconds;
  constexpr auto k_max = std::chrono::duration_cast<microseconds>(TimePoint::duration::max());
  constexpr auto k_min = std::chrono::duration_cast<microseconds>(TimePoint::duration::min());
  if (t.time_since_epoch() > k_max || t.time_since_epoch() < k_min) return std::nullopt;
  return std::chrono::time_point_cast<TimePoint::duration>(t);
}

std::string format_iso8601(TimePoint t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(ms);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{ms - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count(),
                     hms.subseconds().count());
}

}  // namespace ec2
