#include "agent/report/iam_policy.h"

#include <algorithm>
#include <initializer_list>

namespace agent {
namespace {

using Json = nlohmann::ordered_json;
using P = Permission;

// One part of a statement (an action, a resource, a condition value) and the permissions that
// need it; none: whenever its statement is there.
struct Part {
  std::string_view text;
  std::vector<Permission> needed_by;
};

struct Condition {
  std::string_view op;   // "Null", "StringEquals", ...
  std::string_view key;  // "aws:ResourceTag/ebsnap:group"
  std::vector<Part> values;
  bool list = false;     // an array even with one value
};

struct Statement {
  std::string_view sid;
  std::vector<Part> actions;  // each needed by its own permissions; the statement is there when one is
  std::vector<Part> resources;
  std::vector<Condition> conditions;
};

constexpr std::string_view k_instances = "arn:aws:ec2:*:*:instance/*";
constexpr std::string_view k_volumes = "arn:aws:ec2:*:*:volume/*";
// A snapshot's ARN has no account ("arn:aws:ec2:eu-west-1::snapshot/snap-…"); * matches it empty.
constexpr std::string_view k_snapshots = "arn:aws:ec2:*:*:snapshot/*";

// ebsnap's ownership tag: on every volume and snapshot it creates (agent/core/tags.h), set at
// creation and never by a later CreateTags on a resource that lacks it, so no existing resource
// can be made ebsnap's.
Condition owned() { return {.op = "Null", .key = "aws:ResourceTag/ebsnap:group", .values = {{"false", {}}}}; }
Condition created_owned() { return {.op = "Null", .key = "aws:RequestTag/ebsnap:group", .values = {{"false", {}}}}; }

// The table. Order is output order; Sids are stable names (check's advice and tests use them).
const std::vector<Statement>& statements() {
  static const std::vector<Statement> table = {
      // Describe* supports no resource-level permissions.
      {.sid = "EbsnapDescribe",
       .actions = {{"ec2:DescribeSnapshots", {P::DescribeSnapshots}},
                   {"ec2:DescribeVolumes", {P::DescribeVolumes}},
                   {"ec2:DescribeInstances", {P::DescribeInstances}},
                   {"ec2:DescribeVolumeStatus", {P::DescribeVolumeStatus}}},
       .resources = {{"*", {}}}},
      // Tag on create: a volume or snapshot ebsnap creates must carry ebsnap:group from the start.
      {.sid = "EbsnapCreateTaggedVolumes",
       .actions = {{"ec2:CreateVolume", {P::CreateVolume}}},
       .resources = {{k_volumes, {}}},
       .conditions = {created_owned()}},
      // Restore reads the snapshot: ebsnap's, and those of its lineages it did not make (DLM's,
      // Snaptastic's with compat), so not conditioned on ebsnap:group.
      {.sid = "EbsnapCreateVolumesFromSnapshots",
       .actions = {{"ec2:CreateVolume", {P::CreateVolume}}},
       .resources = {{k_snapshots, {}}}},
      {.sid = "EbsnapSnapshotVolumes",
       .actions = {{"ec2:CreateSnapshot", {P::CreateSnapshot}}, {"ec2:CreateSnapshots", {P::CreateSnapshots}}},
       .resources = {{k_volumes, {}}, {k_instances, {P::CreateSnapshots}}}},
      {.sid = "EbsnapCreateTaggedSnapshots",
       .actions = {{"ec2:CreateSnapshot", {P::CreateSnapshot}},
                   {"ec2:CreateSnapshots", {P::CreateSnapshots}},
                   {"ec2:CopySnapshot", {P::CopySnapshot}}},
       .resources = {{k_snapshots, {}}},
       .conditions = {created_owned()}},
      // The copy reads its source snapshot: one of the lineage (issue 14).
      {.sid = "EbsnapCopyFromSnapshots",
       .actions = {{"ec2:CopySnapshot", {P::CopySnapshot}}},
       .resources = {{k_snapshots, {}}},
       .conditions = {owned()}},
      // The TagSpecifications of the create calls, and nothing else.
      {.sid = "EbsnapTagOnCreate",
       .actions = {{"ec2:CreateTags", {P::CreateVolume, P::CreateSnapshot, P::CreateSnapshots, P::CopySnapshot}}},
       .resources = {{k_volumes, {P::CreateVolume}},
                     {k_snapshots, {P::CreateSnapshot, P::CreateSnapshots, P::CopySnapshot}}},
       .conditions = {{.op = "StringEquals",
                       .key = "ec2:CreateAction",
                       .values = {{"CreateVolume", {P::CreateVolume}},
                                  {"CreateSnapshot", {P::CreateSnapshot}},
                                  {"CreateSnapshots", {P::CreateSnapshots}},
                                  {"CopySnapshot", {P::CopySnapshot}}},
                       .list = true}}},
      // After the thaw (see Permission::RetagSnapshot): ebsnap's keys and Name, on its own snapshots.
      {.sid = "EbsnapTagAfterCreate",
       .actions = {{"ec2:CreateTags", {P::RetagSnapshot}}},
       .resources = {{k_snapshots, {}}},
       .conditions = {{.op = "ForAllValues:StringLike",
                       .key = "aws:TagKeys",
                       .values = {{"ebsnap:*", {}}, {"Name", {}}},
                       .list = true},
                      owned()}},
      // Attach and detach name the instance too; the volume must be ebsnap's.
      {.sid = "EbsnapAttachAndDetachOnInstances",
       .actions = {{"ec2:AttachVolume", {P::AttachVolume}}, {"ec2:DetachVolume", {P::DetachVolume}}},
       .resources = {{k_instances, {}}}},
      {.sid = "EbsnapAttachDetachAndDeleteOwnVolumes",
       .actions = {{"ec2:AttachVolume", {P::AttachVolume}},
                   {"ec2:DetachVolume", {P::DetachVolume}},
                   {"ec2:DeleteVolume", {P::DeleteVolume}}},
       .resources = {{k_volumes, {}}},
       .conditions = {owned()}},
      {.sid = "EbsnapDeleteOwnSnapshots",
       .actions = {{"ec2:DeleteSnapshot", {P::DeleteSnapshot}}},
       .resources = {{k_snapshots, {}}},
       .conditions = {owned()}},
      // Snaptastic tagged its snapshots mount_point (agent/core/compat.h); they carry no
      // ebsnap:group, and prune deletes them once their `expires` has passed.
      {.sid = "EbsnapDeleteSnaptasticSnapshots",
       .actions = {{"ec2:DeleteSnapshot", {P::DeleteSnaptasticSnapshot}}},
       .resources = {{k_snapshots, {}}},
       .conditions = {{.op = "Null", .key = "aws:ResourceTag/mount_point", .values = {{"false", {}}}}}},
      // EC2 cannot narrow it to the instance itself without a condition on ec2:InstanceID.
      {.sid = "EbsnapOnlyWithDeleteOnTerminationVolumes",
       .actions = {{"ec2:ModifyInstanceAttribute", {P::ModifyInstanceAttribute}}},
       .resources = {{k_instances, {}}}},
      // Encrypted volumes (a kms_key_id, or the account's encryption by default with a customer
      // managed key, which the config cannot see) and encrypted copies (copy_to's kms_key_id, and
      // the source's key): EC2 asks KMS on ebsnap's behalf. kms:GrantIsForAWSResource is a
      // condition of grants only (CreateGrant); on the other actions it would never match.
      {.sid = "EbsnapEncryptedVolumes",
       .actions = {{"kms:Decrypt", {P::CreateVolume, P::CopySnapshot}},
                   {"kms:DescribeKey", {P::CreateVolume, P::CopySnapshot}},
                   {"kms:GenerateDataKeyWithoutPlaintext", {P::CreateVolume, P::CopySnapshot}},
                   {"kms:ReEncrypt*", {P::CreateVolume, P::CopySnapshot}}},
       .resources = {{"*", {}}}},
      {.sid = "EbsnapEncryptedVolumesGrants",
       .actions = {{"kms:CreateGrant", {P::CreateVolume, P::CopySnapshot}}},
       .resources = {{"*", {}}},
       .conditions = {{.op = "Bool", .key = "kms:GrantIsForAWSResource", .values = {{"true", {}}}}}},
  };
  return table;
}

bool wanted(const Part& part, const Permissions& permissions) {
  return part.needed_by.empty() ||
         std::ranges::any_of(part.needed_by, [&](Permission p) { return permissions.contains(p); });
}

Json texts(const std::vector<Part>& parts, const Permissions& permissions) {
  Json out = Json::array();
  for (const auto& p : parts) {
    if (wanted(p, permissions)) out.push_back(std::string(p.text));
  }
  return out;
}

// One value as a string, more as an array (as AWS's own examples write them).
Json one_or_list(Json values) { return values.size() == 1 ? values.front() : values; }

struct PermissionInfo {
  Permission permission;
  std::string_view name;
  std::optional<std::string_view> probed;
};
constexpr std::array<PermissionInfo, k_permissions.size()> k_info = {{
    {P::DescribeSnapshots, "DescribeSnapshots", "DescribeSnapshots"},
    {P::DescribeVolumes, "DescribeVolumes", "DescribeVolumes"},
    {P::DescribeInstances, "DescribeInstances", "DescribeInstances"},
    {P::DescribeVolumeStatus, "DescribeVolumeStatus", "DescribeVolumeStatus"},
    {P::CreateVolume, "CreateVolume", "CreateVolume"},
    {P::AttachVolume, "AttachVolume", "AttachVolume"},
    {P::DetachVolume, "DetachVolume", "DetachVolume"},
    {P::DeleteVolume, "DeleteVolume", "DeleteVolume"},
    {P::CreateSnapshot, "CreateSnapshot", "CreateSnapshot"},
    {P::CreateSnapshots, "CreateSnapshots", "CreateSnapshots"},
    {P::RetagSnapshot, "RetagSnapshot", "CreateTags"},
    {P::DeleteSnapshot, "DeleteSnapshot", "DeleteSnapshot"},
    {P::DeleteSnaptasticSnapshot, "DeleteSnaptasticSnapshot", std::nullopt},
    {P::ModifyInstanceAttribute, "ModifyInstanceAttribute", "ModifyInstanceAttribute"},
    {P::CopySnapshot, "CopySnapshot", "CopySnapshot"},
}};

const PermissionInfo& info(Permission p) {
  return *std::ranges::find(k_info, p, &PermissionInfo::permission);
}

}  // namespace

std::string_view to_string(Permission permission) { return info(permission).name; }

std::optional<std::string_view> probed_action(Permission permission) { return info(permission).probed; }

Json iam_policy_document(const Permissions& permissions) {
  Json statements_out = Json::array();
  for (const auto& st : statements()) {
    Json actions = Json::array();
    for (const auto& a : st.actions) {
      // An action is there only for the permissions that need it, never "whenever".
      if (!a.needed_by.empty() && wanted(a, permissions)) actions.push_back(std::string(a.text));
    }
    if (actions.empty()) continue;
    Json s = {{"Sid", std::string(st.sid)}, {"Effect", "Allow"}, {"Action", one_or_list(std::move(actions))},
              {"Resource", one_or_list(texts(st.resources, permissions))}};
    if (!st.conditions.empty()) {
      Json conditions = Json::object();
      for (const auto& c : st.conditions) {
        Json values = texts(c.values, permissions);
        conditions[std::string(c.op)][std::string(c.key)] = c.list ? values : one_or_list(std::move(values));
      }
      s["Condition"] = std::move(conditions);
    }
    statements_out.push_back(std::move(s));
  }
  return Json{{"Version", "2012-10-17"}, {"Statement", std::move(statements_out)}};
}

std::string iam_policy_text(const Permissions& permissions) { return iam_policy_document(permissions).dump(2) + "\n"; }

std::string iam_policy_json(const std::vector<std::string>& actions) {
  Permissions permissions;
  for (const auto& a : actions) {
    std::string_view name = a;
    if (name.starts_with("ec2:")) name.remove_prefix(4);
    for (const auto& i : k_info) {
      if (i.probed == name) permissions.insert(i.permission);
    }
  }
  return iam_policy_text(permissions);
}

}  // namespace agent
