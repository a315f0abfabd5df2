#pragma once
// AWS credentials and the SDKs' provider chain: environment → shared profile files → the
// instance role from IMDS (refreshed before it expires). source() says where they came from,
// for `ebsnap check`; the secret never leaves SecretString.
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ec2/clock.h"
#include "ec2/environment.h"
#include "ec2/error.h"
#include "ec2/secret.h"

namespace ec2 {

class Imds;

struct Credentials {
  std::string access_key_id;
  SecretString secret_access_key;
  SecretString session_token;  // empty for long-term keys
  std::optional<TimePoint> expiration;
  std::string source;  // "environment", "profile default (/root/.aws/credentials)", "imds role web"
};

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Credentials valid now (refreshing them if they are about to expire). Kind Credentials
  // when this source has none.
  [[nodiscard]] virtual Result<Credentials> credentials() = 0;
  // Where the credentials come from; never the secret.
  [[nodiscard]] virtual std::string source() const = 0;
  // The server rejected the credentials as expired: fetch new ones on the next call.
  virtual void invalidate() {}
};

// Fixed credentials (tests, --access-key style configuration).
class StaticCredentialsProvider final : public CredentialsProvider {
 public:
  explicit StaticCredentialsProvider(Credentials credentials);
  [[nodiscard]] Result<Credentials> credentials() override;
  [[nodiscard]] std::string source() const override;

 private:
  Credentials credentials_;
};

// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.
class EnvironmentCredentialsProvider final : public CredentialsProvider {
 public:
  explicit EnvironmentCredentialsProvider(EnvLookup env);
  [[nodiscard]] Result<Credentials> credentials() override;
  [[nodiscard]] std::string source() const override { return "environment"; }

 private:
  EnvLookup env_;
};

struct ProfileOptions {
  std::string profile;                     // empty: AWS_PROFILE, else "default"
  std::filesystem::path credentials_file;  // empty: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials
  std::filesystem::path config_file;       // empty: AWS_CONFIG_FILE, else ~/.aws/config
};

// aws_access_key_id / aws_secret_access_key / aws_session_token from the shared credentials
// file ([name]) or, failing that, the config file ([profile name], or [default]).
class ProfileCredentialsProvider final : public CredentialsProvider {
 public:
  ProfileCredentialsProvider(ProfileOptions options, const EnvLookup& env);
  [[nodiscard]] Result<Credentials> credentials() override;
  [[nodiscard]] std::string source() const override;
  [[nodiscard]] const std::string& profile() const { return options_.profile; }

 private:
  ProfileOptions options_;
};

struct ImdsCredentialsOptions {
  // Fetch new credentials this long before the current ones expire (the SDKs use 5 min; IMDS
  // itself rotates them well before).
  std::chrono::seconds refresh_before{300};
};

// The instance profile's role credentials. Cached; refreshed under a lock when they come
// within refresh_before of expiry. If a refresh fails while the cached credentials are still
// valid, those are used (and the failure logged once).
class ImdsCredentialsProvider final : public CredentialsProvider {
 public:
  ImdsCredentialsProvider(std::shared_ptr<Imds> imds, const Clock& clock,
                          ImdsCredentialsOptions options = {});
  [[nodiscard]] Result<Credentials> credentials() override;
  [[nodiscard]] std::string source() const override;
  void invalidate() override;

 private:
  std::shared_ptr<Imds> imds_;
  const Clock& clock_;
  ImdsCredentialsOptions options_;
  mutable std::mutex mutex_;
  std::optional<Credentials> cached_;
  std::string role_;
};

// Tries each provider in order; the first that has credentials is remembered and asked
// directly from then on (so refreshes go to the same source). Thread-safe.
class ChainCredentialsProvider final : public CredentialsProvider {
 public:
  explicit ChainCredentialsProvider(std::vector<std::shared_ptr<CredentialsProvider>> providers);
  [[nodiscard]] Result<Credentials> credentials() override;
  [[nodiscard]] std::string source() const override;  // "none" before the first success
  void invalidate() override;

 private:
  std::vector<std::shared_ptr<CredentialsProvider>> providers_;
  mutable std::mutex mutex_;
  std::shared_ptr<CredentialsProvider> chosen_;
};

// The SDKs' default chain: environment, profile, then the IMDS role (when imds is not null).
[[nodiscard]] std::shared_ptr<CredentialsProvider> default_credentials_chain(const EnvLookup& env,
                                                                             std::shared_ptr<Imds> imds,
                                                                             const Clock& clock);

}  // namespace ec2
