#include "agent/core/freeze_window.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "agent/core/log.h"
#include "platform/freeze_state.h"
#include "ebsnap/try.h"

namespace agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using TimePoint = std::chrono::steady_clock::time_point;

class ProcessGuard final : public FreezeGuard {
 public:
  explicit ProcessGuard(platform::ThawGuardian guardian) : guardian_(std::move(guardian)) {}
  platform::Result<void> exclude(const std::string& mount_point) override { return guardian_.exclude(mount_point); }
  platform::Result<platform::GuardianReport> finish() override { return guardian_.finish(); }
  bool thawed_on_its_own() override { return guardian_.poll_report().has_value(); }
  platform::Result<int> hold() override { return guardian_.hold(); }

 private:
  // Its destructor finishes it when we never did: the guardian never outlives our interest.
  platform::ThawGuardian guardian_;
};

}  // namespace

platform::Result<std::unique_ptr<FreezeGuard>> ProcessGuardianLauncher::start(const platform::GuardianOptions& options) {
  EBSNAP_TRY_ASSIGN(auto guardian, platform::ThawGuardian::start(options));
  return std::make_unique<ProcessGuard>(std::move(guardian));
}

struct FreezeWindow::State {
  const ec2::Clock& clock;
  std::unique_ptr<FreezeGuard> guard;
  std::optional<platform::FreezeSet> set;
  TimePoint guard_started{};
  std::vector<std::string> already_frozen;
  std::string group;
  bool closed = false;
};

FreezeWindow::FreezeWindow(std::unique_ptr<State> state) : state_(std::move(state)) {}
FreezeWindow::FreezeWindow(FreezeWindow&&) noexcept = default;

FreezeWindow::~FreezeWindow() {
  if (state_ && !state_->closed) (void)close();
}

platform::Result<FreezeWindow> FreezeWindow::open(GuardianLauncher& guardians, platform::FreezeOps& ops,
                                                 const ec2::Clock& clock, FreezeWindowOptions options) {
  auto state = std::make_unique<State>(State{.clock = clock, .group = options.group});
  // The guardian exists before the first FIFREEZE: from then on our death thaws.
  state->guard_started = clock.monotonic();
  auto started = guardians.start({.mount_points = options.mount_points,
                                  .freeze_bound = options.bound,
                                  .state_dir = options.run_dir,
                                  .hold_socket = options.hold_socket,
                                  .hold_result = options.hold_result});
  if (!started) {
    return platform::fail(started.error().kind, "thaw guardian: " + started.error().describe() + "; nothing was frozen");
  }
  state->guard = std::move(*started);
  auto* raw = state.get();
  auto set = platform::FreezeSet::freeze(
      ops, options.mount_points,
      {.runtime_dir = options.run_dir,
       .now = [&clock] { return clock.monotonic(); },
       .on_already_frozen = [raw](const std::string& mount_point) {
         raw->already_frozen.push_back(mount_point);
         if (auto ex = raw->guard->exclude(mount_point); !ex) {
           log_agent().warn("thaw guardian exclude mount_point={} error=\"{}\"", mount_point,
                                    ex.error().describe());
         }
       }});
  if (!set) {
    // FreezeSet thawed what it froze; the guardian thaws anything left of ours and leaves.
    auto report = state->guard->finish();
    state->closed = true;
    return platform::fail(set.error().kind, "freeze: " + set.error().describe() +
                                                (report ? "" : "; thaw guardian: " + report.error().describe()));
  }
  state->set.emplace(std::move(*set));
  return FreezeWindow(std::move(state));
}

const std::vector<std::string>& FreezeWindow::already_frozen() const { return state_->already_frozen; }

platform::Result<HeldWindow> FreezeWindow::hold() {
  auto pid = state_->guard->hold();
  if (!pid) {
    (void)close();
    return std::unexpected(pid.error());
  }
  state_->closed = true;
  state_->set->release();
  HeldWindow out{.guardian_pid = *pid};
  std::optional<TimePoint> first;
  for (const auto& e : state_->set->entries()) {
    if (e.state == platform::FreezeState::Frozen && (!first || e.freeze_started < *first)) first = e.freeze_started;
  }
  if (first) out.freeze_offset = duration_cast<std::chrono::milliseconds>(*first - state_->guard_started);
  log_agent().info("hold group={} guardian_pid={}", state_->group, *pid);
  return out;
}

bool FreezeWindow::expired() { return !state_->closed && state_->guard->thawed_on_its_own(); }

ForeignFreeze resolve_foreign_freeze(platform::FreezeOps& ops, const std::string& run_dir,
                                     const std::string& mount_point, bool found_frozen) {
  std::optional<int> dead_owner;
  std::optional<int> live_owner;
  if (auto records = platform::read_freeze_states(run_dir)) {
    for (const auto& r : *records) {
      if (r.agent_pid == ::getpid() || std::ranges::find(r.mount_points, mount_point) == r.mount_points.end()) continue;
      const bool alive = ::kill(r.agent_pid, 0) == 0 || errno != ESRCH;
      (alive ? live_owner : dead_owner) = r.agent_pid;
    }
  }
  if (live_owner) {
    return {.reason = mount_point + " is frozen by ebsnap pid " + std::to_string(*live_owner) +
                      ", still running: left frozen"};
  }
  if (!dead_owner) {
    return {.reason = found_frozen ? mount_point + " is frozen by another process (not ebsnap): left frozen"
                                   : mount_point + " is not recorded frozen by an ebsnap that died: not thawed (a freeze "
                                                   "by another process, if any, is not ours to end)"};
  }
  auto thawed = ops.thaw(mount_point);
  log_agent().warn("thaw mount_point={} left_frozen_by_dead_pid={} thawed={}", mount_point, *dead_owner,
                   thawed ? "yes" : thawed.error().describe());
  const std::string left = mount_point + " was left frozen by ebsnap pid " + std::to_string(*dead_owner) + ", which died";
  if (!thawed && thawed.error().kind != platform::ErrorKind::NotFrozen) {
    return {.action = ForeignFreeze::Action::ThawFailed,
            .reason = left + "; FITHAW failed: " + thawed.error().describe() + " (run `ebsnap thaw --all`)"};
  }
  return {.action = ForeignFreeze::Action::Thawed, .reason = left + ": thawed it"};
}

std::string not_snapshotted(const ForeignFreeze& resolved) {
  return resolved.reason + "; not snapshotted by this run" +
         (resolved.action == ForeignFreeze::Action::Thawed ? " (run it again)" : "");
}

FreezeWindowReport FreezeWindow::close() {
  FreezeWindowReport out{.already_frozen = state_->already_frozen};
  state_->closed = true;
  auto thawed = state_->set->thaw();
  if (!thawed) {
    log_agent().error("thaw group={} error=\"{}\" (the guardian thaws what is left)", state_->group, thawed.error().describe());
  }
  auto report = state_->guard->finish();
  if (report) {
    out.trigger = report->trigger;
  } else {
    log_agent().error("thaw guardian error=\"{}\"", report.error().describe());
  }
  if (!thawed && !report) out.error = "thaw failed and the guardian did not report: run `ebsnap thaw --all` now";

  const std::optional<TimePoint> guardian_thaw =
      report ? std::optional{state_->guard_started + report->elapsed} : std::nullopt;
  std::optional<TimePoint> first;
  std::optional<TimePoint> last;
  for (const auto& e : state_->set->entries()) {
    std::optional<TimePoint> end;
    if (e.state == platform::FreezeState::Thawed) {
      end = e.thawed_at;
    } else if (e.state == platform::FreezeState::NotFrozen) {
      // Thawed before our FITHAW (the guardian's bound passed first): not proven consistent.
      out.held = false;
      end = guardian_thaw.value_or(e.thawed_at);
    } else if (e.state == platform::FreezeState::ThawFailed) {
      end = guardian_thaw;
    }
    if (!end) continue;  // someone else's freeze: not ours to measure
    out.mounts[e.mount_point] = duration_cast<microseconds>(*end - e.freeze_started);
    if (!first || e.freeze_started < *first) first = e.freeze_started;
    if (!last || *end > *last) last = *end;
  }
  if (first && last) out.window = duration_cast<microseconds>(*last - *first);
  log_agent().info("thaw group={} freeze_window_us={} guardian_trigger={} held={}", state_->group,
                           out.window ? out.window->count() : -1,
                           out.trigger ? to_string(*out.trigger) : "unknown", out.held);
  return out;
}

}  // namespace agent
