// TLS: verification is always on, and AWS_CA_BUNDLE names the trust anchors. A local HTTPS
// server with a self-signed certificate stands in for EC2.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "ec2/credentials.h"
#include "ec2/ec2_client.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace {

using namespace ec2;

class TlsServer : public ::testing::Test {
 protected:
  testsupport::TempDir dir{"ebsnap-tls"};
  pid_t pid = -1;
  std::string port;

  void SetUp() override {
    const auto cert = (dir.path() / "cert.pem").string();
    const auto key = (dir.path() / "key.pem").string();
    const std::string openssl =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
        key + " -out " + cert + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(openssl.c_str()), 0);  // NOLINT(cert-env33-c): test set-up
    const auto port_file = (dir.path() / "port").string();
    std::vector<std::string> args = {EBSNAP_PYTHON,
                                     std::string(EBSNAP_SOURCE_DIR) + "/tests/integration/ec2_tls_server.py",
                                     cert, key, port_file};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
    for (int i = 0; i < 500 && !std::filesystem::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::ifstream(port_file) >> port;
    ASSERT_FALSE(port.empty()) << "the TLS server did not start";
  }

  void TearDown() override {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }

  std::unique_ptr<Ec2Client> client(std::map<std::string, std::string> env) {
    env["AWS_ENDPOINT_URL_EC2"] = "https://localhost:" + port;
    Credentials c;
    c.access_key_id = "AKIDEXAMPLE";
    c.secret_access_key = SecretString(std::string("secret"));
    auto r = Ec2Client::create(
        Ec2ClientOptions{
            .region = "eu-west-1",
            .credentials = std::make_shared<StaticCredentialsProvider>(c),
            .retry = RetryOptions{.max_attempts = 3, .base_delay = std::chrono::milliseconds{1}}},
        fixed_environment(env));
    EXPECT_TRUE(r);
    return std::move(*r);
  }
};

TEST_F(TlsServer, UntrustedCertificateIsRefusedAndNotRetried) {
  auto c = client({});
  auto r = c->describe_volumes({});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("certificate"), std::string::npos) << r.error().describe();
  EXPECT_FALSE(r.error().maybe_applied);
  EXPECT_EQ(c->quota().available(), c->quota().capacity());  // not retried: retrying cannot help
}

TEST_F(TlsServer, CaBundleFromTheEnvironmentIsTrusted) {
  auto c = client({{"AWS_CA_BUNDLE", (dir.path() / "cert.pem").string()}});
  auto r = c->describe_volumes({});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_TRUE(r->empty());
}

}  // namespace
