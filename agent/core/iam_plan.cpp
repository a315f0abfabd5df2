#include "agent/core/iam_plan.h"

#include <algorithm>
#include <functional>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/config/validate_suggest.h"

namespace agent {
namespace {

using P = Permission;

constexpr std::array<std::pair<std::string_view, std::string_view>, 6> k_aliases = {{
    {"mount-snapshots", "mount"},
    {"make-snapshots", "snapshot"},
    {"unmount-snapshots", "unmount"},
    {"list-volumes", "list"},
    {"list-snapshots", "history"},
    {"test", "check"},
}};

// True when any group of `config` does it; every feature is on without a config.
bool any_group(const Config* config, const std::function<bool(const GroupConfig&)>& does) {
  return config == nullptr || std::ranges::any_of(config->groups, does);
}

bool any_volume(const Config* config, const std::function<bool(const VolumeConfig&)>& does) {
  return any_group(config, [&](const GroupConfig& g) { return std::ranges::any_of(g.volumes, does); });
}

void add(Permissions& to, const Permissions& more) { to.insert(more.begin(), more.end()); }

// prune: the lineages, and DeleteSnapshot of the runs its retention lets go (Snaptastic's with compat).
Permissions prune_permissions(const Config* config) {
  Permissions out = {P::DescribeSnapshots, P::DeleteSnapshot};
  if (config == nullptr || config->compat_snaptastic) out.insert(P::DeleteSnaptasticSnapshot);
  return out;
}

// copy: the lineages at home and the copies in the destinations, CopySnapshot there (tagged at
// creation), and the destinations' prune with prune_after_copy.
Permissions copy_permissions(const Config* config) {
  Permissions out = {P::DescribeSnapshots, P::CopySnapshot};
  const auto prunes_there = [](const GroupConfig& g) {
    return std::ranges::any_of(g.copy_to, &CopyDestination::prune_after_copy);
  };
  // The destination holds no Snaptastic snapshots: DeleteSnapshot of ebsnap's copies only.
  if (any_group(config, prunes_there)) out.insert(P::DeleteSnapshot);
  return out;
}

// snapshot: the instance's volumes (DescribeInstances, DescribeVolumes), CreateSnapshot or one
// CreateSnapshots tagged at creation, the tags corrected after the thaw, and DeleteSnapshot of a
// snapshot CreateSnapshots took of a volume attached after the run listed them (all three also
// for the runs that died, reconciled by the next: agent/core/snapshot_record.h). `with_prune`:
// the snapshot command prunes a group with retention.prune_after_snapshot; shutdown's and watch's
// do not.
Permissions snapshot_permissions(const Config* config, bool with_prune) {
  Permissions out = {P::DescribeInstances, P::DescribeVolumes, P::DescribeSnapshots, P::CreateSnapshot,
                     P::CreateSnapshots,   P::RetagSnapshot,   P::DeleteSnapshot};
  if (with_prune &&
      any_group(config, [](const GroupConfig& g) { return g.retention && g.retention->prune_after_snapshot; })) {
    add(out, prune_permissions(config));
  }
  if (with_prune && any_group(config, [](const GroupConfig& g) { return g.copy_after_snapshot; })) {
    add(out, copy_permissions(config));
  }
  return out;
}

// unmount: our volumes, DetachVolume, DeleteVolume (--delete-volumes, --inspect).
Permissions unmount_permissions(bool deletes) {
  Permissions out = {P::DescribeVolumes, P::DetachVolume};
  if (deletes) out.insert(P::DeleteVolume);
  return out;
}

// The commands a configuration uses: prune only for a group with a retention (prune refuses the others).
bool used(std::string_view command, const Config* config) {
  if (command == "prune") {
    return any_group(config, [](const GroupConfig& g) {
      return g.retention.has_value() ||
             std::ranges::any_of(g.copy_to, [](const CopyDestination& d) { return d.retention.has_value(); });
    });
  }
  if (command == "copy") return any_group(config, [](const GroupConfig& g) { return !g.copy_to.empty(); });
  return true;
}

std::optional<std::string_view> canonical(std::string_view name) {
  if (std::ranges::find(k_iam_commands, name) != k_iam_commands.end()) return name;
  for (const auto& [alias, command] : k_aliases) {
    if (alias == name) return command;
  }
  return std::nullopt;
}

}  // namespace

Permissions permissions_of(std::string_view command, const Config* config) {
  if (command == "mount") {
    // Our volumes and the restore points (and their waits), CreateVolume tagged at creation,
    // AttachVolume, DescribeInstances for the next free device name when one is in use.
    Permissions out = {P::DescribeVolumes, P::DescribeSnapshots, P::DescribeInstances, P::CreateVolume,
                       P::AttachVolume};
    if (any_volume(config, [](const VolumeConfig& v) { return v.delete_on_termination; })) {
      out.insert(P::ModifyInstanceAttribute);
    }
    return out;
  }
  if (command == "snapshot") return snapshot_permissions(config, true);
  if (command == "unmount") return unmount_permissions(true);
  if (command == "list") return {P::DescribeVolumes, P::DescribeSnapshots, P::DescribeVolumeStatus};
  if (command == "history" || command == "check-backups") return {P::DescribeSnapshots};
  if (command == "prune") return prune_permissions(config);
  if (command == "copy") return copy_permissions(config);
  if (command == "gc") return {P::DescribeVolumes, P::DeleteVolume};
  if (command == "prewarm") return {P::DescribeVolumes};
  if (command == "shutdown") {
    // As each group's snapshot_on_shutdown and unmount_on_shutdown say; its unmount deletes nothing.
    Permissions out;
    if (any_group(config, [](const GroupConfig& g) { return g.snapshot_on_shutdown; })) {
      add(out, snapshot_permissions(config, false));
    }
    if (any_group(config, [](const GroupConfig& g) { return g.unmount_on_shutdown; })) {
      add(out, unmount_permissions(false));
    }
    return out;
  }
  if (command == "watch") return snapshot_permissions(config, false);
  // thaw --all reconciles the runs that died (agent/core/snapshot_record.h).
  if (command == "thaw") return {P::DescribeSnapshots, P::RetagSnapshot, P::DeleteSnapshot};
  if (command == "check") {
    // It DryRuns what every command the configuration uses needs (a DryRun needs the permission
    // itself), after looking for a volume and a snapshot of ebsnap's to name in them.
    Permissions out = {P::DescribeVolumes, P::DescribeSnapshots};
    for (const auto c : k_iam_commands) {
      if (c != "check" && used(c, config)) add(out, permissions_of(c, config));
    }
    return out;
  }
  return {};
}

std::expected<IamPlan, std::string> plan_iam_policy(const Config* config, const std::vector<std::string>& for_commands) {
  std::vector<std::string_view> asked;
  for (const auto& name : for_commands) {
    if (name == "all") {
      config = nullptr;
      asked.assign(k_iam_commands.begin(), k_iam_commands.end());
      continue;
    }
    if (name == "freeze") {
      // freeze --hold and thaw GROUP (DLM's pre/post scripts) work on this instance alone.
      return std::unexpected(std::string(
          "--for: freeze makes no EC2 call and needs no IAM permission (nor does thaw GROUP); DLM's role takes the "
          "snapshots"));
    }
    const auto command = canonical(name);
    if (!command) {
      std::string line = fmt::format("--for: unknown command '{}'", name);
      if (const auto guess = closest_match(name, k_iam_commands)) line += fmt::format("; did you mean {}?", *guess);
      return std::unexpected(line + fmt::format(" (expected {} or all)", fmt::join(k_iam_commands, ", ")));
    }
    asked.push_back(*command);
  }
  IamPlan plan;
  for (const auto c : k_iam_commands) {
    const bool wanted = asked.empty() ? used(c, config) : std::ranges::find(asked, c) != asked.end();
    if (!wanted) continue;
    plan.commands.emplace_back(c);
    add(plan.permissions, permissions_of(c, config));
  }
  return plan;
}

}  // namespace agent
