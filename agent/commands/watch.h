#pragma once
// ebsnap watch [GROUP...]: a small long-running mode (ebsnap-watch.service) that takes one final
// snapshot of each group when EC2 announces that the instance will go.
//
// Every --interval (5 s) it GETs two IMDS documents with IMDSv2, and nothing else (no EC2 call
// while nothing is announced):
//   meta-data/spot/instance-action              {"action": "terminate", "time": "..."}: a spot
//                                               interruption, two minutes ahead;
//   meta-data/events/recommendations/rebalance  {"noticeTime": "..."}: a rebalance recommendation.
// Both answer 404 until there is a notice. An IMDS error is logged (once per streak) and the next
// poll tries again; a document that is not one is one error line and is not acted on.
//
// A notice is answered once (handle_notice): one snapshot run of every group (ebsnap:trigger=spot
// or rebalance), a normal run of the snapshot command. Per group a notice record
// (agent/core/notice_record.h) is written durably before the call, with the run id; a watch that
// is killed and restarted while IMDS still serves the notice finds it, and looks for the run's
// snapshots (ebsnap:run-id, ebsnap:group) before it takes another: a group gets one snapshot per
// notice. A run that failed is tried again on the next polls with a new run id, up to
// k_max_notice_attempts runs in all, each time after looking for the earlier runs' snapshots.
//
// Decide (decide_notice, parse_notice: pure) → act (IMDS, the snapshot command, the records) →
// one report per notice answered (command "watch", "notice"), handed to on_report as it happens,
// and the metrics (render_watch_metrics) handed to publish_metrics when they change: the notices
// seen by kind and their time, the groups' outcomes and the IMDS errors (not the polls: an idle watch writes nothing).
#include <chrono>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "agent/core/notice_record.h"
#include "agent/core/services.h"
#include "agent/core/tags.h"
#include "agent/report/report.h"
#include "ec2/imds.h"

namespace agent {

inline constexpr std::string_view k_spot_notice_path = "meta-data/spot/instance-action";
inline constexpr std::string_view k_rebalance_notice_path = "meta-data/events/recommendations/rebalance";
inline constexpr std::size_t k_max_notice_attempts = 3;
inline constexpr std::chrono::seconds k_default_watch_interval{5};
inline constexpr std::chrono::seconds k_max_watch_interval{300};

struct Notice {
  Trigger kind = Trigger::Spot;       // Spot or Rebalance
  std::optional<std::string> action;  // spot: terminate, stop or hibernate
  ec2::TimePoint time{};              // spot: when it happens; rebalance: the notice's time
  std::string key;                    // "spot-20261206T082200Z": names the notice's records
};

// The notice in an IMDS document of `kind`; one line saying what is wrong otherwise.
[[nodiscard]] std::expected<Notice, std::string> parse_notice(Trigger kind, std::string_view body);

enum class NoticeAction {
  Snapshot,          // no run yet for this notice and group: take one
  LookForSnapshots,  // a run was started (by this watch or one before it): find its snapshots first
  Nothing,           // done
};
[[nodiscard]] NoticeAction decide_notice(const std::optional<NoticeRecord>& record);

struct WatchOptions {
  ec2::Imds* imds = nullptr;
  std::chrono::seconds interval = k_default_watch_interval;
  // Waits up to `d`; true when watch is to stop (SIGTERM, SIGINT).
  std::function<bool(std::chrono::milliseconds d)> wait;
  // One snapshot run of context.groups with this run id and trigger (the command line passes the
  // snapshot command: commands do not include each other).
  std::function<RunReport(const RunContext&, const std::string& run_id, Trigger)> snapshot;
  // Called with the report of each notice answered.
  std::function<void(const RunReport&)> on_report;
  // Called with the metrics text when it changed (at start, on a notice, when IMDS fails or
  // answers again); null: no metrics.
  std::function<void(const std::string&)> publish_metrics;
};

// What this watch has settled, so that a notice IMDS keeps serving is not looked at again.
struct WatchMemory {
  std::vector<std::string> settled;  // notice keys whose every group is done or given up
  std::vector<std::string> bad_documents;  // bodies already reported as not a notice
  bool imds_failing = false;
  // What the metrics say.
  std::int64_t polls = 0;
  std::int64_t imds_errors = 0;
  std::map<std::string, std::int64_t> notices;          // kind → notices answered by this watch
  std::map<std::string, ec2::TimePoint> last_notice;    // kind → its time (spot: when it happens)
  std::map<std::pair<std::string, std::string>, std::int64_t> outcomes;  // (group, outcome) → count
};

// ebsnap_watch_* families: imds_errors_total, imds_up, notices_total{kind},
// notice_time_seconds{kind}, notice_groups_total{group,outcome}.
[[nodiscard]] std::string render_watch_metrics(const WatchMemory& memory);

// One notice: per group decide, look, snapshot, record; the report of what was done.
[[nodiscard]] RunReport handle_notice(const RunContext& context, const Notice& notice, const WatchOptions& options);

// One poll of both documents; each new notice is answered and its report passed to on_report.
void poll_notices(const RunContext& context, const WatchOptions& options, WatchMemory& memory);

// Polls until options.wait says stop. The report is the run's (command "watch"): the notices'
// reports went to on_report.
[[nodiscard]] RunReport watch(const RunContext& context, const WatchOptions& options);

}  // namespace agent
