#include "bench/fleet/account.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <expected>
#include <functional>
#include <iterator>
#include <random>
#include <set>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "ec2/testing/fake_ec2.h"

namespace fleet {
namespace {

using ec2::Filter;
using ec2::Tag;
using ec2::TimePoint;
using Index = std::uint32_t;

// --- XML ---

// A value written into the XML answer, escaped ("fmt::format("{}", Esc{s})").
struct Esc {
  std::string_view s;
};

}  // namespace
}  // namespace fleet

template <>
struct fmt::formatter<fleet::Esc> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class Ctx>
  auto format(const fleet::Esc& e, Ctx& ctx) const {
    // Runs without a special character are written whole (most values have none).
    auto out = ctx.out();
    std::string_view rest = e.s;
    for (std::size_t at = rest.find_first_of("&<>\"'"); at != std::string_view::npos;
         at = rest.find_first_of("&<>\"'")) {
      out = fmt::format_to(out, "{}", rest.substr(0, at));
      switch (rest[at]) {
        case '&':
          out = fmt::format_to(out, "&amp;");
          break;
        case '<':
          out = fmt::format_to(out, "&lt;");
          break;
        case '>':
          out = fmt::format_to(out, "&gt;");
          break;
        case '"':
          out = fmt::format_to(out, "&quot;");
          break;
        default:
          out = fmt::format_to(out, "&apos;");
      }
      rest.remove_prefix(at + 1);
    }
    return fmt::format_to(out, "{}", rest);
  }
};

namespace fleet {
namespace {

constexpr std::string_view k_xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/";

using Buffer = fmt::memory_buffer;

template <class... Args>
void put(Buffer& b, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(fmt::appender(b), f, std::forward<Args>(args)...);
}

std::string_view bool_str(bool b) {
  return b ? "true" : "false";
}

void put_tags(Buffer& b, const std::vector<Tag>& tags) {
  if (tags.empty()) {
    put(b, "<tagSet/>");
    return;
  }
  put(b, "<tagSet>");
  for (const auto& t : tags) put(b, "<item><key>{}</key><value>{}</value></item>", Esc{t.key}, Esc{t.value});
  put(b, "</tagSet>");
}

// --- the request ---

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() + 0 && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// An EC2 answer that is not a success: code, message and status, as EC2 writes them.
struct Failure {
  std::string code;
  std::string message;
  long status = 400;
};

// The form body's parameters, by name.
class Params {
 public:
  explicit Params(std::string_view body) {
    while (!body.empty()) {
      const std::size_t amp = body.find('&');
      const std::string_view pair = body.substr(0, amp);
      body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
      if (pair.empty()) continue;
      const std::size_t eq = pair.find('=');
      std::string name = form_decode(pair.substr(0, eq));
      std::string value = eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1));
      map_.insert_or_assign(std::move(name), std::move(value));
    }
  }

  [[nodiscard]] const std::string* get(const std::string& name) const {
    const auto it = map_.find(name);
    return it == map_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] std::string str(const std::string& name) const {
    const auto* v = get(name);
    return v == nullptr ? std::string() : *v;
  }
  [[nodiscard]] std::expected<std::string, Failure> required(const std::string& name) const {
    const auto* v = get(name);
    if (v == nullptr || v->empty()) {
      return std::unexpected(
          Failure{"MissingParameter", "The request must contain the parameter " + name});
    }
    return *v;
  }
  [[nodiscard]] std::expected<std::optional<int>, Failure> integer(const std::string& name) const {
    const auto* v = get(name);
    if (v == nullptr) return std::nullopt;
    int n = 0;
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc{} || end != v->data() + v->size()) {
      return std::unexpected(
          Failure{"InvalidParameterValue", "Value (" + *v + ") for parameter " + name + " is invalid."});
    }
    return n;
  }
  [[nodiscard]] std::expected<std::optional<bool>, Failure> boolean(const std::string& name) const {
    const auto* v = get(name);
    if (v == nullptr) return std::nullopt;
    if (*v == "true") return true;
    if (*v == "false") return false;
    return std::unexpected(
        Failure{"InvalidParameterValue", "Value (" + *v + ") for parameter " + name + " is invalid."});
  }
  // prefix.1, prefix.2, ... up to the first missing one.
  [[nodiscard]] std::vector<std::string> list(const std::string& prefix) const {
    std::vector<std::string> out;
    for (int i = 1;; ++i) {
      const auto* v = get(prefix + "." + std::to_string(i));
      if (v == nullptr) return out;
      out.push_back(*v);
    }
  }
  // Filter.N.Name / Filter.N.Value.M.
  [[nodiscard]] std::vector<Filter> filters() const {
    std::vector<Filter> out;
    for (int i = 1;; ++i) {
      const std::string p = "Filter." + std::to_string(i);
      const auto* name = get(p + ".Name");
      if (name == nullptr) return out;
      out.push_back(Filter{.name = *name, .values = list(p + ".Value")});
    }
  }
  // prefix.N.Key / prefix.N.Value.
  [[nodiscard]] std::vector<Tag> tags(const std::string& prefix) const {
    std::vector<Tag> out;
    for (int i = 1;; ++i) {
      const std::string p = prefix + "." + std::to_string(i);
      const auto* key = get(p + ".Key");
      if (key == nullptr) return out;
      out.push_back(Tag{.key = *key, .value = str(p + ".Value")});
    }
  }
  // The tags of the TagSpecification.N whose ResourceType is `type`.
  [[nodiscard]] std::vector<Tag> tag_specification(std::string_view type) const {
    std::vector<Tag> out;
    for (int i = 1;; ++i) {
      const std::string p = "TagSpecification." + std::to_string(i);
      const auto* t = get(p + ".ResourceType");
      if (t == nullptr) return out;
      if (*t == type) {
        for (auto& tag : tags(p + ".Tag")) out.push_back(std::move(tag));
      }
    }
  }
  // Every parameter but these, in order: what makes two CreateVolume requests "the same".
  [[nodiscard]] std::string fingerprint_without(std::initializer_list<std::string_view> skip) const {
    std::string out;
    for (const auto& [k, v] : map_) {
      if (std::ranges::find(skip, std::string_view(k)) != skip.end()) continue;
      out += k;
      out += '=';
      out += v;
      out += '\n';
    }
    return out;
  }

 private:
  std::map<std::string, std::string> map_;
};

using ec2::glob_match;  // EC2's * and ? in filter values

bool has_wildcard(const Filter& f) {
  return std::ranges::any_of(f.values, [](const std::string& v) { return v.find_first_of("*?") != std::string::npos; });
}

bool any_matches(const Filter& f, std::string_view value) {
  return std::ranges::any_of(f.values, [&](const std::string& pattern) { return glob_match(pattern, value); });
}

std::optional<bool> match_tag_filter(const Filter& f, const std::vector<Tag>& tags) {
  if (f.name.starts_with("tag:")) {
    const std::string_view key = std::string_view(f.name).substr(4);
    const auto* v = ec2::find_tag_value(tags, key);
    return v != nullptr && any_matches(f, *v);
  }
  if (f.name == "tag-key") return std::ranges::any_of(tags, [&](const Tag& t) { return any_matches(f, t.key); });
  if (f.name == "tag-value") return std::ranges::any_of(tags, [&](const Tag& t) { return any_matches(f, t.value); });
  return std::nullopt;
}

bool is_tag_filter(const Filter& f) {
  return f.name.starts_with("tag:") || f.name == "tag-key" || f.name == "tag-value";
}

std::optional<Failure> check_filters(const std::vector<Filter>& filters, std::initializer_list<std::string_view> known) {
  for (const auto& f : filters) {
    if (is_tag_filter(f)) continue;
    if (std::ranges::find(known, std::string_view(f.name)) == known.end()) {
      return Failure{"InvalidParameterValue", "The filter '" + f.name + "' is invalid"};
    }
  }
  return std::nullopt;
}

std::optional<Failure> validate_tags(const std::vector<Tag>& tags) {
  for (const auto& t : tags) {
    if (t.key.empty()) return Failure{"InvalidParameterValue", "Tag key must not be empty"};
    if (t.key.starts_with("aws:")) {
      return Failure{"InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use"};
    }
    if (t.key.size() > 128 || t.value.size() > 256) {
      return Failure{"InvalidParameterValue", "Tag key or value too long: " + t.key};
    }
  }
  if (tags.size() > 50) return Failure{"TagLimitExceeded", "The maximum number of tags per resource is 50"};
  return std::nullopt;
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

// Drawn durations are whole milliseconds, as EC2's timestamps are and as the virtual clock steps.
TimePoint after(TimePoint t, double seconds) {
  return t + std::chrono::round<std::chrono::milliseconds>(std::chrono::duration<double>(seconds));
}

// --- the resources ---

struct Attachment {
  Index instance = 0;
  std::string device;
  TimePoint attach_time;
  TimePoint attached_at;  // attaching before, attached from then on
  bool delete_on_termination = false;
  std::optional<TimePoint> detached_at;  // set by DetachVolume: detaching before, gone from then on
};

struct VolumeRec {
  std::string id;
  int size_gib = 0;
  std::string availability_zone;
  std::string volume_type;
  std::optional<int> iops;
  std::optional<int> throughput;
  bool encrypted = false;
  std::string kms_key_id;
  std::string snapshot_id;
  std::optional<int> initialization_rate;
  TimePoint create_time;
  TimePoint available_at;
  bool deleted = false;
  std::vector<Tag> tags;
  std::optional<Attachment> attachment;
};

struct SnapshotRec {
  std::string id;
  std::string volume_id;
  int volume_size_gib = 0;
  std::string description;
  bool encrypted = false;
  std::string kms_key_id;
  TimePoint start_time;
  TimePoint completed_at;
  bool deleted = false;
  std::vector<Tag> tags;
};

struct InstanceRec {
  std::string id;
  std::string availability_zone;
  std::string root_device_name = "/dev/xvda";
  std::vector<Index> volumes;  // with an attachment to this instance (possibly detached by now)
};

// Resources by tag key and value, for the tag filters.
class TagIndex {
 public:
  void add(Index i, const Tag& t) {
    if (by_key_[t.key][t.value].insert(i).second) ++key_count_[t.key];
  }
  void remove(Index i, const Tag& t) {
    const auto k = by_key_.find(t.key);
    if (k == by_key_.end()) return;
    const auto v = k->second.find(t.value);
    if (v == k->second.end()) return;
    if (v->second.erase(i) > 0) --key_count_[t.key];
    if (v->second.empty()) k->second.erase(v);
  }

  // How many resources the filter may match if answered from this index; nullopt when the
  // index cannot answer it (tag-value, wildcards in a tag-key).
  [[nodiscard]] std::optional<std::size_t> estimate(const Filter& f) const {
    if (f.name.starts_with("tag:")) {
      const auto k = by_key_.find(f.name.substr(4));
      if (k == by_key_.end()) return 0;
      if (has_wildcard(f)) return count(f.name.substr(4));
      std::size_t n = 0;
      for (const auto& value : f.values) {
        if (const auto v = k->second.find(value); v != k->second.end()) n += v->second.size();
      }
      return n;
    }
    if (f.name == "tag-key" && !has_wildcard(f)) {
      std::size_t n = 0;
      for (const auto& key : f.values) n += count(key);
      return n;
    }
    return std::nullopt;
  }

  // The resources the filter may match (a superset when it holds wildcards).
  void collect(const Filter& f, std::vector<Index>& out) const {
    const auto add_key = [&](const std::string& key, const std::vector<std::string>* values) {
      const auto k = by_key_.find(key);
      if (k == by_key_.end()) return;
      if (values == nullptr) {
        for (const auto& [value, set] : k->second) out.insert(out.end(), set.begin(), set.end());
        return;
      }
      for (const auto& value : *values) {
        if (const auto v = k->second.find(value); v != k->second.end()) out.insert(out.end(), v->second.begin(), v->second.end());
      }
    };
    if (f.name.starts_with("tag:")) {
      add_key(f.name.substr(4), has_wildcard(f) ? nullptr : &f.values);
    } else {
      for (const auto& key : f.values) add_key(key, nullptr);
    }
  }

 private:
  [[nodiscard]] std::size_t count(const std::string& key) const {
    const auto it = key_count_.find(key);
    return it == key_count_.end() ? 0 : it->second;
  }

  std::unordered_map<std::string, std::unordered_map<std::string, std::set<Index>>> by_key_;
  std::unordered_map<std::string, std::size_t> key_count_;
};

enum class Category { Describe, Mutating };

struct BucketState {
  Bucket spec;
  double tokens = 0;
  TimePoint refilled;
};

}  // namespace

double Spread::draw(double u) const {
  if (max_s <= min_s) return min_s;
  // min + (max - min) * 0.5^k = median.
  const double fraction = std::clamp((median_s - min_s) / (max_s - min_s), 1e-9, 1.0 - 1e-9);
  const double k = std::log(fraction) / std::log(0.5);
  return min_s + (max_s - min_s) * std::pow(std::clamp(u, 0.0, 1.0), k);
}

std::map<std::string, Bucket> AccountOptions::default_buckets() {
  return {
      {"describe", {.burst = 100, .rate = 20}},      {"mutating", {.burst = 50, .rate = 5}},
      {"CreateVolume", {.burst = 100, .rate = 5}},   {"DeleteVolume", {.burst = 100, .rate = 5}},
      {"CreateSnapshot", {.burst = 100, .rate = 5}}, {"CreateSnapshots", {.burst = 100, .rate = 5}},
      {"DeleteSnapshot", {.burst = 100, .rate = 5}}, {"CreateTags", {.burst = 100, .rate = 10}},
  };
}

struct Account::State {
  class Actions;

  AccountOptions options;
  const ec2::Clock& clock;
  std::mt19937_64 random;
  TimePoint now;  // of the request being served

  std::map<std::string, BucketState> buckets;
  std::map<std::string, ActionStats> stats;
  std::uint64_t requests = 0;

  std::vector<VolumeRec> volumes;
  std::unordered_map<std::string, Index> volume_by_id;
  std::unordered_map<std::string, std::pair<std::string, Index>> volume_by_token;  // fingerprint, volume
  TagIndex volume_tags;
  std::size_t live_volumes = 0;

  std::vector<SnapshotRec> snapshots;
  std::unordered_map<std::string, Index> snapshot_by_id;
  TagIndex snapshot_tags;
  std::size_t live_snapshots = 0;

  std::vector<InstanceRec> instances;
  std::unordered_map<std::string, Index> instance_by_id;

  State(AccountOptions o, const ec2::Clock& c) : options(std::move(o)), clock(c), random(options.seed) {
    for (const auto& [name, spec] : options.buckets) {
      buckets[name] = BucketState{.spec = spec, .tokens = spec.burst, .refilled = clock.now()};
    }
  }

  double uniform() { return static_cast<double>(random() >> 11) * 0x1.0p-53; }

  // "<prefix>-<17 hex digits>", drawn, unique among this account's ids of that kind.
  template <class Map>
  std::string new_id(std::string_view prefix, const Map& taken) {
    for (;;) {
      std::string id = fmt::format("{}-{:017x}", prefix, random());
      if (!taken.contains(id)) return id;
    }
  }

  std::string request_id() {
    ++requests;
    return fmt::format("{:08x}-0000-4000-8000-{:012x}", options.seed & 0xffffffffU, requests);
  }

  // --- token buckets ---

  BucketState* bucket_for(const std::string& action) {
    if (const auto it = buckets.find(action); it != buckets.end()) return &it->second;
    const auto it = buckets.find(action.starts_with("Describe") ? "describe" : "mutating");
    return it == buckets.end() ? nullptr : &it->second;
  }

  // Takes a token if there is one; an empty bucket takes nothing.
  bool take_token(BucketState& b) {
    const double elapsed = std::chrono::duration<double>(now - b.refilled).count();
    if (elapsed > 0) {
      b.tokens = std::min(b.spec.burst, b.tokens + elapsed * b.spec.rate);
      b.refilled = now;
    }
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
  }

  // --- lazy states ---

  [[nodiscard]] bool attachment_gone(const Attachment& a) const { return a.detached_at && now >= *a.detached_at; }

  [[nodiscard]] const Attachment* live_attachment(const VolumeRec& v) const {
    if (!v.attachment || attachment_gone(*v.attachment)) return nullptr;
    return &*v.attachment;
  }

  [[nodiscard]] std::string_view volume_state(const VolumeRec& v) const {
    if (v.deleted) return "deleted";
    if (now < v.available_at) return "creating";
    return live_attachment(v) != nullptr ? "in-use" : "available";
  }

  [[nodiscard]] std::string_view attachment_state(const Attachment& a) const {
    if (a.detached_at) return "detaching";
    return now < a.attached_at ? "attaching" : "attached";
  }

  [[nodiscard]] std::string_view snapshot_state(const SnapshotRec& s) const {
    return now < s.completed_at ? "pending" : "completed";
  }

  [[nodiscard]] int snapshot_progress(const SnapshotRec& s) const {
    if (now >= s.completed_at) return 100;
    const double total = std::chrono::duration<double>(s.completed_at - s.start_time).count();
    const double done = std::chrono::duration<double>(now - s.start_time).count();
    return std::clamp(static_cast<int>(99.0 * done / std::max(total, 1e-9)), 0, 99);
  }

  // --- tags ---

  void set_volume_tags(Index i, const std::vector<Tag>& add) {
    auto& tags = volumes[i].tags;
    for (const auto& t : add) {
      auto it = std::ranges::find(tags, t.key, &Tag::key);
      if (it != tags.end()) {
        volume_tags.remove(i, *it);
        it->value = t.value;
      } else {
        it = tags.insert(tags.end(), t);
      }
      volume_tags.add(i, *it);
    }
  }

  void set_snapshot_tags(Index i, const std::vector<Tag>& add) {
    auto& tags = snapshots[i].tags;
    for (const auto& t : add) {
      auto it = std::ranges::find(tags, t.key, &Tag::key);
      if (it != tags.end()) {
        snapshot_tags.remove(i, *it);
        it->value = t.value;
      } else {
        it = tags.insert(tags.end(), t);
      }
      snapshot_tags.add(i, *it);
    }
  }

  // --- adding ---

  Index add_volume(VolumeRec v) {
    const auto i = static_cast<Index>(volumes.size());
    std::vector<Tag> tags = std::move(v.tags);
    v.tags.clear();
    volume_by_id.emplace(v.id, i);
    volumes.push_back(std::move(v));
    set_volume_tags(i, tags);
    ++live_volumes;
    return i;
  }

  Index add_snapshot(SnapshotRec s) {
    const auto i = static_cast<Index>(snapshots.size());
    std::vector<Tag> tags = std::move(s.tags);
    s.tags.clear();
    snapshot_by_id.emplace(s.id, i);
    snapshots.push_back(std::move(s));
    set_snapshot_tags(i, tags);
    ++live_snapshots;
    return i;
  }

  void attach(Index volume, Index instance, std::string device, TimePoint at, TimePoint attached_at, bool dot) {
    volumes[volume].attachment = Attachment{.instance = instance,
                                            .device = std::move(device),
                                            .attach_time = at,
                                            .attached_at = attached_at,
                                            .delete_on_termination = dot,
                                            .detached_at = std::nullopt};
    // A volume attached again to the instance it left is listed once.
    std::erase(instances[instance].volumes, volume);
    instances[instance].volumes.push_back(volume);
  }

  // The instance's volumes with a live attachment; drops those detached by now.
  std::vector<Index> attached_volumes(Index instance) {
    auto& list = instances[instance].volumes;
    std::erase_if(list, [&](Index v) {
      const auto& a = volumes[v].attachment;
      return !a || a->instance != instance || attachment_gone(*a);
    });
    return list;
  }

  // --- XML items ---

  void put_attachment(Buffer& b, const VolumeRec& v, const Attachment& a) const {
    put(b,
        "<volumeId>{}</volumeId><instanceId>{}</instanceId><device>{}</device><status>{}</status>"
        "<attachTime>{}</attachTime><deleteOnTermination>{}</deleteOnTermination>",
        v.id, instances[a.instance].id, Esc{a.device}, attachment_state(a), ec2::format_iso8601(a.attach_time),
        bool_str(a.delete_on_termination));
  }

  // The fields of a volume (an item of DescribeVolumes, or CreateVolumeResponse itself).
  void put_volume_fields(Buffer& b, const VolumeRec& v) const {
    put(b, "<volumeId>{}</volumeId><size>{}</size><snapshotId>{}</snapshotId><availabilityZone>{}</availabilityZone>",
        v.id, v.size_gib, v.snapshot_id, Esc{v.availability_zone});
    put(b, "<status>{}</status><createTime>{}</createTime>", volume_state(v), ec2::format_iso8601(v.create_time));
    if (const auto* a = live_attachment(v)) {
      put(b, "<attachmentSet><item>");
      put_attachment(b, v, *a);
      put(b, "</item></attachmentSet>");
    } else {
      put(b, "<attachmentSet/>");
    }
    put_tags(b, v.tags);
    put(b, "<volumeType>{}</volumeType>", Esc{v.volume_type});
    if (v.iops) put(b, "<iops>{}</iops>", *v.iops);
    if (v.throughput) put(b, "<throughput>{}</throughput>", *v.throughput);
    put(b, "<encrypted>{}</encrypted>", bool_str(v.encrypted));
    if (!v.kms_key_id.empty()) put(b, "<kmsKeyId>{}</kmsKeyId>", Esc{v.kms_key_id});
    if (!v.snapshot_id.empty()) put(b, "<fastRestored>false</fastRestored>");
    if (v.initialization_rate) put(b, "<volumeInitializationRate>{}</volumeInitializationRate>", *v.initialization_rate);
    put(b, "<multiAttachEnabled>false</multiAttachEnabled>");
  }

  // `state_element`: DescribeSnapshots and CreateSnapshot say <status>, CreateSnapshots <state>.
  void put_snapshot_fields(Buffer& b, const SnapshotRec& s, std::string_view state_element) const {
    put(b, "<snapshotId>{}</snapshotId><volumeId>{}</volumeId><{}>{}</{}><startTime>{}</startTime>", s.id,
        s.volume_id, state_element, snapshot_state(s), state_element, ec2::format_iso8601(s.start_time));
    put(b, "<progress>{}%</progress><ownerId>{}</ownerId><volumeSize>{}</volumeSize><description>{}</description>",
        snapshot_progress(s), Esc{options.owner_id}, s.volume_size_gib, Esc{s.description});
    put(b, "<encrypted>{}</encrypted>", bool_str(s.encrypted));
    if (!s.kms_key_id.empty()) put(b, "<kmsKeyId>{}</kmsKeyId>", Esc{s.kms_key_id});
    put(b, "<storageTier>standard</storageTier>");
    put_tags(b, s.tags);
  }

  // --- filters ---

  [[nodiscard]] bool volume_matches(const VolumeRec& v, const Filter& f) const {
    if (auto t = match_tag_filter(f, v.tags)) return *t;
    if (f.name == "volume-id") return any_matches(f, v.id);
    if (f.name == "status") return any_matches(f, volume_state(v));
    if (f.name == "availability-zone") return any_matches(f, v.availability_zone);
    if (f.name == "size") return any_matches(f, std::to_string(v.size_gib));
    if (f.name == "volume-type") return any_matches(f, v.volume_type);
    if (f.name == "encrypted") return any_matches(f, bool_str(v.encrypted));
    if (f.name == "snapshot-id") return any_matches(f, v.snapshot_id);
    if (f.name == "create-time") return any_matches(f, ec2::format_iso8601(v.create_time));
    const auto* a = live_attachment(v);
    if (a == nullptr) return false;
    if (f.name == "attachment.instance-id") return any_matches(f, instances[a->instance].id);
    if (f.name == "attachment.device") return any_matches(f, a->device);
    if (f.name == "attachment.status") return any_matches(f, attachment_state(*a));
    if (f.name == "attachment.delete-on-termination") return any_matches(f, bool_str(a->delete_on_termination));
    if (f.name == "attachment.attach-time") return any_matches(f, ec2::format_iso8601(a->attach_time));
    return false;
  }

  [[nodiscard]] bool snapshot_matches(const SnapshotRec& s, const Filter& f) const {
    if (auto t = match_tag_filter(f, s.tags)) return *t;
    if (f.name == "snapshot-id") return any_matches(f, s.id);
    if (f.name == "volume-id") return any_matches(f, s.volume_id);
    if (f.name == "status") return any_matches(f, snapshot_state(s));
    if (f.name == "owner-id") return any_matches(f, options.owner_id);
    if (f.name == "description") return any_matches(f, s.description);
    if (f.name == "progress") return any_matches(f, std::to_string(snapshot_progress(s)) + "%");
    if (f.name == "volume-size") return any_matches(f, std::to_string(s.volume_size_gib));
    if (f.name == "encrypted") return any_matches(f, bool_str(s.encrypted));
    if (f.name == "start-time") return any_matches(f, ec2::format_iso8601(s.start_time));
    return false;
  }

  // The candidates of a Describe: from the most selective filter an index can answer, else
  // every resource. `lookups` are the index-answerable filters as (estimate, collect).
  struct Plan {
    std::size_t estimate = 0;
    std::function<void(std::vector<Index>&)> collect;
  };

  std::vector<Index> candidates(std::vector<Plan> plans, std::size_t all, const std::function<bool(Index)>& live) {
    std::vector<Index> out;
    const auto best = std::ranges::min_element(plans, {}, &Plan::estimate);
    if (best == plans.end()) {
      out.reserve(all);
      for (Index i = 0; i < all; ++i) {
        if (live(i)) out.push_back(i);
      }
      return out;
    }
    best->collect(out);
    std::ranges::sort(out);
    const auto [first, last] = std::ranges::unique(out);
    out.erase(first, last);
    std::erase_if(out, [&](Index i) { return !live(i); });
    return out;
  }
};

namespace {

// --- pages ---

// MaxResults/NextToken over an answer computed afresh each call: the token is the offset.
struct Page {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string next_token;
};

std::expected<Page, Failure> page_of(const Params& p, std::size_t total, int min_results, int max_allowed) {
  auto max = p.integer("MaxResults");
  if (!max) return std::unexpected(max.error());
  std::size_t offset = 0;
  if (const auto* token = p.get("NextToken"); token != nullptr && !token->empty()) {
    const auto [end, ec] = std::from_chars(token->data(), token->data() + token->size(), offset);
    if (ec != std::errc{} || end != token->data() + token->size() || offset > total) {
      return std::unexpected(Failure{"InvalidParameterValue", "The token '" + *token + "' is invalid."});
    }
  }
  if (!*max) return Page{.begin = offset, .end = total, .next_token = {}};
  if (**max < min_results || **max > max_allowed) {
    return std::unexpected(Failure{"InvalidParameterValue",
                                   fmt::format("Value ( {} ) for parameter maxResults is invalid. Expecting a value "
                                               "between {} and {}.",
                                               **max, min_results, max_allowed)});
  }
  Page page{.begin = offset, .end = std::min(total, offset + static_cast<std::size_t>(**max)), .next_token = {}};
  if (page.end < total) page.next_token = std::to_string(page.end);
  return page;
}

}  // namespace

Account::Account(AccountOptions options, const ec2::Clock& clock)
    : state_(std::make_unique<State>(std::move(options), clock)) {}
Account::~Account() = default;

const std::map<std::string, ActionStats>& Account::stats() const {
  return state_->stats;
}
std::size_t Account::volume_count() const {
  return state_->live_volumes;
}
std::size_t Account::snapshot_count() const {
  return state_->live_snapshots;
}

ec2::InstanceId Account::add_instance(const std::string& availability_zone) {
  auto& s = *state_;
  s.now = s.clock.now();
  const auto i = static_cast<Index>(s.instances.size());
  InstanceRec inst{.id = s.new_id("i", s.instance_by_id), .availability_zone = availability_zone, .volumes = {}};
  s.instance_by_id.emplace(inst.id, i);
  s.instances.push_back(std::move(inst));
  // Its root volume, attached at launch and deleted with the instance, as EC2 launches one.
  const Index root = s.add_volume(VolumeRec{.id = s.new_id("vol", s.volume_by_id),
                                            .size_gib = 8,
                                            .availability_zone = availability_zone,
                                            .volume_type = "gp3",
                                            .iops = 3000,
                                            .throughput = 125,
                                            .create_time = s.now,
                                            .available_at = s.now});
  s.attach(root, i, s.instances[i].root_device_name, s.now, s.now, true);
  return ec2::InstanceId{s.instances[i].id};
}

ec2::SnapshotId Account::add_snapshot(int volume_size_gib, std::vector<ec2::Tag> tags, ec2::TimePoint start_time) {
  auto& s = *state_;
  const Index i = s.add_snapshot(SnapshotRec{.id = s.new_id("snap", s.snapshot_by_id),
                                             .volume_id = "vol-ffffffff",
                                             .volume_size_gib = volume_size_gib,
                                             .start_time = start_time,
                                             .completed_at = start_time,
                                             .tags = std::move(tags)});
  return ec2::SnapshotId{s.snapshots[i].id};
}

ec2::VolumeId Account::add_attached_volume(const ec2::InstanceId& instance, const std::string& device,
                                           int size_gib, std::vector<ec2::Tag> tags) {
  auto& s = *state_;
  s.now = s.clock.now();
  const auto inst = s.instance_by_id.find(instance.value);
  if (inst == s.instance_by_id.end()) throw std::invalid_argument("fleet: no instance " + instance.value);
  const Index v = s.add_volume(VolumeRec{.id = s.new_id("vol", s.volume_by_id),
                                         .size_gib = size_gib,
                                         .availability_zone = s.instances[inst->second].availability_zone,
                                         .volume_type = "gp3",
                                         .iops = 3000,
                                         .throughput = 125,
                                         .create_time = s.now,
                                         .available_at = s.now,
                                         .tags = std::move(tags)});
  s.attach(v, inst->second, device, s.now, s.now, false);
  return ec2::VolumeId{s.volumes[v].id};
}

std::optional<ec2::TimePoint> Account::attached_at(const std::string& volume_id, const ec2::InstanceId& instance) const {
  const auto& s = *state_;
  const auto v = s.volume_by_id.find(volume_id);
  if (v == s.volume_by_id.end()) return std::nullopt;
  const auto& a = s.volumes[v->second].attachment;
  if (!a || a->detached_at || s.instances[a->instance].id != instance.value) return std::nullopt;
  return a->attached_at;
}

std::chrono::milliseconds Account::ec2_path(const ec2::InstanceId& instance) const {
  const auto& s = *state_;
  const auto i = s.instance_by_id.find(instance.value);
  if (i == s.instance_by_id.end()) return std::chrono::milliseconds{0};
  std::chrono::milliseconds longest{0};
  for (const Index v : s.instances[i->second].volumes) {
    const auto& vol = s.volumes[v];
    if (vol.snapshot_id.empty() || !vol.attachment) continue;
    const auto& a = *vol.attachment;
    longest = std::max(longest, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    (vol.available_at - vol.create_time) + (a.attached_at - a.attach_time)));
  }
  return longest;
}

namespace {

// One action: the XML answer's inner elements, or EC2's error.
using Answer = std::expected<void, Failure>;

Failure not_found(std::string_view id) {
  if (id.starts_with("vol-")) return {"InvalidVolume.NotFound", fmt::format("The volume '{}' does not exist.", id)};
  if (id.starts_with("snap-")) return {"InvalidSnapshot.NotFound", fmt::format("The snapshot '{}' does not exist.", id)};
  if (id.starts_with("i-")) return {"InvalidInstanceID.NotFound", fmt::format("The instance ID '{}' does not exist", id)};
  return {"InvalidID", fmt::format("The ID '{}' is not valid", id)};
}

#define FLEET_TRY(var, expr)                                    \
  auto var##_result = (expr);                                   \
  if (!var##_result) return std::unexpected(var##_result.error()); \
  auto var = std::move(*var##_result)

}  // namespace

// The actions. Each writes its answer's body (inside <XResponse>) or fails.
class Account::State::Actions {
 public:
  using Handler = Answer (Actions::*)();
  [[nodiscard]] static const std::map<std::string, Handler, std::less<>>& handlers();

  Actions(Account::State& s, const Params& p, Buffer& b) : s_(s), p_(p), b_(b) {}

  Answer describe_volumes() {
    const auto filters = p_.filters();
    if (auto e = check_filters(filters, {"volume-id", "status", "availability-zone", "size", "volume-type", "encrypted",
                                         "snapshot-id", "create-time", "attachment.instance-id", "attachment.device",
                                         "attachment.status", "attachment.delete-on-termination",
                                         "attachment.attach-time"})) {
      return std::unexpected(*e);
    }
    const auto ids = p_.list("VolumeId");
    std::vector<Index> found;
    if (!ids.empty()) {
      for (const auto& id : ids) {
        const auto it = s_.volume_by_id.find(id);
        if (it == s_.volume_by_id.end()) return std::unexpected(not_found(id));
        found.push_back(it->second);
      }
      std::ranges::sort(found);
      const auto [first, last] = std::ranges::unique(found);
      found.erase(first, last);
    } else {
      std::vector<Account::State::Plan> plans;
      for (const auto& f : filters) {
        if (auto n = s_.volume_tags.estimate(f)) {
          plans.push_back({*n, [&](std::vector<Index>& out) { s_.volume_tags.collect(f, out); }});
        } else if (f.name == "volume-id" && !has_wildcard(f)) {
          plans.push_back({f.values.size(), [&](std::vector<Index>& out) {
                             for (const auto& id : f.values) {
                               if (auto it = s_.volume_by_id.find(id); it != s_.volume_by_id.end()) out.push_back(it->second);
                             }
                           }});
        } else if (f.name == "attachment.instance-id" && !has_wildcard(f)) {
          plans.push_back({f.values.size() * 4, [&](std::vector<Index>& out) {
                             for (const auto& id : f.values) {
                               if (auto it = s_.instance_by_id.find(id); it != s_.instance_by_id.end()) {
                                 for (Index v : s_.attached_volumes(it->second)) out.push_back(v);
                               }
                             }
                           }});
        }
      }
      found = s_.candidates(std::move(plans), s_.volumes.size(), [&](Index i) { return !s_.volumes[i].deleted; });
    }
    std::erase_if(found, [&](Index i) {
      return !std::ranges::all_of(filters, [&](const Filter& f) { return s_.volume_matches(s_.volumes[i], f); });
    });
    FLEET_TRY(page, page_of(p_, found.size(), 5, 500));
    put(b_, "<volumeSet>");
    for (std::size_t k = page.begin; k < page.end; ++k) {
      put(b_, "<item>");
      s_.put_volume_fields(b_, s_.volumes[found[k]]);
      put(b_, "</item>");
    }
    put(b_, "</volumeSet>");
    if (!page.next_token.empty()) put(b_, "<nextToken>{}</nextToken>", page.next_token);
    return {};
  }

  Answer describe_snapshots() {
    const auto filters = p_.filters();
    if (auto e = check_filters(filters, {"snapshot-id", "volume-id", "status", "owner-id", "description", "progress",
                                         "volume-size", "encrypted", "start-time"})) {
      return std::unexpected(*e);
    }
    // Only this account's snapshots exist here: another owner (or "amazon") has none.
    const auto owners = p_.list("Owner");
    const bool ours = owners.empty() || std::ranges::any_of(owners, [&](const std::string& o) {
                        return o == "self" || o == s_.options.owner_id;
                      });
    const auto ids = p_.list("SnapshotId");
    std::vector<Index> found;
    if (!ids.empty()) {
      for (const auto& id : ids) {
        const auto it = s_.snapshot_by_id.find(id);
        if (it == s_.snapshot_by_id.end()) return std::unexpected(not_found(id));
        found.push_back(it->second);
      }
      std::ranges::sort(found);
      const auto [first, last] = std::ranges::unique(found);
      found.erase(first, last);
    } else if (ours) {
      std::vector<Account::State::Plan> plans;
      for (const auto& f : filters) {
        if (auto n = s_.snapshot_tags.estimate(f)) {
          plans.push_back({*n, [&](std::vector<Index>& out) { s_.snapshot_tags.collect(f, out); }});
        } else if (f.name == "snapshot-id" && !has_wildcard(f)) {
          plans.push_back({f.values.size(), [&](std::vector<Index>& out) {
                             for (const auto& id : f.values) {
                               if (auto it = s_.snapshot_by_id.find(id); it != s_.snapshot_by_id.end())
                                 out.push_back(it->second);
                             }
                           }});
        }
      }
      found = s_.candidates(std::move(plans), s_.snapshots.size(), [&](Index i) { return !s_.snapshots[i].deleted; });
    }
    if (!ours) found.clear();
    std::erase_if(found, [&](Index i) {
      return !std::ranges::all_of(filters, [&](const Filter& f) { return s_.snapshot_matches(s_.snapshots[i], f); });
    });
    FLEET_TRY(page, page_of(p_, found.size(), 5, 1000));
    put(b_, "<snapshotSet>");
    for (std::size_t k = page.begin; k < page.end; ++k) {
      put(b_, "<item>");
      s_.put_snapshot_fields(b_, s_.snapshots[found[k]], "status");
      put(b_, "</item>");
    }
    put(b_, "</snapshotSet>");
    if (!page.next_token.empty()) put(b_, "<nextToken>{}</nextToken>", page.next_token);
    return {};
  }

  Answer describe_instances() {
    const auto filters = p_.filters();
    if (auto e = check_filters(filters, {"instance-id", "availability-zone", "instance-state-name"})) {
      return std::unexpected(*e);
    }
    const auto ids = p_.list("InstanceId");
    std::vector<Index> found;
    if (!ids.empty()) {
      for (const auto& id : ids) {
        const auto it = s_.instance_by_id.find(id);
        if (it == s_.instance_by_id.end()) return std::unexpected(not_found(id));
        found.push_back(it->second);
      }
    } else {
      for (Index i = 0; i < s_.instances.size(); ++i) found.push_back(i);
    }
    std::erase_if(found, [&](Index i) {
      const auto& inst = s_.instances[i];
      return !std::ranges::all_of(filters, [&](const Filter& f) {
        if (f.name == "instance-id") return any_matches(f, inst.id);
        if (f.name == "availability-zone") return any_matches(f, inst.availability_zone);
        if (f.name == "instance-state-name") return any_matches(f, "running");
        return false;  // no tags on the simulated instances
      });
    });
    FLEET_TRY(page, page_of(p_, found.size(), 5, 1000));
    put(b_, "<reservationSet>");
    for (std::size_t k = page.begin; k < page.end; ++k) {
      const Index i = found[k];
      const auto& inst = s_.instances[i];
      put(b_,
          "<item><reservationId>r-{}</reservationId><ownerId>{}</ownerId><groupSet/><instancesSet><item>"
          "<instanceId>{}</instanceId><instanceState><code>16</code><name>running</name></instanceState>"
          "<instanceType>m6i.large</instanceType><placement><availabilityZone>{}</availabilityZone>"
          "<tenancy>default</tenancy></placement><rootDeviceType>ebs</rootDeviceType>"
          "<rootDeviceName>{}</rootDeviceName><blockDeviceMapping>",
          inst.id.substr(2), Esc{s_.options.owner_id}, inst.id, Esc{inst.availability_zone},
          Esc{inst.root_device_name});
      for (Index v : s_.attached_volumes(i)) {
        const auto& vol = s_.volumes[v];
        const auto& a = *vol.attachment;
        put(b_,
            "<item><deviceName>{}</deviceName><ebs><volumeId>{}</volumeId><status>{}</status>"
            "<attachTime>{}</attachTime><deleteOnTermination>{}</deleteOnTermination></ebs></item>",
            Esc{a.device}, vol.id, s_.attachment_state(a), ec2::format_iso8601(a.attach_time),
            bool_str(a.delete_on_termination));
      }
      put(b_, "</blockDeviceMapping><tagSet/></item></instancesSet></item>");
    }
    put(b_, "</reservationSet>");
    if (!page.next_token.empty()) put(b_, "<nextToken>{}</nextToken>", page.next_token);
    return {};
  }

  Answer create_volume() {
    FLEET_TRY(zone, p_.required("AvailabilityZone"));
    FLEET_TRY(size, p_.integer("Size"));
    FLEET_TRY(iops, p_.integer("Iops"));
    FLEET_TRY(throughput, p_.integer("Throughput"));
    FLEET_TRY(encrypted, p_.boolean("Encrypted"));
    FLEET_TRY(rate, p_.integer("VolumeInitializationRate"));
    const std::string snapshot_id = p_.str("SnapshotId");
    const std::string token = p_.str("ClientToken");
    // A ClientToken answers with the volume it made, whatever became of it, as long as the
    // request is the same; the same token with other parameters is refused.
    const std::string fingerprint = p_.fingerprint_without({"ClientToken", "Action", "Version"});
    if (!token.empty()) {
      if (const auto it = s_.volume_by_token.find(token); it != s_.volume_by_token.end()) {
        if (it->second.first != fingerprint) {
          return std::unexpected(Failure{"IdempotentParameterMismatch",
                                         "The client token you have provided is associated with a resource that is "
                                         "already deleted or has different parameters."});
        }
        s_.put_volume_fields(b_, s_.volumes[it->second.second]);
        return {};
      }
    }
    if (!zone.starts_with(s_.options.region) || zone.size() <= s_.options.region.size()) {
      return std::unexpected(
          Failure{"InvalidParameterValue", "Invalid availability zone: [" + zone + "]"});
    }
    int size_gib = 0;
    if (!snapshot_id.empty()) {
      const auto it = s_.snapshot_by_id.find(snapshot_id);
      if (it == s_.snapshot_by_id.end()) return std::unexpected(not_found(snapshot_id));
      const auto& snap = s_.snapshots[it->second];
      if (s_.snapshot_state(snap) != "completed") {
        return std::unexpected(
            Failure{"IncorrectState", "Snapshot '" + snapshot_id + "' is not 'completed'."});
      }
      size_gib = size.value_or(snap.volume_size_gib);
      if (size_gib < snap.volume_size_gib) {
        return std::unexpected(Failure{
            "InvalidParameterValue",
            fmt::format("Volume of {}GiB is too small; minimum is {}GiB.", size_gib, snap.volume_size_gib)});
      }
    } else {
      if (!size) {
        return std::unexpected(
            Failure{"MissingParameter", "The request must contain the parameter size or snapshotId"});
      }
      size_gib = *size;
      if (rate) {
        return std::unexpected(Failure{"InvalidParameterCombination",
                                       "VolumeInitializationRate can be specified only with SnapshotId"});
      }
    }
    if (size_gib < 1 || size_gib > 65536) {
      return std::unexpected(Failure{"InvalidParameterValue", fmt::format("Invalid volume size: {}", size_gib)});
    }
    if (rate && (*rate < 100 || *rate > 300)) {
      return std::unexpected(Failure{"InvalidParameterValue",
                                     fmt::format("Value ({}) for parameter volumeInitializationRate is invalid. "
                                                 "Expecting a value between 100 and 300.",
                                                 *rate)});
    }
    auto tags = p_.tag_specification("volume");
    if (auto e = validate_tags(tags)) return std::unexpected(*e);
    std::string type = p_.str("VolumeType");
    if (type.empty()) type = "gp2";
    const Index i = s_.add_volume(VolumeRec{.id = s_.new_id("vol", s_.volume_by_id),
                                            .size_gib = size_gib,
                                            .availability_zone = zone,
                                            .volume_type = type,
                                            .iops = type == "gp3" ? std::optional<int>(iops.value_or(3000)) : iops,
                                            .throughput = type == "gp3" ? std::optional<int>(throughput.value_or(125))
                                                                        : throughput,
                                            .encrypted = encrypted.value_or(false),
                                            .kms_key_id = p_.str("KmsKeyId"),
                                            .snapshot_id = snapshot_id,
                                            .initialization_rate = rate,
                                            .create_time = s_.now,
                                            .available_at = after(s_.now, s_.options.volume_create.draw(s_.uniform())),
                                            .tags = std::move(tags)});
    if (!token.empty()) s_.volume_by_token.emplace(token, std::pair{fingerprint, i});
    s_.put_volume_fields(b_, s_.volumes[i]);
    return {};
  }

  Answer attach_volume() {
    FLEET_TRY(volume_id, p_.required("VolumeId"));
    FLEET_TRY(instance_id, p_.required("InstanceId"));
    FLEET_TRY(device, p_.required("Device"));
    const auto v = s_.volume_by_id.find(volume_id);
    if (v == s_.volume_by_id.end()) return std::unexpected(not_found(volume_id));
    const auto inst = s_.instance_by_id.find(instance_id);
    if (inst == s_.instance_by_id.end()) return std::unexpected(not_found(instance_id));
    auto& vol = s_.volumes[v->second];
    // EC2's order of checks: attached, state, zone, device name, device taken.
    if (s_.live_attachment(vol) != nullptr) {
      return std::unexpected(Failure{"VolumeInUse", volume_id + " is already attached to an instance"});
    }
    if (s_.volume_state(vol) != "available") {
      return std::unexpected(Failure{"IncorrectState", volume_id + " is not 'available'."});
    }
    if (vol.availability_zone != s_.instances[inst->second].availability_zone) {
      return std::unexpected(Failure{"InvalidVolume.ZoneMismatch",
                                     "The volume '" + volume_id +
                                         "' is not in the same availability zone as instance '" + instance_id + "'"});
    }
    if (!valid_device_name(device)) {
      return std::unexpected(Failure{"InvalidParameterValue", "Value (" + device +
                                                                  ") for parameter device is invalid. " + device +
                                                                  " is not a valid EBS device name."});
    }
    for (Index other : s_.attached_volumes(inst->second)) {
      if (s_.volumes[other].attachment->device == device) {
        return std::unexpected(Failure{"InvalidParameterValue", "Invalid value '" + device +
                                                                    "' for unixDevice. Attachment point " + device +
                                                                    " is already in use"});
      }
    }
    s_.attach(v->second, inst->second, device, s_.now, after(s_.now, s_.options.attach.draw(s_.uniform())), false);
    s_.put_attachment(b_, vol, *vol.attachment);
    return {};
  }

  Answer detach_volume() {
    FLEET_TRY(volume_id, p_.required("VolumeId"));
    const auto v = s_.volume_by_id.find(volume_id);
    if (v == s_.volume_by_id.end()) return std::unexpected(not_found(volume_id));
    auto& vol = s_.volumes[v->second];
    auto* a = vol.attachment && !s_.attachment_gone(*vol.attachment) ? &*vol.attachment : nullptr;
    if (a == nullptr || a->detached_at) {
      return std::unexpected(Failure{"IncorrectState", fmt::format("Volume '{}' is in the '{}' state.", volume_id,
                                                                   a == nullptr ? s_.volume_state(vol) : "detaching")});
    }
    const auto& inst = s_.instances[a->instance];
    const std::string instance_id = p_.str("InstanceId");
    const std::string device = p_.str("Device");
    if ((!instance_id.empty() && instance_id != inst.id) || (!device.empty() && device != a->device)) {
      return std::unexpected(Failure{"InvalidAttachment.NotFound",
                                     "The volume '" + volume_id + "' is not attached to that instance/device"});
    }
    if (a->device == inst.root_device_name) {
      return std::unexpected(Failure{"IncorrectState", "Unable to detach root volume '" + volume_id +
                                                           "' from instance '" + inst.id + "'"});
    }
    a->detached_at = after(s_.now, s_.options.detach.draw(s_.uniform()));
    s_.put_attachment(b_, vol, *a);
    return {};
  }

  Answer delete_volume() {
    FLEET_TRY(volume_id, p_.required("VolumeId"));
    const auto v = s_.volume_by_id.find(volume_id);
    if (v == s_.volume_by_id.end()) return std::unexpected(not_found(volume_id));
    auto& vol = s_.volumes[v->second];
    if (const auto* a = s_.live_attachment(vol)) {
      return std::unexpected(Failure{"VolumeInUse", "Volume " + volume_id + " is currently attached to " +
                                                        s_.instances[a->instance].id});
    }
    // Gone at once (EC2 shows "deleting" for a moment); a ClientToken still answers with it.
    for (const auto& t : vol.tags) s_.volume_tags.remove(v->second, t);
    vol.deleted = true;
    s_.volume_by_id.erase(v);
    --s_.live_volumes;
    put(b_, "<return>true</return>");
    return {};
  }

  Answer modify_instance_attribute() {
    FLEET_TRY(instance_id, p_.required("InstanceId"));
    const auto inst = s_.instance_by_id.find(instance_id);
    if (inst == s_.instance_by_id.end()) return std::unexpected(not_found(instance_id));
    const auto attached = s_.attached_volumes(inst->second);
    for (int n = 1;; ++n) {
      const std::string prefix = "BlockDeviceMapping." + std::to_string(n);
      const auto* device = p_.get(prefix + ".DeviceName");
      if (device == nullptr) break;
      FLEET_TRY(dot, p_.boolean(prefix + ".Ebs.DeleteOnTermination"));
      const auto it = std::ranges::find_if(attached, [&](Index v) { return s_.volumes[v].attachment->device == *device; });
      if (it == attached.end()) {
        return std::unexpected(
            Failure{"InvalidInstanceAttributeValue", "No device is currently mapped at " + *device});
      }
      if (dot) s_.volumes[*it].attachment->delete_on_termination = *dot;
    }
    put(b_, "<return>true</return>");
    return {};
  }

  Answer create_snapshot() {
    FLEET_TRY(volume_id, p_.required("VolumeId"));
    const auto v = s_.volume_by_id.find(volume_id);
    if (v == s_.volume_by_id.end()) return std::unexpected(not_found(volume_id));
    if (s_.volume_state(s_.volumes[v->second]) == "creating") {
      return std::unexpected(Failure{"IncorrectState", "Volume '" + volume_id + "' is in the 'creating' state."});
    }
    auto tags = p_.tag_specification("snapshot");
    if (auto e = validate_tags(tags)) return std::unexpected(*e);
    const Index i = new_snapshot(v->second, std::move(tags));
    s_.put_snapshot_fields(b_, s_.snapshots[i], "status");
    return {};
  }

  Answer create_snapshots() {
    FLEET_TRY(instance_id, p_.required("InstanceSpecification.InstanceId"));
    FLEET_TRY(exclude_boot, p_.boolean("InstanceSpecification.ExcludeBootVolume"));
    const auto inst = s_.instance_by_id.find(instance_id);
    if (inst == s_.instance_by_id.end()) return std::unexpected(not_found(instance_id));
    const auto excluded = p_.list("InstanceSpecification.ExcludeDataVolumeId");
    const std::string copy = p_.str("CopyTagsFromSource");
    if (!copy.empty() && copy != "volume") {
      return std::unexpected(Failure{"InvalidParameterValue",
                                     "Value (" + copy + ") for parameter CopyTagsFromSource is invalid."});
    }
    const auto tags = p_.tag_specification("snapshot");
    if (auto e = validate_tags(tags)) return std::unexpected(*e);
    const auto& root = s_.instances[inst->second].root_device_name;
    put(b_, "<snapshotSet>");
    for (Index v : s_.attached_volumes(inst->second)) {
      const auto& vol = s_.volumes[v];
      if (exclude_boot.value_or(false) && vol.attachment->device == root) continue;
      if (std::ranges::find(excluded, vol.id) != excluded.end()) continue;
      std::vector<Tag> snapshot_tags = copy == "volume" ? vol.tags : std::vector<Tag>{};
      for (const auto& t : tags) {
        if (auto it = std::ranges::find(snapshot_tags, t.key, &Tag::key); it != snapshot_tags.end()) {
          it->value = t.value;
        } else {
          snapshot_tags.push_back(t);
        }
      }
      const Index i = new_snapshot(v, std::move(snapshot_tags));
      put(b_, "<item>");
      s_.put_snapshot_fields(b_, s_.snapshots[i], "state");
      put(b_, "</item>");
    }
    put(b_, "</snapshotSet>");
    return {};
  }

  Answer delete_snapshot() {
    FLEET_TRY(snapshot_id, p_.required("SnapshotId"));
    const auto it = s_.snapshot_by_id.find(snapshot_id);
    if (it == s_.snapshot_by_id.end()) return std::unexpected(not_found(snapshot_id));
    auto& snap = s_.snapshots[it->second];
    for (const auto& t : snap.tags) s_.snapshot_tags.remove(it->second, t);
    snap.deleted = true;
    s_.snapshot_by_id.erase(it);
    --s_.live_snapshots;
    put(b_, "<return>true</return>");
    return {};
  }

  Answer create_tags() {
    const auto ids = p_.list("ResourceId");
    if (ids.empty()) {
      return std::unexpected(Failure{"MissingParameter", "The request must contain the parameter resourceIdSet"});
    }
    const auto tags = p_.tags("Tag");
    if (tags.empty()) return std::unexpected(Failure{"MissingParameter", "The request must contain the parameter tagSet"});
    if (auto e = validate_tags(tags)) return std::unexpected(*e);
    // All or nothing: an unknown id fails the request before any tag is set.
    std::vector<std::pair<bool, Index>> targets;  // (is a volume, index)
    for (const auto& id : ids) {
      if (auto v = s_.volume_by_id.find(id); v != s_.volume_by_id.end()) {
        targets.emplace_back(true, v->second);
      } else if (auto sn = s_.snapshot_by_id.find(id); sn != s_.snapshot_by_id.end()) {
        targets.emplace_back(false, sn->second);
      } else {
        return std::unexpected(not_found(id));
      }
    }
    for (const auto& [volume, i] : targets) {
      if (volume) {
        s_.set_volume_tags(i, tags);
      } else {
        s_.set_snapshot_tags(i, tags);
      }
    }
    put(b_, "<return>true</return>");
    return {};
  }

 private:
  Index new_snapshot(Index volume, std::vector<Tag> tags) {
    const auto& vol = s_.volumes[volume];
    const std::string description = p_.str("Description");
    return s_.add_snapshot(SnapshotRec{.id = s_.new_id("snap", s_.snapshot_by_id),
                                       .volume_id = vol.id,
                                       .volume_size_gib = vol.size_gib,
                                       .description = description,
                                       .encrypted = vol.encrypted,
                                       .kms_key_id = vol.kms_key_id,
                                       .start_time = s_.now,
                                       .completed_at = after(s_.now, s_.options.snapshot_complete.draw(s_.uniform())),
                                       .tags = std::move(tags)});
  }

  Account::State& s_;
  const Params& p_;
  Buffer& b_;
};

const std::map<std::string, Account::State::Actions::Handler, std::less<>>& Account::State::Actions::handlers() {
  static const std::map<std::string, Handler, std::less<>> k_handlers{
      {"DescribeVolumes", &Actions::describe_volumes},
      {"DescribeSnapshots", &Actions::describe_snapshots},
      {"DescribeInstances", &Actions::describe_instances},
      {"CreateVolume", &Actions::create_volume},
      {"AttachVolume", &Actions::attach_volume},
      {"DetachVolume", &Actions::detach_volume},
      {"DeleteVolume", &Actions::delete_volume},
      {"ModifyInstanceAttribute", &Actions::modify_instance_attribute},
      {"CreateSnapshot", &Actions::create_snapshot},
      {"CreateSnapshots", &Actions::create_snapshots},
      {"DeleteSnapshot", &Actions::delete_snapshot},
      {"CreateTags", &Actions::create_tags},
  };
  return k_handlers;
}

namespace {

ec2::HttpResponse xml_response(long status, std::string body) {
  return ec2::HttpResponse{.status = status, .headers = {{"content-type", "text/xml;charset=UTF-8"}}, .body = std::move(body)};
}

ec2::HttpResponse error_response(const Failure& f, const std::string& request_id) {
  return xml_response(
      f.status, fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code>"
                            "<Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
                            Esc{f.code}, Esc{f.message}, request_id));
}

}  // namespace

ec2::HttpResponse Account::serve(const ec2::HttpRequest& request) {
  auto& s = *state_;
  s.now = s.clock.now();
  const std::string request_id = s.request_id();
  const Params params(request.body);
  const std::string action = params.str("Action");
  auto& stats = s.stats[action];
  ++stats.calls;
  const auto fail = [&](const Failure& f) {
    ++stats.errors;
    return error_response(f, request_id);
  };
  if (request.method != "POST") return fail({"InvalidAction", "The EC2 Query API is served here by POST only."});
  if (action.empty()) return fail({"MissingAction", "The request must contain the parameter Action"});
  const auto& handlers = State::Actions::handlers();
  const auto handler = handlers.find(action);
  if (handler == handlers.end()) {
    return fail({"InvalidAction", "The action " + action + " is not valid for this web service."});
  }
  // Every request takes a token, whatever its answer; an empty bucket answers 503 and takes none.
  if (auto* bucket = s.bucket_for(action); bucket != nullptr && !s.take_token(*bucket)) {
    ++stats.throttled;
    return error_response({"RequestLimitExceeded", "Request limit exceeded.", 503}, request_id);
  }
  if (params.str("DryRun") == "true") {
    return fail({"DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412});
  }
  Buffer body;
  put(body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{}Response xmlns=\"{}\"><requestId>{}</requestId>", action,
      k_xmlns, request_id);
  State::Actions actions(s, params, body);
  if (auto answered = (actions.*(handler->second))(); !answered) return fail(answered.error());
  put(body, "</{}Response>", action);
  return xml_response(200, fmt::to_string(body));
}

namespace {

class DirectHttp final : public ec2::HttpClient {
 public:
  explicit DirectHttp(Account& account) : account_(account) {}
  [[nodiscard]] ec2::Result<ec2::HttpResponse> send(const ec2::HttpRequest& request) override {
    return account_.serve(request);
  }

 private:
  Account& account_;
};

}  // namespace

std::unique_ptr<ec2::Ec2Client> direct_client(Account& account, const ec2::Clock& clock, ec2::Sleeper& sleeper,
                                              ec2::RandomSource& random, int max_attempts) {
  // Member by member, not one designated initializer: g++ 12 at -O3 takes the temporary's
  // defaulted strings (http.user_agent) for uninitialized (-Wmaybe-uninitialized, a false
  // positive that -Werror turns into a failed Release build).
  ec2::Ec2ClientOptions options{.region = "us-east-1"};
  options.endpoint =
      ec2::Endpoint{.url = "http://ec2.sim/", .scheme = "http", .host = "ec2.sim", .path = "/", .configured = true};
  options.credentials = std::make_shared<ec2::StaticCredentialsProvider>(
      ec2::Credentials{.access_key_id = "AKIDSIM", .secret_access_key = ec2::SecretString(std::string("secret")),
                       .source = "static"});
  options.retry = ec2::RetryOptions{.max_attempts = max_attempts};
  options.http_client = std::make_shared<DirectHttp>(account);
  options.clock = &clock;
  options.sleeper = &sleeper;
  options.random = &random;
  auto made = ec2::Ec2Client::create(std::move(options), ec2::fixed_environment({}));
  if (!made) throw std::runtime_error("fleet: " + made.error().describe());
  return std::move(*made);
}

}  // namespace fleet
