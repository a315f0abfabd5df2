#pragma once
// One simulated EC2 instance of the fleet: ebsnap's real Services with the world's virtual clock,
// sleeper and tasks, the real ec2::Ec2Client (SigV4, XML, retries) whose HTTP goes to the
// simulated account after a simulated network delay, FakeBlockDevices whose volume appears when
// the account's attachment completes, and FakeMounter. It runs agent::mount as the boot does.
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "agent/report/report.h"
#include "bench/fleet/account.h"
#include "bench/fleet/world.h"
#include "ec2/ec2_client.h"

namespace fleet {

struct InstanceOptions {
  int index = 0;
  int volumes = 4;
  std::filesystem::path run_dir;      // its own, removed by the caller
  Duration one_way_latency{10};       // client → EC2 and back, each way
  Duration server_time{60};           // EC2's own time for one request
  // The client retries as ebsnap does (agent::retry_policy) and, unless false, paces throttled
  // calls as ebsnap does (agent::pacing_policy of the instance's config).
  bool pacing = true;
  // Instead of ebsnap's pacing, these (tuning runs: fleet_bench --pacing-*).
  std::optional<ec2::PacingOptions> pacing_override;
};

// Uniform doubles from a seeded engine: one per instance, so that runs are repeatable.
class SeededRandom final : public ec2::RandomSource {
 public:
  explicit SeededRandom(std::uint64_t seed) : engine_(seed) {}
  [[nodiscard]] double uniform() override { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }

 private:
  std::mt19937_64 engine_;
};

// What one instance's boot restore came to.
struct RestoreResult {
  bool restored = false;  // every volume restored and mounted
  Duration took{0};       // from its boot to the end of mount
  std::string failure;    // the first failed volume's reason
};

class Instance {
 public:
  Instance(World& world, Account& account, InstanceOptions options);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // The instance's snapshots: one complete run of its group, an hour old.
  void seed_snapshots();
  [[nodiscard]] const ec2::InstanceId& id() const;
  // `ebsnap mount` of its group, on the calling fiber.
  [[nodiscard]] RestoreResult mount();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace fleet
