#include "ec2/http.h"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <string>
#include <vector>

#include "ec2/handles.h"

namespace ec2 {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct Received {
  std::size_t max_body_bytes;
  std::size_t max_header_bytes;
  std::string body;
  std::vector<Header> headers;
  std::size_t header_bytes = 0;  // of the current response
  std::string too_large;         // set when a cap stopped the transfer: what exceeded it
};

// libcurl callbacks: C linkage territory, so nothing here may throw. Returning fewer bytes than
// given makes curl fail the transfer (CURLE_WRITE_ERROR).
extern "C" size_t on_body(char* data, size_t size, size_t count, void* user) noexcept {
  try {
    auto* r = static_cast<Received*>(user);
    if (size * count > r->max_body_bytes - r->body.size()) {
      r->too_large = "response body exceeds " + std::to_string(r->max_body_bytes) + " bytes";
      return 0;
    }
    r->body.append(data, size * count);
    return size * count;
  } catch (...) {
    return 0;
  }
}

extern "C" size_t on_header(char* data, size_t size, size_t count, void* user) noexcept {
  try {
    auto* r = static_cast<Received*>(user);
    std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {
      r->headers.clear();  // a new response (after 100-continue or a redirect)
      r->header_bytes = 0;
    }
    if (line.size() > r->max_header_bytes - r->header_bytes) {
      r->too_large = "response headers exceed " + std::to_string(r->max_header_bytes) + " bytes";
      return 0;
    }
    r->header_bytes += line.size();
    if (line.starts_with("HTTP/")) return size * count;
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
        value.remove_suffix(1);
      }
      r->headers.emplace_back(lower(line.substr(0, colon)), std::string(value));
    }
    return size * count;
  } catch (...) {
    return 0;
  }
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  const std::string n = lower(name);
  for (const auto& [k, v] : headers) {
    if (k == n) return v;
  }
  return {};
}

// Idle easy handles; each keeps its connection cache, so a reused handle reuses its
// connection. A thread takes one for a request and gives it back.
struct CurlHttpClient::Pool {
  std::mutex mutex;
  std::vector<CurlPtr> idle;

  CurlPtr take() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        CurlPtr h = std::move(idle.back());
        idle.pop_back();
        return h;
      }
    }
    return CurlPtr{curl_easy_init()};
  }
  void give_back(CurlPtr h) {
    std::lock_guard lock(mutex);
    if (idle.size() < 16) idle.push_back(std::move(h));
  }
};

CurlHttpClient::CurlHttpClient(HttpOptions options)
    : options_(std::move(options)), pool_(std::make_unique<Pool>()) {
  static CurlGlobal global;
}

CurlHttpClient::~CurlHttpClient() = default;

Result<HttpResponse> CurlHttpClient::send(const HttpRequest& request) {
  const bool is_http = request.url.starts_with("http://");
  if (!is_http && !request.url.starts_with("https://")) {
    return fail(ErrorKind::InvalidParameter, "unsupported URL scheme: " + request.url);
  }
  if (is_http && !options_.allow_plain_http) {
    return fail(ErrorKind::InvalidParameter,
                "plain http is allowed only for an explicitly configured endpoint: " + request.url);
  }
  CurlPtr handle = pool_->take();
  if (!handle) return fail(ErrorKind::Other, "curl_easy_init failed");
  CURL* curl = handle.get();
  curl_easy_reset(curl);  // keeps the connection cache; drops the previous request's options

  CurlSlistPtr headers;
  for (const auto& [name, value] : request.headers) {
    const std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* appended = curl_slist_append(headers.get(), line.c_str());
    if (appended == nullptr) return fail(ErrorKind::Other, "curl_slist_append failed");
    (void)headers.release();
    headers.reset(appended);
  }
  // libcurl would add "Expect: 100-continue" for larger bodies, costing a round trip.
  if (curl_slist* appended = curl_slist_append(headers.get(), "Expect:"); appended != nullptr) {
    (void)headers.release();
    headers.reset(appended);
  }

  const auto connect_timeout =
      request.connect_timeout.count() > 0 ? request.connect_timeout : options_.connect_timeout;
  const auto total_timeout =
      request.total_timeout.count() > 0 ? request.total_timeout : options_.total_timeout;

  Received received{.max_body_bytes = options_.max_body_bytes, .max_header_bytes = options_.max_header_bytes};
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, is_http ? "http" : "https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_bundle.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_bundle.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(total_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  if (!options_.use_proxy) curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &received);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &received);
  if (request.fresh_connection) curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  }

  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  long request_size = 0;
  curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_size);
  // Forget the pointers into this frame (headers, buffers) before the handle goes back; the
  // reset keeps the handle's live connections for the next request.
  curl_easy_reset(curl);
  pool_->give_back(std::move(handle));

  if (rc == CURLE_WRITE_ERROR && !received.too_large.empty()) {
    // Not transient: the same request would get the same answer. The server did answer, so a
    // call that is not idempotent may have been applied.
    Error e;
    e.kind = ErrorKind::Other;
    e.message = received.too_large + " (" + request.method + " " + request.url + ")";
    e.maybe_applied = true;
    return std::unexpected(std::move(e));
  }
  if (rc != CURLE_OK) {
    Error e;
    e.kind = rc == CURLE_OPERATION_TIMEDOUT ? ErrorKind::Timeout : ErrorKind::Network;
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
      // A certificate we do not trust will not become trusted by retrying.
      e.kind = ErrorKind::Other;
    }
    e.message = std::string(curl_easy_strerror(rc)) + " (" + request.method + " " + request.url + ")";
    // Nothing was sent if the connection never came up; otherwise the server may have the request.
    e.maybe_applied = request_size > 0 && rc != CURLE_COULDNT_CONNECT && rc != CURLE_COULDNT_RESOLVE_HOST &&
                      rc != CURLE_COULDNT_RESOLVE_PROXY && rc != CURLE_SSL_CONNECT_ERROR &&
                      rc != CURLE_PEER_FAILED_VERIFICATION;
    return std::unexpected(std::move(e));
  }
  return HttpResponse{
      .status = status, .headers = std::move(received.headers), .body = std::move(received.body)};
}

}  // namespace ec2
