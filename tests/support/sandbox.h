#pragma once
// Starts tests/sandbox/sandbox.py (local EC2 + IMDS) for a test and stops it afterwards.
//
// Contract with the sandbox (tests/sandbox/README.md has the full story):
//   $EBSNAP_PYTHON tests/sandbox/sandbox.py run --state-dir DIR --env-file FILE
//        [--config FILE.json] [--no-data-plane] --exit-with-parent
// runs in the foreground, writes FILE (KEY=VALUE lines) atomically once it serves, and on
// SIGTERM detaches its loop devices, removes its udev rule and state, and exits.
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.h"

namespace testsupport {

struct SandboxOptions {
  nlohmann::json config = nlohmann::json::object();  // written to --config when not empty
  bool data_plane = true;                             // false: no loop devices (no root needed)
};

class Sandbox {
 public:
  explicit Sandbox(SandboxOptions options = {});  // throws std::runtime_error when it cannot start
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // A value from the env file, e.g. "AWS_ENDPOINT_URL_EC2"; throws when absent.
  [[nodiscard]] const std::string& env(const std::string& key) const;
  [[nodiscard]] const std::map<std::string, std::string>& environment() const { return env_; }
  // setenv() every entry of the env file in this process (for clients that read the environment).
  void export_environment() const;

  // POST the JSON to the control endpoint: merged into the running configuration
  // (latency, faults, timing, permissions, imds, ...). Throws on a non-2xx answer.
  void configure(const nlohmann::json& patch) const;
  // POST the JSON to another control resource ("/snapshots/start-time", ...); its JSON answer.
  // Throws on a non-2xx answer.
  nlohmann::json control(const std::string& resource, const nlohmann::json& body) const;
  // GET a control resource ("/imds", "/throttling", ...); its JSON answer. Throws on a non-2xx answer.
  nlohmann::json control_get(const std::string& resource) const;
  // Every call the gateway served so far, one JSON object each (the JSON-lines call log).
  [[nodiscard]] nlohmann::json calls() const;
  // EC2 requests of `action` received so far, counted on arrival (before the configured latency):
  // with calls(), tells a call in flight from one not sent.
  [[nodiscard]] int received(const std::string& action) const;

  [[nodiscard]] const std::string& region() const { return env("AWS_REGION"); }
  [[nodiscard]] const std::string& instance_id() const { return env("EBSNAP_SANDBOX_INSTANCE_ID"); }
  [[nodiscard]] const std::string& availability_zone() const { return env("EBSNAP_SANDBOX_AZ"); }
  // The second region the sandbox serves (CopySnapshot's destination), its zone and instance.
  [[nodiscard]] const std::string& dr_region() const { return env("EBSNAP_SANDBOX_DR_REGION"); }
  [[nodiscard]] const std::string& dr_instance_id() const { return env("EBSNAP_SANDBOX_DR_INSTANCE_ID"); }
  [[nodiscard]] const std::string& dr_availability_zone() const { return env("EBSNAP_SANDBOX_DR_AZ"); }
  [[nodiscard]] const std::filesystem::path& state_dir() const { return dir_.path(); }

 private:
  void stop();

  TempDir dir_;
  pid_t pid_ = -1;
  std::map<std::string, std::string> env_;
};

}  // namespace testsupport
