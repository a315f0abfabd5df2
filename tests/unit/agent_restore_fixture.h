#pragma once
// A whole instance in process for the mount/unmount/list tests: FakeEc2 (EC2's rules), a
// FakeBlockDevices whose devices appear when FakeEc2 has the volume attached to our instance
// (serial = volume id, content = what the snapshot held), a FakeMounter, a ManualClock, and
// hooks that are recorded (RecordingHookRunner), not spawned.
#include <algorithm>
#include <iterator>
#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/client_tokens.h"
#include "agent/core/services.h"
#include "agent/core/tags.h"
#include "ec2/clock.h"
#include "ec2/testing/fake_ec2.h"
#include "ec2/testing/manual_clock.h"
#include "platform/device_names.h"
#include "platform/freeze_ops.h"
#include "platform/testing/fake_block_devices.h"
#include "platform/testing/fake_mounter.h"
#include "tests/unit/agent_seams.h"
#include "tests/support/temp_dir.h"

namespace agent::testing {

class FakeInstance {
 public:
  explicit FakeInstance(ec2::FakeEc2Options options = {})
      : ec2(with_clock(options, clock)),
        instance_id(ec2.add_instance(ec2::FakeInstanceSpec{.availability_zone = "us-east-1a"})),
        services{.ec2 = ec2,
                 .devices = devices,
                 .mounter = mounter,
                 .freeze_ops = freeze_ops,
                 .clock = clock,
                 .sleeper = clock,
                 .random = random,
                 .guardians = guardians,
                 .hooks = hooks,
                 .options = RunOptions{.dry_run = false, .run_dir = run_dir.path() / "run", .waiter = {}}} {
    instance.instance_id = instance_id;
    instance.availability_zone = "us-east-1a";
    instance.region = "us-east-1";
    devices.set_arrival([this](const platform::VolumeQuery& q) -> std::optional<platform::BlockDevice> {
      auto v = ec2.volume(ec2::VolumeId{q.volume_id});
      if (!v) return std::nullopt;
      const bool here = std::ranges::any_of(v->attachments, [&](const ec2::VolumeAttachment& a) {
        return a.instance_id == instance_id && a.state != ec2::AttachmentState::Detaching;
      });
      if (!here) return std::nullopt;
      return plug(*v);
    });
  }

  // Makes the device of an attached volume present, with what its snapshot held: an NVMe disk
  // with the volume's serial, or with `xen`, /dev/xvdX for the name it was attached as, no serial.
  platform::BlockDevice plug(const ec2::Volume& v) {
    platform::BlockDevice d{.devnode = "/dev/nvme" + std::to_string(++next_device_) + "n1",
                            .serial = platform::volume_serial(v.id.value),
                            .by_id_link = platform::nvme_by_id_link(v.id.value),
                            .size_bytes = static_cast<std::uint64_t>(v.size_gib) << 30,
                            .devnum = static_cast<std::uint64_t>(259 * 256 + next_device_)};
    if (xen) {
      std::string name = "/dev/sdf";
      for (const auto& a : v.attachments) {
        if (a.instance_id == instance_id) name = a.device;
      }
      d = platform::BlockDevice{.devnode = name.starts_with("/dev/sd") ? *platform::xen_twin(name) : name,
                                .size_bytes = static_cast<std::uint64_t>(v.size_gib) << 30,
                                .devnum = static_cast<std::uint64_t>(202 * 256 + 16 * next_device_)};
    }
    platform::ProbeResult content;
    if (v.snapshot_id) {
      auto it = snapshot_content.find(v.snapshot_id->value);
      content =
          it != snapshot_content.end() ? it->second : platform::ProbeResult{.fs_type = "ext4", .uuid = "u1"};
    }
    devices.add_device(d, content);
    return d;
  }

  [[nodiscard]] VolumeConfig volume(std::string device, std::string mount_point,
                                    FsType fs = FsType::Ext4) const {
    return VolumeConfig{
        .device = std::move(device), .mount_point = std::move(mount_point), .size_gib = 10, .filesystem = fs};
  }

  void add_group(std::string name, std::vector<VolumeConfig> volumes) {
    GroupConfig g;
    g.name = std::move(name);
    g.volumes = std::move(volumes);
    config.groups.push_back(std::move(g));
  }

  [[nodiscard]] std::vector<const GroupConfig*> groups() const {
    std::vector<const GroupConfig*> out;
    for (const auto& g : config.groups) out.push_back(&g);
    return out;
  }

  // What mount, unmount and list run with: every group, in config order.
  [[nodiscard]] RunContext context() {
    return RunContext{.services = services, .config = config, .filters = filters, .instance = instance,
                      .groups = groups()};
  }

  // A completed (or other state) snapshot in the lineage of `mount_point`.
  ec2::SnapshotId add_snapshot(const std::string& mount_point, int age_hours,
                               ec2::SnapshotState state = ec2::SnapshotState::Completed,
                               platform::ProbeResult content = {.fs_type = "ext4", .uuid = "snap-uuid"},
                               std::vector<ec2::Tag> extra_tags = {}) {
    ec2::Snapshot s;
    s.state = state;
    s.volume_size_gib = 10;
    s.start_time = clock.now() - std::chrono::hours(age_hours);
    s.volume_id = ec2::VolumeId{"vol-0000000000000000f"};
    for (const auto& f : filters) s.tags.push_back({f.key, f.value});
    s.tags.push_back({std::string(k_tag_mount_point), mount_point});
    std::ranges::move(extra_tags, std::back_inserter(s.tags));
    auto id = ec2.add_snapshot(s);
    snapshot_content[id.value] = std::move(content);
    return id;
  }

  // A snapshot of `group`'s run `run` (ebsnap:group and ebsnap:run-id, as snapshot tags it).
  ec2::SnapshotId add_run_snapshot(const std::string& group, const std::string& run, const std::string& mount_point,
                                   int age_hours, ec2::SnapshotState state = ec2::SnapshotState::Completed) {
    return add_snapshot(mount_point, age_hours, state, {.fs_type = "ext4", .uuid = run + mount_point},
                        {{std::string(k_tag_group), group},
                         {std::string(k_tag_run_id), run},
                         {std::string(k_tag_consistency), "frozen"}});
  }

  // A volume of ours for (group, mount point) as an earlier run left it.
  ec2::Volume our_volume(const std::string& group, const std::string& mount_point, const std::string& device,
                         std::string attempt = {}) {
    ec2::Volume v;
    v.size_gib = 10;
    v.state = ec2::VolumeState::Available;
    v.availability_zone = "us-east-1a";
    v.volume_type = "gp3";
    v.create_time = clock.now();
    const auto* g = config.find_group(group);
    v.tags = volume_tags(*g, filters, {group, mount_point, device}, instance_id, attempt);
    return v;
  }

  // Group "db" with one xfs volume on /data/a, whose volume a run killed during (or after) its
  // mkfs left attached here: its attempt record names the volume and says whether the mkfs
  // completed; the device carries the superblock the mkfs wrote.
  void left_by_a_killed_mkfs(bool formatted) {
    add_group("db", {volume("/dev/sdf", "/data/a", FsType::Xfs)});
    ClientTokens tokens(services.options.run_dir);
    auto attempt = tokens.begin("db", "/data/a").value();
    auto v = our_volume("db", "/data/a", "/dev/sdf", attempt.token);
    v.state = ec2::VolumeState::InUse;
    v.attachments.push_back(ec2::VolumeAttachment{
        .instance_id = instance_id, .device = "/dev/sdf", .state = ec2::AttachmentState::Attached});
    v.id = ec2.add_volume(v);
    attempt.volume_id = v.id.value;
    attempt.formatted = formatted;
    tokens.record("db", "/data/a", attempt).value();
    const auto d = plug(v);
    devices.set_content(d.devnode, platform::ProbeResult{.fs_type = "xfs", .uuid = "left-by-mkfs"});
  }

  // With Progress::Manual: pending snapshots complete on the `nth` DescribeSnapshots (the lineage
  // query, then poll rounds); from then on volumes move one step on every DescribeVolumes.
  void complete_snapshots_on_describe(int nth) {
    ec2.on_call([this, nth](std::string_view action) {
      if (action == "DescribeSnapshots" && ++snapshot_describes_ == nth) {
        ec2.step();
        snapshots_completed_ = true;
      }
      if (action == "DescribeVolumes" && snapshots_completed_) ec2.step();
    });
  }

  [[nodiscard]] std::vector<ec2::Volume> live_volumes_of(const std::string& mount_point) const {
    std::vector<ec2::Volume> out;
    for (const auto& v : ec2.volumes()) {
      if (ec2::find_tag(v.tags, k_tag_mount_point) == mount_point && v.state != ec2::VolumeState::Deleting) {
        out.push_back(v);
      }
    }
    return out;
  }

  static ec2::FakeEc2Options with_clock(ec2::FakeEc2Options o, const ec2::Clock& c) {
    if (o.progress == ec2::FakeEc2Options::Progress::Clock) o.clock = &c;
    return o;
  }

  bool xen = false;  // devices without serial, named as on Xen (plug)
  ec2::ManualClock clock;
  ec2::SequenceRandom random{{0.5}};
  ec2::FakeEc2 ec2;
  ec2::InstanceId instance_id;
  platform::FakeBlockDevices devices;
  platform::FakeMounter mounter;
  platform::KernelFreezeOps freeze_ops;  // never called by mount/unmount/list
  testsupport::TempDir run_dir{"ebsnap-restore-test"};
  RecordingHookRunner hooks;
  NoGuardians guardians;
  Services services;
  InstanceContext instance;
  Config config;
  FilterValues filters{{"role", "db"}, {"cluster", "c1"}};
  std::map<std::string, platform::ProbeResult> snapshot_content;

 private:
  std::atomic<int> next_device_{0};
  std::atomic<int> snapshot_describes_{0};
  std::atomic<bool> snapshots_completed_{false};
};

}  // namespace agent::testing
