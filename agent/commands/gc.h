#pragma once
// ebsnap gc: deletes ebsnap's own orphaned volumes: available, attached nowhere, and older than
// a bound (CreateTime; default one day). A run that died between CreateVolume and AttachVolume
// leaves one, and so does an unmount without --delete-volumes.
//
// "Ebsnap's" is decided on the tags EC2 returned, never on the filters sent alone (a filter EC2
// or a proxy ignored must not widen the set): ebsnap:group one of the groups gc runs for, every
// filter tag with this instance's userdata value, ebsnap:mount-point present. Never deleted,
// whatever its age: a volume that is not ebsnap's by those tags (Snaptastic's `clean` deleted
// every available volume of the region), one not `available` or with an attachment, and one
// that a live restore attempt of this instance names (its ClientTokens file under the run
// directory names the volume id, or the volume's ebsnap:attempt tag is that attempt's token: a
// mount of this boot may be about to attach it).
//
// Decide (decide_gc, pure) → ask (the command line: --yes, or a confirmation on a terminal) →
// act: the group locks of the groups whose volumes it deletes, then, under them, the attempts
// and the volumes observed again and decided again, then one DeleteVolume per volume. A
// DeleteVolume that EC2 refuses (the volume became in-use: IncorrectState/VolumeInUse) fails
// that volume only. `--dry-run` prints the plan; a real run records each step in the same words.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/client_tokens.h"
#include "agent/core/services.h"
#include "agent/report/report.h"
#include "ec2/types.h"

namespace agent {

// The default of --older-than.
inline constexpr std::chrono::seconds k_gc_default_older_than{86'400};

struct GcInputs {
  std::vector<ec2::Volume> volumes;     // as DescribeVolumes returned them (filters are no proof)
  std::vector<std::string> groups;      // the groups gc runs for
  FilterValues filters;                 // this instance's userdata values of the filter tags
  std::vector<RestoreAttempt> attempts; // the live restore attempts of this instance (live_attempts)
  ec2::TimePoint now{};
  std::chrono::seconds older_than = k_gc_default_older_than;
};

struct GcItem {
  ec2::Volume volume;
  std::string group;
  std::string mount_point;
  bool remove = false;          // to delete; otherwise left, and reason says why
  std::optional<std::string> reason;
  std::string step;             // remove: the words of the step (plan and steps)
};

// Only ebsnap's volumes appear (to delete or left, with the reason); anything else is not
// mentioned at all. In the order of `volumes`.
struct GcPlan {
  std::vector<GcItem> items;
  [[nodiscard]] std::size_t to_delete() const;
};

[[nodiscard]] GcPlan decide_gc(const GcInputs& inputs);

// True when `volume` is ebsnap's by its tags for one of `groups` and the filter values.
[[nodiscard]] bool is_ours_for_gc(const ec2::Volume& volume, const std::vector<std::string>& groups,
                                  const FilterValues& filters);

namespace gc_step {
[[nodiscard]] std::string remove(const ec2::VolumeId& volume);
}  // namespace gc_step

struct GcOptions {
  std::chrono::seconds older_than = k_gc_default_older_than;
  bool assume_yes = false;  // --yes: do not ask
  // Asked once, with the plan, before anything is deleted (without --yes); true: go ahead. Unset:
  // there is no terminal to ask on, and nothing is deleted.
  std::function<bool(const GcPlan&)> confirm;
};

[[nodiscard]] RunReport gc(const RunContext& context, const GcOptions& options);

}  // namespace agent
