#include "ec2/imds.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "ebsnap/try.h"
#include "ec2/log.h"
#include "ec2/retry.h"

namespace ec2 {
namespace {

constexpr const char* k_token_header = "X-aws-ec2-metadata-token";
constexpr const char* k_ttl_header = "X-aws-ec2-metadata-token-ttl-seconds";

Error imds_error(std::string message, long status = 0) {
  Error e;
  e.kind = ErrorKind::Imds;
  e.message = std::move(message);
  e.http_status = status;
  return e;
}

Error forbidden() {
  return imds_error(
      "IMDS answered 403 Forbidden: the metadata service is disabled for this instance, or its response hop "
      "limit is too low for this network path (containers need a hop limit of 2)",
      403);
}

}  // namespace

ImdsOptions ImdsOptions::from_environment(const EnvLookup& env) {
  ImdsOptions o;
  if (auto e = env("AWS_EC2_METADATA_SERVICE_ENDPOINT"); e && !e->empty()) o.endpoint = *e;
  o.disabled = env_flag(env, "AWS_EC2_METADATA_DISABLED");
  return o;
}

ImdsClient::ImdsClient(ImdsOptions options, ImdsDependencies deps)
    : options_(std::move(options)),
      http_(deps.http),
      clock_(deps.clock != nullptr ? *deps.clock : system_clock()),
      sleeper_(deps.sleeper != nullptr ? *deps.sleeper : system_sleeper()),
      random_(deps.random != nullptr ? *deps.random : system_random()) {
  if (!options_.endpoint.ends_with('/')) options_.endpoint += '/';
  if (!http_) {
    http_ = std::make_shared<CurlHttpClient>(HttpOptions{.connect_timeout = options_.connect_timeout,
                                                         .total_timeout = options_.request_timeout,
                                                         .ca_bundle = {},
                                                         .allow_plain_http = true,
                                                         .user_agent = "ebsnap",
                                                         .use_proxy = false});
  }
}

Result<HttpResponse> ImdsClient::send_with_retries(const HttpRequest& request, std::string_view what) {
  const auto deadline = clock_.monotonic() + options_.retry_budget;
  for (int attempt = 1;; ++attempt) {
    auto r = http_->send(request);
    // An answer over the size cap, or a refused certificate, would come back the same.
    const bool transient = r ? r->status == 503 : is_retryable(r.error());
    if (!transient) return r;
    const auto now = clock_.monotonic();
    // Exponential backoff with full jitter, never past the budget.
    const double exp =
        std::ldexp(static_cast<double>(options_.retry_base_delay.count()), std::min(attempt - 1, 20));
    auto delay = std::chrono::milliseconds{static_cast<long long>(
        random_.uniform() * std::min(exp, static_cast<double>(options_.retry_max_delay.count())))};
    if (now + delay >= deadline) {
      Error e = r ? imds_error("IMDS kept answering 503 Service Unavailable", 503) : r.error();
      if (!r) e.kind = ErrorKind::Imds;
      e.message = std::string(what) + ": " + e.message + " (gave up after " + std::to_string(attempt) +
                  " attempts within the retry budget; is this an EC2 instance?)";
      log_imds().warn("call={} attempts={} error=\"{}\"", what, attempt, e.message);
      return std::unexpected(std::move(e));
    }
    log_imds().debug("call={} attempt={} transient failure, retry_in_ms={}", what, attempt, delay.count());
    sleeper_.sleep_for(delay);
  }
}

Result<SecretString> ImdsClient::token(bool force_new) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.monotonic();
  if (!force_new && !token_.empty() && now < token_expires_) return token_;
  HttpRequest req{.method = "PUT",
                  .url = options_.endpoint + "latest/api/token",
                  .headers = {{k_ttl_header, std::to_string(options_.token_ttl.count())}}};
  EBSNAP_TRY_ASSIGN(auto r, send_with_retries(req, "token"));
  if (r.status == 403) return std::unexpected(forbidden());
  if (r.status != 200 || r.body.empty()) {
    return std::unexpected(imds_error(
        "IMDS token request answered HTTP " + std::to_string(r.status) + " (IMDSv2 unavailable?)", r.status));
  }
  token_ = SecretString(std::move(r.body));
  wipe(r.body);
  token_expires_ = now + options_.token_ttl - std::min(options_.token_refresh_before, options_.token_ttl / 2);
  log_imds().debug("token acquired ttl_s={}", options_.token_ttl.count());
  return token_;
}

Result<ImdsClient::Fetched> ImdsClient::fetch(std::string_view path) {
  if (options_.disabled)
    return std::unexpected(imds_error("IMDS is disabled (AWS_EC2_METADATA_DISABLED=true)"));
  bool renewed = false;
  for (;;) {
    EBSNAP_TRY_ASSIGN(auto tok, token(renewed));
    HttpRequest req{.method = "GET",
                    .url = options_.endpoint + "latest/" + std::string(path),
                    .headers = {{k_token_header, std::string(tok.reveal())}}};
    auto r = send_with_retries(req, path);
    wipe(req.headers.front().second);
    if (!r) return std::unexpected(std::move(r.error()));
    if (r->status == 401 && !renewed) {
      // The token expired or IMDS restarted: one new token, one more try.
      log_imds().debug("path={} token rejected (401); fetching a new one", path);
      renewed = true;
      continue;
    }
    if (r->status == 401) return std::unexpected(imds_error("IMDS rejected a fresh token (401)", 401));
    if (r->status == 403) return std::unexpected(forbidden());
    if (r->status != 200 && r->status != 404) {
      return std::unexpected(
          imds_error("IMDS " + std::string(path) + " answered HTTP " + std::to_string(r->status), r->status));
    }
    return Fetched{.status = r->status, .body = std::move(r->body)};
  }
}

Result<std::string> ImdsClient::get(std::string_view path) {
  EBSNAP_TRY_ASSIGN(auto r, fetch(path));
  if (r.status == 404) return std::unexpected(imds_error("IMDS has no " + std::string(path), 404));
  return std::move(r.body);
}

Result<InstanceId> ImdsClient::instance_id() {
  EBSNAP_TRY_ASSIGN(auto r, get("meta-data/instance-id"));
  return InstanceId{std::move(r)};
}

Result<std::string> ImdsClient::availability_zone() {
  return get("meta-data/placement/availability-zone");
}

Result<std::string> ImdsClient::region() {
  EBSNAP_TRY_ASSIGN(auto r, fetch("meta-data/placement/region"));
  if (r.status == 200 && !r.body.empty()) return std::move(r.body);
  // Older instances have no placement/region: the identity document does.
  EBSNAP_TRY_ASSIGN(auto doc, identity_document());
  return doc.region;
}

Result<std::optional<std::string>> ImdsClient::user_data() {
  EBSNAP_TRY_ASSIGN(auto r, fetch("user-data"));
  if (r.status == 404) return std::optional<std::string>{};
  return std::optional<std::string>{std::move(r.body)};
}

Result<InstanceIdentity> ImdsClient::identity_document() {
  EBSNAP_TRY_ASSIGN(auto r, get("dynamic/instance-identity/document"));
  auto j = nlohmann::json::parse(r, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail(ErrorKind::Parse, "IMDS identity document is not JSON");
  auto str = [&](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
  };
  return InstanceIdentity{.account_id = str("accountId"),
                          .region = str("region"),
                          .availability_zone = str("availabilityZone"),
                          .instance_id = InstanceId{str("instanceId")},
                          .instance_type = str("instanceType"),
                          .image_id = str("imageId"),
                          .private_ip = str("privateIp"),
                          .raw_json = std::move(r)};
}

Result<std::string> ImdsClient::role_name() {
  EBSNAP_TRY_ASSIGN(auto r, fetch("meta-data/iam/security-credentials/"));
  std::string_view body = r.body;
  const auto nl = body.find('\n');
  std::string name = std::string(body.substr(0, nl));
  while (!name.empty() && (name.back() == '\r' || name.back() == ' ')) name.pop_back();
  if (r.status == 404 || name.empty()) {
    return fail(ErrorKind::Credentials, "the instance has no IAM role (no instance profile attached)");
  }
  return name;
}

Result<Credentials> ImdsClient::role_credentials(std::string_view role) {
  std::string name(role);
  if (name.empty()) {
    EBSNAP_TRY_ASSIGN(name, role_name());
  }
  EBSNAP_TRY_ASSIGN(auto r, fetch("meta-data/iam/security-credentials/" + name));
  if (r.status == 404) return fail(ErrorKind::Credentials, "IMDS has no credentials for role " + name);
  auto j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  wipe(r.body);
  if (j.is_discarded() || !j.is_object()) return fail(ErrorKind::Parse, "IMDS role credentials are not JSON");
  auto str = [&](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
  };
  if (const std::string code = str("Code"); !code.empty() && code != "Success") {
    return fail(ErrorKind::Credentials, "IMDS role credentials for " + name + ": Code=" + code);
  }
  Credentials c;
  c.access_key_id = str("AccessKeyId");
  c.secret_access_key = SecretString(str("SecretAccessKey"));
  c.session_token = SecretString(str("Token"));
  if (const std::string exp = str("Expiration"); !exp.empty()) {
    c.expiration = parse_iso8601(exp);
    if (!c.expiration) return fail(ErrorKind::Parse, "IMDS role credentials: bad Expiration " + exp);
  }
  c.source = "imds role " + name;
  // Wipe the secrets' copies inside the parsed document.
  for (const char* key : {"SecretAccessKey", "Token"}) {
    if (j.contains(key) && j[key].is_string()) wipe(j[key].get_ref<std::string&>());
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return fail(ErrorKind::Parse,
                "IMDS role credentials for " + name + " lack AccessKeyId or SecretAccessKey");
  }
  return c;
}

}  // namespace ec2
