#pragma once
// The EC2 actions ebsnap uses, and the IAM policy it recommends for them: etc/iam-policy.json,
// built into the binary. `ebsnap check` prints the statements of that policy that grant what its
// DryRuns found missing, so that the advice keeps the policy's conditions (DeleteVolume only on
// volumes tagged ebsnap:group, ...) instead of granting the action on everything.
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace agent {

// Every EC2 action any ebsnap command calls, each probed by `check` and granted by
// etc/iam-policy.json (tests/unit/agent_check_test.cpp holds the three lists equal). CreateTags
// is needed without an ec2:CreateAction condition: the snapshot command corrects tags after the
// thaw (per-volume tags CreateSnapshots cannot set, ebsnap:consistency=watchdog-thawed).
inline constexpr std::array<std::string_view, 15> k_ec2_actions = {
    "DescribeSnapshots", "DescribeVolumes", "DescribeInstances", "CreateVolume",   "AttachVolume",
    "DetachVolume",      "DeleteVolume",    "CreateSnapshot",    "CreateSnapshots", "DeleteSnapshot",
    "CopySnapshot",      "CreateTags",      "DeleteTags",
    "DescribeVolumeStatus",     // list: the initialization progress of restored volumes
    "ModifyInstanceAttribute",  // mount, only for volumes configured with delete_on_termination
};

// etc/iam-policy.json, parsed.
[[nodiscard]] const nlohmann::ordered_json& recommended_iam_policy();

// The statements of the recommended policy that grant `actions` ("ec2:CreateSnapshots" or
// "CreateSnapshots"), each narrowed to those of its actions that are asked for, with its
// Resource and Condition as they are; pretty-printed. An action may need more than one
// statement (DetachVolume: one for the instance, one for ebsnap's own volume).
[[nodiscard]] std::string iam_policy_json(const std::vector<std::string>& actions);

}  // namespace agent
