#include "agent/commands/thaw.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "agent/core/log.h"

namespace agent {

bool ThawCommandResult::ok() const {
  return !error && std::ranges::none_of(entries, [](const ThawEntry& e) { return e.outcome == platform::ThawOutcome::Failed; });
}

ThawCommandResult run_thaw(const ThawCommandOptions& options) {
  ThawCommandResult result;
  const ThawFunction thaw = options.thaw ? options.thaw : ThawFunction{[](const std::string& mp) { return platform::thaw(mp); }};
  std::set<std::string> done;
  auto thaw_one = [&](const std::string& mp) -> bool {
    ThawEntry entry{.mount_point = mp};
    if (!done.insert(mp).second) {
      // Recorded twice (two state files): the first FITHAW settled it.
      return true;
    }
    auto r = thaw(mp);
    if (r) {
      entry.outcome = *r;
    } else {
      entry.outcome = platform::ThawOutcome::Failed;
      entry.error = r.error().describe();
    }
    log_agent().info("thaw mount_point={} result={}{}", mp, to_string(entry.outcome),
                     entry.error.empty() ? "" : " error=\"" + entry.error + "\"");
    const bool settled = entry.outcome != platform::ThawOutcome::Failed;
    result.entries.push_back(std::move(entry));
    return settled;
  };

  for (const auto& mp : options.mount_points) (void)thaw_one(mp);
  if (options.all) {
    // platform::thaw_all's walk, with the FITHAW behind the seam: each state file in reverse
    // order, removed once all its mount points ended thawed or not frozen.
    auto records = platform::read_freeze_states(options.run_dir.string());
    if (!records) {
      result.error = "read " + options.run_dir.string() + ": " + records.error().describe();
    } else {
      for (const auto& record : *records) {
        bool settled = true;
        for (auto it = record.mount_points.rbegin(); it != record.mount_points.rend(); ++it) {
          if (!thaw_one(*it)) settled = false;
        }
        if (settled) ::unlink(record.path.c_str());
      }
    }
  }
  if (!options.all && options.mount_points.empty()) result.error = "nothing to thaw: name mount points or --all";

  // Only now, with everything thawed that could be: correct the tags of runs that died.
  if (options.ec2 != nullptr && options.clock != nullptr) {
    result.reconcile_attempted = true;
    result.reconciled = reconcile_interrupted_snapshots(*options.ec2, *options.clock, options.run_dir);
  }
  return result;
}

}  // namespace agent
