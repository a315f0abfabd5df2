#include "tests/support/sandbox.h"

#include <curl/curl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace testsupport {
namespace {

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::string http(const std::string& method, const std::string& url, const std::string& body) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) throw std::runtime_error("curl_easy_init failed");
  std::string response;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (method == "POST") curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) throw std::runtime_error(method + " " + url + ": " + curl_easy_strerror(rc));
  if (status < 200 || status > 299)
    throw std::runtime_error(method + " " + url + ": HTTP " + std::to_string(status) + ": " + response);
  return response;
}

}  // namespace

Sandbox::Sandbox(SandboxOptions options) : dir_("ebsnap-sandbox") {
  const auto env_file = dir_.path() / "env";
  const auto state = dir_.path() / "state";
  std::vector<std::string> args = {EBSNAP_PYTHON, std::string(EBSNAP_SOURCE_DIR) + "/tests/sandbox/sandbox.py",
                                   "run", "--state-dir", state.string(), "--env-file", env_file.string(),
                                   "--exit-with-parent"};
  if (!options.config.empty()) {
    const auto config_file = dir_.path() / "config.json";
    std::ofstream(config_file) << options.config.dump(2);
    args.insert(args.end(), {"--config", config_file.string()});
  }
  if (!options.data_plane) args.emplace_back("--no-data-plane");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (int rc = posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ); rc != 0) {
    throw std::runtime_error("cannot start the sandbox with " + args[0]);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(env_file)) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("the sandbox exited before it served (see its stderr above)");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      throw std::runtime_error("the sandbox did not write its env file within 60 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ifstream in(env_file);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("export ")) line.erase(0, 7);
    auto eq = line.find('=');
    if (eq == std::string::npos || line.starts_with('#')) continue;
    env_[line.substr(0, eq)] = line.substr(eq + 1);
  }
}

Sandbox::~Sandbox() { stop(); }

void Sandbox::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
}

const std::string& Sandbox::env(const std::string& key) const {
  auto it = env_.find(key);
  if (it == env_.end()) throw std::runtime_error("the sandbox's env file has no " + key);
  return it->second;
}

void Sandbox::export_environment() const {
  for (const auto& [k, v] : env_) setenv(k.c_str(), v.c_str(), 1);
}

void Sandbox::configure(const nlohmann::json& patch) const { (void)control("/config", patch); }

nlohmann::json Sandbox::control(const std::string& resource, const nlohmann::json& body) const {
  const auto answer = http("POST", env("EBSNAP_SANDBOX_CONTROL") + resource, body.dump());
  return answer.empty() ? nlohmann::json::object() : nlohmann::json::parse(answer);
}

nlohmann::json Sandbox::control_get(const std::string& resource) const {
  const auto answer = http("GET", env("EBSNAP_SANDBOX_CONTROL") + resource, "");
  return answer.empty() ? nlohmann::json::object() : nlohmann::json::parse(answer);
}

int Sandbox::received(const std::string& action) const {
  const auto answer = nlohmann::json::parse(http("GET", env("EBSNAP_SANDBOX_CONTROL") + "/received", ""));
  return answer.value(action, 0);
}

nlohmann::json Sandbox::calls() const {
  nlohmann::json out = nlohmann::json::array();
  std::ifstream in(env("EBSNAP_SANDBOX_CALL_LOG"));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

}  // namespace testsupport
