// Differential test: CopySnapshot's PresignedUrl (ec2/presign, sigv4::presign) against botocore.
// 200 generated cross-region copies (random regions, configured and regional endpoints, keys with
// and without a session token, times, descriptions and tags with unicode and ~*'+/=&, KMS keys,
// Encrypted, CompletionDurationMinutes, DryRun) go through Ec2Client::copy_snapshot over a
// scripted HTTP client; a real boto3 client makes the same calls (ec2_presign_botocore.py, its
// inject_presigned_url_ec2 handler signs the URL) and the PresignedUrl and DestinationRegion
// that each sends are compared byte for byte.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "ec2/credentials.h"
#include "ec2/ec2_client.h"
#include "ec2/presign.h"
#include "ec2/sigv4.h"
#include "ec2/testing/manual_clock.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/ec2_fake_http.h"

namespace {

using namespace ec2;

constexpr int k_cases = 200;

// application/x-www-form-urlencoded value decoding (the client encodes per RFC 3986).
std::string form_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

std::string form_value(std::string_view body, std::string_view name) {
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return form_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return {};
}

class Gen {
 public:
  explicit Gen(std::uint64_t seed) : rng_(seed) {}
  int below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool coin() { return below(2) == 0; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(below(static_cast<int>(v.size())))];
  }
  std::string text(int max_pieces) {
    static const std::vector<std::string> pieces = {" ", "~", "*", "'", "+", "/", "=",  "&",  "%",    "%20",
                                                    "-", "_", ".", "!", "(", ")", "?",  "#",  ":",    ";",
                                                    "é", "ß", "€", "😀", "日本", "\t", "\"", "<", "\\", "a"};
    static const std::string alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string s;
    const int n = 1 + below(max_pieces);
    for (int i = 0; i < n; ++i) {
      if (below(3) == 0) {
        s += pick(pieces);
      } else {
        s += alnum[static_cast<std::size_t>(below(static_cast<int>(alnum.size())))];
      }
    }
    return s;
  }
  std::string key_material(std::size_t n) {
    static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += chars[static_cast<std::size_t>(below(static_cast<int>(chars.size())))];
    return s;
  }
  long long epoch() { return 946'684'800LL + std::uniform_int_distribution<long long>(0, 1'200'000'000LL)(rng_); }

 private:
  std::mt19937_64 rng_;
};

TEST(PresignDifferential, CopySnapshotPresignedUrlsMatchBotocoreByteForByte) {
  Gen g(20261206);
  static const std::vector<std::string> regions = {"eu-west-1", "us-west-2", "us-east-1", "ap-southeast-2",
                                                   "eu-central-1"};
  auto http = std::make_shared<ec2test::ScriptedHttp>();
  http->set_handler([](const HttpRequest&) -> Result<HttpResponse> {
    return HttpResponse{.status = 200,
                        .headers = {},
                        .body = "<CopySnapshotResponse><requestId>r</requestId><snapshotId>snap-1</snapshotId>"
                                "</CopySnapshotResponse>"};
  });
  nlohmann::json cases = nlohmann::json::array();
  std::vector<std::pair<std::string, std::string>> mine;  // (PresignedUrl, DestinationRegion)
  for (int i = 0; i < k_cases; ++i) {
    const std::string dest = g.pick(regions);
    const std::string source = g.below(8) == 0 ? dest : g.pick(regions);
    // No endpoint (the region's), a local one, or a configured one naming the region (botocore
    // swaps the region in it).
    std::string endpoint;
    switch (g.below(3)) {
      case 0:
        break;
      case 1:
        endpoint = "http://127.0.0.1:" + std::to_string(1024 + g.below(60000)) + "/";
        break;
      default:
        endpoint = "https://vpce-0abc.ec2." + dest + ".vpce.amazonaws.com/";
        break;
    }
    Credentials creds;
    creds.access_key_id = "AKIA" + g.key_material(16);
    creds.secret_access_key = SecretString(g.key_material(40));
    const bool with_token = g.coin();
    if (with_token) creds.session_token = SecretString(g.key_material(static_cast<std::size_t>(16 + g.below(300))));
    const long long when = g.epoch();

    CopySnapshotOptions o;
    o.dry_run = g.below(6) == 0;
    o.source_region = source;
    o.source_snapshot_id = SnapshotId{"snap-0" + g.key_material(16)};
    if (g.coin()) o.description = g.text(20);
    if (g.coin()) o.encrypted = g.coin();
    if (g.coin()) o.kms_key_id = g.coin() ? "alias/" + g.text(6) : "arn:aws:kms:" + dest + ":123456789012:key/k";
    const int tag_count = g.below(4);
    if (tag_count > 0) {
      TagSpecification spec{.resource_type = "snapshot", .tags = {}};
      for (int t = 0; t < tag_count; ++t) spec.tags.push_back(Tag{"k" + g.text(8), g.coin() ? g.text(12) : ""});
      o.tag_specifications.push_back(std::move(spec));
    }
    if (g.coin()) o.completion_duration_minutes = 15 * (1 + g.below(192));

    nlohmann::json params = nlohmann::json::array();
    if (o.dry_run) params.push_back({"DryRun", true});
    params.push_back({"SourceRegion", o.source_region});
    params.push_back({"SourceSnapshotId", o.source_snapshot_id.value});
    if (!o.description.empty()) params.push_back({"Description", o.description});
    if (o.encrypted) params.push_back({"Encrypted", *o.encrypted});
    if (!o.kms_key_id.empty()) params.push_back({"KmsKeyId", o.kms_key_id});
    if (!o.tag_specifications.empty()) {
      nlohmann::json tags = nlohmann::json::array();
      for (const auto& t : o.tag_specifications[0].tags) tags.push_back({{"Key", t.key}, {"Value", t.value}});
      params.push_back({"TagSpecifications", nlohmann::json::array({{{"ResourceType", "snapshot"}, {"Tags", tags}}})});
    }
    if (o.completion_duration_minutes) params.push_back({"CompletionDurationMinutes", *o.completion_duration_minutes});
    cases.push_back({{"region", dest},
                     {"endpoint_url", endpoint.empty() ? nlohmann::json(nullptr) : nlohmann::json(endpoint)},
                     {"access_key", creds.access_key_id},
                     {"secret_key", std::string(creds.secret_access_key.reveal())},
                     {"token", with_token ? nlohmann::json(std::string(creds.session_token.reveal())) : nlohmann::json(nullptr)},
                     {"time", when},
                     {"params", params}});

    ManualClock clock{std::chrono::system_clock::time_point{std::chrono::seconds{when}}};
    std::map<std::string, std::string> env;
    if (!endpoint.empty()) env["AWS_ENDPOINT_URL_EC2"] = endpoint;
    auto client = Ec2Client::create(
        Ec2ClientOptions{.region = dest,
                         .endpoint = {},
                         .credentials = std::make_shared<StaticCredentialsProvider>(std::move(creds)),
                         .retry = {},
                         .http = {},
                         .default_page_size = 0,
                         .http_client = http,
                         .clock = &clock,
                         .sleeper = &clock,
                         .random = nullptr},
        fixed_environment(env));
    ASSERT_TRUE(client) << client.error().describe();
    const auto before = http->count();
    auto r = (*client)->copy_snapshot(o);
    ASSERT_TRUE(r) << r.error().describe();
    ASSERT_EQ(http->count(), before + 1);
    const auto body = http->requests().back().body;
    mine.emplace_back(form_value(body, "PresignedUrl"), form_value(body, "DestinationRegion"));
  }

  testsupport::TempDir dir("ebsnap-presign");
  const auto in = dir.path() / "cases.json";
  const auto out = dir.path() / "presigned.json";
  std::ofstream(in) << cases.dump();
  const std::string command = std::string(EBSNAP_PYTHON) + " " + EBSNAP_SOURCE_DIR +
                              "/tests/unit/ec2_presign_botocore.py " + in.string() + " " + out.string();
  ASSERT_EQ(std::system(command.c_str()), 0) << command;  // NOLINT(cert-env33-c): test harness
  const auto theirs = nlohmann::json::parse(std::ifstream(out));
  ASSERT_EQ(theirs.size(), mine.size());
  int mismatches = 0;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    const auto& t = theirs[i];
    ASSERT_TRUE(t["presigned_url"].is_string()) << "botocore sent no PresignedUrl for case " << i;
    const std::string url = t["presigned_url"].get<std::string>();
    const std::string dest = t["destination_region"].get<std::string>();
    if ((mine[i].first != url || mine[i].second != dest) && ++mismatches <= 5) {
      ADD_FAILURE() << "case " << i << " differs:\n mine:   " << mine[i].first << " (" << mine[i].second
                    << ")\n theirs: " << url << " (" << dest << ")";
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << mine.size() << " copies";
}

// The source endpoint, as botocore derives it.
TEST(Presign, SourceEndpointSwapsTheRegionInTheUrl) {
  auto regional = region_endpoint("us-west-2");
  ASSERT_TRUE(regional);
  auto src = presign_source_endpoint(*regional, "us-west-2", "eu-west-1");
  ASSERT_TRUE(src);
  EXPECT_EQ(src->url, "https://ec2.eu-west-1.amazonaws.com/");
  auto local = parse_endpoint("http://127.0.0.1:5000/");
  ASSERT_TRUE(local);
  local->configured = true;
  auto same = presign_source_endpoint(*local, "us-west-2", "eu-west-1");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->url, "http://127.0.0.1:5000/");
  EXPECT_TRUE(same->configured);
}

// A caller's PresignedUrl is sent as it is; without one the client signs one for the source region.
TEST(Presign, CopySnapshotSendsTheCallersUrlOrSignsOne) {
  auto http = std::make_shared<ec2test::ScriptedHttp>();
  http->set_handler([](const HttpRequest&) -> Result<HttpResponse> {
    return HttpResponse{.status = 200, .headers = {}, .body = "<CopySnapshotResponse><snapshotId>snap-2</snapshotId></CopySnapshotResponse>"};
  });
  ManualClock clock;
  Credentials c;
  c.access_key_id = "AKIDEXAMPLE";
  c.secret_access_key = SecretString(std::string("secret"));
  auto client = Ec2Client::create(Ec2ClientOptions{.region = "us-west-2",
                                                   .endpoint = {},
                                                   .credentials = std::make_shared<StaticCredentialsProvider>(c),
                                                   .retry = {},
                                                   .http = {},
                                                   .default_page_size = 0,
                                                   .http_client = http,
                                                   .clock = &clock,
                                                   .sleeper = &clock,
                                                   .random = nullptr},
                                  fixed_environment({}));
  ASSERT_TRUE(client);
  EXPECT_EQ((*client)->endpoint().url, "https://ec2.us-west-2.amazonaws.com/");
  auto id = (*client)->copy_snapshot(CopySnapshotOptions{.source_region = "eu-west-1",
                                                         .source_snapshot_id = SnapshotId{"snap-1"},
                                                         .completion_duration_minutes = 60});
  ASSERT_TRUE(id) << id.error().describe();
  EXPECT_EQ(id->value, "snap-2");
  auto body = http->requests().back().body;
  EXPECT_EQ(http->requests().back().url, "https://ec2.us-west-2.amazonaws.com/");
  EXPECT_NE(body.find("&CompletionDurationMinutes=60&"), std::string::npos) << body;
  const std::string url = form_value(body, "PresignedUrl");
  EXPECT_TRUE(url.starts_with("https://ec2.eu-west-1.amazonaws.com/?Action=CopySnapshot&Version=2016-11-15&"
                              "SourceRegion=eu-west-1&SourceSnapshotId=snap-1&CompletionDurationMinutes=60&"
                              "DestinationRegion=us-west-2&X-Amz-Algorithm=AWS4-HMAC-SHA256&"
                              "X-Amz-Credential=AKIDEXAMPLE%2F20270115%2Feu-west-1%2Fec2%2Faws4_request&"))
      << url;
  EXPECT_NE(url.find("&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature="), std::string::npos) << url;
  EXPECT_EQ(form_value(body, "DestinationRegion"), "us-west-2");

  ASSERT_TRUE((*client)->copy_snapshot(CopySnapshotOptions{.source_region = "eu-west-1",
                                                           .source_snapshot_id = SnapshotId{"snap-1"},
                                                           .presigned_url = "https://given/?x=1"}));
  EXPECT_EQ(form_value(http->requests().back().body, "PresignedUrl"), "https://given/?x=1");
}

}  // namespace
