#pragma once
// The instance metadata service (IMDSv2 only): an interface for the agent and its tests, and
// the HTTP client.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "ec2/clock.h"
#include "ec2/credentials.h"
#include "ec2/environment.h"
#include "ec2/error.h"
#include "ec2/http.h"
#include "ec2/secret.h"
#include "ec2/types.h"

namespace ec2 {

// The instance identity document (/latest/dynamic/instance-identity/document).
struct InstanceIdentity {
  std::string account_id;
  std::string region;
  std::string availability_zone;
  InstanceId instance_id;
  std::string instance_type;
  std::string image_id;
  std::string private_ip;
  std::string raw_json;
};

class Imds {
 public:
  virtual ~Imds() = default;
  [[nodiscard]] virtual Result<InstanceId> instance_id() = 0;
  [[nodiscard]] virtual Result<std::string> region() = 0;
  [[nodiscard]] virtual Result<std::string> availability_zone() = 0;
  // nullopt when the instance has no userdata (IMDS answers 404).
  [[nodiscard]] virtual Result<std::optional<std::string>> user_data() = 0;
  [[nodiscard]] virtual Result<InstanceIdentity> identity_document() = 0;
  // The instance profile's role name; kind Credentials when the instance has none.
  [[nodiscard]] virtual Result<std::string> role_name() = 0;
  // The role's temporary credentials (with expiration); `role` empty: role_name().
  [[nodiscard]] virtual Result<Credentials> role_credentials(std::string_view role = {}) = 0;
  // Any metadata path, e.g. "meta-data/placement/availability-zone" (below /latest/).
  [[nodiscard]] virtual Result<std::string> get(std::string_view path) = 0;
};

struct ImdsOptions {
  std::string endpoint = "http://169.254.169.254/";  // AWS_EC2_METADATA_SERVICE_ENDPOINT
  bool disabled = false;                             // AWS_EC2_METADATA_DISABLED=true
  std::chrono::seconds token_ttl{21'600};
  // Fetch a new token this long before the current one expires.
  std::chrono::seconds token_refresh_before{60};
  std::chrono::milliseconds connect_timeout{1'000};
  std::chrono::milliseconds request_timeout{2'000};
  // Connection errors and 503 are retried with backoff until this much time has been spent
  // (an instance's network and IMDS can take a while at boot). 60 s, not 20: a budget equal to
  // an outage gives up on the retry that would have got through (the fault matrix of issue 16
  // has IMDS answering 503 for the first 20 s; the mount unit allows 20 minutes).
  std::chrono::milliseconds retry_budget{60'000};
  std::chrono::milliseconds retry_base_delay{200};
  std::chrono::milliseconds retry_max_delay{2'000};

  // The defaults with the environment's overrides.
  [[nodiscard]] static ImdsOptions from_environment(const EnvLookup& env);
};

struct ImdsDependencies {
  std::shared_ptr<HttpClient> http;  // null: a CurlHttpClient
  const Clock* clock = nullptr;      // null: the system's
  Sleeper* sleeper = nullptr;
  RandomSource* random = nullptr;
};

// IMDSv2: PUT /latest/api/token with the TTL header; the token is cached and refreshed before
// it expires; a 401 gets a new token once; 403 is reported as IMDS being disabled or the
// response hop limit being too low. Thread-safe. The token and userdata are never logged.
class ImdsClient final : public Imds {
 public:
  explicit ImdsClient(ImdsOptions options, ImdsDependencies deps = {});

  [[nodiscard]] Result<InstanceId> instance_id() override;
  [[nodiscard]] Result<std::string> region() override;
  [[nodiscard]] Result<std::string> availability_zone() override;
  [[nodiscard]] Result<std::optional<std::string>> user_data() override;
  [[nodiscard]] Result<InstanceIdentity> identity_document() override;
  [[nodiscard]] Result<std::string> role_name() override;
  [[nodiscard]] Result<Credentials> role_credentials(std::string_view role = {}) override;
  [[nodiscard]] Result<std::string> get(std::string_view path) override;

  [[nodiscard]] const ImdsOptions& options() const { return options_; }

 private:
  struct Fetched {
    long status = 0;
    std::string body;
  };
  // GET below /latest/ with the token; 404 is returned as status 404, not as an error.
  [[nodiscard]] Result<Fetched> fetch(std::string_view path);
  [[nodiscard]] Result<SecretString> token(bool force_new);
  [[nodiscard]] Result<HttpResponse> send_with_retries(const HttpRequest& request, std::string_view what);

  ImdsOptions options_;
  std::shared_ptr<HttpClient> http_;
  const Clock& clock_;
  Sleeper& sleeper_;
  RandomSource& random_;
  std::mutex mutex_;
  SecretString token_;
  std::chrono::steady_clock::time_point token_expires_{};
};

}  // namespace ec2
