#include "agent/config/config.h"

#include <utility>

namespace agent {
namespace {

constexpr std::array<std::pair<FsType, std::string_view>, 2> k_fs_names{{
    {FsType::Ext4, "ext4"},
    {FsType::Xfs, "xfs"},
}};

constexpr std::array<std::pair<VolumeType, std::string_view>, 7> k_volume_type_names{{
    {VolumeType::Gp2, "gp2"},
    {VolumeType::Gp3, "gp3"},
    {VolumeType::Io1, "io1"},
    {VolumeType::Io2, "io2"},
    {VolumeType::St1, "st1"},
    {VolumeType::Sc1, "sc1"},
    {VolumeType::Standard, "standard"},
}};

constexpr std::array<std::pair<HookPhase, std::string_view>, 14> k_phase_names{{
    {HookPhase::PreMounts, "pre_mounts"},
    {HookPhase::PostMounts, "post_mounts"},
    {HookPhase::PreMount, "pre_mount"},
    {HookPhase::PostMount, "post_mount"},
    {HookPhase::PreUnmounts, "pre_unmounts"},
    {HookPhase::PostUnmounts, "post_unmounts"},
    {HookPhase::PreUnmount, "pre_unmount"},
    {HookPhase::PostUnmount, "post_unmount"},
    {HookPhase::PreSnapshots, "pre_snapshots"},
    {HookPhase::PostSnapshots, "post_snapshots"},
    {HookPhase::PreSnapshot, "pre_snapshot"},
    {HookPhase::PostSnapshot, "post_snapshot"},
    {HookPhase::OnFailure, "on_failure"},
    {HookPhase::OnSuccess, "on_success"},
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

const CopyDestination* find_copy_destination(const GroupConfig& group, std::string_view region) {
  for (const auto& d : group.copy_to) {
    if (d.region == region) return &d;
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
