#include "agent/config/config.h"

#include <utility>

namespace agent {
namespace {

constexpr std::array<std::pair<FsType, std::string_view>, 2> k_fs_names{{
    {FsType::ext4, "ext4"},
    {FsType::xfs, "xfs"},
}};

constexpr std::array<std::pair<VolumeType, std::string_view>, 7> k_volume_type_names{{
    {VolumeType::gp2, "gp2"},
    {VolumeType::gp3, "gp3"},
    {VolumeType::io1, "io1"},
    {VolumeType::io2, "io2"},
    {VolumeType::st1, "st1"},
    {VolumeType::sc1, "sc1"},
    {VolumeType::standard, "standard"},
}};

constexpr std::array<std::pair<HookPhase, std::string_view>, 13> k_phase_names{{
    {HookPhase::pre_mounts, "pre_mounts"},
    {HookPhase::post_mounts, "post_mounts"},
    {HookPhase::pre_mount, "pre_mount"},
    {HookPhase::post_mount, "post_mount"},
    {HookPhase::pre_unmounts, "pre_unmounts"},
    {HookPhase::post_unmounts, "post_unmounts"},
    {HookPhase::pre_unmount, "pre_unmount"},
    {HookPhase::post_unmount, "post_unmount"},
    {HookPhase::pre_snapshots, "pre_snapshots"},
    {HookPhase::post_snapshots, "post_snapshots"},
    {HookPhase::pre_snapshot, "pre_snapshot"},
    {HookPhase::post_snapshot, "post_snapshot"},
    {HookPhase::on_failure, "on_failure"},
}};

template <class E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  for (const auto& [e, name] : table) {
    if (e == value) return name;
  }
  return "?";
}

template <class E, std::size_t N>
std::optional<E> value_of(const std::array<std::pair<E, std::string_view>, N>& table,
                          std::string_view name) {
  for (const auto& [e, n] : table) {
    if (n == name) return e;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(FsType type) { return name_of(k_fs_names, type); }
std::string_view to_string(VolumeType type) { return name_of(k_volume_type_names, type); }
std::string_view to_string(HookPhase phase) { return name_of(k_phase_names, phase); }
std::optional<FsType> parse_fs_type(std::string_view name) { return value_of(k_fs_names, name); }
std::optional<VolumeType> parse_volume_type(std::string_view name) {
  return value_of(k_volume_type_names, name);
}
std::optional<HookPhase> parse_hook_phase(std::string_view name) {
  return value_of(k_phase_names, name);
}

bool is_pre_phase(HookPhase phase) { return to_string(phase).starts_with("pre_"); }

const std::vector<HookCommand>& Hooks::of(HookPhase phase) const {
  static const std::vector<HookCommand> k_none;
  const auto it = by_phase.find(phase);
  return it == by_phase.end() ? k_none : it->second;
}

const GroupConfig* Config::find_group(std::string_view name) const {
  for (const auto& group : groups) {
    if (group.name == name) return &group;
  }
  return nullptr;
}

std::string ConfigError::describe() const {
  std::string line = file;
  if (!json_path.empty()) {
    line += ": ";
    line += json_path;
  }
  line += ": ";
  line += message;
  return line;
}

}  // namespace agent
