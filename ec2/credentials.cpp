#include "ec2/credentials.h"

#include <fstream>
#include <map>

#include "ec2/imds.h"
#include "ec2/log.h"

namespace ec2 {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

using IniSection = std::map<std::string, std::string>;

// The key/value pairs of section `wanted` of an INI file as the AWS CLI writes them; nullopt
// when the file or the section does not exist.
std::optional<IniSection> read_section(const std::filesystem::path& file, const std::string& wanted) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::optional<IniSection> found;
  bool inside = false;
  for (std::string raw; std::getline(in, raw);) {
    const std::string line = trim(raw);
    if (line.empty() || line.starts_with('#') || line.starts_with(';')) continue;
    if (line.starts_with('[') && line.ends_with(']')) {
      inside = trim(std::string_view(line).substr(1, line.size() - 2)) == wanted;
      if (inside && !found) found.emplace();
      continue;
    }
    if (!inside) continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    (*found)[trim(std::string_view(line).substr(0, eq))] = trim(std::string_view(line).substr(eq + 1));
  }
  return found;
}

std::filesystem::path home_file(const EnvLookup& env, const char* name) {
  const std::string home = env("HOME").value_or("");
  return std::filesystem::path(home.empty() ? "/root" : home) / ".aws" / name;
}

}  // namespace

// --- static ---

StaticCredentialsProvider::StaticCredentialsProvider(Credentials credentials)
    : credentials_(std::move(credentials)) {
  if (credentials_.source.empty()) credentials_.source = "static";
}

Result<Credentials> StaticCredentialsProvider::credentials() {
  return credentials_;
}
std::string StaticCredentialsProvider::source() const {
  return credentials_.source;
}

// --- environment ---

EnvironmentCredentialsProvider::EnvironmentCredentialsProvider(EnvLookup env) : env_(std::move(env)) {}

Result<Credentials> EnvironmentCredentialsProvider::credentials() {
  auto id = env_("AWS_ACCESS_KEY_ID");
  auto secret = env_("AWS_SECRET_ACCESS_KEY");
  if (!id || id->empty() || !secret || secret->empty()) {
    return fail(ErrorKind::Credentials, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set");
  }
  Credentials c;
  c.access_key_id = *id;
  c.secret_access_key = SecretString(std::move(*secret));
  wipe(*secret);
  if (auto token = env_("AWS_SESSION_TOKEN"); token && !token->empty()) {
    c.session_token = SecretString(*token);
    wipe(*token);
  }
  c.source = "environment";
  return c;
}

// --- profile ---

ProfileCredentialsProvider::ProfileCredentialsProvider(ProfileOptions options, const EnvLookup& env)
    : options_(std::move(options)) {
  if (options_.profile.empty()) {
    auto p = env("AWS_PROFILE");
    options_.profile = p && !p->empty() ? *p : "default";
  }
  if (options_.credentials_file.empty()) {
    auto f = env("AWS_SHARED_CREDENTIALS_FILE");
    options_.credentials_file = f && !f->empty() ? std::filesystem::path(*f) : home_file(env, "credentials");
  }
  if (options_.config_file.empty()) {
    auto f = env("AWS_CONFIG_FILE");
    options_.config_file = f && !f->empty() ? std::filesystem::path(*f) : home_file(env, "config");
  }
}

Result<Credentials> ProfileCredentialsProvider::credentials() {
  auto from_section = [&](const IniSection& s,
                          const std::filesystem::path& file) -> std::optional<Credentials> {
    auto id = s.find("aws_access_key_id");
    auto secret = s.find("aws_secret_access_key");
    if (id == s.end() || secret == s.end() || id->second.empty() || secret->second.empty())
      return std::nullopt;
    Credentials c;
    c.access_key_id = id->second;
    c.secret_access_key = SecretString(secret->second);
    if (auto token = s.find("aws_session_token"); token != s.end())
      c.session_token = SecretString(token->second);
    c.source = "profile " + options_.profile + " (" + file.string() + ")";
    return c;
  };
  // The credentials file wins over the config file, as in the CLI.
  if (auto s = read_section(options_.credentials_file, options_.profile)) {
    if (auto c = from_section(*s, options_.credentials_file)) return std::move(*c);
  }
  const std::string config_section =
      options_.profile == "default" ? "default" : "profile " + options_.profile;
  if (auto s = read_section(options_.config_file, config_section)) {
    if (auto c = from_section(*s, options_.config_file)) return std::move(*c);
  }
  return fail(ErrorKind::Credentials, "profile " + options_.profile + " has no keys in " +
                                          options_.credentials_file.string() + " or " +
                                          options_.config_file.string());
}

std::string ProfileCredentialsProvider::source() const {
  return "profile " + options_.profile;
}

// --- IMDS role ---

ImdsCredentialsProvider::ImdsCredentialsProvider(std::shared_ptr<Imds> imds, const Clock& clock,
                                                 ImdsCredentialsOptions options)
    : imds_(std::move(imds)), clock_(clock), options_(options) {}

Result<Credentials> ImdsCredentialsProvider::credentials() {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  if (cached_ && (!cached_->expiration || now < *cached_->expiration - options_.refresh_before))
    return *cached_;

  auto role = role_.empty() ? imds_->role_name() : Result<std::string>(role_);
  Result<Credentials> fresh =
      role ? imds_->role_credentials(*role) : Result<Credentials>(std::unexpected(role.error()));
  if (fresh) {
    role_ = *role;
    fresh->source = "imds role " + role_;
    if (cached_) {
      log_imds().info("role credentials refreshed role={} expires={}", role_,
                      fresh->expiration ? format_iso8601(*fresh->expiration) : std::string("never"));
    }
    cached_ = std::move(*fresh);
    return *cached_;
  }
  // The old ones still work for a while: use them rather than fail the call.
  if (cached_ && cached_->expiration && now < *cached_->expiration) {
    log_imds().warn("role credentials refresh failed, using the current ones until expiry error=\"{}\"",
                    fresh.error().describe());
    return *cached_;
  }
  return std::unexpected(fresh.error());
}

std::string ImdsCredentialsProvider::source() const {
  std::lock_guard lock(mutex_);
  return role_.empty() ? std::string("imds role") : "imds role " + role_;
}

void ImdsCredentialsProvider::invalidate() {
  std::lock_guard lock(mutex_);
  cached_.reset();
}

// --- chain ---

ChainCredentialsProvider::ChainCredentialsProvider(
    std::vector<std::shared_ptr<CredentialsProvider>> providers)
    : providers_(std::move(providers)) {}

Result<Credentials> ChainCredentialsProvider::credentials() {
  std::shared_ptr<CredentialsProvider> chosen;
  {
    std::lock_guard lock(mutex_);
    chosen = chosen_;
  }
  if (chosen) return chosen->credentials();
  std::string reasons;
  for (const auto& p : providers_) {
    auto c = p->credentials();
    if (c) {
      std::lock_guard lock(mutex_);
      if (!chosen_) {
        chosen_ = p;
        log_ec2().info("credentials source=\"{}\"", c->source);
      }
      return c;
    }
    if (!reasons.empty()) reasons += "; ";
    reasons += p->source() + ": " + c.error().message;
  }
  return fail(ErrorKind::Credentials, "no AWS credentials found (" + reasons + ")");
}

std::string ChainCredentialsProvider::source() const {
  std::shared_ptr<CredentialsProvider> chosen;
  {
    std::lock_guard lock(mutex_);
    chosen = chosen_;
  }
  return chosen ? chosen->source() : std::string("none");
}

void ChainCredentialsProvider::invalidate() {
  std::shared_ptr<CredentialsProvider> chosen;
  {
    std::lock_guard lock(mutex_);
    chosen = chosen_;
  }
  if (chosen) chosen->invalidate();
}

std::shared_ptr<CredentialsProvider> default_credentials_chain(const EnvLookup& env,
                                                               std::shared_ptr<Imds> imds,
                                                               const Clock& clock) {
  std::vector<std::shared_ptr<CredentialsProvider>> providers;
  providers.push_back(std::make_shared<EnvironmentCredentialsProvider>(env));
  providers.push_back(std::make_shared<ProfileCredentialsProvider>(ProfileOptions{}, env));
  if (imds) providers.push_back(std::make_shared<ImdsCredentialsProvider>(std::move(imds), clock));
  return std::make_shared<ChainCredentialsProvider>(std::move(providers));
}

}  // namespace ec2
