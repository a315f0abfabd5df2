#pragma once
// The name a mount point goes by in a state file's name under the run directory: a mount point
// may hold any character, a file name may not.
#include <string>
#include <string_view>

namespace agent {

// 16 hex digits of a 64-bit FNV-1a of the mount point: stable across versions (files written by
// one run are found by the next). Not unique in theory: every state file also records its mount
// point, and a reader ignores a file recorded for another.
[[nodiscard]] std::string mount_point_key(std::string_view mount_point);

}  // namespace agent
