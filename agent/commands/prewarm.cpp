#include "agent/commands/prewarm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "agent/core/group_lock.h"
#include "agent/core/log.h"
#include "agent/core/progress.h"

namespace agent {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

constexpr std::uint64_t k_mib = 1ULL << 20;

double mib(std::uint64_t bytes) {
  return static_cast<double>(bytes) / static_cast<double>(k_mib);
}

// One group: its prewarm volumes, observed, decided, then read (or waited for) one at a time.
class GroupPrewarm {
 public:
  GroupPrewarm(const RunContext& c, const GroupConfig& group, const PrewarmOptions& options,
               RunReport& report)
      : c_(c),
        s_(c.services),
        group_(group),
        options_(options),
        report_(report),
        states_(s_.options.run_dir) {}

  void run() {
    auto& out = report_.group(group_.name);
    std::vector<const VolumeConfig*> volumes;
    std::vector<VolumeKey> keys;
    for (const auto& v : group_.volumes) {
      if (!v.prewarm) continue;
      volumes.push_back(&v);
      keys.push_back({group_.name, v.mount_point});
    }
    if (volumes.empty()) {
      log_agent().info("prewarm group={} volumes=0: no volume has \"prewarm\": true", group_.name);
      return;
    }
    std::optional<GroupLocks> lock;
    if (!options_.wait && !s_.options.dry_run) {
      auto taken = GroupLocks::acquire(LockRequest{.run_dir = s_.options.run_dir,
                                                   .groups = {group_.name + "@prewarm"},
                                                   .command = "prewarm",
                                                   .wait = milliseconds{0}},
                                       s_.clock, s_.sleeper);
      if (!taken) {
        out.error = "another prewarm of the group is running: " + taken.error().message;
        return;
      }
      lock = std::move(*taken);
    }
    const auto observed =
        observe_mounts(s_.ec2, s_.mounter, s_.devices, c_.filters, keys, c_.instance.instance_id);
    for (std::size_t i = 0; i < volumes.size(); ++i) {
      VolumeReport v{
          .mount_point = volumes[i]->mount_point, .device = volumes[i]->device, .outcome = Outcome::Failed};
      one_volume(*volumes[i], observed[i], v);
      out.volumes.push_back(std::move(v));
    }
  }

 private:
  void one_volume(const VolumeConfig& config, const ObservedMount& observed, VolumeReport& v) {
    if (observed.problem) {
      v.reason = *observed.problem;
      return;
    }
    std::uint64_t size = 0;
    if (observed.mounted.ours()) {
      auto sized = options_.devices.size_of(observed.mounted.source);
      if (!sized) {
        v.reason = sized.error().describe();
        return;
      }
      size = *sized;
    }
    auto saved = states_.load(group_.name, config.mount_point);
    if (!saved) {
      v.reason = saved.error();
      return;
    }
    const auto decision = decide_prewarm(observed, *saved, size);
    if (decision.action != PrewarmAction::NotMounted) {
      v.volume_id = decision.volume_id;
      v.devnode = decision.devnode;
      v.prewarm_from_bytes = static_cast<std::int64_t>(decision.from);
    }
    if (*saved && (*saved)->volume_id == decision.volume_id) report_prewarm_state(**saved, v);
    if (decision.action == PrewarmAction::NotMounted) {
      // Nothing to read is no failure; nothing to wait for is: what waits would wait for ever.
      v.outcome = options_.wait ? Outcome::Failed : Outcome::Skipped;
      v.reason = decision.why;
      return;
    }
    if (s_.options.dry_run) {
      v.outcome = Outcome::Planned;
      v.plan.push_back(options_.wait ? "wait until " + decision.devnode + " (" + decision.volume_id +
                                           ") is read in full"
                                     : describe(decision, config.prewarm_mibps));
      return;
    }
    if (options_.wait) {
      wait_for(decision, v);
    } else if (decision.action == PrewarmAction::AlreadyDone) {
      v.outcome = Outcome::Prewarmed;
      v.reason = "already pre-warmed";
      v.prewarm_bytes_read = 0;
    } else {
      read(config, decision, v);
    }
  }

  void read(const VolumeConfig& config, const PrewarmDecision& d, VolumeReport& v) {
    PrewarmState state{.group = group_.name,
                       .mount_point = config.mount_point,
                       .volume_id = d.volume_id,
                       .size_bytes = d.size_bytes,
                       .offset = d.from};
    const auto save = [&] {
      if (auto saved = states_.save(state); !saved) {
        log_agent().warn("prewarm group={} mount_point={} state=not-saved error=\"{}\"", group_.name,
                         config.mount_point, saved.error());
      }
    };
    save();  // list shows the volume from the start; a stale file of another volume is gone
    log_agent().info("prewarm group={} mount_point={} volume_id={} device={} from={} size={} mibps_limit={}",
                     group_.name, config.mount_point, d.volume_id, d.devnode, d.from, d.size_bytes,
                     config.prewarm_mibps ? std::to_string(*config.prewarm_mibps) : "none");
    const auto started = s_.clock.monotonic();
    auto checkpointed = started;
    Progress progress(s_.clock, "prewarm " + group_.name + " " + config.mount_point, options_.progress_bar);
    const auto detail = [&](std::uint64_t offset) {
      const auto elapsed = std::chrono::duration<double>(s_.clock.monotonic() - started).count();
      const double rate = elapsed > 0 ? mib(offset - d.from) / elapsed : 0;
      const auto eta = rate > 0
                           ? fmt::format(" ETA {}", format_age(std::chrono::seconds{static_cast<std::int64_t>(
                                                        mib(d.size_bytes - offset) / rate)}))
                           : std::string();
      return fmt::format("{}% {:.1f} MiB/s{}",
                         PrewarmState{.size_bytes = d.size_bytes, .offset = offset}.percent(), rate, eta);
    };
    platform::ReadThroughOptions options{
        .from = d.from,
        .bytes_per_second =
            config.prewarm_mibps ? static_cast<std::uint64_t>(*config.prewarm_mibps) * k_mib : 0,
        .progress =
            [&](std::uint64_t offset, std::uint64_t size) {
              state.offset = offset;
              if (s_.clock.monotonic() - checkpointed >= k_prewarm_checkpoint_every) {
                save();
                checkpointed = s_.clock.monotonic();
              }
              progress.update(offset, size, detail(offset), [&] {
                log_agent().info("prewarm group={} mount_point={} progress=\"{}\" offset={}", group_.name,
                                 config.mount_point, detail(offset), offset);
              });
            },
        .stop = options_.stop};
    auto result = options_.devices.read(d.devnode, options);
    progress.finish(state.offset, d.size_bytes, detail(state.offset));
    const auto elapsed = duration_cast<milliseconds>(s_.clock.monotonic() - started);
    v.duration_ms = elapsed.count();
    if (result) {
      state.offset = result->offset;
      state.done = result->complete();
      v.prewarm_bytes_read = static_cast<std::int64_t>(result->bytes_read);
      if (elapsed.count() > 0) {
        v.prewarm_mibps =
            std::round(mib(result->bytes_read) * 10'000.0 / static_cast<double>(elapsed.count())) / 10.0;
      }
    }
    save();
    report_prewarm_state(state, v);
    v.steps.push_back(describe(d, config.prewarm_mibps));
    if (!result) {
      v.outcome = Outcome::Failed;
      v.reason =
          result.error().describe() +
          fmt::format("; {} bytes of {} read, the next run continues from there", state.offset, d.size_bytes);
    } else if (result->stopped) {
      v.outcome = Outcome::Interrupted;
      v.reason = fmt::format("stopped at {}% ({} of {} bytes); the next run continues from there",
                             state.percent(), state.offset, d.size_bytes);
    } else {
      v.outcome = Outcome::Prewarmed;
    }
    log_agent().info(
        "prewarm group={} mount_point={} volume_id={} status={} offset={} bytes_read={} duration_ms={}",
        group_.name, config.mount_point, d.volume_id, to_string(v.outcome), state.offset,
        v.prewarm_bytes_read.value_or(0), elapsed.count());
  }

  void wait_for(const PrewarmDecision& d, VolumeReport& v) {
    log_agent().info("prewarm group={} mount_point={} volume_id={} wait=until-done", group_.name,
                     v.mount_point, d.volume_id);
    for (;;) {
      auto saved = states_.load(group_.name, v.mount_point);
      if (!saved) {
        v.outcome = Outcome::Failed;
        v.reason = saved.error();
        return;
      }
      if (*saved && (*saved)->volume_id == d.volume_id) report_prewarm_state(**saved, v);
      if (resume_offset(*saved, d.volume_id, d.size_bytes) == d.size_bytes) {
        v.outcome = Outcome::Prewarmed;
        v.reason = "waited: pre-warm complete";
        return;
      }
      if (options_.stop != nullptr && options_.stop->load()) {
        v.outcome = Outcome::Interrupted;
        v.reason = "stopped while waiting for the pre-warm";
        return;
      }
      s_.sleeper.sleep_for(k_prewarm_wait_poll);
    }
  }

  const RunContext& c_;
  Services& s_;
  const GroupConfig& group_;
  const PrewarmOptions& options_;
  RunReport& report_;
  PrewarmStates states_;
};

}  // namespace

PrewarmDevices real_prewarm_devices() {
  return PrewarmDevices{
      .size_of = [](const std::string& devnode) -> platform::Result<std::uint64_t> {
        auto d = platform::open_direct_device(devnode);
        if (!d) return std::unexpected(d.error());
        return d->size_bytes;
      },
      .read = [](const std::string& devnode,
                 const platform::ReadThroughOptions& options) -> platform::Result<platform::ReadThrough> {
        auto d = platform::open_direct_device(devnode);
        if (!d) return std::unexpected(d.error());
        return platform::read_through(d->fd.get(), d->size_bytes, options);
      }};
}

PrewarmDecision decide_prewarm(const ObservedMount& observed, const std::optional<PrewarmState>& saved,
                               std::uint64_t size_bytes) {
  if (!observed.mounted.ours()) {
    return PrewarmDecision{.action = PrewarmAction::NotMounted,
                           .why = observed.mounted.mounted()
                                      ? "not our volume mounted there (" + observed.mounted.why_not + ")"
                                      : "no volume mounted there: nothing to pre-warm"};
  }
  PrewarmDecision d{.action = PrewarmAction::Read,
                    .devnode = observed.mounted.source,
                    .volume_id = observed.mounted.volume->id.value,
                    .size_bytes = size_bytes,
                    .from = resume_offset(saved, observed.mounted.volume->id.value, size_bytes)};
  if (d.from == size_bytes) d.action = PrewarmAction::AlreadyDone;
  return d;
}

std::string describe(const PrewarmDecision& d, const std::optional<std::int32_t>& mibps) {
  switch (d.action) {
    case PrewarmAction::NotMounted:
      return "nothing: " + d.why;
    case PrewarmAction::AlreadyDone:
      return fmt::format("nothing: {} ({}) was read in full already", d.devnode, d.volume_id);
    case PrewarmAction::Read:
      break;
  }
  return fmt::format("read {} ({}) from byte {} to {}: {:.0f} MiB, {}", d.devnode, d.volume_id, d.from,
                     d.size_bytes, mib(d.size_bytes - d.from),
                     mibps ? fmt::format("at most {} MiB/s", *mibps) : "unpaced");
}

RunReport prewarm(const RunContext& context, const PrewarmOptions& options) {
  RunReport report = new_report("prewarm", context);
  for (const auto* g : context.groups) GroupPrewarm(context, *g, options, report).run();
  return report;
}

}  // namespace agent
