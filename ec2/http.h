#pragma once
// HTTP for the EC2 and IMDS clients: an interface (tests substitute it) and the libcurl one.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ec2/error.h"

namespace ec2 {

using Header = std::pair<std::string, std::string>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<Header> headers;
  std::string body;
  // Open a new connection rather than reuse one. libcurl silently resends a request on a
  // reused connection that died before answering; for a call that must not run twice
  // (CreateSnapshot) that resend could create a second snapshot.
  bool fresh_connection = false;
  // Per-request overrides of the client's timeouts (zero: the client's).
  std::chrono::milliseconds connect_timeout{0};
  std::chrono::milliseconds total_timeout{0};
};

struct HttpResponse {
  long status = 0;
  std::vector<Header> headers;  // names lower-cased
  std::string body;

  // The first header of that name (case-insensitive), or empty.
  [[nodiscard]] std::string header(std::string_view name) const;
};

// Fails with kind Network (Timeout for a timeout) when no complete response came back, and with
// kind Other when the response exceeds a size cap; Error::maybe_applied tells whether the request
// may have reached the server.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  [[nodiscard]] virtual Result<HttpResponse> send(const HttpRequest& request) = 0;
};

struct HttpOptions {
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds total_timeout{30'000};
  std::string ca_bundle;          // AWS_CA_BUNDLE; empty: the system's trust store
  bool allow_plain_http = false;  // true only for an explicitly configured endpoint
  std::string user_agent = "ebsnap";
  // false: never through a proxy, whatever http_proxy/all_proxy say (IMDS: its token and the
  // role's credentials must not cross a proxy in clear text).
  bool use_proxy = true;
  // A response larger than these fails (kind Other, not retried) instead of filling memory. The
  // largest answer ebsnap asks for, a DescribeSnapshots page of 1000 snapshots with their tags,
  // is a few MB; EC2 and IMDS send well under 2 KiB of headers.
  std::size_t max_body_bytes = std::size_t{64} << 20;
  std::size_t max_header_bytes = std::size_t{64} << 10;  // all header lines of one response
};

// libcurl. TLS peer and host verification are always on. Connections are kept and reused:
// a small pool of easy handles, each used by one thread at a time. Thread-safe.
class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(HttpOptions options = {});
  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  [[nodiscard]] Result<HttpResponse> send(const HttpRequest& request) override;

 private:
  struct Pool;
  HttpOptions options_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace ec2
