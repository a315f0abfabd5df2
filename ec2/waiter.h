#pragma once
// Waiting for many volumes or snapshots at once: one batched Describe per round (ids as a
// filter, so an id EC2 does not know yet is "not there yet", not an error), exponential
// backoff with jitter between rounds, and a deadline.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ec2/clock.h"
#include "ec2/ec2_api.h"

namespace ec2 {

struct WaiterOptions {
  std::chrono::milliseconds initial_delay{1'000};
  std::chrono::milliseconds max_delay{15'000};
  double multiplier = 2.0;
  // Rounds stay at initial_delay for this long from the start of the wait (where a transition
  // is expected: evenly spaced polls notice it soonest for their number), then grow by
  // multiplier up to max_delay. A round whose Describe was throttled ends it at once.
  std::chrono::milliseconds steady_for{0};
  // The random share of each delay: delay = base * (1 - jitter * (1 - uniform)).
  double jitter = 0.5;
  std::chrono::milliseconds timeout{300'000};
};

enum class WaitVerdict { Done, Pending, Failed };

struct WaitCheck {
  WaitVerdict verdict = WaitVerdict::Pending;
  std::string reason;  // for Failed (and for the timeout message while Pending)
};

// Checks one resource; nullopt when the Describe did not return it (not there yet, or gone).
using VolumeCheck = std::function<WaitCheck(const VolumeId& id, const std::optional<Volume>& volume)>;
using SnapshotCheck = std::function<WaitCheck(const SnapshotId& id, const std::optional<Snapshot>& snapshot)>;

class Waiter {
 public:
  Waiter(WaiterOptions options, const Clock& clock, Sleeper& sleeper, RandomSource& random);
  // The real clock, sleeper and random source.
  explicit Waiter(WaiterOptions options = {});

  // Until every volume is in `target` (Deleted: also when EC2 no longer returns it). A volume
  // in state error fails the wait. Returns the volumes as last described (empty ones for
  // Deleted).
  [[nodiscard]] Result<std::vector<Volume>> volumes(Ec2Api& api, const std::vector<VolumeId>& ids,
                                                    VolumeState target);
  // Until each volume's attachment to `instance` is in `target` (Detached: no attachment to it).
  [[nodiscard]] Result<std::vector<Volume>> attachments(Ec2Api& api, const std::vector<VolumeId>& ids,
                                                        const InstanceId& instance, AttachmentState target);
  // Until every snapshot is in `target`; a snapshot in state error fails the wait.
  [[nodiscard]] Result<std::vector<Snapshot>> snapshots(Ec2Api& api, const std::vector<SnapshotId>& ids,
                                                        SnapshotState target);

  // The general forms. On success the result is in the order of `ids`.
  [[nodiscard]] Result<std::vector<std::optional<Volume>>> volumes_until(Ec2Api& api,
                                                                         const std::vector<VolumeId>& ids,
                                                                         const VolumeCheck& check);
  [[nodiscard]] Result<std::vector<std::optional<Snapshot>>> snapshots_until(
      Ec2Api& api, const std::vector<SnapshotId>& ids, const SnapshotCheck& check);

  // Volumes that join the wait while it runs (each as its CreateVolume returns), still one
  // batched Describe per round for all that are pending. `join` is asked before every round for
  // the ids that joined since (empty: none); with none pending it is asked with `idle` true and
  // then blocks until some join, or returns nullopt once none ever will. Each id is polled until
  // `check` says Done, or until `timeout` from when it joined: then `expired` gets the Timeout
  // error naming it and the others go on. Returns once nothing is pending and nothing more
  // joins; fails at once on a Describe that fails for good or a check that says Failed.
  using Join = std::function<std::optional<std::vector<VolumeId>>(bool idle)>;
  using Expired = std::function<void(const VolumeId& id, Error timeout)>;
  [[nodiscard]] Result<void> volumes_joining(Ec2Api& api, const Join& join, const VolumeCheck& check,
                                             const Expired& expired);

  // The delay after growing round `round` (1-based; the rounds after the steady phase) before
  // jitter: initial * multiplier^(round-1), capped.
  [[nodiscard]] std::chrono::milliseconds delay_before_jitter(int round) const;

 private:
  WaiterOptions options_;
  const Clock& clock_;
  Sleeper& sleeper_;
  RandomSource& random_;
};

}  // namespace ec2
