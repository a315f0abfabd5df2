#include "ec2/waiter.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "ebsnap/try.h"
#include "ec2/log.h"
#include "ec2/retry.h"

namespace ec2 {
namespace {

// EC2 takes up to 200 values per filter.
constexpr std::size_t k_ids_per_call = 200;
// After a round that found part of the pending ids ready, the next one comes this much sooner.
constexpr int k_wave_divisor = 3;

// The shared loop: ids join (all at once, or one by one as a caller's creates return), each
// round describes every pending id in batches, checks each, backs off; an id is pending until its
// check says Done or its deadline (timeout from when it joined) passes.
template <class Id, class Item, class Describe, class Check>
Result<void> poll_loop(std::string_view what, const std::function<std::optional<std::vector<Id>>(bool)>& join,
                       const Describe& describe, const Check& check,
                       const std::function<void(const Id&, const std::string&)>& expired, const WaiterOptions& options,
                       const Clock& clock, Sleeper& sleeper, RandomSource& random, const Waiter& waiter) {
  struct Pending {
    Id id;
    std::chrono::steady_clock::time_point deadline;
    std::optional<Item> last;
    std::string reason;
  };
  std::vector<Pending> pending;
  bool more = true;  // join may still bring ids
  bool throttled = false;
  bool steady = false;
  auto steady_since = clock.monotonic();
  int growing = 0;  // rounds since the steady phase ended
  for (int round = 1;; ++round) {
    if (more) {
      auto joined = join(pending.empty());
      if (!joined) {
        more = false;
      } else if (!joined->empty()) {
        const auto now = clock.monotonic();
        for (auto& id : *joined) pending.push_back(Pending{.id = std::move(id), .deadline = now + options.timeout});
        // New ids are polled at the steady pace again, unless EC2 has throttled this wait.
        steady = !throttled && options.steady_for.count() > 0;
        steady_since = now;
        growing = 0;
      }
    }
    if (pending.empty()) {
      if (!more) return {};
      continue;
    }
    for (std::size_t start = 0; start < pending.size(); start += k_ids_per_call) {
      const std::size_t stop = std::min(pending.size(), start + k_ids_per_call);
      std::vector<std::string> values;
      for (std::size_t k = start; k < stop; ++k) values.push_back(pending[k].id.value);
      auto items = describe(values);
      if (!items) {
        // The client already retried; one more round may still succeed before the deadline.
        if (!is_retryable(items.error())) return std::unexpected(std::move(items.error()));
        if (items.error().kind == ErrorKind::Throttled) throttled = true;
        log_ec2().warn("wait={} round={} describe failed, will retry error=\"{}\"", what, round,
                       items.error().describe());
        continue;
      }
      for (std::size_t k = start; k < stop; ++k) {
        auto it = std::ranges::find_if(*items, [&](const Item& item) { return item.id == pending[k].id; });
        pending[k].last = it == items->end() ? std::nullopt : std::optional<Item>(*it);
      }
    }
    if (throttled) steady = false;
    const std::size_t before = pending.size();
    std::vector<Pending> still;
    for (auto& p : pending) {
      WaitCheck c = check(p.id, p.last);
      if (c.verdict == WaitVerdict::Failed) {
        return fail(ErrorKind::IncorrectState, std::string(what) + ": " + p.id.value + " " + c.reason);
      }
      if (c.verdict == WaitVerdict::Pending) {
        p.reason = std::move(c.reason);
        still.push_back(std::move(p));
      }
    }
    pending = std::move(still);
    const bool some_ready = pending.size() < before;
    const auto now = clock.monotonic();
    std::erase_if(pending, [&](const Pending& p) {
      if (now < p.deadline) return false;
      expired(p.id, p.reason);
      return true;
    });
    if (pending.empty()) continue;  // join says whether more come

    if (steady && now - steady_since >= options.steady_for) steady = false;
    auto base = steady ? options.initial_delay : waiter.delay_before_jitter(growing + 1);
    if (some_ready) {
      // Some became ready and some did not: what was started together finishes together, so
      // the rest of this wave is likely a few tens of milliseconds behind. The next round
      // comes after a third of the delay, and the schedule does not advance; a round that
      // finds none ready ends the quick rounds.
      base /= k_wave_divisor;
    } else if (!steady) {
      ++growing;
    }
    // Part fixed, part random (jitter), so rounds never collapse to zero.
    const double share = 1.0 - options.jitter * (1.0 - random.uniform());
    auto delay = std::chrono::milliseconds{static_cast<long long>(static_cast<double>(base.count()) * share)};
    const auto first_deadline = std::ranges::min(pending, {}, &Pending::deadline).deadline;
    delay = std::min(delay, std::chrono::ceil<std::chrono::milliseconds>(first_deadline - now));
    log_ec2().debug("wait={} round={} pending={} next_in_ms={}", what, round, pending.size(), delay.count());
    sleeper.sleep_for(delay);
  }
}

// "volumes: still waiting after 60 s for vol-1 (state creating), vol-2"
Error timeout_error(std::string_view what, std::chrono::milliseconds timeout, const std::string& list) {
  return Error{.kind = ErrorKind::Timeout,
               .message = std::string(what) + ": still waiting after " + std::to_string(timeout.count() / 1000) +
                          " s for " + list};
}

std::string with_reason(const std::string& id, const std::string& reason) {
  return reason.empty() ? id : id + " (" + reason + ")";
}

// The fixed form: every id from the start, so one deadline; on success the items in the order of
// `ids` as last described, and a timeout is one error naming every id still pending.
template <class Id, class Item, class Describe, class Check>
Result<std::vector<std::optional<Item>>> wait_loop(std::string_view what, const std::vector<Id>& ids,
                                                   const Describe& describe, const Check& check,
                                                   const WaiterOptions& options, const Clock& clock,
                                                   Sleeper& sleeper, RandomSource& random,
                                                   const Waiter& waiter) {
  std::map<Id, std::optional<Item>> last;
  bool given = false;
  const std::function<std::optional<std::vector<Id>>(bool)> join = [&](bool) -> std::optional<std::vector<Id>> {
    if (given) return std::nullopt;
    given = true;
    return ids;
  };
  const auto recorded = [&](const Id& id, const std::optional<Item>& item) {
    last[id] = item;
    return check(id, item);
  };
  std::string timed_out;
  const std::function<void(const Id&, const std::string&)> expired = [&](const Id& id, const std::string& reason) {
    if (!timed_out.empty()) timed_out += ", ";
    timed_out += with_reason(id.value, reason);
  };
  if (auto polled =
          poll_loop<Id, Item>(what, join, describe, recorded, expired, options, clock, sleeper, random, waiter);
      !polled) {
    return std::unexpected(std::move(polled.error()));
  }
  if (!timed_out.empty()) return std::unexpected(timeout_error(what, options.timeout, timed_out));
  std::vector<std::optional<Item>> out;
  for (const auto& id : ids) out.push_back(last[id]);
  return out;
}

Filter id_filter(std::string name, std::vector<std::string> values) {
  return Filter{.name = std::move(name), .values = std::move(values)};
}

// One DescribeVolumes of these ids.
auto describe_volumes_by_id(Ec2Api& api) {
  return [&api](std::vector<std::string> values) {
    return api.describe_volumes(DescribeVolumesOptions{.filters = {id_filter("volume-id", std::move(values))}});
  };
}

}  // namespace

Waiter::Waiter(WaiterOptions options, const Clock& clock, Sleeper& sleeper, RandomSource& random)
    : options_(options), clock_(clock), sleeper_(sleeper), random_(random) {}

Waiter::Waiter(WaiterOptions options) : Waiter(options, system_clock(), system_sleeper(), system_random()) {}

std::chrono::milliseconds Waiter::delay_before_jitter(int round) const {
  const double d = static_cast<double>(options_.initial_delay.count()) *
                   std::pow(options_.multiplier, static_cast<double>(std::max(0, round - 1)));
  return std::chrono::milliseconds{
      static_cast<long long>(std::min(d, static_cast<double>(options_.max_delay.count())))};
}

Result<std::vector<std::optional<Volume>>> Waiter::volumes_until(Ec2Api& api,
                                                                 const std::vector<VolumeId>& ids,
                                                                 const VolumeCheck& check) {
  const auto describe = describe_volumes_by_id(api);
  return wait_loop<VolumeId, Volume>("volumes", ids, describe, check, options_, clock_, sleeper_, random_,
                                     *this);
}

Result<void> Waiter::volumes_joining(Ec2Api& api, const Join& join, const VolumeCheck& check,
                                     const Expired& expired) {
  const auto describe = describe_volumes_by_id(api);
  const std::function<void(const VolumeId&, const std::string&)> timed_out = [&](const VolumeId& id,
                                                                                 const std::string& reason) {
    expired(id, timeout_error("volumes", options_.timeout, with_reason(id.value, reason)));
  };
  return poll_loop<VolumeId, Volume>("volumes", join, describe, check, timed_out, options_, clock_, sleeper_,
                                     random_, *this);
}

Result<std::vector<std::optional<Snapshot>>> Waiter::snapshots_until(Ec2Api& api,
                                                                     const std::vector<SnapshotId>& ids,
                                                                     const SnapshotCheck& check) {
  auto describe = [&](std::vector<std::string> values) {
    return api.describe_snapshots(
        DescribeSnapshotsOptions{.filters = {id_filter("snapshot-id", std::move(values))}});
  };
  return wait_loop<SnapshotId, Snapshot>("snapshots", ids, describe, check, options_, clock_, sleeper_,
                                         random_, *this);
}

Result<std::vector<Volume>> Waiter::volumes(Ec2Api& api, const std::vector<VolumeId>& ids,
                                            VolumeState target) {
  const auto check = [target](const VolumeId&, const std::optional<Volume>& v) -> WaitCheck {
    if (!v) {
      if (target == VolumeState::Deleted) return {WaitVerdict::Done, {}};
      return {WaitVerdict::Pending, "not visible yet"};
    }
    if (v->state == target) return {WaitVerdict::Done, {}};
    if (v->state == VolumeState::Error) return {WaitVerdict::Failed, "is in state error"};
    if (target == VolumeState::Available &&
        (v->state == VolumeState::Deleting || v->state == VolumeState::Deleted)) {
      return {WaitVerdict::Failed, "is being deleted"};
    }
    return {WaitVerdict::Pending, "state " + std::string(to_string(v->state))};
  };
  EBSNAP_TRY_ASSIGN(auto r, volumes_until(api, ids, check));
  std::vector<Volume> out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    out.push_back(r[i] ? *r[i] : Volume{.id = ids[i], .state = VolumeState::Deleted});
  }
  return out;
}

Result<std::vector<Volume>> Waiter::attachments(Ec2Api& api, const std::vector<VolumeId>& ids,
                                                const InstanceId& instance, AttachmentState target) {
  const auto check = [&](const VolumeId&, const std::optional<Volume>& v) -> WaitCheck {
    if (!v) {
      if (target == AttachmentState::Detached) return {WaitVerdict::Done, {}};
      return {WaitVerdict::Failed, "no longer exists"};
    }
    auto a = std::ranges::find_if(v->attachments,
                                  [&](const VolumeAttachment& x) { return x.instance_id == instance; });
    if (a == v->attachments.end()) {
      if (target == AttachmentState::Detached) return {WaitVerdict::Done, {}};
      return {WaitVerdict::Failed,
              "is not attached to " + instance.value + " (state " + std::string(to_string(v->state)) + ")"};
    }
    if (a->state == target) return {WaitVerdict::Done, {}};
    return {WaitVerdict::Pending, "attachment " + std::string(to_string(a->state))};
  };
  EBSNAP_TRY_ASSIGN(auto r, volumes_until(api, ids, check));
  std::vector<Volume> out;
  for (std::size_t i = 0; i < ids.size(); ++i) out.push_back(r[i] ? *r[i] : Volume{.id = ids[i]});
  return out;
}

Result<std::vector<Snapshot>> Waiter::snapshots(Ec2Api& api, const std::vector<SnapshotId>& ids,
                                                SnapshotState target) {
  const auto check = [target](const SnapshotId&, const std::optional<Snapshot>& s) -> WaitCheck {
    if (!s) return {WaitVerdict::Pending, "not visible yet"};
    if (s->state == target) return {WaitVerdict::Done, {}};
    if (s->state == SnapshotState::Error) {
      return {WaitVerdict::Failed,
              "is in state error" + (s->state_message.empty() ? "" : ": " + s->state_message)};
    }
    return {WaitVerdict::Pending,
            "state " + std::string(to_string(s->state)) + " " + std::to_string(s->progress) + "%"};
  };
  EBSNAP_TRY_ASSIGN(auto r, snapshots_until(api, ids, check));
  std::vector<Snapshot> out;
  for (auto& s : r) out.push_back(std::move(*s));
  return out;
}

}  // namespace ec2
