// CurlHttpClient's rules: plain http only when allowed, a refused connection is a Network
// error that cannot have been applied, and a response over the size caps fails. The caps are
// tried against a one-shot HTTP server on loopback.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "ec2/http.h"

namespace {

using namespace ec2;

// Accepts one connection on 127.0.0.1, reads the request head and answers `response` verbatim.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) : response_(std::move(response)) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listener_, 1) != 0 || getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
      return;
    }
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
    if (listener_ >= 0) close(listener_);
  }
  OneShotServer(const OneShotServer&) = delete;
  OneShotServer& operator=(const OneShotServer&) = delete;

  [[nodiscard]] const std::string& url() const { return url_; }

 private:
  void serve() const {
    const int c = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    // The client may hang up half way (that is the point): no SIGPIPE, errors ignored.
    for (size_t sent = 0; sent < response_.size();) {
      const ssize_t n = send(c, response_.data() + sent, response_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    close(c);
  }

  std::string response_;
  int listener_ = -1;
  std::string url_;
  std::thread thread_;
};

std::string response(const std::string& extra_headers, const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers +
         "Connection: close\r\n\r\n" + body;
}

HttpOptions capped(std::size_t body, std::size_t headers) {
  return HttpOptions{.allow_plain_http = true, .max_body_bytes = body, .max_header_bytes = headers};
}

TEST(CurlHttp, PlainHttpIsRefusedUnlessAllowed) {
  CurlHttpClient strict;
  auto r = strict.send(HttpRequest{.method = "GET", .url = "http://127.0.0.1:1/"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::InvalidParameter);
  EXPECT_NE(r.error().message.find("explicitly configured"), std::string::npos);
  auto ftp = strict.send(HttpRequest{.method = "GET", .url = "ftp://127.0.0.1/"});
  ASSERT_FALSE(ftp);
  EXPECT_EQ(ftp.error().kind, ErrorKind::InvalidParameter);
}

TEST(CurlHttp, RefusedConnectionWasNeverApplied) {
  CurlHttpClient http(HttpOptions{.connect_timeout = std::chrono::milliseconds{500},
                                  .total_timeout = std::chrono::milliseconds{1000},
                                  .allow_plain_http = true});
  // Port 1 on loopback: nothing listens there.
  auto r =
      http.send(HttpRequest{.method = "POST", .url = "http://127.0.0.1:1/", .body = "Action=CreateSnapshot"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Network);
  EXPECT_FALSE(r.error().maybe_applied);
}

TEST(CurlHttp, HeaderLookupIsCaseInsensitive) {
  HttpResponse r{.status = 200, .headers = {{"x-amzn-requestid", "abc"}}, .body = ""};
  EXPECT_EQ(r.header("X-Amzn-RequestId"), "abc");
  EXPECT_EQ(r.header("missing"), "");
}

TEST(CurlHttp, BodyAtTheCapIsReceived) {
  OneShotServer server(response("", std::string(1024, 'x')));
  CurlHttpClient http(capped(1024, 4096));
  auto r = http.send(HttpRequest{.method = "GET", .url = server.url()});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->body.size(), 1024u);
}

TEST(CurlHttp, BodyOverTheCapFailsAndIsNotRetryable) {
  OneShotServer server(response("", std::string(64 * 1024, 'x')));
  CurlHttpClient http(capped(1024, 4096));
  auto r = http.send(HttpRequest{.method = "POST", .url = server.url(), .body = "Action=DescribeSnapshots"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Other);
  EXPECT_NE(r.error().message.find("response body exceeds 1024 bytes"), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(r.error().maybe_applied);  // the server answered: it had the request
}

TEST(CurlHttp, HeadersOverTheCapFail) {
  // 40 headers of 50 bytes: far inside libcurl's own limits, over a 1 KiB cap.
  std::string many;
  for (int i = 0; i < 40; ++i)
    many += "X-Filler-" + std::to_string(100 + i) + ": " + std::string(34, 'h') + "\r\n";
  OneShotServer server(response(many, "ok"));
  CurlHttpClient http(capped(1024, 1024));
  auto r = http.send(HttpRequest{.method = "GET", .url = server.url()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Other);
  EXPECT_NE(r.error().message.find("response headers exceed 1024 bytes"), std::string::npos)
      << r.error().message;
}

}  // namespace
