#pragma once
// mount, the decide step: pure functions from what was observed to what to do. Nothing here
// touches EC2, a device or a file. `--dry-run` prints the plan these return, and the real run
// records each step it carries out in the same words (VolumeReport::steps), so the two can be
// compared (tests/unit/agent_mount_decide_test.cpp).
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/client_tokens.h"
#include "agent/core/our_volumes.h"
#include "ec2/types.h"
#include "platform/probe.h"

namespace agent {

// What was found for one configured volume before anything was done.
struct ObservedVolume {
  std::string mount_point;
  MountedAt mounted;                      // what the mount table holds at the mount point
  std::vector<ec2::Volume> ours;          // our volumes for the mount point, newest first
  std::optional<ec2::Volume> attached;    // the one attached (or attaching) to this instance
  std::optional<RestoreAttempt> attempt;  // the attempt recorded under the run dir
};

enum class VolumeAction {
  AlreadyMounted,  // our volume is mounted there: nothing to do
  ReuseAttached,   // a run died after AttachVolume: wait for its device, then mount
  ReuseAttempt,    // a run died between CreateVolume and AttachVolume: attach its volume
  Create,          // create a volume (from the snapshot chosen later, or empty), then attach
  Fail,            // something else is mounted there
};

struct VolumeDecision {
  VolumeAction action = VolumeAction::Fail;
  std::optional<ec2::Volume> volume;      // AlreadyMounted, ReuseAttached, ReuseAttempt
  std::optional<RestoreAttempt> attempt;  // the attempt the volume (or the token to replay) belongs to
  bool replay_token = false;              // Create: CreateVolume with the attempt's token again
  std::string reason;                     // Fail: one line
};

[[nodiscard]] VolumeDecision decide_volume(const ObservedVolume& observed);

// Whether mount sets DeleteOnTermination on the volume's attachment to `instance`: the volume is
// configured so, and its attachment does not carry the flag yet (a volume this run attaches
// never does). A flag set by an earlier run is not set again, and `false` clears nothing.
[[nodiscard]] bool needs_delete_on_termination(const VolumeConfig& v, const VolumeDecision& decision,
                                               const ec2::InstanceId& instance);

// Whether to format a device that has arrived, decided from what blkid found on it.
enum class FormatAction {
  UseAsIs,   // it carries the filesystem to mount
  Mkfs,      // a new, empty volume
  RedoMkfs,  // our new volume whose mkfs an earlier run did not finish: format it again
  Refuse,    // never mkfs, never mount: reason says why
};

struct FormatInputs {
  bool from_snapshot = false;  // the volume was created from a snapshot
  bool reused = false;         // a volume an earlier run created
  // The attempt record says the earlier run's mkfs completed (nullopt: no attempt record).
  std::optional<bool> attempt_formatted;
  FsType configured = FsType::Ext4;
};

struct FormatDecision {
  FormatAction action = FormatAction::Refuse;
  std::string fs_type;              // what is mounted
  std::string reason;               // Refuse
  std::optional<std::string> note;  // e.g. the snapshot holds another filesystem than configured
};

[[nodiscard]] FormatDecision decide_format(const FormatInputs& inputs, const std::string& devnode,
                                           const platform::ProbeResult& content);

// What the format step will be before the device exists (a volume yet to be created or
// attached): a volume from a snapshot is mounted as it is, a new one is formatted.
[[nodiscard]] FormatDecision predict_format(const FormatInputs& inputs);

// The options a volume is mounted with: the configured ones, plus nosuid and nodev unless the
// configuration says suid or dev (a volume restored from a snapshot is no more trusted than
// the tags that chose it).
[[nodiscard]] std::string mount_options_for(const VolumeConfig& v);

// The VolumeInitializationRate of the CreateVolume: the configured rate when the volume comes
// from a snapshot, else none (EC2 refuses it for an empty volume: aws-ebs-csi-driver #2691).
[[nodiscard]] std::optional<int> initialization_rate(const VolumeConfig& v, bool from_snapshot);

// The words of each step, shared by the plan (--dry-run) and the steps a real run records.
namespace mount_step {
[[nodiscard]] std::string create(const VolumeConfig& v, const std::string& zone, const std::optional<ec2::SnapshotId>& from);
[[nodiscard]] std::string wait_pending(const ec2::SnapshotId& snapshot, std::chrono::seconds bound);
[[nodiscard]] std::string reuse(const ec2::VolumeId& volume, bool attached_here);
[[nodiscard]] std::string attach(const ec2::InstanceId& instance, const std::string& device);
[[nodiscard]] std::string delete_on_termination(const std::string& device);
[[nodiscard]] std::string wait_device();
[[nodiscard]] std::string format(const FormatDecision& decision);
[[nodiscard]] std::string mount(const VolumeConfig& v);
}  // namespace mount_step

// The whole plan of one volume: the steps a real run will carry out, in order.
struct PlanInputs {
  const VolumeConfig& volume;
  const VolumeDecision& decision;
  std::optional<ec2::SnapshotId> snapshot;  // Create: restore from it (nullopt: empty volume)
  bool wait_pending = false;                // the snapshot is pending: the run waits for it
  std::chrono::seconds pending_bound{600};
  const FormatDecision& format;             // decide_format when the device is there, else predicted
  std::string availability_zone;
  ec2::InstanceId instance;
  bool delete_on_termination = false;  // needs_delete_on_termination
};
[[nodiscard]] std::vector<std::string> plan_volume(const PlanInputs& in);

}  // namespace agent
