#pragma once
// The IAM policy ebsnap needs, as C++: the one source of truth. A table of statements, each with
// its actions, resources and conditions, every part marked with the permission that needs it.
// `ebsnap iam-policy` prints the statements for the permissions a configuration and a set of
// commands need (the planner: agent/core/iam_plan.h); etc/iam-policy.json is that output for
// every command and feature (`ebsnap iam-policy --for all`; tests/unit/agent_iam_policy_test.cpp
// keeps the file byte-equal to it); `ebsnap check` DryRuns one action per permission and prints
// the statements of what it found missing, so that its advice keeps the conditions (DeleteVolume
// only on volumes tagged ebsnap:group, ...) instead of granting the action on everything.
#include <array>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace agent {

// What a command may ask EC2 (and, through EC2, KMS) to do.
enum class Permission {
  DescribeSnapshots,
  DescribeVolumes,
  DescribeInstances,
  DescribeVolumeStatus,     // list: the initialization progress of restored volumes
  CreateVolume,             // tagged ebsnap:group at creation; KMS grants for encrypted volumes
  AttachVolume,             // ebsnap's own volumes (tagged ebsnap:group), to any instance
  DetachVolume,             // ebsnap's own volumes
  DeleteVolume,             // ebsnap's own volumes
  CreateSnapshot,           // tagged ebsnap:group at creation
  CreateSnapshots,          // tagged ebsnap:group at creation
  // CreateTags after creation, without an ec2:CreateAction condition: the snapshot command (and a
  // later run reconciling one that died) corrects tags after the thaw (the per-volume tags
  // CreateSnapshots cannot set, ebsnap:consistency=watchdog-thawed). ebsnap:* and Name keys only,
  // on snapshots already tagged ebsnap:group.
  RetagSnapshot,
  DeleteSnapshot,             // ebsnap's own snapshots
  DeleteSnaptasticSnapshot,   // prune with "compat": {"snaptastic": true}: Snaptastic's (tagged mount_point)
  ModifyInstanceAttribute,    // mount, only for volumes configured with delete_on_termination
  CopySnapshot,               // copy (and snapshot's copy_after_snapshot): in the destination region
};
inline constexpr std::array k_permissions = {
    Permission::DescribeSnapshots, Permission::DescribeVolumes,   Permission::DescribeInstances,
    Permission::DescribeVolumeStatus, Permission::CreateVolume,   Permission::AttachVolume,
    Permission::DetachVolume,      Permission::DeleteVolume,      Permission::CreateSnapshot,
    Permission::CreateSnapshots,   Permission::RetagSnapshot,     Permission::DeleteSnapshot,
    Permission::DeleteSnaptasticSnapshot, Permission::ModifyInstanceAttribute, Permission::CopySnapshot,
};
using Permissions = std::set<Permission>;

// Its name, as tests and logs show it ("RetagSnapshot").
[[nodiscard]] std::string_view to_string(Permission permission);

// The EC2 action `check` DryRuns for the permission ("CreateTags" for RetagSnapshot); nullopt for
// one check cannot probe (DeleteSnaptasticSnapshot: no Snaptastic snapshot to name).
[[nodiscard]] std::optional<std::string_view> probed_action(Permission permission);

// The policy document that grants exactly `permissions`: the table's statements that serve one of
// them, each narrowed to the actions, resources and condition values those permissions need.
[[nodiscard]] nlohmann::ordered_json iam_policy_document(const Permissions& permissions);

// The same, pretty-printed (two spaces, a final newline): what `ebsnap iam-policy` prints and
// etc/iam-policy.json holds.
[[nodiscard]] std::string iam_policy_text(const Permissions& permissions);

// check's advice: the statements for the permissions whose probed action is among `actions`
// ("ec2:CreateSnapshots" or "CreateSnapshots"), pretty-printed. An action may need more than one
// statement (DetachVolume: one for the instance, one for ebsnap's own volume; CreateVolume: the
// volume, the snapshot it restores, its tags at creation, KMS).
[[nodiscard]] std::string iam_policy_json(const std::vector<std::string>& actions);

}  // namespace agent
