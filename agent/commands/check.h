#pragma once
// ebsnap check (alias test): can this instance run ebsnap? Every check runs (one failing does
// not hide the others) and says what it found; nothing is changed. EC2 permissions are probed
// with DryRun=true for every action ebsnap uses: DryRunOperation means allowed,
// UnauthorizedOperation means missing. Calls that need ids get plausible dummy ones: EC2 checks
// the permission before the existence of the resources under DryRun (the sandbox does too).
// The missing actions are printed as an IAM policy. Secrets are never shown: the credential
// check names the source only.
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
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
};

// Every check as a RunReport's checks[], and the actions DryRun refused as missing_actions
// ("ec2:CreateSnapshots").
[[nodiscard]] RunReport check(const CheckInputs& inputs);

// The DryRun probe of one action: DryRunOk → allowed, Unauthorized → missing, anything else → a
// problem the detail names. `instance` and `az`/`region` make the probes plausible.
struct PermissionProbe {
  std::string action;
  enum class Verdict { Allowed, Missing, Unknown } verdict = Verdict::Unknown;
  std::string detail;
};
[[nodiscard]] std::vector<PermissionProbe> probe_permissions(ec2::Ec2Api& ec2, const ec2::InstanceId& instance,
                                                             const std::string& availability_zone,
                                                             const std::string& region);

}  // namespace agent
