#include "agent/core/mount_point_key.h"

#include <fmt/format.h>

#include <cstdint>

namespace agent {

std::string mount_point_key(std::string_view mount_point) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : mount_point) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace agent
