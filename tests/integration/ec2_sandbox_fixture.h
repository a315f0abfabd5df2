#pragma once
// One sandbox (API only, no data plane) shared by the tests of a suite; faults are cleared
// after each test.
#include <gtest/gtest.h>

#include <memory>

#include "ec2/credentials.h"
#include "ec2/ec2_client.h"
#include "ec2/http.h"
#include "ec2/imds.h"
#include "tests/support/sandbox.h"

namespace ec2test {

class SandboxSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sandbox_ = std::make_unique<testsupport::Sandbox>(testsupport::SandboxOptions{.data_plane = false});
  }
  static void TearDownTestSuite() { sandbox_.reset(); }

  void TearDown() override {
    sandbox().configure({{"throttle_fraction", 0.0},
                         {"error_5xx_fraction", 0.0},
                         {"drop_fraction", 0.0},
                         {"fault_actions", nullptr},
                         {"allowed_actions", nullptr},
                         {"fail_next", {{"count", 0}}},
                         {"imds", {{"fail_503_next", 0}, {"user_data", nullptr}}}});
  }

  static testsupport::Sandbox& sandbox() { return *sandbox_; }

  static ec2::EnvLookup env() { return ec2::fixed_environment(sandbox().environment()); }

  static std::shared_ptr<ec2::CredentialsProvider> static_credentials(std::string secret = {}) {
    ec2::Credentials c;
    c.access_key_id = sandbox().env("AWS_ACCESS_KEY_ID");
    c.secret_access_key =
        ec2::SecretString(secret.empty() ? sandbox().env("AWS_SECRET_ACCESS_KEY") : std::move(secret));
    c.source = "sandbox static keys";
    return std::make_shared<ec2::StaticCredentialsProvider>(std::move(c));
  }

  static std::unique_ptr<ec2::Ec2Client> client(ec2::RetryOptions retry = {},
                                                std::shared_ptr<ec2::CredentialsProvider> creds = nullptr,
                                                int page_size = 0) {
    auto r = ec2::Ec2Client::create(ec2::Ec2ClientOptions{.region = sandbox().region(),
                                                          .endpoint = {},
                                                          .credentials = creds ? creds : static_credentials(),
                                                          .retry = retry,
                                                          .http = {},
                                                          .default_page_size = page_size},
                                    env());
    EXPECT_TRUE(r) << r.error().describe();
    return std::move(*r);
  }

  // POST to the sandbox's control endpoint (resources other than /config); throws on a refusal.
  static nlohmann::json control_post(const std::string& resource, const nlohmann::json& body) {
    return sandbox().control(resource, body);
  }

  // How many calls of `action` the gateway logged with `error` (empty: any outcome).
  static int logged(const std::string& action, const std::string& error = {}) {
    int n = 0;
    for (const auto& c : sandbox().calls()) {
      if (c.value("action", "") != action) continue;
      if (!error.empty() && (!c.contains("error") || c["error"].is_null() || c["error"] != error)) continue;
      ++n;
    }
    return n;
  }

 private:
  static inline std::unique_ptr<testsupport::Sandbox> sandbox_;
};

}  // namespace ec2test
