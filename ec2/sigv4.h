#pragma once
// AWS Signature Version 4 as pure stages (after aws-c-auth):
//   canonical request → string to sign → signing key → signature → Authorization value.
// The time is an input; nothing reads the wall clock. sign() returns the headers to add and
// does not touch the request. Key material is wiped after use.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ec2/clock.h"
#include "ec2/http.h"
#include "ec2/secret.h"

namespace ec2::sigv4 {

// The request as the signer sees it. `headers` are the headers that will be sent (and signed;
// the host header is added from `host` when absent).
struct Request {
  std::string method = "POST";
  std::string host;        // "ec2.eu-west-1.amazonaws.com" or "127.0.0.1:5000"
  std::string path = "/";  // already URI-encoded as sent
  std::string query;       // raw query string as sent ("" for EC2 Query POSTs)
  std::vector<Header> headers;
  std::string_view body;
};

struct Scope {
  std::string date;     // "20150830"
  std::string region;   // "us-east-1"
  std::string service;  // "ec2"
  [[nodiscard]] std::string str() const { return date + "/" + region + "/" + service + "/aws4_request"; }
};

struct SigningInput {
  std::string access_key_id;
  const SecretString* secret_access_key = nullptr;
  const SecretString* session_token = nullptr;  // may be null or empty
  std::string region;
  std::string service = "ec2";
  TimePoint time;
  bool add_content_sha256 = false;  // also send and sign x-amz-content-sha256
};

// "20150830T123600Z".
[[nodiscard]] std::string amz_date(TimePoint t);

// RFC 3986 percent-encoding: everything but A-Za-z0-9-_.~ becomes %XX (upper-case hex).
// With keep_slash, '/' is kept (paths).
[[nodiscard]] std::string uri_encode(std::string_view s, bool keep_slash = false);

[[nodiscard]] std::string sha256_hex(std::string_view data);
[[nodiscard]] std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data);

// Stage 1. The canonical request and the semicolon-separated signed header names.
struct CanonicalRequest {
  std::string text;
  std::string signed_headers;
};
[[nodiscard]] CanonicalRequest canonical_request(const Request& request);

// Stage 2.
[[nodiscard]] std::string string_to_sign(std::string_view amz_date, const Scope& scope,
                                         std::string_view canonical_request);

// Stage 3. HMAC chain from "AWS4" + secret; the intermediate keys are wiped.
class SigningKey {
 public:
  SigningKey() = default;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();
  std::array<std::uint8_t, 32> bytes{};
};
void derive_signing_key(const SecretString& secret, const Scope& scope, SigningKey& out);

// Stage 4. Lower-case hex HMAC of the string to sign.
[[nodiscard]] std::string signature(const SigningKey& key, std::string_view string_to_sign);

// Stage 5. "AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=..., Signature=...".
[[nodiscard]] std::string authorization(std::string_view access_key_id, const Scope& scope,
                                        std::string_view signed_headers, std::string_view signature);

// Query signing (a presigned URL), as botocore's SigV4QueryAuth: the operation parameters,
// then X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders=host
// (and X-Amz-Security-Token), all percent-encoded per RFC 3986, signed over an empty payload;
// returns "scheme://host/path?...&X-Amz-Signature=...".
struct PresignRequest {
  std::string method = "GET";
  std::string scheme = "https";
  std::string host;        // as for the Host header
  std::string path = "/";  // already URI-encoded
  std::vector<std::pair<std::string, std::string>> params;  // not encoded, in the order sent
};
[[nodiscard]] std::string presign(const PresignRequest& request, const SigningInput& input, int expires_s);

// The whole pipeline: returns the headers to add to `request` (X-Amz-Date, X-Amz-Security-Token
// when there is a session token, x-amz-content-sha256 if asked, Authorization). Those headers,
// other than Authorization, are signed too.
[[nodiscard]] std::vector<Header> sign(const Request& request, const SigningInput& input);

}  // namespace ec2::sigv4
