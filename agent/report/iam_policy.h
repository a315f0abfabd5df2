#pragma once
// The EC2 actions ebsnap uses, and an IAM policy granting some of them (what `ebsnap check`
// prints for the actions DryRun found missing).
#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace agent {

// Every EC2 action any ebsnap command calls. CreateTags is needed without an ec2:CreateAction
// condition: the snapshot command corrects tags after the thaw (per-volume tags CreateSnapshots
// cannot set, ebsnap:consistency=watchdog-thawed).
inline constexpr std::array<std::string_view, 13> k_ec2_actions = {
    "DescribeSnapshots", "DescribeVolumes", "DescribeInstances", "CreateVolume",   "AttachVolume",
    "DetachVolume",      "DeleteVolume",    "CreateSnapshot",    "CreateSnapshots", "DeleteSnapshot",
    "CopySnapshot",      "CreateTags",      "DeleteTags",
};

// {"Version": "2012-10-17", "Statement": [{"Sid": "EbsnapMissing", "Effect": "Allow",
//   "Action": ["ec2:CreateSnapshots", ...], "Resource": "*"}]}, pretty-printed; actions in the
// order given, "ec2:" added.
[[nodiscard]] std::string iam_policy_json(const std::vector<std::string>& actions);

}  // namespace agent
