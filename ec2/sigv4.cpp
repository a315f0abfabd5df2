#include "ec2/sigv4.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "ec2/handles.h"

namespace ec2::sigv4 {
namespace {

constexpr std::string_view k_algorithm = "AWS4-HMAC-SHA256";
constexpr char k_hex[] = "0123456789abcdef";

std::string to_hex(const std::uint8_t* data, std::size_t size) {
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(k_hex[data[i] >> 4]);
    out.push_back(k_hex[data[i] & 0x0f]);
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Header values as botocore and the SDKs canonicalise them: trimmed, inner runs of
// whitespace collapsed to one space.
std::string collapse_whitespace(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

// Headers the SDKs never sign: proxies and clients rewrite them.
bool unsigned_header(std::string_view lower_name) {
  return lower_name == "user-agent" || lower_name == "expect" || lower_name == "x-amzn-trace-id" ||
         lower_name == "authorization";
}

EVP_MAC& hmac_algorithm() {
  static const EvpMacPtr mac{EVP_MAC_fetch(nullptr, "HMAC", nullptr)};
  if (!mac) throw std::runtime_error("OpenSSL has no HMAC");  // a broken installation: fatal
  return *mac;
}

void hmac_into(const std::uint8_t* key, std::size_t key_size, std::string_view data,
               std::array<std::uint8_t, 32>& out) {
  EvpMacCtxPtr ctx{EVP_MAC_CTX_new(&hmac_algorithm())};
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  std::size_t len = 0;
  if (!ctx || EVP_MAC_init(ctx.get(), key, key_size, params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 || len != out.size()) {
    throw std::runtime_error("HMAC-SHA256 failed");  // programming or installation error
  }
}

}  // namespace

std::string amz_date(TimePoint t) {
  const auto s = std::chrono::floor<std::chrono::seconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(s);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{s - day};
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char k_upper_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(k_upper_hex[c >> 4]);
      out.push_back(k_upper_hex[c & 0x0f]);
    }
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  std::array<std::uint8_t, 32> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1 || len != md.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
  return to_hex(md.data(), md.size());
}

std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data) {
  std::array<std::uint8_t, 32> out{};
  hmac_into(reinterpret_cast<const std::uint8_t*>(key.data()), key.size(), data, out);
  return out;
}

CanonicalRequest canonical_request(const Request& request) {
  // Canonical headers: lower-case names, sorted; values trimmed and collapsed; repeated
  // headers joined with ','.
  std::vector<std::pair<std::string, std::string>> headers;
  bool has_host = false;
  for (const auto& [name, value] : request.headers) {
    std::string n = lower(name);
    if (unsigned_header(n)) continue;
    if (n == "host") has_host = true;
    headers.emplace_back(std::move(n), collapse_whitespace(value));
  }
  if (!has_host) headers.emplace_back("host", request.host);
  std::ranges::stable_sort(headers, [](const auto& a, const auto& b) { return a.first < b.first; });

  std::string canonical_headers;
  std::string signed_headers;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.pop_back();  // the '\n'
      canonical_headers += "," + headers[i].second + "\n";
      continue;
    }
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += headers[i].first;
  }

  // Canonical query: the encoded pairs sorted by name, then value (as botocore sorts them: as
  // strings "name=value", Value.10 would sort before Value.1). EC2 Query requests carry their
  // parameters in the body; presigned URLs in the query.
  std::vector<std::pair<std::string_view, std::string_view>> pairs;
  std::string_view q = request.query;
  while (!q.empty()) {
    const auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      pairs.emplace_back(pair.substr(0, eq), eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  std::ranges::sort(pairs);
  std::string canonical_query;
  for (const auto& [name, value] : pairs) {
    if (!canonical_query.empty()) canonical_query += '&';
    canonical_query += name;
    canonical_query += '=';
    canonical_query += value;
  }

  CanonicalRequest out;
  out.text = request.method + "\n" + (request.path.empty() ? std::string("/") : request.path) + "\n" +
             canonical_query + "\n" + canonical_headers + "\n" + signed_headers + "\n" +
             sha256_hex(request.body);
  out.signed_headers = std::move(signed_headers);
  return out;
}

std::string string_to_sign(std::string_view date_time, const Scope& scope, std::string_view canonical) {
  std::string out(k_algorithm);
  out += '\n';
  out += date_time;
  out += '\n';
  out += scope.str();
  out += '\n';
  out += sha256_hex(canonical);
  return out;
}

SigningKey::~SigningKey() {
  wipe(bytes.data(), bytes.size());
}

void derive_signing_key(const SecretString& secret, const Scope& scope, SigningKey& out) {
  std::string k_secret = "AWS4";
  k_secret += secret.reveal();
  std::array<std::uint8_t, 32> k_date{};
  std::array<std::uint8_t, 32> k_region{};
  std::array<std::uint8_t, 32> k_service{};
  hmac_into(reinterpret_cast<const std::uint8_t*>(k_secret.data()), k_secret.size(), scope.date, k_date);
  hmac_into(k_date.data(), k_date.size(), scope.region, k_region);
  hmac_into(k_region.data(), k_region.size(), scope.service, k_service);
  hmac_into(k_service.data(), k_service.size(), "aws4_request", out.bytes);
  wipe(k_secret);
  wipe(k_date.data(), k_date.size());
  wipe(k_region.data(), k_region.size());
  wipe(k_service.data(), k_service.size());
}

std::string signature(const SigningKey& key, std::string_view to_sign) {
  std::array<std::uint8_t, 32> mac{};
  hmac_into(key.bytes.data(), key.bytes.size(), to_sign, mac);
  return to_hex(mac.data(), mac.size());
}

std::string authorization(std::string_view access_key_id, const Scope& scope, std::string_view signed_headers,
                          std::string_view sig) {
  return fmt::format("{} Credential={}/{}, SignedHeaders={}, Signature={}", k_algorithm, access_key_id,
                     scope.str(), signed_headers, sig);
}

std::string presign(const PresignRequest& request, const SigningInput& input, int expires_s) {
  const std::string date_time = amz_date(input.time);
  const Scope scope{.date = date_time.substr(0, 8), .region = input.region, .service = input.service};
  std::string query;
  for (const auto& [name, value] : request.params) {
    query += uri_encode(name);
    query += '=';
    query += uri_encode(value);
    query += '&';
  }
  query += fmt::format("X-Amz-Algorithm={}&X-Amz-Credential={}&X-Amz-Date={}&X-Amz-Expires={}&X-Amz-SignedHeaders=host",
                       k_algorithm, uri_encode(input.access_key_id + "/" + scope.str()), date_time, expires_s);
  if (input.session_token != nullptr && !input.session_token->empty()) {
    query += "&X-Amz-Security-Token=";
    query += uri_encode(input.session_token->reveal());
  }
  const CanonicalRequest canonical = canonical_request(Request{.method = request.method,
                                                               .host = request.host,
                                                               .path = request.path,
                                                               .query = query,
                                                               .headers = {{"host", request.host}},
                                                               .body = {}});
  SigningKey key;
  static const SecretString k_empty;
  derive_signing_key(input.secret_access_key != nullptr ? *input.secret_access_key : k_empty, scope, key);
  const std::string sig = signature(key, string_to_sign(date_time, scope, canonical.text));
  std::string url = request.scheme + "://" + request.host + (request.path.empty() ? std::string("/") : request.path);
  url += '?';
  url += query;
  url += "&X-Amz-Signature=";
  url += sig;
  return url;
}

std::vector<Header> sign(const Request& request, const SigningInput& input) {
  const std::string date_time = amz_date(input.time);
  const Scope scope{.date = date_time.substr(0, 8), .region = input.region, .service = input.service};

  std::vector<Header> added;
  added.emplace_back("X-Amz-Date", date_time);
  if (input.session_token != nullptr && !input.session_token->empty()) {
    added.emplace_back("X-Amz-Security-Token", std::string(input.session_token->reveal()));
  }
  if (input.add_content_sha256) added.emplace_back("x-amz-content-sha256", sha256_hex(request.body));

  Request signed_request = request;
  for (const auto& h : added) {
    // The signer's headers replace any the caller set under those names.
    std::erase_if(signed_request.headers,
                  [&](const Header& existing) { return lower(existing.first) == lower(h.first); });
  }
  signed_request.headers.insert(signed_request.headers.end(), added.begin(), added.end());

  const CanonicalRequest canonical = canonical_request(signed_request);
  const std::string to_sign = string_to_sign(date_time, scope, canonical.text);
  SigningKey key;
  static const SecretString k_empty;
  derive_signing_key(input.secret_access_key != nullptr ? *input.secret_access_key : k_empty, scope, key);
  added.emplace_back("Authorization", authorization(input.access_key_id, scope, canonical.signed_headers,
                                                    signature(key, to_sign)));
  return added;
}

}  // namespace ec2::sigv4
