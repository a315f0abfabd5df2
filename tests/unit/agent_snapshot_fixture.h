#pragma once
// A machine for the snapshot, check and thaw unit tests: FakeEc2 with an instance (root volume
// on /dev/xvda), two volumes of ours mounted at /mnt/a and /mnt/b, one foreign data volume;
// fake mounts, devices, freeze ops, guardian and hooks that all write to one event log, so that
// a test can assert the order of operations across the seams.
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/core/freeze_window.h"
#include "agent/core/services.h"
#include "agent/commands/snapshot.h"
#include "agent/core/tags.h"
#include "ec2/clock.h"
#include "ec2/testing/fake_ec2.h"
#include "ec2/testing/manual_clock.h"
#include "platform/testing/fake_block_devices.h"
#include "platform/testing/fake_mounter.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/agent_seams.h"

namespace agent::testing {

class EventLog {
 public:
  void add(std::string e) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(e));
  }
  [[nodiscard]] std::vector<std::string> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  // Index of the first event equal to `e` (or starting with it when prefix); -1 when absent.
  [[nodiscard]] int index(const std::string& e, bool prefix = false) const {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < events_.size(); ++i) {
      if (prefix ? events_[i].starts_with(e) : events_[i] == e) return static_cast<int>(i);
    }
    return -1;
  }
  [[nodiscard]] int last_index(const std::string& prefix) const {
    std::lock_guard lock(mutex_);
    for (std::size_t i = events_.size(); i-- > 0;) {
      if (events_[i].starts_with(prefix)) return static_cast<int>(i);
    }
    return -1;
  }
  [[nodiscard]] std::string dump() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& e : events_) out += "  " + e + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> events_;
};

// A kernel of filesystems by path; freeze/thaw recorded and stateful (EBUSY / EINVAL like FIFREEZE).
class RecordingFreezeOps final : public platform::FreezeOps {
 public:
  explicit RecordingFreezeOps(EventLog& log) : log_(log) {
    fs_["/"] = {1, true};
    fs_["/boot"] = {2, true};
    fs_["/mnt/a"] = {10, true};
    fs_["/mnt/b"] = {11, true};
    fs_["/mnt/c"] = {12, true};
  }
  platform::Result<platform::FsIdentity> identify(const std::string& path) override {
    std::lock_guard lock(mutex_);
    auto it = fs_.find(path);
    // Anything else (the run dir of the test) lives on a filesystem of its own.
    if (it == fs_.end()) return platform::FsIdentity{.device = 99, .mount_root = false};
    return platform::FsIdentity{.device = it->second.first, .mount_root = it->second.second};
  }
  platform::Result<void> syncfs(const std::string& mp) override {
    log_.add("syncfs " + mp);
    return {};
  }
  platform::Result<void> freeze(const std::string& mp) override {
    log_.add("freeze " + mp);
    std::lock_guard lock(mutex_);
    if (!frozen_.insert(mp).second) return platform::fail(platform::ErrorKind::AlreadyFrozen, mp + " already frozen");
    return {};
  }
  platform::Result<void> thaw(const std::string& mp) override {
    log_.add("thaw " + mp);
    std::lock_guard lock(mutex_);
    if (frozen_.erase(mp) == 0) return platform::fail(platform::ErrorKind::NotFrozen, mp + " not frozen");
    return {};
  }
  void release() override { log_.add("release of the freeze ops"); }
  // What the guardian does: FITHAW from outside the agent.
  void thaw_behind_our_back(const std::string& mp) {
    log_.add("guardian thaw " + mp);
    std::lock_guard lock(mutex_);
    frozen_.erase(mp);
  }
  [[nodiscard]] std::set<std::string> frozen() const {
    std::lock_guard lock(mutex_);
    return frozen_;
  }

 private:
  EventLog& log_;
  mutable std::mutex mutex_;
  std::map<std::string, std::pair<std::uint64_t, bool>> fs_;
  std::set<std::string> frozen_;
};

class FakeGuardianLauncher;

class FakeGuard final : public FreezeGuard {
 public:
  FakeGuard(EventLog& log, RecordingFreezeOps& ops, std::vector<std::string> mounts, FakeGuardianLauncher& launcher)
      : log_(log), ops_(ops), mounts_(std::move(mounts)), launcher_(launcher) {}
  // Like the real guardian: an excluded mount point is never thawed by it.
  platform::Result<void> exclude(const std::string& mp) override {
    log_.add("guardian exclude " + mp);
    std::erase(mounts_, mp);
    return {};
  }
  platform::Result<platform::GuardianReport> finish() override {
    log_.add("guardian finish");
    platform::GuardianReport report{.trigger = timed_out() ? platform::GuardianTrigger::Timeout
                                                          : platform::GuardianTrigger::Done,
                                    .mounts = {},
                                    .elapsed = std::chrono::milliseconds(10)};
    for (const auto& mp : mounts_) {
      const bool was = ops_.frozen().contains(mp);
      if (was) ops_.thaw_behind_our_back(mp);
      report.mounts.push_back({.mount_point = mp,
                               .outcome = was ? platform::ThawOutcome::Thawed : platform::ThawOutcome::NotFrozen});
    }
    return report;
  }
  bool thawed_on_its_own() override;

 private:
  [[nodiscard]] bool timed_out() const;
  EventLog& log_;
  RecordingFreezeOps& ops_;
  std::vector<std::string> mounts_;
  FakeGuardianLauncher& launcher_;
};

class FakeGuardianLauncher final : public GuardianLauncher {
 public:
  FakeGuardianLauncher(EventLog& log, RecordingFreezeOps& ops) : log_(log), ops_(ops) {}
  platform::Result<std::unique_ptr<FreezeGuard>> start(const platform::GuardianOptions& o) override {
    std::string e = "guardian start";
    for (const auto& mp : o.mount_points) e += " " + mp;
    log_.add(e);
    bound = o.freeze_bound;
    mounts = o.mount_points;
    if (fail_start) return platform::fail(platform::ErrorKind::System, "fork: injected");
    return std::make_unique<FakeGuard>(log_, ops_, o.mount_points, *this);
  }
  // The bound passes now: the guardian thaws everything on its own.
  void time_out() {
    timed_out = true;
    for (const auto& mp : mounts) ops_.thaw_behind_our_back(mp);
  }
  bool fail_start = false;
  bool timed_out = false;
  bool bound_passes_while_freezing = false;  // FIFREEZE slower than the bound: thawed before the call
  std::chrono::milliseconds bound{0};
  std::vector<std::string> mounts;

 private:
  EventLog& log_;
  RecordingFreezeOps& ops_;
};

inline bool FakeGuard::timed_out() const { return launcher_.timed_out; }
inline bool FakeGuard::thawed_on_its_own() {
  if (launcher_.bound_passes_while_freezing && !launcher_.timed_out) launcher_.time_out();
  log_.add(std::string("guardian poll") + (launcher_.timed_out ? ": thawed on its own" : ""));
  return launcher_.timed_out;
}

// Forwards to a FakeEc2, remembering the options of the snapshot calls.
class RecordingEc2 final : public ec2::Ec2Api {
 public:
  explicit RecordingEc2(ec2::FakeEc2& inner) : inner_(inner) {}
  ec2::Result<std::vector<ec2::Snapshot>> describe_snapshots(const ec2::DescribeSnapshotsOptions& o) override { return inner_.describe_snapshots(o); }
  ec2::Result<std::vector<ec2::Volume>> describe_volumes(const ec2::DescribeVolumesOptions& o) override { return inner_.describe_volumes(o); }
  ec2::Result<std::vector<ec2::Instance>> describe_instances(const ec2::DescribeInstancesOptions& o) override { return inner_.describe_instances(o); }
  ec2::Result<std::vector<ec2::VolumeStatusItem>> describe_volume_status(
      const ec2::DescribeVolumeStatusOptions& o) override {
    return inner_.describe_volume_status(o);
  }
  ec2::Result<ec2::Volume> create_volume(const ec2::CreateVolumeOptions& o) override { return inner_.create_volume(o); }
  ec2::Result<ec2::VolumeAttachment> attach_volume(const ec2::AttachVolumeOptions& o) override { return inner_.attach_volume(o); }
  ec2::Result<ec2::VolumeAttachment> detach_volume(const ec2::DetachVolumeOptions& o) override { return inner_.detach_volume(o); }
  ec2::Result<void> delete_volume(const ec2::DeleteVolumeOptions& o) override { return inner_.delete_volume(o); }
  ec2::Result<ec2::Snapshot> create_snapshot(const ec2::CreateSnapshotOptions& o) override {
    {
      std::lock_guard lock(mutex_);
      create_snapshot_calls.push_back(o);
    }
    return inner_.create_snapshot(o);
  }
  ec2::Result<std::vector<ec2::Snapshot>> create_snapshots(const ec2::CreateSnapshotsOptions& o) override {
    {
      std::lock_guard lock(mutex_);
      create_snapshots_calls.push_back(o);
    }
    return inner_.create_snapshots(o);
  }
  ec2::Result<void> delete_snapshot(const ec2::DeleteSnapshotOptions& o) override { return inner_.delete_snapshot(o); }
  ec2::Result<ec2::SnapshotId> copy_snapshot(const ec2::CopySnapshotOptions& o) override { return inner_.copy_snapshot(o); }
  ec2::Result<void> modify_instance_attribute(const ec2::ModifyInstanceAttributeOptions& o) override {
    return inner_.modify_instance_attribute(o);
  }
  ec2::Result<void> create_tags(const ec2::CreateTagsOptions& o) override { return inner_.create_tags(o); }
  ec2::Result<void> delete_tags(const ec2::DeleteTagsOptions& o) override { return inner_.delete_tags(o); }

  std::vector<ec2::CreateSnapshotOptions> create_snapshot_calls;
  std::vector<ec2::CreateSnapshotsOptions> create_snapshots_calls;

 private:
  ec2::FakeEc2& inner_;
  std::mutex mutex_;
};

struct SnapshotMachine {
  EventLog log;
  ec2::ManualClock clock;
  ec2::SequenceRandom random{{0.1, 0.7, 0.3, 0.9, 0.5}};
  // EC2's times (a snapshot's StartTime) on the machine's clock.
  ec2::FakeEc2 ec2{ec2::FakeEc2Options{
      .region = "eu-west-1", .progress = ec2::FakeEc2Options::Progress::Manual, .clock = &clock}};
  RecordingEc2 api{ec2};
  platform::FakeBlockDevices devices;
  platform::FakeMounter mounter;
  RecordingFreezeOps freeze_ops{log};
  FakeGuardianLauncher guardians{log, freeze_ops};
  testsupport::TempDir run_dir;
  Config config;
  FilterValues filters{{"role", "search"}, {"environment", "test"}};
  InstanceContext instance;
  std::map<std::string, ec2::VolumeId> volume_of;  // mount point → volume
  ec2::VolumeId foreign;                           // attached, not ours
  ec2::VolumeId root_volume;
  std::map<HookPhase, std::string> failing_hooks;  // phase → error message
  RecordingHookRunner hooks;
  std::function<void(std::string_view)> on_ec2_call;  // after logging, before the fake acts

  SnapshotMachine() {
    instance.instance_id = ec2.add_instance({.availability_zone = "eu-west-1a"});
    instance.availability_zone = "eu-west-1a";
    instance.region = "eu-west-1";
    hooks.on_call = [this](std::string e) { log.add(std::move(e)); };
    hooks.fail = [this](HookPhase phase, const HookContext&) -> std::optional<std::string> {
      if (auto it = failing_hooks.find(phase); it != failing_hooks.end()) return it->second;
      return std::nullopt;
    };
    ec2.on_call([this](std::string_view action) {
      log.add("ec2 " + std::string(action));
      if (on_ec2_call) on_ec2_call(action);
    });
    root_volume = ec2.instance(instance.instance_id)->block_device_mappings.front().volume_id;
    config.freeze_timeout = std::chrono::seconds(7);
    GroupConfig g{.name = "solr"};
    g.tags = {{"team", "search"}};
    g.volumes.push_back({.device = "/dev/sdf", .mount_point = "/mnt/a", .size_gib = 10});
    g.volumes.push_back({.device = "/dev/sdg", .mount_point = "/mnt/b", .size_gib = 10});
    config.groups.push_back(g);
    add_our_volume(config.groups.front(), 0, "/dev/nvme1n1");
    add_our_volume(config.groups.front(), 1, "/dev/nvme2n1");
    ec2::Volume other{.size_gib = 5, .state = ec2::VolumeState::InUse, .availability_zone = "eu-west-1a"};
    other.attachments.push_back({.instance_id = instance.instance_id, .device = "/dev/sdh",
                                 .state = ec2::AttachmentState::Attached});
    foreign = ec2.add_volume(other);
    // The root filesystem, from the root volume.
    devices.add_device({.devnode = "/dev/nvme0n1",
                        .serial = platform::volume_serial(root_volume.value),
                        .size_bytes = platform::gib_bytes(8)});
    (void)mounter.mount({.source = "/dev/nvme0n1", .target = "/", .fs_type = "ext4"});
  }

  void add_our_volume(const GroupConfig& g, std::size_t i, const std::string& devnode) {
    const auto& vc = g.volumes[i];
    ec2::Volume v{.size_gib = 10, .state = ec2::VolumeState::InUse, .availability_zone = "eu-west-1a"};
    v.tags = volume_tags(g, filters, {.group = g.name, .mount_point = vc.mount_point, .device = vc.device},
                         instance.instance_id, "attempt-1");
    v.attachments.push_back({.instance_id = instance.instance_id, .device = vc.device,
                             .state = ec2::AttachmentState::Attached});
    const auto id = ec2.add_volume(v);
    volume_of[vc.mount_point] = id;
    devices.add_device(
        {.devnode = devnode, .serial = platform::volume_serial(id.value), .size_bytes = platform::gib_bytes(10)});
    (void)mounter.mount({.source = devnode, .target = vc.mount_point, .fs_type = "xfs"});
  }

  Services services(bool dry_run = false) {
    return Services{.ec2 = api, .devices = devices, .mounter = mounter, .freeze_ops = freeze_ops,
                    .clock = clock, .sleeper = clock, .random = random, .guardians = guardians, .hooks = hooks,
                    .options = {.dry_run = dry_run, .run_dir = run_dir.path(), .waiter = {}}};
  }

  // ebsnap snapshot GROUPS (run id "run-1").
  RunReport snapshot(const std::vector<std::string>& groups = {"solr"}, bool dry_run = false,
                     std::function<void(const RunContext&, const GroupConfig&, RunReport&)> prune = {}) {
    auto s = services(dry_run);
    std::vector<const GroupConfig*> refs;
    for (const auto& name : groups) refs.push_back(config.find_group(name));
    return agent::snapshot(RunContext{.services = s, .config = config, .filters = filters, .instance = instance,
                                      .groups = refs},
                           {.run_id = "run-1", .prune = std::move(prune)});
  }
};

}  // namespace agent::testing
