// The files of the run directory (/run/ebsnap) other than the attempt records (attempt_records):
// a freeze state file, a snapshot run record, a detach record, a notice record, a pre-warm
// state, a freeze --hold record and a copy intent, and the previous run's metrics file (the
// metrics directory), each through the function that parses its bytes. data[0] picks the format.
// What a parser accepts must survive its own writer: a notice record round-trips.
#include <cstdio>
#include <cstdlib>

#include "agent/commands/copy.h"
#include "agent/commands/freeze.h"
#include "agent/core/detach_record.h"
#include "agent/core/notice_record.h"
#include "agent/core/prewarm_state.h"
#include "agent/core/snapshot_record.h"
#include "agent/report/report.h"
#include "agent/report/run_metrics.h"
#include "platform/freeze_state.h"
#include "tests/fuzz/fuzz_driver.h"

namespace fuzz {

void fuzz_one(std::span<const std::uint8_t> data) {
  const auto [choice, text] = split_choice(data, 8);
  switch (choice) {
    case 0:
      if (auto r = platform::parse_freeze_state(text)) {
        for (const auto& mp : r->mount_points) use(mp);
      }
      break;
    case 1:
      if (auto r = agent::parse_run_record(text)) {
        for (const auto& v : r->volumes) use(agent::to_string(v.final_consistency()));
        use(agent::format_utc(r->started_at));
        use(agent::format_utc(r->in_flight_until));
      }
      break;
    case 2:
      if (auto r = agent::parse_detach_record(text)) {
        use(agent::detach_record_path("/run/ebsnap", r->volume_id, r->group).string());
        use(agent::format_utc(r->written_at));
      }
      break;
    case 3:
      if (auto r = agent::parse_notice_record(text)) {
        const auto again = agent::parse_notice_record(agent::format_notice_record(*r));
        if (!again || *again != *r) {
          std::fprintf(stderr, "a notice record does not survive format_notice_record\n");
          std::abort();
        }
      }
      break;
    case 4:
      if (auto r = agent::parse_prewarm_state(text)) {
        const auto percent = r->percent();
        if (percent < 0 || percent > 100) std::abort();
      }
      break;
    case 5:
      if (auto r = agent::parse_hold_record(std::string(text))) {
        use(agent::format_utc(r->frozen_at));
        for (const auto& mp : r->mount_points) use(mp);
      }
      break;
    case 6:
      if (auto t = agent::parse_copy_intent(text)) use(agent::format_utc(*t));
      break;
    default: {
      use(agent::render_run_metrics(agent::parse_metric_samples(text)));
      break;
    }
  }
}

}  // namespace fuzz
