#include "agent/config/validate_rules.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include <cctype>

namespace agent::rules {
namespace {

bool is_lower_letter_f_to_z(char c) { return c >= 'f' && c <= 'z'; }

bool has_prefix_ignoring_case(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

bool is_valid_device_name(std::string_view device) {
  for (const std::string_view prefix : {std::string_view{"/dev/sd"}, std::string_view{"/dev/xvd"}}) {
    if (device.size() == prefix.size() + 1 && device.starts_with(prefix) &&
        is_lower_letter_f_to_z(device.back())) {
      return true;
    }
  }
  return false;
}

char device_slot(std::string_view device) { return device.empty() ? '\0' : device.back(); }

std::optional<std::string> mount_point_problem(std::string_view mount_point) {
  if (mount_point.empty()) return "an absolute path, got an empty string";
  if (mount_point.front() != '/') return "an absolute path (starting with /)";
  if (mount_point == "/") return "a mount point other than / (the root filesystem)";
  if (mount_point.size() > 4095) return "a path shorter than 4096 characters";
  for (const char c : mount_point) {
    if (std::iscntrl(static_cast<unsigned char>(c)) != 0) return "a path without control characters";
  }
  if (mount_point.back() == '/') return "a normalised path without a trailing /";
  std::size_t start = 1;
  while (start <= mount_point.size()) {
    const auto end = mount_point.find('/', start);
    const auto part = mount_point.substr(start, end == std::string_view::npos ? std::string_view::npos
                                                                              : end - start);
    if (part.empty()) return "a normalised path (no //)";
    if (part == "." || part == "..") return "a normalised path (no . or .. components)";
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  // A volume mounted over a system directory is root for whoever controls the volume.
  const auto first = mount_point.substr(1, mount_point.find('/', 1) == std::string_view::npos
                                                 ? std::string_view::npos
                                                 : mount_point.find('/', 1) - 1);
  constexpr std::array<std::string_view, 8> k_system_trees = {"etc", "usr", "bin", "sbin", "boot", "proc", "sys", "dev"};
  if (std::ranges::find(k_system_trees, first) != k_system_trees.end() || first.starts_with("lib")) {
    return "a mount point outside the system directories (/" + std::string(first) +
           " and everything below it are refused)";
  }
  constexpr std::array<std::string_view, 4> k_system_roots = {"/run", "/var", "/home", "/root"};
  if (std::ranges::find(k_system_roots, mount_point) != k_system_roots.end()) {
    return "a directory below " + std::string(mount_point) + ", not " + std::string(mount_point) + " itself";
  }
  return std::nullopt;
}

bool is_valid_region(std::string_view region) {
  // ^[a-z]{2}(-[a-z]+)+-[0-9]+$
  if (region.size() < 6 || region.size() > 32) return false;
  std::size_t i = 0;
  for (; i < 2; ++i) {
    if (region[i] < 'a' || region[i] > 'z') return false;
  }
  int word_parts = 0;
  while (i < region.size()) {
    if (region[i] != '-') return false;
    ++i;
    const std::size_t begin = i;
    bool letters = true;
    bool digits = true;
    while (i < region.size() && region[i] != '-') {
      letters = letters && region[i] >= 'a' && region[i] <= 'z';
      digits = digits && region[i] >= '0' && region[i] <= '9';
      ++i;
    }
    if (i == begin) return false;
    if (i == region.size()) return digits && word_parts > 0;
    if (!letters) return false;
    ++word_parts;
  }
  return false;
}

std::optional<std::string> tag_key_problem(std::string_view key) {
  if (key.empty()) return "a non-empty tag key";
  if (key.size() > 128) return "a tag key of at most 128 characters";
  if (has_prefix_ignoring_case(key, "aws:")) return "a tag key not starting with aws: (reserved by AWS)";
  if (has_prefix_ignoring_case(key, "ebsnap:")) {
    return "a tag key not starting with ebsnap: (reserved for the tags ebsnap sets)";
  }
  return std::nullopt;
}

std::optional<std::string> tag_value_problem(std::string_view value) {
  if (value.size() > 256) return "a tag value of at most 256 characters";
  return std::nullopt;
}

bool is_valid_group_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Range size_range(VolumeType type) {
  switch (type) {
    case VolumeType::Io1:
    case VolumeType::Io2: return {4, 16384};
    case VolumeType::St1:
    case VolumeType::Sc1: return {125, 16384};
    case VolumeType::Standard: return {1, 1024};
    case VolumeType::Gp2:
    case VolumeType::Gp3: break;
  }
  return {1, 16384};
}

std::optional<Range> iops_range(VolumeType type) {
  switch (type) {
    case VolumeType::Gp3: return Range{3000, 16000};
    case VolumeType::Io1: return Range{100, 64000};
    case VolumeType::Io2: return Range{100, 256000};
    case VolumeType::Gp2:
    case VolumeType::St1:
    case VolumeType::Sc1:
    case VolumeType::Standard: break;
  }
  return std::nullopt;
}

bool requires_iops(VolumeType type) { return type == VolumeType::Io1 || type == VolumeType::Io2; }

std::optional<Range> throughput_range(VolumeType type) {
  if (type == VolumeType::Gp3) return Range{125, 1000};
  return std::nullopt;
}

Range initialization_rate_range() {
  return {100, 300};
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  constexpr std::array<std::pair<char, std::int64_t>, 5> k_units = {
      {{'w', 7 * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};
  constexpr std::int64_t k_max_seconds = 36500LL * 86400;  // 100 years
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // units go largest first, each once: "1d12h", never "12h1d" or "1h1h"
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t n = 0;
    const std::size_t digits_from = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > k_max_seconds) return std::nullopt;
      ++i;
    }
    if (i == digits_from || i == text.size()) return std::nullopt;
    const char unit = text[i++];
    std::size_t u = next_unit;
    while (u < k_units.size() && k_units[u].first != unit) ++u;
    if (u == k_units.size()) return std::nullopt;
    next_unit = u + 1;
    total += n * k_units[u].second;
    if (total > k_max_seconds) return std::nullopt;
  }
  return std::chrono::seconds(total);
}

}  // namespace agent::rules
