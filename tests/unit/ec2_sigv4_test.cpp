// SigV4 stage by stage, against AWS's published SigV4 test suite (get-vanilla, post-vanilla)
// and an EC2 Query request signed once with botocore 1.43 (values pasted below).
#include <gtest/gtest.h>

#include "ec2/sigv4.h"

namespace {

using namespace ec2;
using namespace ec2::sigv4;

const SecretString k_secret{std::string("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")};
const TimePoint k_time = std::chrono::sys_days{std::chrono::year{2015} / 8 / 30} + std::chrono::hours{12} +
                         std::chrono::minutes{36};

std::string hex(const std::array<std::uint8_t, 32>& b) {
  std::string s;
  for (auto c : b) s += fmt::format("{:02x}", c);
  return s;
}

TEST(Sigv4, AmzDateIsCompactUtc) {
  EXPECT_EQ(amz_date(k_time), "20150830T123600Z");
}

TEST(Sigv4, UriEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(uri_encode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(uri_encode("a b+c/d=e&f*g'h"), "a%20b%2Bc%2Fd%3De%26f%2Ag%27h");
  EXPECT_EQ(uri_encode("/a b/", true), "/a%20b/");
  EXPECT_EQ(uri_encode("\xc3\xa9"), "%C3%A9");  // é, UTF-8 bytes, upper-case hex
  EXPECT_EQ(uri_encode(""), "");
}

TEST(Sigv4, Sha256OfEmptyString) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sigv4, HmacSha256Rfc4231Case2) {
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Sigv4, CanonicalRequestGetVanilla) {
  Request r{.method = "GET",
            .host = "example.amazonaws.com",
            .path = "/",
            .query = "",
            .headers = {{"X-Amz-Date", "20150830T123600Z"}},
            .body = ""};
  const CanonicalRequest c = canonical_request(r);
  EXPECT_EQ(c.text,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(c.signed_headers, "host;x-amz-date");
}

// Query pairs sort by name, then value, as botocore sorts them: sorted as "name=value" strings,
// Value.10 would come before Value.1 ('0' < '='), and a presigned URL's signature would differ.
TEST(Sigv4, CanonicalQuerySortsByNameThenValue) {
  Request r{.method = "GET",
            .host = "h",
            .path = "/",
            .query = "Filter.1.Value.10=b&Filter.1.Value.1=a&A=2&A=1&B",
            .headers = {},
            .body = ""};
  const std::string text = canonical_request(r).text;
  EXPECT_EQ(text.substr(0, text.find("\nhost:")), "GET\n/\nA=1&A=2&B=&Filter.1.Value.1=a&Filter.1.Value.10=b");
}

TEST(Sigv4, CanonicalRequestSortsLowercasesTrimsAndSkipsUserAgent) {
  Request r{.method = "POST",
            .host = "h",
            .path = "/",
            .query = "b=2&a=1",
            .headers = {{"X-B", "  two   words "}, {"User-Agent", "x"}, {"x-a", "1"}, {"X-A", "2"}},
            .body = "x"};
  const CanonicalRequest c = canonical_request(r);
  EXPECT_EQ(c.text, "POST\n/\na=1&b=2\nhost:h\nx-a:1,2\nx-b:two words\n\nhost;x-a;x-b\n" + sha256_hex("x"));
}

TEST(Sigv4, StringToSignGetVanilla) {
  const Scope scope{.date = "20150830", .region = "us-east-1", .service = "service"};
  const std::string canonical =
      "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  EXPECT_EQ(string_to_sign("20150830T123600Z", scope, canonical),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
}

TEST(Sigv4, SigningKeyMatchesBotocore) {
  SigningKey key;
  derive_signing_key(k_secret, Scope{.date = "20150830", .region = "us-east-1", .service = "service"}, key);
  EXPECT_EQ(hex(key.bytes), "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75");
  SigningKey ec2_key;
  derive_signing_key(k_secret, Scope{.date = "20150830", .region = "us-east-1", .service = "ec2"}, ec2_key);
  EXPECT_EQ(hex(ec2_key.bytes), "f683de3415e2edd5bd3ecba80fa9f855f4018470ccc66c03bb658895fef3aed2");
}

TEST(Sigv4, SignatureGetVanilla) {
  SigningKey key;
  const Scope scope{.date = "20150830", .region = "us-east-1", .service = "service"};
  derive_signing_key(k_secret, scope, key);
  const std::string sts =
      "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
      "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63";
  EXPECT_EQ(signature(key, sts), "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(Sigv4, AuthorizationValue) {
  EXPECT_EQ(
      authorization("AKIDEXAMPLE", Scope{.date = "20150830", .region = "us-east-1", .service = "service"},
                    "host;x-amz-date", "abc"),
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=abc");
}

TEST(Sigv4, SignPostVanillaEndToEnd) {
  Request r{
      .method = "POST", .host = "example.amazonaws.com", .path = "/", .query = "", .headers = {}, .body = ""};
  const auto headers = sign(r, SigningInput{.access_key_id = "AKIDEXAMPLE",
                                            .secret_access_key = &k_secret,
                                            .session_token = nullptr,
                                            .region = "us-east-1",
                                            .service = "service",
                                            .time = k_time});
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0], (Header{"X-Amz-Date", "20150830T123600Z"}));
  EXPECT_EQ(headers[1].first, "Authorization");
  EXPECT_EQ(headers[1].second,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(Sigv4, SignEc2QueryWithSessionTokenMatchesBotocore) {
  const SecretString token{std::string("TOKEN/+=")};
  Request r{.method = "POST",
            .host = "ec2.us-east-1.amazonaws.com",
            .path = "/",
            .query = "",
            .headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
            .body = "Action=DescribeVolumes&Version=2016-11-15&VolumeId.1=vol-1"};
  const auto headers = sign(r, SigningInput{.access_key_id = "AKIDEXAMPLE",
                                            .secret_access_key = &k_secret,
                                            .session_token = &token,
                                            .region = "us-east-1",
                                            .service = "ec2",
                                            .time = k_time});
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[1], (Header{"X-Amz-Security-Token", "TOKEN/+="}));
  EXPECT_EQ(headers[2].second,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
            "Signature=658854c6087beb6f59b95b4a1b30ed0f5d007ce23e69eff1c9d5620fb83690a0");
}

TEST(Sigv4, SignDoesNotModifyTheRequestAndReplacesStaleDateHeaders) {
  Request r{.method = "POST",
            .host = "h",
            .path = "/",
            .query = "",
            .headers = {{"x-amz-date", "19990101T000000Z"}},
            .body = ""};
  const Request copy = r;
  const auto headers = sign(r, SigningInput{.access_key_id = "A",
                                            .secret_access_key = &k_secret,
                                            .session_token = nullptr,
                                            .region = "r",
                                            .service = "s",
                                            .time = k_time});
  EXPECT_EQ(r.headers, copy.headers);
  // The stale header was not signed twice.
  EXPECT_NE(headers.back().second.find("SignedHeaders=host;x-amz-date,"), std::string::npos);
}

TEST(Sigv4, ContentSha256HeaderOnRequest) {
  Request r{.method = "POST", .host = "h", .path = "/", .query = "", .headers = {}, .body = "abc"};
  const auto headers = sign(r, SigningInput{.access_key_id = "A",
                                            .secret_access_key = &k_secret,
                                            .session_token = nullptr,
                                            .region = "r",
                                            .service = "s",
                                            .time = k_time,
                                            .add_content_sha256 = true});
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[1], (Header{"x-amz-content-sha256", sha256_hex("abc")}));
  EXPECT_NE(headers[2].second.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"), std::string::npos);
}

}  // namespace
