#include "agent/commands/mount_decide.h"

#include <fmt/format.h>

#include <algorithm>

#include "agent/core/tags.h"

namespace agent {

VolumeDecision decide_volume(const ObservedVolume& o) {
  if (o.mounted.mounted()) {
    if (o.mounted.ours()) return {.action = VolumeAction::AlreadyMounted, .volume = o.mounted.volume};
    return {.action = VolumeAction::Fail,
            .reason = fmt::format("{} is already a mount point of {} ({}), which is not a volume of ours for it; "
                                  "unmount it first",
                                  o.mount_point, o.mounted.source, o.mounted.why_not)};
  }
  // The volume an attempt record names is the proof that an earlier run made it; a tag alone is
  // not (anyone who can create volumes can copy a tag).
  const auto named_by_attempt = [&](const ec2::Volume& v) {
    return o.attempt && o.attempt->volume_id == v.id.value && ec2::find_tag(v.tags, k_tag_attempt) == o.attempt->token;
  };
  if (o.attached) {
    // A run that died after AttachVolume: take its volume over, with its attempt when the record
    // names this volume (the attempt says whether its mkfs completed: a redo only on that one).
    VolumeDecision d{.action = VolumeAction::ReuseAttached, .volume = o.attached};
    if (named_by_attempt(*o.attached)) d.attempt = o.attempt;
    return d;
  }
  if (!o.attempt) return {.action = VolumeAction::Create};
  auto made = std::ranges::find_if(o.ours, [&](const ec2::Volume& v) {
    return named_by_attempt(v) && v.attachments.empty() &&
           (v.state == ec2::VolumeState::Creating || v.state == ec2::VolumeState::Available);
  });
  // A run that died between CreateVolume and AttachVolume: its volume is found by its tags.
  if (made != o.ours.end()) return {.action = VolumeAction::ReuseAttempt, .volume = *made, .attempt = o.attempt};
  // CreateVolume may or may not have got through before the run died: the same token returns
  // the volume if it did, and creates it if it did not. An attempt whose volume was created and
  // is gone since has a spent token: a new attempt.
  if (!o.attempt->volume_id) return {.action = VolumeAction::Create, .attempt = o.attempt, .replay_token = true};
  return {.action = VolumeAction::Create};
}

bool needs_delete_on_termination(const VolumeConfig& v, const VolumeDecision& d, const ec2::InstanceId& instance) {
  if (!v.delete_on_termination || d.action == VolumeAction::Fail) return false;
  const auto* a = d.volume ? attachment_to(*d.volume, instance) : nullptr;
  return a == nullptr || !a->delete_on_termination;
}

FormatDecision decide_format(const FormatInputs& in, const std::string& devnode, const platform::ProbeResult& content) {
  const std::string configured(to_string(in.configured));
  if (in.from_snapshot) {
    // A volume restored from a snapshot must carry the filesystem: never mkfs it.
    if (auto ok = platform::check_has_filesystem(devnode, content); !ok) {
      return {.action = FormatAction::Refuse, .reason = ok.error().describe()};
    }
    FormatDecision d{.action = FormatAction::UseAsIs, .fs_type = content.fs_type};
    if (content.fs_type != configured) {
      d.note = fmt::format("the snapshot holds {}, the configuration says {}: mounted as {}", content.fs_type,
                           configured, content.fs_type);
    }
    return d;
  }
  const auto kind = platform::classify(content);
  if (in.reused && in.attempt_formatted == false && kind != platform::DeviceContent::Empty) {
    // The new, empty volume of an earlier run that was killed during its mkfs (its attempt never
    // recorded the mkfs as done): what is on it is a partial filesystem of ours, which mount
    // calls corrupt. Nothing else has held this volume: format it again.
    return {.action = FormatAction::RedoMkfs, .fs_type = configured};
  }
  if (in.reused && kind == platform::DeviceContent::Filesystem && content.fs_type == configured) {
    // An empty volume of an earlier run that died after its mkfs completed (or whose attempt is
    // no longer known): a filesystem of ours is never formatted again.
    return {.action = FormatAction::UseAsIs, .fs_type = configured, .note = "formatted by an earlier run"};
  }
  if (auto ok = platform::check_empty_for_mkfs(devnode, content); !ok) {
    return {.action = FormatAction::Refuse, .reason = ok.error().describe()};
  }
  return {.action = FormatAction::Mkfs, .fs_type = configured};
}

FormatDecision predict_format(const FormatInputs& in) {
  if (in.from_snapshot) return {.action = FormatAction::UseAsIs, .fs_type = "the snapshot's filesystem"};
  return {.action = FormatAction::Mkfs, .fs_type = std::string(to_string(in.configured))};
}

std::string mount_options_for(const VolumeConfig& v) {
  std::vector<std::string> options;
  if (v.mount_options != "defaults") {
    for (std::size_t start = 0; start <= v.mount_options.size();) {
      const auto end = std::min(v.mount_options.find(',', start), v.mount_options.size());
      if (end > start) options.push_back(v.mount_options.substr(start, end - start));
      start = end + 1;
    }
  }
  const auto has = [&](std::string_view o) { return std::ranges::find(options, o) != options.end(); };
  if (!has("suid") && !has("nosuid")) options.emplace_back("nosuid");
  if (!has("dev") && !has("nodev")) options.emplace_back("nodev");
  std::string out;
  for (const auto& o : options) out += (out.empty() ? "" : ",") + o;
  return out;
}

std::optional<int> initialization_rate(const VolumeConfig& v, bool from_snapshot) {
  if (!from_snapshot) return std::nullopt;
  return v.initialization_rate_mibps;
}

namespace mount_step {

std::string create(const VolumeConfig& v, const std::string& zone, const std::optional<ec2::SnapshotId>& from) {
  if (from) {
    auto words =
        fmt::format("create a {} volume in {} from snapshot {}", to_string(v.volume_type), zone, from->value);
    if (const auto rate = initialization_rate(v, true))
      words += fmt::format(", initialized at {} MiB/s", *rate);
    return words;
  }
  return fmt::format("create an empty {} GiB {} volume in {}", v.size_gib, to_string(v.volume_type), zone);
}
std::string wait_pending(const ec2::SnapshotId& snapshot, std::chrono::seconds bound) {
  return fmt::format("wait for pending snapshot {} (at most {} s)", snapshot.value, bound.count());
}
std::string reuse(const ec2::VolumeId& volume, bool attached_here) {
  return "reuse volume " + volume.value + (attached_here ? " attached here" : "");
}
std::string attach(const ec2::InstanceId& instance, const std::string& device) {
  return fmt::format("attach it to {} as {}", instance.value, device);
}
std::string delete_on_termination(const std::string& device) {
  return fmt::format("set DeleteOnTermination on its attachment as {} (EC2 deletes it with the instance)", device);
}
std::string wait_device() { return "wait for its device (serial = volume id)"; }
std::string format(const FormatDecision& d) {
  switch (d.action) {
    case FormatAction::Mkfs: return fmt::format("mkfs.{} (the device must be empty)", d.fs_type);
    case FormatAction::RedoMkfs: return fmt::format("mkfs.{} again (an earlier run's mkfs did not complete)", d.fs_type);
    case FormatAction::UseAsIs: return "keep its filesystem";  // which one: VolumeReport::filesystem
    case FormatAction::Refuse: return "refuse: " + d.reason;
  }
  return "refuse";
}
std::string mount(const VolumeConfig& v) { return fmt::format("mount it on {} ({})", v.mount_point, mount_options_for(v)); }

}  // namespace mount_step

std::vector<std::string> plan_volume(const PlanInputs& in) {
  std::vector<std::string> plan;
  const auto& d = in.decision;
  // The name the volume is attached as: EC2's for a volume attached already, else the configured one.
  const auto* attached = d.volume ? attachment_to(*d.volume, in.instance) : nullptr;
  const auto delete_on_termination = [&] {
    if (in.delete_on_termination)
      plan.push_back(mount_step::delete_on_termination(attached ? attached->device : in.volume.device));
  };
  switch (d.action) {
    case VolumeAction::AlreadyMounted:
      delete_on_termination();
      return plan;
    case VolumeAction::Fail:
      return plan;
    case VolumeAction::Create:
      if (in.snapshot && in.wait_pending) plan.push_back(mount_step::wait_pending(*in.snapshot, in.pending_bound));
      plan.push_back(mount_step::create(in.volume, in.availability_zone, in.snapshot));
      plan.push_back(mount_step::attach(in.instance, in.volume.device));
      break;
    case VolumeAction::ReuseAttempt:
      plan.push_back(mount_step::reuse(d.volume->id, false));
      plan.push_back(mount_step::attach(in.instance, in.volume.device));
      break;
    case VolumeAction::ReuseAttached:
      plan.push_back(mount_step::reuse(d.volume->id, true));
      break;
  }
  delete_on_termination();
  plan.push_back(mount_step::wait_device());
  plan.push_back(mount_step::format(in.format));
  if (in.format.action != FormatAction::Refuse) plan.push_back(mount_step::mount(in.volume));
  return plan;
}

}  // namespace agent
