#include "ec2/testing/fake_ec2.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>

namespace ec2 {

bool glob_match(std::string_view pattern, std::string_view value) {
  std::size_t p = 0, v = 0, star = std::string_view::npos, mark = 0;
  while (v < value.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == value[v])) {
      ++p;
      ++v;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = v;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      v = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {


bool any_matches(const Filter& f, std::string_view value) {
  return std::ranges::any_of(f.values,
                             [&](const std::string& pattern) { return glob_match(pattern, value); });
}

bool any_matches(const Filter& f, const std::vector<std::string>& values) {
  return std::ranges::any_of(values, [&](const std::string& v) { return any_matches(f, v); });
}

// The tag filters every resource type shares; nullopt when `f` is not one.
std::optional<bool> match_tag_filter(const Filter& f, const std::vector<Tag>& tags) {
  if (f.name.starts_with("tag:")) {
    const std::string key = f.name.substr(4);
    auto v = find_tag(tags, key);
    return v && any_matches(f, *v);
  }
  if (f.name == "tag-key") {
    return std::ranges::any_of(tags, [&](const Tag& t) { return any_matches(f, t.key); });
  }
  if (f.name == "tag-value") {
    return std::ranges::any_of(tags, [&](const Tag& t) { return any_matches(f, t.value); });
  }
  return std::nullopt;
}

std::string_view bool_str(bool b) {
  return b ? "true" : "false";
}

Error ec2_error(std::string code, std::string message, long status = 400) {
  return aws_error(std::move(code), std::move(message), "fake-request", status);
}

template <class T>
Result<T> ec2_fail(std::string code, std::string message, long status = 400) {
  return std::unexpected(ec2_error(std::move(code), std::move(message), status));
}

std::optional<Error> validate_tags(const std::vector<Tag>& tags) {
  for (const auto& t : tags) {
    if (t.key.empty()) return ec2_error("InvalidParameterValue", "Tag key must not be empty");
    if (t.key.starts_with("aws:")) {
      return ec2_error("InvalidParameterValue",
                       "Tag keys starting with 'aws:' are reserved for internal use");
    }
    if (t.key.size() > 128 || t.value.size() > 256) {
      return ec2_error("InvalidParameterValue", "Tag key or value too long: " + t.key);
    }
  }
  if (tags.size() > 50) return ec2_error("TagLimitExceeded", "The maximum number of tags per resource is 50");
  return std::nullopt;
}

void upsert_tags(std::vector<Tag>& tags, const std::vector<Tag>& add) {
  for (const auto& t : add) {
    auto it = std::ranges::find_if(tags, [&](const Tag& x) { return x.key == t.key; });
    if (it != tags.end()) {
      it->value = t.value;
    } else {
      tags.push_back(t);
    }
  }
}

// Tags for `resource_type` from TagSpecifications; an error for a type the action cannot tag.
Result<std::vector<Tag>> tags_for(const std::vector<TagSpecification>& specs,
                                  std::string_view resource_type) {
  std::vector<Tag> out;
  for (const auto& s : specs) {
    if (s.resource_type != resource_type) {
      return ec2_fail<std::vector<Tag>>("InvalidParameterValue",
                                        "'" + s.resource_type +
                                            "' is not a valid taggable resource type for this "
                                            "operation.");
    }
    if (auto e = validate_tags(s.tags)) return std::unexpected(*e);
    upsert_tags(out, s.tags);
  }
  return out;
}

// The rate a volume from a snapshot initializes at without VolumeInitializationRate. EC2 publishes
// none; 20 MiB/s is a plausible figure (the same one tests/sandbox uses).
constexpr int k_default_initialization_mibps = 20;

// Where the initialization of a volume created from a snapshot stands at `now`: its size loaded at
// its rate from its CreateTime. A fast-restored volume is initialized at creation.
VolumeInitialization initialization_at(const Volume& v, TimePoint now) {
  const bool provisioned = v.initialization_rate.has_value();
  if (v.fast_restored.value_or(false) && !provisioned) return {.type = "default", .progress = 100};
  const std::int64_t rate = v.initialization_rate.value_or(k_default_initialization_mibps);
  const std::int64_t total_s = std::max<std::int64_t>(1, std::int64_t{v.size_gib} * 1024 / rate);
  const std::int64_t elapsed_s = std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::seconds>(now - v.create_time.value_or(now)).count());
  VolumeInitialization out{
      .type = provisioned ? "provisioned-rate" : "default",
      .progress = static_cast<int>(std::min<std::int64_t>(100, elapsed_s * 100 / total_s))};
  if (provisioned) out.estimated_seconds_left = std::max<std::int64_t>(0, total_s - elapsed_s);
  return out;
}

bool valid_device_name(std::string_view d) {
  std::string_view rest;
  if (d.starts_with("/dev/sd")) {
    rest = d.substr(7);
  } else if (d.starts_with("/dev/xvd")) {
    rest = d.substr(8);
  } else {
    return false;
  }
  if (rest.empty() || rest.size() > 3) return false;
  return std::ranges::all_of(rest, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }) &&
         rest.front() >= 'a' && rest.front() <= 'z';
}

}  // namespace

struct FakeEc2::State {
  FakeEc2Options options;
  mutable std::mutex mutex;
  std::uint64_t next_id = 0x1000;

  struct VolumeRecord {
    Volume volume;
    TimePoint due{};  // when its transitional state moves on (Progress::Clock)
  };
  struct SnapshotRecord {
    Snapshot snapshot;
    TimePoint due{};
    bool copy = false;  // made by CopySnapshot: counts against the pending-copy limit
  };
  struct TokenRecord {
    std::string fingerprint;
    Volume response;
  };
  std::vector<VolumeRecord> volumes;  // creation order
  std::vector<SnapshotRecord> snapshots;
  std::vector<Instance> instances;  // block_device_mappings filled in when described
  std::map<std::string, TokenRecord> tokens;

  std::vector<std::string> calls;
  std::map<std::string, std::deque<Error>> failures;
  std::set<std::string> lost;
  std::set<std::string> denied;
  std::map<std::string, std::string> tag_conditioned;  // action → the tag key its grant requires
  std::set<std::string> dry_run_served;
  std::function<void(std::string_view)> hook;
  std::map<std::string, const FakeEc2*> source_regions;  // add_source_region
  std::vector<CopySnapshotOptions> copy_requests;

  explicit State(FakeEc2Options o) : options(std::move(o)), next_id(options.first_id) {}

  TimePoint now() const {
    return options.clock != nullptr ? options.clock->now() : std::chrono::system_clock::now();
  }
  std::string make_id(std::string_view prefix) { return fmt::format("{}-{:017x}", prefix, next_id++); }

  VolumeRecord* find_volume(const VolumeId& id) {
    auto it = std::ranges::find_if(volumes, [&](const VolumeRecord& r) { return r.volume.id == id; });
    return it == volumes.end() ? nullptr : &*it;
  }
  SnapshotRecord* find_snapshot(const SnapshotId& id) {
    auto it = std::ranges::find_if(snapshots, [&](const SnapshotRecord& r) { return r.snapshot.id == id; });
    return it == snapshots.end() ? nullptr : &*it;
  }
  Instance* find_instance(const InstanceId& id) {
    auto it = std::ranges::find_if(instances, [&](const Instance& i) { return i.id == id; });
    return it == instances.end() ? nullptr : &*it;
  }

  TimePoint due_in(std::chrono::milliseconds d) const { return now() + d; }

  // Moves one volume one step; true when something changed.
  bool step_volume(std::size_t index) {
    Volume& v = volumes[index].volume;
    switch (v.state) {
      case VolumeState::Creating:
        v.state = VolumeState::Available;
        return true;
      case VolumeState::Deleting:
        volumes.erase(volumes.begin() + static_cast<std::ptrdiff_t>(index));
        return true;
      default:
        break;
    }
    for (auto it = v.attachments.begin(); it != v.attachments.end(); ++it) {
      if (it->state == AttachmentState::Attaching) {
        it->state = AttachmentState::Attached;
        return true;
      }
      if (it->state == AttachmentState::Detaching) {
        v.attachments.erase(it);
        if (v.attachments.empty()) v.state = VolumeState::Available;
        return true;
      }
    }
    return false;
  }

  bool step_snapshot(SnapshotRecord& r) {
    if (r.snapshot.state != SnapshotState::Pending) return false;
    r.snapshot.state = SnapshotState::Completed;
    r.snapshot.progress = 100;
    return true;
  }

  // One step for everything (Progress::OnDescribe and step()); for Progress::Clock only what is due.
  bool step_all(bool only_due) {
    bool changed = false;
    const TimePoint t = now();
    for (std::size_t i = 0; i < volumes.size();) {
      const std::size_t before = volumes.size();
      if (!only_due || volumes[i].due <= t) changed = step_volume(i) || changed;
      if (volumes.size() == before) ++i;
    }
    for (auto& s : snapshots) {
      if (!only_due || s.due <= t) changed = step_snapshot(s) || changed;
    }
    return changed;
  }

  void apply_due() {
    if (options.progress != FakeEc2Options::Progress::Clock) return;
    // A resource whose due time passed long ago may need several steps (attaching after
    // creating); give each its own step per elapsed due time by repeating until stable.
    for (int i = 0; i < 4 && step_all(true); ++i) {
    }
  }

  void after_describe() {
    if (options.progress == FakeEc2Options::Progress::OnDescribe) step_all(false);
  }

  bool transitional() const {
    for (const auto& r : volumes) {
      if (r.volume.state == VolumeState::Creating || r.volume.state == VolumeState::Deleting) return true;
      for (const auto& a : r.volume.attachments) {
        if (a.state == AttachmentState::Attaching || a.state == AttachmentState::Detaching) return true;
      }
    }
    return std::ranges::any_of(
        snapshots, [](const SnapshotRecord& s) { return s.snapshot.state == SnapshotState::Pending; });
  }

  // The common entry of every action: call log, hook, due transitions, injected failures,
  // IAM and DryRun. `resources`: the volumes and snapshots the call names, for a grant
  // conditioned on a tag of theirs (require_resource_tag).
  std::optional<Error> enter(const std::string& action, bool dry_run,
                             const std::vector<std::string>& resources = {}) {
    std::function<void(std::string_view)> h;
    {
      std::lock_guard lock(mutex);
      calls.push_back(action);
      h = hook;
    }
    if (h) h(action);
    std::lock_guard lock(mutex);
    apply_due();
    if (auto it = failures.find(action); it != failures.end() && !it->second.empty()) {
      Error e = it->second.front();
      it->second.pop_front();
      if (!e.aws_code.empty()) e.kind = kind_for_aws_error(e.aws_code, e.message, e.http_status);
      return e;
    }
    if (denied.contains(action)) {
      return ec2_error("UnauthorizedOperation", "You are not authorized to perform this operation.", 403);
    }
    if (auto it = tag_conditioned.find(action); it != tag_conditioned.end()) {
      for (const auto& id : resources) {
        // A resource that does not exist has no tags for IAM to see.
        const auto* tags = resource_tags(id);
        if (tags == nullptr || !find_tag(*tags, it->second)) {
          return ec2_error("UnauthorizedOperation", "You are not authorized to perform this operation.", 403);
        }
      }
    }
    if (dry_run && !dry_run_served.contains(action))
      return ec2_error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412);
    return std::nullopt;
  }

  template <class T>
  Result<T> finish(const std::string& action, Result<T> r) {
    std::lock_guard lock(mutex);
    if (r && lost.erase(action) > 0) {
      Error e;
      e.kind = ErrorKind::Network;
      e.message = action + ": connection reset by peer after the request was sent (injected)";
      e.maybe_applied = true;
      return std::unexpected(std::move(e));
    }
    return r;
  }

  Instance described_instance(const Instance& base) const {
    Instance i = base;
    i.block_device_mappings.clear();
    for (const auto& r : volumes) {
      for (const auto& a : r.volume.attachments) {
        if (a.instance_id == i.id) {
          i.block_device_mappings.push_back(
              InstanceBlockDevice{.device_name = a.device,
                                  .volume_id = r.volume.id,
                                  .state = a.state,
                                  .delete_on_termination = a.delete_on_termination});
        }
      }
    }
    return i;
  }

  std::optional<Error> check_filters(const std::vector<Filter>& filters,
                                     std::initializer_list<std::string_view> known) {
    for (const auto& f : filters) {
      if (f.name.starts_with("tag:") || f.name == "tag-key" || f.name == "tag-value") continue;
      if (std::ranges::find(known, f.name) == known.end()) {
        return ec2_error("InvalidParameterValue", "The filter '" + f.name + "' is invalid");
      }
    }
    return std::nullopt;
  }

  static bool volume_matches(const Volume& v, const Filter& f) {
    if (auto t = match_tag_filter(f, v.tags)) return *t;
    std::vector<std::string> values;
    if (f.name == "volume-id") return any_matches(f, v.id.value);
    if (f.name == "status") return any_matches(f, to_string(v.state));
    if (f.name == "availability-zone") return any_matches(f, v.availability_zone);
    if (f.name == "size") return any_matches(f, std::to_string(v.size_gib));
    if (f.name == "volume-type") return any_matches(f, v.volume_type);
    if (f.name == "encrypted") return any_matches(f, bool_str(v.encrypted));
    if (f.name == "snapshot-id") return any_matches(f, v.snapshot_id ? v.snapshot_id->value : std::string());
    for (const auto& a : v.attachments) {
      if (f.name == "attachment.instance-id") values.push_back(a.instance_id.value);
      if (f.name == "attachment.device") values.push_back(a.device);
      if (f.name == "attachment.status") values.emplace_back(to_string(a.state));
      if (f.name == "attachment.delete-on-termination")
        values.emplace_back(bool_str(a.delete_on_termination));
    }
    return any_matches(f, values);
  }

  static bool snapshot_matches(const Snapshot& s, const Filter& f) {
    if (auto t = match_tag_filter(f, s.tags)) return *t;
    if (f.name == "snapshot-id") return any_matches(f, s.id.value);
    if (f.name == "volume-id") return any_matches(f, s.volume_id.value);
    if (f.name == "status") return any_matches(f, to_string(s.state));
    if (f.name == "owner-id") return any_matches(f, s.owner_id);
    if (f.name == "description") return any_matches(f, s.description);
    if (f.name == "progress") return any_matches(f, std::to_string(s.progress) + "%");
    if (f.name == "volume-size") return any_matches(f, std::to_string(s.volume_size_gib));
    if (f.name == "encrypted") return any_matches(f, bool_str(s.encrypted));
    return false;
  }

  static bool instance_matches(const Instance& i, const Filter& f) {
    if (auto t = match_tag_filter(f, i.tags)) return *t;
    if (f.name == "instance-id") return any_matches(f, i.id.value);
    if (f.name == "availability-zone") return any_matches(f, i.availability_zone);
    if (f.name == "instance-state-name") return any_matches(f, i.state);
    if (f.name == "instance-type") return any_matches(f, i.instance_type);
    std::vector<std::string> values;
    for (const auto& m : i.block_device_mappings) {
      if (f.name == "block-device-mapping.volume-id") values.push_back(m.volume_id.value);
      if (f.name == "block-device-mapping.device-name") values.push_back(m.device_name);
      if (f.name == "block-device-mapping.status") values.emplace_back(to_string(m.state));
    }
    return any_matches(f, values);
  }

  bool resource_exists(const std::string& id) {
    if (id.starts_with("vol-")) return find_volume(VolumeId{id}) != nullptr;
    if (id.starts_with("snap-")) return find_snapshot(SnapshotId{id}) != nullptr;
    if (id.starts_with("i-")) return find_instance(InstanceId{id}) != nullptr;
    return false;
  }

  std::vector<Tag>* resource_tags(const std::string& id) {
    if (auto* v = id.starts_with("vol-") ? find_volume(VolumeId{id}) : nullptr) return &v->volume.tags;
    if (auto* s = id.starts_with("snap-") ? find_snapshot(SnapshotId{id}) : nullptr) return &s->snapshot.tags;
    if (auto* i = id.starts_with("i-") ? find_instance(InstanceId{id}) : nullptr) return &i->tags;
    return nullptr;
  }

  static Error not_found(const std::string& id) {
    if (id.starts_with("vol-"))
      return ec2_error("InvalidVolume.NotFound", "The volume '" + id + "' does not exist.");
    if (id.starts_with("snap-")) {
      return ec2_error("InvalidSnapshot.NotFound", "The snapshot '" + id + "' does not exist.");
    }
    if (id.starts_with("i-")) {
      return ec2_error("InvalidInstanceID.NotFound", "The instance ID '" + id + "' does not exist");
    }
    return ec2_error("InvalidID", "The ID '" + id + "' is not valid");
  }

  bool known_zone(std::string_view az) const {
    return az.size() == options.region.size() + 1 && az.starts_with(options.region) && az.back() >= 'a' &&
           az.back() <= 'z';
  }

  std::optional<Error> check_page_size(std::optional<int> max_results, bool has_ids, int low, int high) {
    if (!max_results) return std::nullopt;
    if (has_ids) {
      return ec2_error("InvalidParameterCombination",
                       "The parameter ids cannot be used with the parameter maxResults");
    }
    if (*max_results < low || *max_results > high) {
      return ec2_error("InvalidParameterValue",
                       fmt::format("Value ( {} ) for parameter maxResults is invalid. "
                                   "Expecting a value between {} and {}.",
                                   *max_results, low, high));
    }
    return std::nullopt;
  }
};

FakeEc2::FakeEc2(FakeEc2Options options) : state_(std::make_unique<State>(std::move(options))) {}
FakeEc2::~FakeEc2() = default;

// --- Describe ---

Result<std::vector<Snapshot>> FakeEc2::describe_snapshots(const DescribeSnapshotsOptions& o) {
  if (auto e = state_->enter("DescribeSnapshots", o.dry_run)) return std::unexpected(*e);
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (auto e = s.check_page_size(o.max_results, !o.snapshot_ids.empty(), 5, 1000)) return std::unexpected(*e);
  if (auto e = s.check_filters(o.filters, {"snapshot-id", "volume-id", "status", "owner-id", "description",
                                           "progress", "volume-size", "encrypted"})) {
    return std::unexpected(*e);
  }
  for (const auto& id : o.snapshot_ids) {
    if (s.find_snapshot(id) == nullptr) return std::unexpected(State::not_found(id.value));
  }
  std::vector<Snapshot> out;
  for (const auto& r : s.snapshots) {
    const Snapshot& snap = r.snapshot;
    if (!o.snapshot_ids.empty() && std::ranges::find(o.snapshot_ids, snap.id) == o.snapshot_ids.end())
      continue;
    if (!o.owner_ids.empty() && std::ranges::none_of(o.owner_ids, [&](const std::string& owner) {
          return owner == snap.owner_id || (owner == "self" && snap.owner_id == s.options.account_id);
        })) {
      continue;
    }
    if (!std::ranges::all_of(o.filters, [&](const Filter& f) { return State::snapshot_matches(snap, f); }))
      continue;
    out.push_back(snap);
  }
  s.after_describe();
  return out;
}

Result<std::vector<Volume>> FakeEc2::describe_volumes(const DescribeVolumesOptions& o) {
  if (auto e = state_->enter("DescribeVolumes", o.dry_run)) return std::unexpected(*e);
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (auto e = s.check_page_size(o.max_results, !o.volume_ids.empty(), 5, 500)) return std::unexpected(*e);
  if (auto e = s.check_filters(
          o.filters, {"volume-id", "status", "availability-zone", "size", "volume-type", "encrypted",
                      "snapshot-id", "attachment.instance-id", "attachment.device", "attachment.status",
                      "attachment.delete-on-termination"})) {
    return std::unexpected(*e);
  }
  for (const auto& id : o.volume_ids) {
    if (s.find_volume(id) == nullptr) return std::unexpected(State::not_found(id.value));
  }
  std::vector<Volume> out;
  for (const auto& r : s.volumes) {
    const Volume& v = r.volume;
    if (!o.volume_ids.empty() && std::ranges::find(o.volume_ids, v.id) == o.volume_ids.end()) continue;
    if (!std::ranges::all_of(o.filters, [&](const Filter& f) { return State::volume_matches(v, f); }))
      continue;
    out.push_back(v);
  }
  s.after_describe();
  return out;
}

Result<std::vector<Instance>> FakeEc2::describe_instances(const DescribeInstancesOptions& o) {
  if (auto e = state_->enter("DescribeInstances", o.dry_run)) return std::unexpected(*e);
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (auto e = s.check_page_size(o.max_results, !o.instance_ids.empty(), 5, 1000)) return std::unexpected(*e);
  if (auto e =
          s.check_filters(o.filters, {"instance-id", "availability-zone", "instance-state-name",
                                      "instance-type", "block-device-mapping.volume-id",
                                      "block-device-mapping.device-name", "block-device-mapping.status"})) {
    return std::unexpected(*e);
  }
  for (const auto& id : o.instance_ids) {
    if (s.find_instance(id) == nullptr) return std::unexpected(State::not_found(id.value));
  }
  std::vector<Instance> out;
  for (const auto& base : s.instances) {
    if (!o.instance_ids.empty() && std::ranges::find(o.instance_ids, base.id) == o.instance_ids.end())
      continue;
    Instance i = s.described_instance(base);
    if (!std::ranges::all_of(o.filters, [&](const Filter& f) { return State::instance_matches(i, f); }))
      continue;
    out.push_back(std::move(i));
  }
  s.after_describe();
  return out;
}

Result<std::vector<VolumeStatusItem>> FakeEc2::describe_volume_status(const DescribeVolumeStatusOptions& o) {
  if (auto e = state_->enter("DescribeVolumeStatus", o.dry_run)) return std::unexpected(*e);
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (auto e = s.check_page_size(o.max_results, !o.volume_ids.empty(), 5, 1000)) return std::unexpected(*e);
  for (const auto& id : o.volume_ids) {
    if (s.find_volume(id) == nullptr) return std::unexpected(State::not_found(id.value));
  }
  std::vector<VolumeStatusItem> out;
  for (const auto& r : s.volumes) {
    const Volume& v = r.volume;
    if (!o.volume_ids.empty() && std::ranges::find(o.volume_ids, v.id) == o.volume_ids.end()) continue;
    VolumeStatusItem item{.volume_id = v.id, .status = "ok"};
    if (v.snapshot_id) item.initialization = initialization_at(v, s.now());
    out.push_back(std::move(item));
  }
  s.after_describe();
  return out;
}

// --- volumes ---

Result<Volume> FakeEc2::create_volume(const CreateVolumeOptions& o) {
  if (auto e = state_->enter("CreateVolume", o.dry_run)) return std::unexpected(*e);
  auto result = [&]() -> Result<Volume> {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    const std::string fingerprint =
        fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", o.availability_zone, o.size_gib.value_or(-1),
                    o.snapshot_id ? o.snapshot_id->value : "", o.volume_type, o.iops.value_or(-1),
                    o.throughput.value_or(-1), o.encrypted ? bool_str(*o.encrypted) : "", o.kms_key_id,
                    o.tag_specifications.size(), o.initialization_rate.value_or(-1));
    if (!o.client_token.empty()) {
      if (auto it = s.tokens.find(o.client_token); it != s.tokens.end()) {
        if (it->second.fingerprint != fingerprint) {
          return ec2_fail<Volume>("IdempotentParameterMismatch",
                                  "The client token you have provided is associated with a resource that has "
                                  "different parameters.");
        }
        // EC2 answers with the volume the token is bound to, even if it was deleted since.
        if (auto* r = s.find_volume(it->second.response.id)) return r->volume;
        Volume gone = it->second.response;
        gone.state = VolumeState::Deleted;
        return gone;
      }
    }
    if (o.availability_zone.empty()) {
      return ec2_fail<Volume>("MissingParameter", "The request must contain the parameter AvailabilityZone");
    }
    if (!s.known_zone(o.availability_zone)) {
      return ec2_fail<Volume>("InvalidParameterValue",
                              "Invalid availability zone: [" + o.availability_zone + "]");
    }
    if (!o.size_gib && !o.snapshot_id) {
      return ec2_fail<Volume>("MissingParameter",
                              "The request must contain the parameter size or snapshotId");
    }
    if (o.initialization_rate) {
      if (!o.snapshot_id) {
        return ec2_fail<Volume>(
            "InvalidParameterCombination",
            "The parameter VolumeInitializationRate is only supported for volumes created "
            "from snapshots.");
      }
      if (*o.initialization_rate < 100 || *o.initialization_rate > 300) {
        return ec2_fail<Volume>("InvalidParameterValue",
                                fmt::format("Value ({}) for parameter volumeInitializationRate is invalid. "
                                            "Expected a value between 100 and 300 MiB/s.",
                                            *o.initialization_rate));
      }
    }
    Volume v;
    v.availability_zone = o.availability_zone;
    v.volume_type = o.volume_type.empty() ? "gp2" : o.volume_type;
    if (o.snapshot_id) {
      auto* snap = s.find_snapshot(*o.snapshot_id);
      if (snap == nullptr) return std::unexpected(State::not_found(o.snapshot_id->value));
      if (snap->snapshot.state != SnapshotState::Completed) {
        return ec2_fail<Volume>("IncorrectState", "Snapshot '" + o.snapshot_id->value +
                                                      "' is in invalid state - " +
                                                      std::string(to_string(snap->snapshot.state)));
      }
      v.snapshot_id = *o.snapshot_id;
      v.fast_restored = false;
      v.initialization_rate = o.initialization_rate;
      v.size_gib = snap->snapshot.volume_size_gib;
      v.encrypted = snap->snapshot.encrypted;
      v.kms_key_id = snap->snapshot.kms_key_id;
    }
    if (o.size_gib) {
      if (*o.size_gib < 1 || *o.size_gib > 16384) {
        return ec2_fail<Volume>("InvalidParameterValue",
                                fmt::format("Volume size {} is out of range", *o.size_gib));
      }
      if (o.snapshot_id && *o.size_gib < v.size_gib) {
        return ec2_fail<Volume>(
            "InvalidParameterValue",
            fmt::format("Volume of {}GiB is smaller than snapshot '{}', expect size >= {}GiB", *o.size_gib,
                        o.snapshot_id->value, v.size_gib));
      }
      v.size_gib = *o.size_gib;
    }
    if ((v.volume_type == "io1" || v.volume_type == "io2") && !o.iops) {
      return ec2_fail<Volume>("MissingParameter",
                              "The parameter iops must be specified for " + v.volume_type + " volumes.");
    }
    if (o.iops && v.volume_type != "io1" && v.volume_type != "io2" && v.volume_type != "gp3") {
      return ec2_fail<Volume>("InvalidParameterCombination",
                              "The parameter iops is not supported for " + v.volume_type + " volumes.");
    }
    if (o.throughput && v.volume_type != "gp3") {
      return ec2_fail<Volume>("InvalidParameterCombination",
                              "The parameter throughput is not supported for " + v.volume_type + " volumes.");
    }
    v.iops = o.iops ? o.iops : (v.volume_type == "gp3" ? std::optional<int>(3000) : std::nullopt);
    v.throughput =
        o.throughput ? o.throughput : (v.volume_type == "gp3" ? std::optional<int>(125) : std::nullopt);
    if (o.encrypted) v.encrypted = v.encrypted || *o.encrypted;
    if (!o.kms_key_id.empty()) {
      if (!v.encrypted) {
        return ec2_fail<Volume>("InvalidParameterDependency", "KmsKeyId requires Encrypted to be true");
      }
      v.kms_key_id = o.kms_key_id;
    }
    auto tags = tags_for(o.tag_specifications, "volume");
    if (!tags) return std::unexpected(tags.error());
    v.tags = std::move(*tags);
    v.id = VolumeId{s.make_id("vol")};
    v.state = VolumeState::Creating;
    v.create_time = s.now();
    s.volumes.push_back(State::VolumeRecord{.volume = v, .due = s.due_in(s.options.volume_create_delay)});
    if (!o.client_token.empty()) s.tokens[o.client_token] = State::TokenRecord{fingerprint, v};
    return v;
  }();
  return state_->finish("CreateVolume", std::move(result));
}

Result<VolumeAttachment> FakeEc2::attach_volume(const AttachVolumeOptions& o) {
  if (auto e = state_->enter("AttachVolume", o.dry_run, {o.volume_id.value})) return std::unexpected(*e);
  auto result = [&]() -> Result<VolumeAttachment> {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    auto* r = s.find_volume(o.volume_id);
    if (r == nullptr) return std::unexpected(State::not_found(o.volume_id.value));
    auto* inst = s.find_instance(o.instance_id);
    if (inst == nullptr) return std::unexpected(State::not_found(o.instance_id.value));
    Volume& v = r->volume;
    // EC2's order of checks: attached, state, zone, device name, device taken, instance state.
    if (v.state == VolumeState::InUse || !v.attachments.empty()) {
      return ec2_fail<VolumeAttachment>("VolumeInUse", v.id.value + " is already attached to an instance");
    }
    if (v.state != VolumeState::Available) {
      return ec2_fail<VolumeAttachment>("IncorrectState", v.id.value + " is not 'available'.");
    }
    if (v.availability_zone != inst->availability_zone) {
      return ec2_fail<VolumeAttachment>("InvalidVolume.ZoneMismatch",
                                        "The volume '" + v.id.value +
                                            "' is not in the same availability zone as "
                                            "instance '" +
                                            inst->id.value + "'");
    }
    if (!valid_device_name(o.device)) {
      return ec2_fail<VolumeAttachment>(
          "InvalidParameterValue", "Value (" + o.device + ") for parameter device is invalid. " + o.device +
                                       " is not a valid EBS device name.");
    }
    for (const auto& other : s.volumes) {
      for (const auto& a : other.volume.attachments) {
        if (a.instance_id == o.instance_id && a.device == o.device) {
          return ec2_fail<VolumeAttachment>(
              "InvalidParameterValue", "Invalid value '" + o.device + "' for unixDevice. Attachment point " +
                                           o.device + " is already in use");
        }
      }
    }
    if (inst->state != "running" && inst->state != "stopped") {
      return ec2_fail<VolumeAttachment>("IncorrectState",
                                        "Instance '" + inst->id.value + "' is not 'running'.");
    }
    VolumeAttachment a{.volume_id = v.id,
                       .instance_id = o.instance_id,
                       .device = o.device,
                       .state = AttachmentState::Attaching,
                       .attach_time = s.now(),
                       .delete_on_termination = false};
    v.state = VolumeState::InUse;
    v.attachments.push_back(a);
    r->due = s.due_in(s.options.attach_delay);
    return a;
  }();
  return state_->finish("AttachVolume", std::move(result));
}

Result<VolumeAttachment> FakeEc2::detach_volume(const DetachVolumeOptions& o) {
  if (auto e = state_->enter("DetachVolume", o.dry_run, {o.volume_id.value})) return std::unexpected(*e);
  auto result = [&]() -> Result<VolumeAttachment> {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    auto* r = s.find_volume(o.volume_id);
    if (r == nullptr) return std::unexpected(State::not_found(o.volume_id.value));
    Volume& v = r->volume;
    if (v.attachments.empty()) {
      return ec2_fail<VolumeAttachment>("IncorrectState", "Volume '" + v.id.value + "' is in the '" +
                                                              std::string(to_string(v.state)) + "' state.");
    }
    VolumeAttachment& a = v.attachments.front();
    if (a.state == AttachmentState::Detaching) {
      return ec2_fail<VolumeAttachment>("IncorrectState",
                                        "Volume '" + v.id.value + "' is in the 'detaching' state.");
    }
    if ((o.instance_id && *o.instance_id != a.instance_id) || (!o.device.empty() && o.device != a.device)) {
      return ec2_fail<VolumeAttachment>(
          "InvalidAttachment.NotFound",
          "The volume '" + v.id.value + "' is not attached to that instance/device");
    }
    if (auto* inst = s.find_instance(a.instance_id);
        inst != nullptr && inst->root_device_name == a.device && inst->state == "running") {
      return ec2_fail<VolumeAttachment>(
          "IncorrectState",
          "Unable to detach root volume '" + v.id.value + "' from instance '" + a.instance_id.value + "'");
    }
    a.state = AttachmentState::Detaching;
    r->due = s.due_in(s.options.detach_delay);
    return a;
  }();
  return state_->finish("DetachVolume", std::move(result));
}

Result<void> FakeEc2::delete_volume(const DeleteVolumeOptions& o) {
  if (auto e = state_->enter("DeleteVolume", o.dry_run, {o.volume_id.value})) return std::unexpected(*e);
  auto result = [&]() -> Result<void> {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    auto* r = s.find_volume(o.volume_id);
    if (r == nullptr) return std::unexpected(State::not_found(o.volume_id.value));
    if (!r->volume.attachments.empty()) {
      return std::unexpected(ec2_error("VolumeInUse", "Volume " + o.volume_id.value +
                                                          " is currently attached to " +
                                                          r->volume.attachments.front().instance_id.value));
    }
    if (r->volume.state != VolumeState::Deleting) {
      r->volume.state = VolumeState::Deleting;
      r->due = s.due_in(s.options.volume_delete_delay);
    }
    return {};
  }();
  return state_->finish("DeleteVolume", std::move(result));
}

// --- snapshots ---

Result<Snapshot> FakeEc2::create_snapshot(const CreateSnapshotOptions& o) {
  if (auto e = state_->enter("CreateSnapshot", o.dry_run)) return std::unexpected(*e);
  auto result = [&]() -> Result<Snapshot> {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    auto* r = s.find_volume(o.volume_id);
    if (r == nullptr) return std::unexpected(State::not_found(o.volume_id.value));
    if (r->volume.state == VolumeState::Creating || r->volume.state == VolumeState::Deleting ||
        r->volume.state == VolumeState::Error) {
      return ec2_fail<Snapshot>("IncorrectState", "Volume '" + o.volume_id.value + "' is in the '" +
                                                      std::string(to_string(r->volume.state)) + "' state.");
    }
    auto tags = tags_for(o.tag_specifications, "snapshot");
    if (!tags) return std::unexpected(tags.error());
    Snapshot snap{.id = SnapshotId{s.make_id("snap")},
                  .volume_id = o.volume_id,
                  .state = SnapshotState::Pending,
                  .progress = 0,
                  .start_time = s.now(),
                  .owner_id = s.options.account_id,
                  .description = o.description,
                  .volume_size_gib = r->volume.size_gib,
                  .encrypted = r->volume.encrypted,
                  .kms_key_id = r->volume.kms_key_id,
                  .state_message = {},
                  .tags = std::move(*tags)};
    s.snapshots.push_back(State::SnapshotRecord{.snapshot = snap, .due = s.due_in(s.options.snapshot_delay)});
    return snap;
  }();
  return state_->finish("CreateSnapshot", std::move(result));
}

Result<std::vector<Snapshot>> FakeEc2::create_snapshots(const CreateSnapshotsOptions& o) {
  if (auto e = state_->enter("CreateSnapshots", o.dry_run)) return std::unexpected(*e);
  auto result = [&]() -> Result<std::vector<Snapshot>> {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    auto* inst = s.find_instance(o.instance_id);
    if (inst == nullptr) return std::unexpected(State::not_found(o.instance_id.value));
    auto spec_tags = tags_for(o.tag_specifications, "snapshot");
    if (!spec_tags) return std::unexpected(spec_tags.error());
    if (!o.copy_tags_from_source.empty() && o.copy_tags_from_source != "volume") {
      return ec2_fail<std::vector<Snapshot>>(
          "InvalidParameterValue",
          "Value (" + o.copy_tags_from_source + ") for CopyTagsFromSource is invalid");
    }
    for (const auto& excluded : o.instance_specification.exclude_data_volume_ids) {
      auto* r = s.find_volume(excluded);
      if (r == nullptr) return std::unexpected(State::not_found(excluded.value));
      const bool on_instance = std::ranges::any_of(
          r->volume.attachments, [&](const VolumeAttachment& a) { return a.instance_id == o.instance_id; });
      if (!on_instance) {
        return ec2_fail<std::vector<Snapshot>>(
            "InvalidParameterValue",
            "The volume '" + excluded.value + "' is not attached to instance '" + o.instance_id.value + "'");
      }
    }
    std::vector<Snapshot> out;
    const TimePoint start = s.now();
    std::vector<State::SnapshotRecord> created;
    for (const auto& r : s.volumes) {
      const auto& v = r.volume;
      auto a = std::ranges::find_if(v.attachments, [&](const VolumeAttachment& x) {
        return x.instance_id == o.instance_id && x.state == AttachmentState::Attached;
      });
      if (a == v.attachments.end()) continue;
      if (o.instance_specification.exclude_boot_volume && a->device == inst->root_device_name) continue;
      if (std::ranges::find(o.instance_specification.exclude_data_volume_ids, v.id) !=
          o.instance_specification.exclude_data_volume_ids.end()) {
        continue;
      }
      std::vector<Tag> tags;
      if (o.copy_tags_from_source == "volume") upsert_tags(tags, v.tags);
      upsert_tags(tags, *spec_tags);
      Snapshot snap{.id = SnapshotId{s.make_id("snap")},
                    .volume_id = v.id,
                    .state = SnapshotState::Pending,
                    .progress = 0,
                    .start_time = start,  // one point in time for all of them
                    .owner_id = s.options.account_id,
                    .description = o.description,
                    .volume_size_gib = v.size_gib,
                    .encrypted = v.encrypted,
                    .kms_key_id = v.kms_key_id,
                    .state_message = {},
                    .tags = std::move(tags)};
      out.push_back(snap);
      created.push_back(
          State::SnapshotRecord{.snapshot = std::move(snap), .due = s.due_in(s.options.snapshot_delay)});
    }
    for (auto& c : created) s.snapshots.push_back(std::move(c));
    return out;
  }();
  return state_->finish("CreateSnapshots", std::move(result));
}

Result<void> FakeEc2::delete_snapshot(const DeleteSnapshotOptions& o) {
  if (auto e = state_->enter("DeleteSnapshot", o.dry_run, {o.snapshot_id.value})) return std::unexpected(*e);
  auto result = [&]() -> Result<void> {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    auto it = std::ranges::find_if(
        s.snapshots, [&](const State::SnapshotRecord& r) { return r.snapshot.id == o.snapshot_id; });
    if (it == s.snapshots.end()) return std::unexpected(State::not_found(o.snapshot_id.value));
    if (it->snapshot.owner_id != s.options.account_id) {
      return std::unexpected(
          ec2_error("UnauthorizedOperation", "You do not own snapshot " + o.snapshot_id.value, 403));
    }
    s.snapshots.erase(it);
    return {};
  }();
  return state_->finish("DeleteSnapshot", std::move(result));
}

Result<SnapshotId> FakeEc2::copy_snapshot(const CopySnapshotOptions& o) {
  if (auto e = state_->enter("CopySnapshot", o.dry_run, {o.source_snapshot_id.value})) return std::unexpected(*e);
  // A source in another fake (add_source_region) is read before this fake's lock is taken.
  const FakeEc2* source_fake = nullptr;
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->source_regions.find(o.source_region);
    if (it != state_->source_regions.end()) source_fake = it->second;
  }
  const std::optional<Snapshot> remote =
      source_fake != nullptr ? source_fake->snapshot(o.source_snapshot_id) : std::nullopt;
  auto result = [&]() -> Result<SnapshotId> {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    if (o.source_region.empty()) {
      return ec2_fail<SnapshotId>("MissingParameter", "The request must contain the parameter SourceRegion");
    }
    std::optional<Snapshot> source = remote;
    if (source_fake == nullptr) {
      if (auto* local = s.find_snapshot(o.source_snapshot_id)) source = local->snapshot;
    }
    if (!source) return std::unexpected(State::not_found(o.source_snapshot_id.value));
    if (source->state != SnapshotState::Completed) {
      return ec2_fail<SnapshotId>("IncorrectState", "Snapshot '" + o.source_snapshot_id.value +
                                                        "' is in invalid state - " +
                                                        std::string(to_string(source->state)));
    }
    if (o.completion_duration_minutes &&
        (*o.completion_duration_minutes < 15 || *o.completion_duration_minutes > 2880 ||
         *o.completion_duration_minutes % 15 != 0)) {
      return ec2_fail<SnapshotId>("InvalidParameterValue",
                                  fmt::format("Value ({}) for parameter completionDurationMinutes is invalid",
                                              *o.completion_duration_minutes));
    }
    auto tags = tags_for(o.tag_specifications, "snapshot");
    if (!tags) return std::unexpected(tags.error());
    const auto pending_copies = std::ranges::count_if(s.snapshots, [](const State::SnapshotRecord& r) {
      return r.copy && r.snapshot.state == SnapshotState::Pending;
    });
    if (pending_copies >= k_fake_max_pending_copies) {
      return ec2_fail<SnapshotId>("ResourceLimitExceeded",
                                  fmt::format("You have exceeded the maximum number of concurrent snapshot "
                                              "copies ({}) to region {}.",
                                              k_fake_max_pending_copies, s.options.region));
    }
    s.copy_requests.push_back(o);
    Snapshot copy = *source;
    copy.id = SnapshotId{s.make_id("snap")};
    copy.volume_id = VolumeId{"vol-ffffffff"};  // EC2: "an arbitrary volume ID"
    copy.state = SnapshotState::Pending;
    copy.progress = 0;
    copy.start_time = s.now();
    copy.owner_id = s.options.account_id;
    copy.description = o.description.empty()
                           ? "[Copied " + o.source_snapshot_id.value + " from " + o.source_region + "]"
                           : o.description;
    if (o.encrypted) copy.encrypted = copy.encrypted || *o.encrypted;
    if (!o.kms_key_id.empty()) copy.kms_key_id = o.kms_key_id;
    copy.tags = std::move(*tags);
    const SnapshotId id = copy.id;
    s.snapshots.push_back(State::SnapshotRecord{
        .snapshot = std::move(copy), .due = s.due_in(s.options.snapshot_delay), .copy = true});
    return id;
  }();
  return state_->finish("CopySnapshot", std::move(result));
}

// --- instances ---

Result<void> FakeEc2::modify_instance_attribute(const ModifyInstanceAttributeOptions& o) {
  if (auto e = state_->enter("ModifyInstanceAttribute", o.dry_run)) return std::unexpected(*e);
  auto result = [&]() -> Result<void> {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    if (s.find_instance(o.instance_id) == nullptr)
      return std::unexpected(State::not_found(o.instance_id.value));
    for (auto& r : s.volumes) {
      for (auto& a : r.volume.attachments) {
        if (a.instance_id == o.instance_id && a.device == o.device) {
          a.delete_on_termination = o.delete_on_termination;
          return {};
        }
      }
    }
    return std::unexpected(
        ec2_error("InvalidInstanceAttributeValue", "No device is currently mapped at " + o.device));
  }();
  return state_->finish("ModifyInstanceAttribute", std::move(result));
}

// --- tags ---

Result<void> FakeEc2::create_tags(const CreateTagsOptions& o) {
  if (auto e = state_->enter("CreateTags", o.dry_run, o.resource_ids)) return std::unexpected(*e);
  auto result = [&]() -> Result<void> {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    if (o.resource_ids.empty()) {
      return std::unexpected(
          ec2_error("MissingParameter", "The request must contain the parameter resourceIdSet"));
    }
    if (auto e = validate_tags(o.tags)) return std::unexpected(*e);
    for (const auto& id : o.resource_ids) {
      if (!s.resource_exists(id)) return std::unexpected(State::not_found(id));
    }
    for (const auto& id : o.resource_ids) {
      auto* tags = s.resource_tags(id);
      std::vector<Tag> merged = *tags;
      upsert_tags(merged, o.tags);
      if (merged.size() > 50) {
        return std::unexpected(
            ec2_error("TagLimitExceeded", "The maximum number of tags per resource is 50"));
      }
      *tags = std::move(merged);
    }
    return {};
  }();
  return state_->finish("CreateTags", std::move(result));
}

Result<void> FakeEc2::delete_tags(const DeleteTagsOptions& o) {
  if (auto e = state_->enter("DeleteTags", o.dry_run, o.resource_ids)) return std::unexpected(*e);
  auto result = [&]() -> Result<void> {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    for (const auto& id : o.resource_ids) {
      if (!s.resource_exists(id)) return std::unexpected(State::not_found(id));
    }
    for (const auto& id : o.resource_ids) {
      auto* tags = s.resource_tags(id);
      if (o.tags.empty()) {
        tags->clear();
        continue;
      }
      std::erase_if(*tags, [&](const Tag& t) {
        return std::ranges::any_of(
            o.tags, [&](const DeleteTag& d) { return d.key == t.key && (!d.value || *d.value == t.value); });
      });
    }
    return {};
  }();
  return state_->finish("DeleteTags", std::move(result));
}

// --- scene ---

InstanceId FakeEc2::add_instance(FakeInstanceSpec spec) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  Instance i;
  i.id = spec.id.empty() ? InstanceId{s.make_id("i")} : spec.id;
  i.availability_zone = spec.availability_zone;
  i.state = "running";
  i.instance_type = "m5.large";
  i.root_device_name = spec.root_device_name;
  i.tags = spec.tags;
  if (spec.with_root_volume) {
    Volume root;
    root.id = VolumeId{s.make_id("vol")};
    root.size_gib = 8;
    root.state = VolumeState::InUse;
    root.availability_zone = spec.availability_zone;
    root.volume_type = "gp3";
    root.iops = 3000;
    root.throughput = 125;
    root.create_time = s.now();
    root.attachments.push_back(VolumeAttachment{.volume_id = root.id,
                                                .instance_id = i.id,
                                                .device = spec.root_device_name,
                                                .state = AttachmentState::Attached,
                                                .attach_time = s.now(),
                                                .delete_on_termination = true});
    s.volumes.push_back(State::VolumeRecord{.volume = std::move(root), .due = {}});
  }
  s.instances.push_back(std::move(i));
  return s.instances.back().id;
}

VolumeId FakeEc2::add_volume(Volume volume) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (volume.id.empty()) volume.id = VolumeId{s.make_id("vol")};
  if (volume.state == VolumeState::Unknown) {
    volume.state = volume.attachments.empty() ? VolumeState::Available : VolumeState::InUse;
  }
  for (auto& a : volume.attachments) a.volume_id = volume.id;
  if (!volume.create_time) volume.create_time = s.now();
  const VolumeId id = volume.id;
  s.volumes.push_back(State::VolumeRecord{.volume = std::move(volume), .due = s.now()});
  return id;
}

SnapshotId FakeEc2::add_snapshot(Snapshot snapshot) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (snapshot.id.empty()) snapshot.id = SnapshotId{s.make_id("snap")};
  if (snapshot.owner_id.empty()) snapshot.owner_id = s.options.account_id;
  if (snapshot.state == SnapshotState::Unknown) snapshot.state = SnapshotState::Completed;
  if (snapshot.state == SnapshotState::Completed) snapshot.progress = 100;
  if (!snapshot.start_time) snapshot.start_time = s.now();
  const SnapshotId id = snapshot.id;
  s.snapshots.push_back(State::SnapshotRecord{.snapshot = std::move(snapshot), .due = s.now()});
  return id;
}

std::optional<Volume> FakeEc2::volume(const VolumeId& id) const {
  std::lock_guard lock(state_->mutex);
  auto* r = state_->find_volume(id);
  return r == nullptr ? std::nullopt : std::optional<Volume>(r->volume);
}

void FakeEc2::add_source_region(std::string region, const FakeEc2& source) {
  std::lock_guard lock(state_->mutex);
  state_->source_regions[std::move(region)] = &source;
}

std::vector<CopySnapshotOptions> FakeEc2::copy_requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->copy_requests;
}

std::optional<Snapshot> FakeEc2::snapshot(const SnapshotId& id) const {
  std::lock_guard lock(state_->mutex);
  auto* r = state_->find_snapshot(id);
  return r == nullptr ? std::nullopt : std::optional<Snapshot>(r->snapshot);
}

std::optional<Instance> FakeEc2::instance(const InstanceId& id) const {
  std::lock_guard lock(state_->mutex);
  auto* i = state_->find_instance(id);
  return i == nullptr ? std::nullopt : std::optional<Instance>(state_->described_instance(*i));
}

std::vector<Volume> FakeEc2::volumes() const {
  std::lock_guard lock(state_->mutex);
  std::vector<Volume> out;
  for (const auto& r : state_->volumes) out.push_back(r.volume);
  return out;
}

std::vector<Snapshot> FakeEc2::snapshots() const {
  std::lock_guard lock(state_->mutex);
  std::vector<Snapshot> out;
  for (const auto& r : state_->snapshots) out.push_back(r.snapshot);
  return out;
}

std::vector<std::string> FakeEc2::calls() const {
  std::lock_guard lock(state_->mutex);
  return state_->calls;
}

int FakeEc2::call_count(std::string_view action) const {
  std::lock_guard lock(state_->mutex);
  return static_cast<int>(std::ranges::count(state_->calls, action));
}

void FakeEc2::step() {
  std::lock_guard lock(state_->mutex);
  state_->step_all(false);
}

void FakeEc2::settle() {
  std::lock_guard lock(state_->mutex);
  while (state_->transitional()) state_->step_all(false);
}

void FakeEc2::fail_next(std::string action, Error error, int times) {
  std::lock_guard lock(state_->mutex);
  if (error.http_status == 0) error.http_status = error.kind == ErrorKind::ServerError ? 500 : 400;
  for (int i = 0; i < times; ++i) state_->failures[action].push_back(error);
}

void FakeEc2::lose_next_response(std::string action) {
  std::lock_guard lock(state_->mutex);
  state_->lost.insert(std::move(action));
}

void FakeEc2::deny(std::string action) {
  std::lock_guard lock(state_->mutex);
  state_->denied.insert(std::move(action));
}

void FakeEc2::require_resource_tag(std::string action, std::string tag_key) {
  std::lock_guard lock(state_->mutex);
  state_->tag_conditioned[std::move(action)] = std::move(tag_key);
}

void FakeEc2::serve_dry_run(std::string action) {
  std::lock_guard lock(state_->mutex);
  state_->dry_run_served.insert(std::move(action));
}

void FakeEc2::on_call(std::function<void(std::string_view action)> hook) {
  std::lock_guard lock(state_->mutex);
  state_->hook = std::move(hook);
}

}  // namespace ec2
