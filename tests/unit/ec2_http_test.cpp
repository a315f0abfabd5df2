// CurlHttpClient's rules that need no server: plain http only when allowed, and a refused
// connection is a Network error that cannot have been applied.
#include <gtest/gtest.h>

#include "ec2/http.h"

namespace {

using namespace ec2;

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
  auto r = http.send(HttpRequest{.method = "POST", .url = "http://127.0.0.1:1/", .body = "Action=CreateSnapshot"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Network);
  EXPECT_FALSE(r.error().maybe_applied);
}

TEST(CurlHttp, HeaderLookupIsCaseInsensitive) {
  HttpResponse r{.status = 200, .headers = {{"x-amzn-requestid", "abc"}}, .body = ""};
  EXPECT_EQ(r.header("X-Amzn-RequestId"), "abc");
  EXPECT_EQ(r.header("missing"), "");
}

}  // namespace
