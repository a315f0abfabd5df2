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

// The shared loop: describe the pending ids, check each, back off, until done or the deadline.
template <class Id, class Item, class Describe, class Check>
Result<std::vector<std::optional<Item>>> wait_loop(std::string_view what, const std::vector<Id>& ids,
                                                   const Describe& describe, const Check& check,
                                                   const WaiterOptions& options, const Clock& clock,
                                                   Sleeper& sleeper, RandomSource& random,
                                                   const Waiter& waiter) {
  std::vector<std::optional<Item>> last(ids.size());
  std::vector<std::size_t> pending(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) pending[i] = i;
  std::map<std::size_t, std::string> reasons;
  const auto started = clock.monotonic();
  const auto deadline = started + options.timeout;
  bool steady = options.steady_for.count() > 0;
  int growing = 0;  // rounds since the steady phase ended
  for (int round = 1;; ++round) {
    for (std::size_t start = 0; start < pending.size(); start += k_ids_per_call) {
      std::vector<std::string> values;
      for (std::size_t k = start; k < std::min(pending.size(), start + k_ids_per_call); ++k) {
        values.push_back(ids[pending[k]].value);
      }
      auto items = describe(values);
      if (!items) {
        // The client already retried; one more round may still succeed before the deadline.
        if (!is_retryable(items.error())) return std::unexpected(std::move(items.error()));
        if (items.error().kind == ErrorKind::Throttled) steady = false;
        log_ec2().warn("wait={} round={} describe failed, will retry error=\"{}\"", what, round,
                       items.error().describe());
        continue;
      }
      for (std::size_t k = start; k < std::min(pending.size(), start + k_ids_per_call); ++k) {
        const std::size_t index = pending[k];
        auto it = std::ranges::find_if(*items, [&](const Item& item) { return item.id == ids[index]; });
        last[index] = it == items->end() ? std::nullopt : std::optional<Item>(*it);
      }
    }
    const std::size_t before = pending.size();
    std::vector<std::size_t> still;
    for (std::size_t index : pending) {
      WaitCheck c = check(ids[index], last[index]);
      if (c.verdict == WaitVerdict::Failed) {
        return fail(ErrorKind::IncorrectState, std::string(what) + ": " + ids[index].value + " " + c.reason);
      }
      if (c.verdict == WaitVerdict::Pending) {
        still.push_back(index);
        reasons[index] = std::move(c.reason);
      }
    }
    pending = std::move(still);
    if (pending.empty()) return last;

    const auto now = clock.monotonic();
    if (now >= deadline) {
      std::string list;
      for (std::size_t index : pending) {
        if (!list.empty()) list += ", ";
        list += ids[index].value;
        if (!reasons[index].empty()) list += " (" + reasons[index] + ")";
      }
      return fail(ErrorKind::Timeout, std::string(what) + ": still waiting after " +
                                          std::to_string(options.timeout.count() / 1000) + " s for " + list);
    }
    if (steady && now - started >= options.steady_for) steady = false;
    auto base = steady ? options.initial_delay : waiter.delay_before_jitter(growing + 1);
    if (pending.size() < before) {
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
    delay = std::min(delay, std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
    log_ec2().debug("wait={} round={} pending={} next_in_ms={}", what, round, pending.size(), delay.count());
    sleeper.sleep_for(delay);
  }
}

Filter id_filter(std::string name, std::vector<std::string> values) {
  return Filter{.name = std::move(name), .values = std::move(values)};
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
  auto describe = [&](std::vector<std::string> values) {
    return api.describe_volumes(
        DescribeVolumesOptions{.filters = {id_filter("volume-id", std::move(values))}});
  };
  return wait_loop<VolumeId, Volume>("volumes", ids, describe, check, options_, clock_, sleeper_, random_,
                                     *this);
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
