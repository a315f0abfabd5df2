#pragma once
// An Imds for agent unit tests: the commands take what they need from InstanceContext, so any
// call to IMDS is a test's mistake and fails.
#include <optional>
#include <string>
#include <string_view>

#include "ec2/imds.h"

namespace agent::testing {

class NoImds final : public ec2::Imds {
 public:
  ec2::Result<ec2::InstanceId> instance_id() override { return no(); }
  ec2::Result<std::string> region() override { return no(); }
  ec2::Result<std::string> availability_zone() override { return no(); }
  ec2::Result<std::optional<std::string>> user_data() override { return no(); }
  ec2::Result<ec2::InstanceIdentity> identity_document() override { return no(); }
  ec2::Result<std::string> role_name() override { return no(); }
  ec2::Result<ec2::Credentials> role_credentials(std::string_view) override { return no(); }
  ec2::Result<std::string> get(std::string_view) override { return no(); }

 private:
  static std::unexpected<ec2::Error> no() { return ec2::fail(ec2::ErrorKind::Imds, "not in this test"); }
};

}  // namespace agent::testing
