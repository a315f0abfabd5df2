#pragma once
// ebsnap prewarm GROUP... [--wait]: reads every block of the groups' mounted volumes that have
// "prewarm": true once (issue 13), so that a volume restored from a snapshot, whose blocks EBS
// loads lazily from S3 on first read, is at full speed afterwards. It runs after mount, in its own
// process (init/ebsnap-prewarm@.service), so boot is not held up; it changes nothing but its
// state files.
//
// Per group, holding its prewarm lock (<run_dir>/lock-GROUP@prewarm: one reader per volume; not
// the group's lock, which would hold snapshots and unmounts back for hours):
//   1. observe: the volumes of ours mounted at the prewarm mount points (observe_mounts, as list
//      and unmount find them), each device's size, and each state file (agent/core/prewarm_state.h);
//   2. decide: decide_prewarm, pure: read from the saved offset (the same volume) or from 0, or
//      nothing (done already; not mounted). `--dry-run` prints it and stops;
//   3. act: the volumes one after the other, each read by platform's reader (O_DIRECT, 1 MiB
//      reads, 4 in flight, at most prewarm_mibps), its offset saved every k_prewarm_checkpoint_every
//      and at the end (done); SIGINT/SIGTERM stop it with the offset saved ("interrupted": not a
//      failure, the next run continues);
//   4. progress: percent, MiB/s and ETA as a bar on a terminal, else a log line every 5 s.
// --wait reads nothing: it waits until each volume's state file says done for the volume mounted
// now (another prewarm, the unit, is reading it), polling every k_prewarm_wait_poll.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "agent/core/our_volumes.h"
#include "agent/core/prewarm_state.h"
#include "agent/core/services.h"
#include "agent/report/report.h"
#include "platform/prewarm_reader.h"

namespace agent {

inline constexpr std::chrono::milliseconds k_prewarm_checkpoint_every{2'000};
inline constexpr std::chrono::milliseconds k_prewarm_wait_poll{5'000};

// What the command line asks.
struct PrewarmRequest {
  bool wait = false;
};

// The devices as the pre-warm sees them: platform/prewarm_reader.h (real_prewarm_devices), or a
// test's fake.
struct PrewarmDevices {
  std::function<platform::Result<std::uint64_t>(const std::string& devnode)> size_of;
  std::function<platform::Result<platform::ReadThrough>(const std::string& devnode,
                                                        const platform::ReadThroughOptions& options)>
      read;
};
[[nodiscard]] PrewarmDevices real_prewarm_devices();

struct PrewarmOptions {
  bool wait = false;
  bool progress_bar = false;                // stderr is a terminal
  const std::atomic<bool>* stop = nullptr;  // set by SIGINT/SIGTERM
  PrewarmDevices devices = real_prewarm_devices();
};

enum class PrewarmAction {
  Read,         // from `from` to the end
  AlreadyDone,  // the state file says this volume was read in full
  NotMounted,   // no volume of ours mounted there: `why`
};

struct PrewarmDecision {
  PrewarmAction action = PrewarmAction::NotMounted;
  std::string devnode;
  std::string volume_id;
  std::uint64_t size_bytes = 0;
  std::uint64_t from = 0;
  std::string why;
};

// Pure. `size_bytes`: the mounted device's size (ignored when nothing of ours is mounted).
[[nodiscard]] PrewarmDecision decide_prewarm(const ObservedMount& observed,
                                             const std::optional<PrewarmState>& saved,
                                             std::uint64_t size_bytes);

// The decision in words, for the plan (--dry-run) and the steps (the same words).
[[nodiscard]] std::string describe(const PrewarmDecision& decision, const std::optional<std::int32_t>& mibps);

[[nodiscard]] RunReport prewarm(const RunContext& context, const PrewarmOptions& options);

}  // namespace agent
