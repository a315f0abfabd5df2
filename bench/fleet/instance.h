#pragma once
// One simulated EC2 instance of the fleet: ebsnap's real Services with the world's virtual clock,
// sleeper and tasks, the real ec2::Ec2Client (SigV4, XML, retries) whose HTTP goes to the
// simulated account after a simulated network delay, FakeBlockDevices whose volume appears when
// the account's attachment completes, and FakeMounter. It runs agent::mount as the boot does,
// agent::snapshot as its timer does, and agent::prune.
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "agent/config/config.h"
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
  // The instance's config fleet_size as its command applies it (1: ebsnap's default, or a command
  // that does not take a share: agent::RuntimeOptions::fleet_share).
  int fleet_size = 1;
  std::chrono::seconds fleet_window{0};  // and its fleet_window_s
  // The group's retention (prune): none, prune refuses the group.
  std::optional<agent::RetentionPolicy> retention;
};

// Uniform doubles from a seeded engine: one per instance, so that runs are repeatable.
class SeededRandom final : public ec2::RandomSource {
 public:
  explicit SeededRandom(std::uint64_t seed) : engine_(seed) {}
  [[nodiscard]] double uniform() override { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }

 private:
  std::mt19937_64 engine_;
};

// What one instance's command came to.
struct CommandResult {
  bool ok = false;      // mount: every volume restored and mounted; snapshot: every volume
                        // snapshotted; prune: the plan's deletes all done
  Duration took{0};     // from its start to the command's end
  std::string failure;  // the command's or the first failed volume's reason
};

class Instance {
 public:
  Instance(World& world, Account& account, InstanceOptions options);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // The instance's snapshots: one complete run of its group, an hour old.
  void seed_snapshots();
  // The group as an earlier boot left it: each volume of ours attached, its device present, its
  // filesystem mounted at its mount point (snapshot's starting point).
  void seed_mounted_group();
  // `runs` complete runs of the group, tagged as agent::snapshot tags them, the newest `every`
  // ago and each older one `every` before it (prune's history). Returns how many of them
  // agent::plan_prune deletes now under the group's retention (none without one).
  [[nodiscard]] std::size_t seed_history(int runs, Duration every);
  [[nodiscard]] const ec2::InstanceId& id() const;
  // `ebsnap mount` of its group, on the calling fiber.
  [[nodiscard]] CommandResult mount();
  // `ebsnap snapshot` of its group (the timer's run), on the calling fiber.
  [[nodiscard]] CommandResult snapshot();
  // `ebsnap prune` of its group, on the calling fiber.
  [[nodiscard]] CommandResult prune();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace fleet
