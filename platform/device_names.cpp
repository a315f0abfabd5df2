#include "platform/device_names.h"

#include "ebsnap/try.h"

namespace platform {
namespace {

struct Parsed {
  bool had_dev = false;
  bool xen = false;
  std::string rest;  // after "sd"/"xvd": "f", "f1"
};

std::optional<Parsed> parse(std::string_view name) {
  Parsed p;
  if (name.starts_with("/dev/")) {
    p.had_dev = true;
    name.remove_prefix(5);
  }
  if (name.starts_with("xvd")) {
    p.xen = true;
    name.remove_prefix(3);
  } else if (name.starts_with("sd")) {
    name.remove_prefix(2);
  } else {
    return std::nullopt;
  }
  if (name.empty() || name.front() < 'a' || name.front() > 'z') return std::nullopt;
  for (char c : name.substr(1)) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  p.rest = std::string(name);
  return p;
}

}  // namespace

std::optional<std::string> xen_twin(std::string_view name) {
  const auto p = parse(name);
  if (!p) return std::nullopt;
  return std::string(p->had_dev ? "/dev/" : "") + (p->xen ? "sd" : "xvd") + p->rest;
}

Result<std::string> canonical_device_name(std::string_view name) {
  const auto p = parse(name);
  if (!p || p->rest.size() != 1) {
    return fail(ErrorKind::Refused,
                "device name " + std::string(name) + " is not of the form /dev/sdX or /dev/xvdX");
  }
  return "/dev/sd" + p->rest;
}

Result<std::string> next_free_device_name(std::string_view preferred, const std::set<std::string>& in_use) {
  EBSNAP_TRY_ASSIGN(auto wanted, canonical_device_name(preferred));
  std::set<char> taken;
  for (const auto& name : in_use) {
    // Partitions ("sdf1") and the twin names occupy the same letter.
    const auto p = parse(name);
    if (p) taken.insert(p->rest.front());
  }
  const char first = wanted.back();
  if (!taken.contains(first)) return wanted;
  // EC2 recommends /dev/sd[f-p] for EBS; sd[f-z] are accepted. Search after the preferred one
  // and wrap around, so a configured sdg keeps its neighbourhood.
  const int start = first < 'f' ? 0 : first - 'f';
  for (int i = 1; i <= 21; ++i) {
    const char c = static_cast<char>('f' + (start + i) % 21);
    if (!taken.contains(c)) return std::string("/dev/sd") + c;
  }
  return fail(ErrorKind::NotFound, "no free device name in /dev/sd[f-z]");
}

}  // namespace platform
