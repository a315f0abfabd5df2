#pragma once
// ebsnap check (alias test): can this instance run ebsnap? Every check runs (one failing does
// not hide the others) and says what it found; nothing is changed. EC2 permissions are probed
// with DryRun=true for what the commands of the configuration need, which is what `ebsnap
// iam-policy` grants for it (agent/core/iam_plan.h; without a configuration, everything: what
// etc/iam-policy.json grants): DryRunOperation, or a plain success, means allowed;
// UnauthorizedOperation means missing. The missing actions are printed as the statements of that
// policy that grant them (agent/report/iam_policy.h). CopySnapshot is probed where copy calls it:
// in each copy_to region, with that destination's KmsKeyId (a key the DryRun cannot use shows up
// as its error). Secrets are never shown: the credential
// check names the source only.
#include <chrono>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/services.h"
#include "agent/report/iam_policy.h"
#include "agent/report/report.h"
#include "ec2/credentials.h"
#include "ec2/ec2_api.h"
#include "ec2/imds.h"

namespace agent {

// What check looks at on the machine; a seam for tests.
class SystemProbe {
 public:
  virtual ~SystemProbe() = default;
  [[nodiscard]] virtual bool udevd_running() = 0;
  // The executable's path when found on PATH (or /sbin, /usr/sbin) and executable; nullopt otherwise.
  [[nodiscard]] virtual std::optional<std::string> find_executable(const std::string& name) = 0;
  // The kernel knows the filesystem (in /proc/filesystems, or as a module it can load).
  [[nodiscard]] virtual bool kernel_supports(const std::string& fs_type) = 0;
};

// udevd's control socket (platform::udevd_listening); PATH; /proc/filesystems and /lib/modules/$(uname -r).
class LocalSystemProbe final : public SystemProbe {
 public:
  [[nodiscard]] bool udevd_running() override;
  [[nodiscard]] std::optional<std::string> find_executable(const std::string& name) override;
  [[nodiscard]] bool kernel_supports(const std::string& fs_type) override;
};

struct CheckInputs {
  ec2::Imds* imds = nullptr;                       // null: IMDS disabled
  ec2::Ec2Api* ec2 = nullptr;                      // null: no client could be made (error below)
  std::optional<std::string> ec2_error;            // why there is no client
  ec2::CredentialsProvider* credentials = nullptr;
  std::optional<std::string> region;               // as resolved (config, --region, env, IMDS)
  const Config* config = nullptr;                  // null: config_error says why
  std::optional<std::string> config_error;         // ConfigError::describe()
  SystemProbe* system = nullptr;                   // null: LocalSystemProbe
  const FilterValues* filters = nullptr;           // userdata's values: the lineages the warnings look at
  const ec2::Clock* clock = nullptr;               // null: the system clock
  Ec2Regions* regions = nullptr;                   // the copy_to regions' clients; null: none probed there
};

// Every check as a RunReport's checks[], and the actions DryRun refused as missing_actions
// ("ec2:CreateSnapshots"). A warning is a check that passes (ok; exit 0) with something to say.
[[nodiscard]] RunReport check(const CheckInputs& inputs);

// Issue 17: a volume that EC2 deletes with the instance takes what was written since its last
// snapshot with it. Per group with a delete_on_termination volume, a warning unless the group
// snapshots on shutdown (snapshot_on_shutdown) or each such volume has a completed snapshot (as
// check-backups counts them) no older than the period of the smallest bucket its retention keeps
// (smallest_bucket). A group without retention, or whose retention keeps only keep_last (no
// period), is warned about as such. `snapshots`: one DescribeSnapshots of those volumes' lineages,
// or why there is none.
struct DeleteOnTerminationWarning {
  std::string group;
  std::string detail;
};
[[nodiscard]] std::vector<DeleteOnTerminationWarning> delete_on_termination_warnings(
    const Config& config, const FilterValues& filters,
    const std::expected<std::vector<ec2::Snapshot>, std::string>& snapshots, ec2::TimePoint now);

// The period of the smallest bucket `retention` keeps: hourly 1h, daily 1d, weekly 7d, monthly 31d,
// yearly 366d; nullopt when it keeps only keep_last.
[[nodiscard]] std::optional<std::chrono::seconds> smallest_bucket(const RetentionPolicy& retention);

// The DryRun probe of one action. DryRunOperation → allowed; a call that simply succeeds (some
// endpoints answer a Describe DryRun with data) proves the permission as well → allowed;
// UnauthorizedOperation → missing; anything else → a problem the detail names.
//
// The policy grants AttachVolume, DetachVolume, DeleteVolume and DeleteSnapshot, and CreateTags
// after creation, only on resources tagged ebsnap:group. Their DryRuns name a volume and a
// snapshot of ebsnap's made by this instance when there is one, so that they exercise that grant
// as the agent will use it. The create calls carry ebsnap:group in their TagSpecifications, as the
// policy requires (aws:RequestTag). Without one (before the first mount or snapshot) a placeholder
// id stands in, which such a grant refuses (UnauthorizedOperation, or NotFound): that verdict is
// Unproven, not Missing. Calls that need other ids get plausible placeholders: under DryRun EC2
// answers on the permission, not on the resource's state. `instance` and `az`/`region` make the
// probes plausible. Only the permissions in `needed` are probed (default: all); ModifyInstanceAttribute
// only with `delete_on_termination_device` too (a device configured with delete_on_termination):
// nothing else calls it.
struct PermissionProbe {
  std::string action;
  enum class Verdict { Allowed, Missing, Unproven, Unknown } verdict = Verdict::Unknown;
  std::string detail;
  std::optional<std::string> tagged_resource;  // the resource of ebsnap's the DryRun named
};
// "allowed", "missing", "unproven", "unknown": CheckReport::verdict.
[[nodiscard]] std::string_view to_string(PermissionProbe::Verdict verdict);
// Every permission of agent/report/iam_policy.h.
[[nodiscard]] const Permissions& every_permission();
// Where CopySnapshot is probed: in each destination (its client from `regions`, with its
// KmsKeyId, as copy calls it), from ebsnap's own snapshot here. No destinations: here.
struct CopyProbeTargets {
  Ec2Regions* regions = nullptr;
  std::vector<CopyDestination> destinations;  // one per region and key
};
[[nodiscard]] std::vector<PermissionProbe> probe_permissions(
    ec2::Ec2Api& ec2, const ec2::InstanceId& instance, const std::string& availability_zone, const std::string& region,
    const std::optional<std::string>& delete_on_termination_device = std::nullopt,
    const Permissions& needed = every_permission(), const CopyProbeTargets& copies = {});

}  // namespace agent
