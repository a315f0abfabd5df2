#include "agent/commands/copy.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <filesystem>
#include <map>
#include <set>

#include "agent/commands/copy_decide.h"
#include "agent/core/epoch_ms.h"
#include "agent/core/group_lock.h"
#include "agent/core/log.h"
#include "agent/core/progress.h"
#include "agent/core/tags.h"
#include "platform/run_dir.h"

namespace agent {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::optional<ec2::TimePoint> parse_copy_intent(std::string_view text) {
  std::string_view digits = text;
  while (!digits.empty() && digits.back() == '\n') digits.remove_suffix(1);
  long long ms = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ms);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return time_from_epoch_ms(ms);
}

namespace {

using Steady = std::chrono::steady_clock;

constexpr milliseconds k_first_backoff{2'000};
constexpr milliseconds k_max_backoff{60'000};
// Poll rounds: fast while copies are young (a small copy completes in seconds), then at most one
// DescribeSnapshots per 15 s for copies that take hours.
constexpr milliseconds k_first_poll{500};
constexpr milliseconds k_max_poll{15'000};
// While a lineage has copies waiting behind the one in flight, a late look delays each of them
// (a backlog copies one run after another): at most 5 s between rounds then.
constexpr milliseconds k_max_poll_backlog{5'000};
// A lost answer whose copy never appeared is sent again at most this many times.
constexpr int k_max_resends = 3;

// The copy's intents: <run_dir>/copy/<region>/<source snapshot id>, holding the wall-clock time
// (ms since the epoch) the call was about to be sent. State files of the run directory
// (platform/run_dir.h): nobody else writes there.
class Intents {
 public:
  Intents(const std::filesystem::path& run_dir, const std::string& region)
      : run_dir_(run_dir), dir_(run_dir / "copy" / region) {}

  // Makes (or checks) the run directory and the intents' under it, each mode 0700; one line when
  // they cannot be used.
  [[nodiscard]] std::optional<std::string> open() const {
    for (const auto& d : {run_dir_, run_dir_ / "copy", dir_}) {
      if (auto checked = platform::check_run_directory(d, true); !checked) return checked.error().describe();
    }
    return std::nullopt;
  }
  // False when it could not be written: the call must not be sent (a crash would leave no trace).
  [[nodiscard]] bool write(const std::string& source, ec2::TimePoint now) {
    const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
    auto written = platform::write_state_file(dir_ / source, std::to_string(ms) + "\n", false);
    if (!written) log_agent().error("copy intent={} error=\"{}\"", (dir_ / source).string(), written.error().describe());
    return written.has_value();
  }
  void remove(const std::string& source) {
    std::error_code ec;
    std::filesystem::remove(dir_ / source, ec);
  }
  // Removes the intents of sources whose copy `there` holds. The copy of a run killed with its
  // CopySnapshot in flight can land before the next run plans: that run finds the copy, never
  // queues the source, so never looks at (nor removes) its intent.
  void remove_copied(const std::vector<ec2::Snapshot>& there) {
    std::set<std::string> copied;
    for (const auto& s : there) {
      if (auto source = ec2::find_tag(s.tags, k_tag_source_snapshot)) copied.insert(*source);
    }
    std::vector<std::string> spent;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      if (copied.contains(e.path().filename().string())) spent.push_back(e.path().filename().string());
    }
    for (const auto& source : spent) remove(source);
  }
  // When the intent for `source` was written; nothing when there is none (or it is unreadable).
  [[nodiscard]] std::optional<ec2::TimePoint> read(const std::string& source) const {
    const auto text = platform::read_state_file(dir_ / source);
    if (!text) return std::nullopt;
    return parse_copy_intent(*text);
  }

 private:
  std::filesystem::path run_dir_;
  std::filesystem::path dir_;
};

// One copy to make or wait for, and where its report line is.
struct Job {
  std::size_t run = 0;   // index into the plan's runs and the report's
  std::size_t copy = 0;  // index into the run's copies and snapshots
};

struct InFlight {
  Job job;
  std::optional<ec2::SnapshotId> copy;  // none: the answer was lost; found by its source tag
  Steady::time_point sent{};            // when the call was sent (or, after a crash, the intent written)
  int resends = 0;
};

class DestinationCopy {
 public:
  DestinationCopy(const RunContext& c, const GroupConfig& group, const CopyDestination& destination,
                  ec2::Ec2Api& there, const CopyOptions& options, CopyReport& out)
      : c_(c),
        s_(c.services),
        group_(group),
        destination_(destination),
        there_(there),
        options_(options),
        out_(out),
        intents_(s_.options.run_dir, destination.region) {
    for (const auto& v : group_.volumes) mount_points_.push_back(v.mount_point);
  }

  void run() {
    auto there = there_.describe_snapshots({.owner_ids = {"self"}, .filters = group_filters()});
    if (!there) return fail("DescribeSnapshots in " + destination_.region + " failed: " + there.error().describe());
    destination_snapshots_ = std::move(*there);
    const auto deadline = s_.clock.monotonic() + c_.config.timeouts.pending_snapshot;
    auto poll = k_first_poll;
    for (;;) {
      auto source = s_.ec2.describe_snapshots(
          {.owner_ids = {"self"}, .filters = lineage_filters(c_.filters, mount_points_)});
      if (!source) return fail("DescribeSnapshots in " + out_.source_region + " failed: " + source.error().describe());
      source_ = std::move(*source);
      plan_ = plan_copy(CopyInputs{.source = source_,
                                   .destination = destination_snapshots_,
                                   .group = group_.name,
                                   .filters = c_.filters,
                                   .mount_points = mount_points_,
                                   .destination_region = destination_.region,
                                   .untagged_window = c_.config.untagged_run_window,
                                   .source_region = out_.source_region,
                                   .not_kept_there = not_kept_there()});
      const bool pending = std::ranges::any_of(plan_.skipped, &SkippedCopyRun::pending);
      if (!options_.wait_for_pending || !pending || s_.clock.monotonic() >= deadline) break;
      s_.sleeper.sleep_for(poll);
      poll = std::min(k_max_poll, poll * 2);
    }
    describe_plan();
    log_agent().info("copy group={} region={} runs={} already_copied={} skipped={} dry_run={}", group_.name,
                     destination_.region, plan_.runs.size(), plan_.already_copied, plan_.skipped.size(),
                     s_.options.dry_run);
    if (!s_.options.dry_run) intents_.remove_copied(destination_snapshots_);
    if (s_.options.dry_run || plan_.runs.empty()) return;
    if (const auto problem = intents_.open()) return fail("cannot keep the copy's intents: " + *problem);
    schedule();
    settle_runs();
  }

 private:
  void fail(const std::string& error) {
    out_.error = error;
    log_agent().error("copy group={} region={} status=failed error=\"{}\"", group_.name, destination_.region, error);
  }

  // The destination's retention for the decide step, when there is one.
  [[nodiscard]] NotKeptThere not_kept_there() const {
    if (!destination_.retention || !options_.retention) return {};
    return [this](const std::vector<ec2::Snapshot>& after) {
      return options_.retention(after, group_.name, c_.filters, *destination_.retention, s_.clock.now());
    };
  }

  [[nodiscard]] std::vector<ec2::Filter> group_filters() const {
    std::vector<ec2::Filter> filters{{"tag:" + std::string(k_tag_group), {group_.name}}};
    for (const auto& f : c_.filters) filters.push_back({"tag:" + f.key, {f.value}});
    return filters;
  }

  void describe_plan() {
    out_.already_copied = static_cast<std::int64_t>(plan_.already_copied);
    for (const auto& s : plan_.skipped) {
      out_.skipped.push_back({.run_id = s.run_id, .time = format_utc(s.time), .reason = s.reason});
    }
    for (const auto& r : plan_.runs) {
      CopyRunReport run{.run_id = r.run_id, .time = format_utc(r.time), .state = "planned"};
      for (const auto& c : r.copies) {
        CopySnapshotReport line{.mount_point = c.mount_point, .source_snapshot_id = c.source->id.value};
        if (c.copy != nullptr) line.snapshot_id = c.copy->id.value;
        switch (c.step) {
          case CopyStep::ToCopy: line.state = "planned"; break;
          case CopyStep::InFlight:
            line.state = "copying";
            line.progress = c.copy->progress;
            break;
          case CopyStep::Copied: line.state = "copied"; break;
          case CopyStep::Failed:
            line.state = "failed";
            line.error = "the copy " + c.copy->id.value + " is in state error" +
                         (c.copy->state_message.empty() ? std::string() : " (" + c.copy->state_message + ")") +
                         "; delete it and copy again";
            break;
        }
        run.snapshots.push_back(std::move(line));
      }
      out_.runs.push_back(std::move(run));
    }
  }

  CopySnapshotReport& line(const Job& j) { return out_.runs[j.run].snapshots[j.copy]; }
  const PlannedCopy& planned(const Job& j) const { return plan_.runs[j.run].copies[j.copy]; }

  // Each lineage's jobs, oldest run first; a lineage copies one at a time.
  void queue_jobs() {
    for (std::size_t r = 0; r < plan_.runs.size(); ++r) {
      for (std::size_t i = 0; i < plan_.runs[r].copies.size(); ++i) {
        const auto& c = plan_.runs[r].copies[i];
        const Job job{r, i};
        if (c.step != CopyStep::ToCopy) intents_.remove(c.source->id.value);  // its copy is found
        if (c.step == CopyStep::Copied) continue;
        if (c.step != CopyStep::Failed) ++total_;
        if (c.step == CopyStep::InFlight) {
          in_flight_.push_back({.job = job, .copy = c.copy->id, .sent = s_.clock.monotonic()});
          busy_[c.mount_point] = true;
          continue;
        }
        queues_[c.mount_point].push_back(job);
      }
    }
    // A lineage whose copy failed copies nothing after it (its chain is broken until the operator
    // deletes the failed copy).
    for (auto& [mount_point, queue] : queues_) {
      for (std::size_t k = 0; k < queue.size(); ++k) {
        if (planned(queue[k]).step != CopyStep::Failed) continue;
        for (std::size_t later = k + 1; later < queue.size(); ++later) not_attempted(queue[later], "an older copy of the lineage failed");
        queue.resize(k);
        break;
      }
    }
  }

  // Intents of a killed run: a call that may have reached EC2. Waited on like a lost answer while
  // younger than k_copy_settle.
  void adopt_intents() {
    const auto now = s_.clock.now();
    for (auto& [mount_point, queue] : queues_) {
      if (queue.empty() || busy_[mount_point]) continue;
      const auto& job = queue.front();
      const auto& source = planned(job).source->id.value;
      const auto written = intents_.read(source);
      if (!written) continue;
      const auto age = now - *written;
      if (age >= k_copy_settle || age < decltype(age)::zero()) {
        intents_.remove(source);
        continue;
      }
      log_agent().info("copy group={} region={} source={} intent_age_ms={} waiting for its copy", group_.name,
                       destination_.region, source, duration_cast<milliseconds>(age).count());
      in_flight_.push_back({.job = job, .sent = s_.clock.monotonic() - duration_cast<milliseconds>(age)});
      line(job).state = "copying";
      busy_[mount_point] = true;
      queue.pop_front();
    }
  }

  void schedule() {
    queue_jobs();
    adopt_intents();
    Progress progress(s_.clock, "copy " + group_.name + " -> " + destination_.region, options_.progress_bar);
    const auto deadline = s_.clock.monotonic() + k_copy_wait_bound;
    auto poll = k_first_poll;
    while (!stopped_) {
      start_copies();
      if (in_flight_.empty() && !any_queued()) break;
      if (s_.clock.monotonic() >= deadline) {
        stop(fmt::format("still copying after {}h ({} in flight); the next copy goes on", k_copy_wait_bound.count(),
                         in_flight_.size()));
        break;
      }
      if (in_flight_.empty()) {
        // Nothing in flight, nothing could start: EC2's limit or throttling. Wait it out.
        sleep_until(backoff_until_);
        continue;
      }
      s_.sleeper.sleep_for(poll);
      const auto before = done_;
      const auto slowest = any_queued() ? k_max_poll_backlog : k_max_poll;
      if (!poll_round()) {
        poll = std::min(slowest, poll * 2);
        continue;
      }
      if (done_ > before) {
        // A copy completed: a slot below EC2's limit is free again, and the next may be quick.
        backoff_until_ = {};
        poll = k_first_poll;
      } else {
        poll = std::min(slowest, poll + poll / 2);
      }
      progress.update(done_, total_, progress_detail(), [&] {
        log_agent().info("copy group={} region={} copied={}/{} in_flight={}", group_.name, destination_.region, done_,
                         total_, in_flight_.size());
      });
    }
    progress.finish(done_, total_, progress_detail());
  }

  [[nodiscard]] std::string progress_detail() const {
    std::int64_t percent = 0;
    for (const auto& f : in_flight_) percent += out_.runs[f.job.run].snapshots[f.job.copy].progress.value_or(0);
    return fmt::format("{}/{} copies, {} in flight{}", done_, total_, in_flight_.size(),
                       in_flight_.empty() ? std::string() : fmt::format(" ({}%)", percent / static_cast<std::int64_t>(in_flight_.size())));
  }

  [[nodiscard]] bool any_queued() const {
    return std::ranges::any_of(queues_, [](const auto& q) { return !q.second.empty(); });
  }

  void sleep_until(Steady::time_point t) {
    const auto wait = duration_cast<milliseconds>(t - s_.clock.monotonic());
    s_.sleeper.sleep_for(std::max(wait, milliseconds{100}));
  }

  // The oldest head of a free lineage, while below the bound and not backing off.
  void start_copies() {
    const auto cap = static_cast<std::size_t>(c_.config.copies_in_flight);
    while (!stopped_ && in_flight_.size() < cap && s_.clock.monotonic() >= backoff_until_) {
      const Job* next = nullptr;
      for (const auto& [mount_point, queue] : queues_) {
        if (queue.empty() || busy_[mount_point]) continue;
        if (next == nullptr || queue.front().run < next->run) next = &queue.front();
      }
      if (next == nullptr) return;
      const Job job = *next;
      if (!start(job)) return;
    }
  }

  // CopySnapshot for `job`. False: nothing more starts now (backing off, or the destination stopped).
  bool start(const Job& job) {
    const auto& c = planned(job);
    const auto& run = plan_.runs[job.run];
    const auto& source_id = c.source->id.value;
    ec2::CopySnapshotOptions o{.source_region = out_.source_region,
                               .source_snapshot_id = c.source->id,
                               .description = fmt::format("ebsnap copy of {} from {} ({} {})", source_id,
                                                          out_.source_region, group_.name, c.mount_point),
                               .tag_specifications = {{.resource_type = "snapshot",
                                                       .tags = copy_tags(group_.name, run, *c.source, out_.source_region)}},
                               .completion_duration_minutes = destination_.completion_minutes};
    if (destination_.kms_key_id) {
      o.encrypted = true;
      o.kms_key_id = *destination_.kms_key_id;
    }
    if (!intents_.write(source_id, s_.clock.now())) {
      stop("cannot write the intent of the copy of " + source_id + " under " + s_.options.run_dir.string());
      return false;
    }
    const auto sent = s_.clock.monotonic();
    auto copied = there_.copy_snapshot(o);
    if (copied) {
      intents_.remove(source_id);
      backoff_ = milliseconds::zero();
      ++out_.copies_started;
      taken(job);
      in_flight_.push_back({.job = job, .copy = *copied, .sent = sent});
      line(job).snapshot_id = copied->value;
      line(job).state = "copying";
      line(job).progress = 0;
      log_agent().info("copy group={} region={} source={} copy={} run_id={}", group_.name, destination_.region,
                       source_id, copied->value, run.run_id);
      return true;
    }
    const auto& e = copied.error();
    if (e.maybe_applied) {
      // The answer was lost: the copy may exist. Found by its tag, or sent again once k_copy_settle passed.
      taken(job);
      in_flight_.push_back({.job = job, .sent = sent, .resends = resends_[source_id]});
      line(job).state = "copying";
      log_agent().warn("copy group={} region={} source={} answer lost; looking for the copy by its tag error=\"{}\"",
                       group_.name, destination_.region, source_id, e.describe());
      return true;
    }
    intents_.remove(source_id);
    if (e.kind == ec2::ErrorKind::LimitExceeded || e.kind == ec2::ErrorKind::Throttled) {
      if (e.kind == ec2::ErrorKind::Throttled) {
        ++out_.throttled;
      } else {
        ++out_.limit_exceeded;
      }
      back_off();
      log_agent().warn("copy group={} region={} source={} {} in_flight={} next_in_ms={}", group_.name,
                       destination_.region, source_id, e.aws_code.empty() ? "throttled" : e.aws_code,
                       in_flight_.size(), duration_cast<milliseconds>(backoff_until_ - s_.clock.monotonic()).count());
      return false;
    }
    backoff_ = milliseconds::zero();
    if (e.kind == ec2::ErrorKind::NotFound && e.aws_code.starts_with("InvalidSnapshot")) {
      // The source was deleted meanwhile (prune): that run cannot be copied whole any more.
      taken(job);
      failed(job, "the source snapshot is gone: " + e.describe());
      return true;
    }
    // IAM, KMS, a bad parameter: every later call would fail alike.
    taken(job);
    failed(job, e.describe());
    stop("CopySnapshot failed: " + e.describe());
    return false;
  }

  void back_off() {
    backoff_ = backoff_ == milliseconds::zero() ? k_first_backoff : std::min(k_max_backoff, backoff_ * 2);
    backoff_until_ = s_.clock.monotonic() + backoff_;
  }

  // The job leaves its lineage's queue and the lineage is busy until its copy completes.
  void taken(const Job& job) {
    const auto& mp = planned(job).mount_point;
    auto& queue = queues_[mp];
    std::erase_if(queue, [&](const Job& j) { return j.run == job.run && j.copy == job.copy; });
    busy_[mp] = true;
  }

  // One DescribeSnapshots for every copy in flight, found by its source tag (a lost answer's too).
  // False: the call failed (tried again next round).
  bool poll_round() {
    auto filters = group_filters();
    std::vector<std::string> sources;
    for (const auto& f : in_flight_) sources.push_back(planned(f.job).source->id.value);
    filters.push_back({"tag:" + std::string(k_tag_source_snapshot), sources});
    auto found = there_.describe_snapshots({.owner_ids = {"self"}, .filters = std::move(filters)});
    if (!found) {
      log_agent().warn("copy group={} region={} describe=snapshots error=\"{}\"", group_.name, destination_.region,
                       found.error().describe());
      return false;
    }
    std::map<std::string, const ec2::Snapshot*> by_source;
    for (const auto& s : *found) {
      const auto* source = ec2::find_tag_value(s.tags, k_tag_source_snapshot);
      if (source == nullptr) continue;
      auto& slot = by_source[*source];
      // The call's own copy when known; else (a lost answer) the most settled one.
      if (slot == nullptr || s.state == ec2::SnapshotState::Completed) slot = &s;
    }
    std::vector<InFlight> still;
    for (auto& f : in_flight_) {
      const auto& source_id = planned(f.job).source->id.value;
      const auto it = by_source.find(source_id);
      const ec2::Snapshot* copy = it == by_source.end() ? nullptr : it->second;
      if (copy != nullptr && f.copy && copy->id != *f.copy) {
        // Another copy of the same source (a lost answer's twin): follow ours.
        const auto own = std::ranges::find_if(*found, [&](const ec2::Snapshot& s) { return s.id == *f.copy; });
        copy = own == found->end() ? nullptr : &*own;
      }
      if (copy == nullptr) {
        if (!f.copy && s_.clock.monotonic() - f.sent >= k_copy_settle) {
          // Lost, and never appeared: it was not made. Sent again.
          intents_.remove(source_id);
          if (f.resends >= k_max_resends) {
            release(f.job);
            failed(f.job, "CopySnapshot's answer was lost and no copy appeared, " + std::to_string(f.resends + 1) +
                              " times");
            continue;
          }
          release(f.job);
          queues_[planned(f.job).mount_point].push_front(f.job);
          resends_[source_id] = f.resends + 1;
          continue;
        }
        still.push_back(f);  // not visible yet (EC2's describe is eventually consistent)
        continue;
      }
      if (!f.copy) {
        f.copy = copy->id;
        intents_.remove(source_id);
        line(f.job).snapshot_id = copy->id.value;
      }
      line(f.job).progress = copy->progress;
      if (copy->state == ec2::SnapshotState::Completed) {
        line(f.job).state = "copied";
        line(f.job).progress = 100;
        ++done_;
        release(f.job);
        log_agent().info("copy group={} region={} source={} copy={} state=completed", group_.name,
                         destination_.region, source_id, copy->id.value);
        continue;
      }
      if (copy->state == ec2::SnapshotState::Error) {
        release(f.job);
        failed(f.job, "the copy " + copy->id.value + " ended in state error" +
                          (copy->state_message.empty() ? std::string() : " (" + copy->state_message + ")"));
        continue;
      }
      still.push_back(f);
    }
    in_flight_ = std::move(still);
    return true;
  }

  void release(const Job& job) { busy_[planned(job).mount_point] = false; }

  void failed(const Job& job, const std::string& error) {
    line(job).state = "failed";
    line(job).error = error;
    log_agent().error("copy group={} region={} source={} status=failed error=\"{}\"", group_.name,
                      destination_.region, planned(job).source->id.value, error);
    // The lineage's later copies wait for the operator (its incremental chain is broken).
    auto& queue = queues_[planned(job).mount_point];
    for (const auto& later : queue) not_attempted(later, "an older copy of the lineage failed");
    queue.clear();
  }

  void not_attempted(const Job& job, const std::string& why) {
    line(job).state = "not-attempted";
    line(job).error = why;
  }

  void stop(const std::string& error) {
    stopped_ = true;
    fail(error);
    for (auto& [mount_point, queue] : queues_) {
      for (const auto& job : queue) not_attempted(job, "the copy stopped: " + error);
      queue.clear();
    }
  }

  // Each run's state from its copies'.
  void settle_runs() {
    for (auto& run : out_.runs) {
      const auto any = [&](std::string_view state) {
        return std::ranges::any_of(run.snapshots, [&](const CopySnapshotReport& s) { return s.state == state; });
      };
      run.state = any("failed")          ? "failed"
                  : any("not-attempted") ? "not-attempted"
                  : any("copying")       ? "copying"
                  : any("planned")       ? "planned"
                                         : "copied";
    }
  }

  const RunContext& c_;
  Services& s_;
  const GroupConfig& group_;
  const CopyDestination& destination_;
  ec2::Ec2Api& there_;
  const CopyOptions& options_;
  CopyReport& out_;
  Intents intents_;
  std::vector<std::string> mount_points_;
  std::vector<ec2::Snapshot> source_;
  std::vector<ec2::Snapshot> destination_snapshots_;
  CopyPlan plan_;
  std::map<std::string, std::deque<Job>> queues_;  // by mount point
  std::map<std::string, bool> busy_;               // a lineage with a copy in flight
  std::map<std::string, int> resends_;             // by source snapshot
  std::vector<InFlight> in_flight_;
  std::uint64_t total_ = 0;
  std::uint64_t done_ = 0;
  milliseconds backoff_{0};
  Steady::time_point backoff_until_{};
  bool stopped_ = false;
};

std::string copy_lock_name(const GroupConfig& group) { return "copy@" + group.name; }

}  // namespace

std::expected<std::vector<CopyDestination>, std::string> copy_destinations(const GroupConfig& group,
                                                                           std::string_view run_region,
                                                                           const std::optional<std::string>& to_region) {
  std::vector<CopyDestination> out;
  if (to_region) {
    if (*to_region == run_region) {
      return std::unexpected(fmt::format("--to-region {} is the region this run is in: a copy goes to another region",
                                         *to_region));
    }
    if (const auto* d = find_copy_destination(group, *to_region)) {
      out.push_back(*d);
    } else if (std::ranges::any_of(group.volumes, [](const VolumeConfig& v) { return v.encrypted; })) {
      return std::unexpected(fmt::format("group {} has encrypted volumes and no copy_to entry for {}: add "
                                         "{{\"region\": \"{}\", \"kms_key_id\": ...}} to its copy_to",
                                         group.name, *to_region, *to_region));
    } else {
      out.push_back(CopyDestination{.region = *to_region});
    }
    return out;
  }
  if (group.copy_to.empty()) {
    return std::unexpected(
        fmt::format("group {} has no copy_to: nowhere to copy to (or name one with --to-region)", group.name));
  }
  // The entry for the run's own region is where this instance is: after a fail-over the same
  // configuration runs in the destination, and copies nothing to itself.
  for (const auto& d : group.copy_to) {
    if (d.region != run_region) out.push_back(d);
  }
  return out;
}

void copy_group(const RunContext& context, const GroupConfig& group, const CopyOptions& options, RunReport& report) {
  auto& out = report.group(group.name);
  const auto destinations = copy_destinations(group, context.instance.region, options.to_region);
  if (!destinations) {
    out.add_error(destinations.error());
    return;
  }
  if (destinations->empty()) {
    out.warnings.push_back("this run is in " + context.instance.region +
                           ", the group's only copy_to region: nothing to copy (copy --to-region R copies back)");
    log_agent().info("copy group={} region={} nothing to copy: the run is in the copy_to region", group.name,
                     context.instance.region);
    return;
  }
  auto& s = context.services;
  std::optional<GroupLocks> lock;
  if (!s.options.dry_run) {
    auto taken = GroupLocks::acquire(LockRequest{.run_dir = s.options.run_dir,
                                                 .groups = {copy_lock_name(group)},
                                                 .command = "copy",
                                                 .wait = context.config.timeouts.lock},
                                     s.clock, s.sleeper);
    if (!taken) {
      out.add_error("another copy of the group runs: " + taken.error().describe());
      return;
    }
    lock.emplace(std::move(*taken));
  }
  for (const auto& d : *destinations) {
    report.copy.push_back(CopyReport{.group = group.name, .source_region = context.instance.region, .region = d.region});
    const auto index = report.copy.size() - 1;
    ec2::Result<ec2::Ec2Api*> there =
        s.regions != nullptr ? s.regions->in(d.region)
                             : ec2::fail(ec2::ErrorKind::Other, "this run reaches no other region");
    if (!there) {
      report.copy[index].error = "no EC2 client for " + d.region + ": " + there.error().describe();
    } else {
      DestinationCopy(context, group, d, **there, options, report.copy[index]).run();
    }
    if (const auto& e = report.copy[index].error) out.add_error(d.region + ": " + *e);
    for (const auto& run : report.copy[index].runs) {
      for (const auto& snap : run.snapshots) {
        if (snap.state == "failed") out.add_error(d.region + ": " + snap.source_snapshot_id + ": " + snap.error.value_or("failed"));
      }
    }
    if (!d.prune_after_copy || !there || s.options.dry_run || !options.prune) continue;
    // The destination's prune: the same seams, bound to the destination's client and region.
    auto bound = s.with_ec2(**there);
    auto instance = context.instance;
    instance.region = d.region;
    const RunContext bound_context{
        .services = bound, .config = context.config, .filters = context.filters, .instance = instance, .groups = {&group}};
    if (options.prune) options.prune(bound_context, group, report);
  }
}

void copy_after_snapshot(const RunContext& context, const CopyOptions& options, RunReport& report) {
  if (context.services.options.dry_run) return;
  auto waiting = options;
  waiting.wait_for_pending = true;
  for (const auto* group : context.groups) {
    if (!group->copy_after_snapshot || !report.group(group->name).ok()) continue;
    copy_group(context, *group, waiting, report);
  }
}

RunReport copy(const RunContext& context, const CopyOptions& options) {
  auto report = new_report("copy", context);
  for (const auto* group : context.groups) copy_group(context, *group, options, report);
  return report;
}

}  // namespace agent
