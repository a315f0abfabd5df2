// Differential test: ec2/sigv4 and ec2/query against botocore. 1,200 generated EC2 Query
// requests (random actions and parameters with unicode, spaces, ~*'+/=&, empty and long values;
// random dates, regions, hosts and keys; with and without a session token) are signed here,
// written as JSON, signed again by botocore's SigV4Auth (ec2_sigv4_botocore.py), and compared
// byte for byte: the form body, X-Amz-Date, X-Amz-Security-Token and Authorization.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "ec2/query.h"
#include "ec2/sigv4.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace ec2;

constexpr int k_requests = 1200;

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  int below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool coin() { return below(2) == 0; }

  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(below(static_cast<int>(v.size())))];
  }

  // A UTF-8 value mixing the awkward characters.
  std::string value() {
    switch (below(8)) {
      case 0:
        return "";
      case 1:
        return std::string(static_cast<std::size_t>(500 + below(3000)), 'x') + piece();
      default:
        break;
    }
    std::string s;
    const int n = 1 + below(24);
    for (int i = 0; i < n; ++i) s += piece();
    return s;
  }

  std::string piece() {
    static const std::vector<std::string> pieces = {
        " ",  "~",  "*",  "'", "+", "/", "=",    "&",  "%", "%20", "-",  "_",
        ".",  "!",  "(",  ")", "?", "#", ":",    ";",  ",", "\"",  "<",  ">",
        "\\", "\t", "\n", "é", "ü", "ß", "日本", "語", "€", "😀",   "🇪🇺", "\xc2\xa0"};
    if (below(3) == 0) return pick(pieces);
    static const std::string alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    return std::string(1, alnum[static_cast<std::size_t>(below(static_cast<int>(alnum.size())))]);
  }

  std::string key_material(std::size_t n) {
    static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    std::string s;
    for (std::size_t i = 0; i < n; ++i)
      s += chars[static_cast<std::size_t>(below(static_cast<int>(chars.size())))];
    return s;
  }

  TimePoint time() {
    // 2000-01-01 .. 2037-12-31
    const long long seconds =
        946'684'800LL + std::uniform_int_distribution<long long>(0, 1'200'000'000LL)(rng_);
    return TimePoint{std::chrono::seconds{seconds}};
  }

 private:
  std::mt19937_64 rng_;
};

QueryParams random_params(Generator& g) {
  static const std::vector<std::string> names = {"VolumeId",    "SnapshotId", "InstanceId",
                                                 "Description", "Device",     "AvailabilityZone",
                                                 "ClientToken", "KmsKeyId",   "VolumeType"};
  QueryParams p;
  const int n = g.below(10);
  for (int i = 0; i < n; ++i) {
    switch (g.below(5)) {
      case 0:
        p.add_filters({Filter{.name = "tag:" + g.value(), .values = {g.value(), g.value()}}});
        break;
      case 1:
        p.add_tag_specifications({TagSpecification{.resource_type = "snapshot",
                                                   .tags = {Tag{g.value(), g.value()}, Tag{g.value(), ""}}}});
        break;
      case 2:
        p.add_list("Owner", {"self", g.value()});
        break;
      case 3:
        p.add("DryRun", g.coin());
        break;
      default:
        p.add(g.pick(names), g.value());
        break;
    }
  }
  return p;
}

TEST(Sigv4Differential, ThousandGeneratedEc2RequestsMatchBotocoreByteForByte) {
  Generator g(20261123);
  static const std::vector<std::string> actions = {
      "DescribeVolumes", "DescribeSnapshots", "DescribeInstances", "CreateVolume",    "AttachVolume",
      "DetachVolume",    "DeleteVolume",      "CreateSnapshot",    "CreateSnapshots", "DeleteSnapshot",
      "CopySnapshot",    "CreateTags",        "DeleteTags"};
  static const std::vector<std::string> regions = {"us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1",
                                                   "us-gov-west-1"};
  static const std::vector<std::string> hosts = {"ec2.{}.amazonaws.com", "127.0.0.1:{}", "localhost:{}",
                                                 "ec2.{}.amazonaws.com.cn"};

  struct Mine {
    std::string body, date, token, authorization;
  };
  std::vector<Mine> mine;
  nlohmann::json requests = nlohmann::json::array();
  for (int i = 0; i < k_requests; ++i) {
    const std::string action = g.pick(actions);
    const QueryParams params = random_params(g);
    const std::string region = g.pick(regions);
    std::string host = g.pick(hosts);
    host.replace(host.find("{}"), 2,
                 host.starts_with("ec2") ? region : std::to_string(1024 + g.below(60000)));
    const std::string access_key = "AKIA" + g.key_material(16);
    const SecretString secret{g.key_material(40)};
    const SecretString token{g.coin() ? g.key_material(static_cast<std::size_t>(16 + g.below(400)))
                                      : std::string()};
    const TimePoint when = g.time();
    const std::string service = g.below(10) == 0 ? "service" : "ec2";

    const std::string body = params.body(action);
    const std::vector<Header> headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                                         {"Host", host}};
    const auto added = sigv4::sign(
        sigv4::Request{
            .method = "POST", .host = host, .path = "/", .query = "", .headers = headers, .body = body},
        sigv4::SigningInput{.access_key_id = access_key,
                            .secret_access_key = &secret,
                            .session_token = &token,
                            .region = region,
                            .service = service,
                            .time = when});
    Mine m{.body = body, .date = {}, .token = {}, .authorization = {}};
    for (const auto& [name, value] : added) {
      if (name == "X-Amz-Date") m.date = value;
      if (name == "X-Amz-Security-Token") m.token = value;
      if (name == "Authorization") m.authorization = value;
    }
    mine.push_back(std::move(m));

    nlohmann::json all_params = nlohmann::json::array({{"Action", action}, {"Version", "2016-11-15"}});
    for (const auto& [k, v] : params.params()) all_params.push_back({k, v});
    requests.push_back(
        {{"url", "http://" + host + "/"},
         {"headers", headers},
         {"params", all_params},
         {"body", body},
         {"access_key", access_key},
         {"secret_key", std::string(secret.reveal())},
         {"token", token.empty() ? nlohmann::json(nullptr) : nlohmann::json(std::string(token.reveal()))},
         {"region", region},
         {"service", service},
         {"time", std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count()}});
  }

  testsupport::TempDir dir("ebsnap-sigv4");
  const auto in = dir.path() / "requests.json";
  const auto out = dir.path() / "signed.json";
  std::ofstream(in) << requests.dump();
  const std::string command = std::string(EBSNAP_PYTHON) + " " + EBSNAP_SOURCE_DIR +
                              "/tests/unit/ec2_sigv4_botocore.py " + in.string() + " " + out.string();
  ASSERT_EQ(std::system(command.c_str()), 0) << command;  // NOLINT(cert-env33-c): test harness
  const auto theirs = nlohmann::json::parse(std::ifstream(out));
  ASSERT_EQ(theirs.size(), mine.size());

  int mismatches = 0;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    const auto& t = theirs[i];
    const std::string their_token =
        t["x_amz_security_token"].is_null() ? "" : t["x_amz_security_token"].get<std::string>();
    const bool same = mine[i].body == t["body"].get<std::string>() &&
                      mine[i].date == t["x_amz_date"].get<std::string>() && mine[i].token == their_token &&
                      mine[i].authorization == t["authorization"].get<std::string>();
    if (!same && ++mismatches <= 5) {
      ADD_FAILURE() << "request " << i << " differs:\n body mine:   " << mine[i].body
                    << "\n body theirs: " << t["body"].get<std::string>()
                    << "\n auth mine:   " << mine[i].authorization
                    << "\n auth theirs: " << t["authorization"].get<std::string>();
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << mine.size() << " requests";
}

}  // namespace
