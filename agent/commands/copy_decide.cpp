#include "agent/commands/copy_decide.h"

#include <algorithm>
#include <unordered_map>

#include "agent/core/restore_points.h"
#include "agent/core/tags.h"

namespace agent {

std::string_view to_string(CopyStep step) {
  switch (step) {
    case CopyStep::ToCopy: return "to-copy";
    case CopyStep::InFlight: return "in-flight";
    case CopyStep::Copied: return "copied";
    case CopyStep::Failed: return "failed";
  }
  return "to-copy";
}

bool PlannedCopyRun::whole() const {
  return std::ranges::all_of(copies, [](const PlannedCopy& c) { return c.step == CopyStep::Copied; });
}

namespace {

// The copy of a source snapshot found in the destination: the most settled one when there are
// several (completed, then pending, then error).
int settled_rank(const ec2::Snapshot& s) {
  switch (s.state) {
    case ec2::SnapshotState::Completed: return 0;
    case ec2::SnapshotState::Pending: return 1;
    default: return 2;
  }
}

CopyStep step_of(const ec2::Snapshot& copy) {
  switch (copy.state) {
    case ec2::SnapshotState::Completed: return CopyStep::Copied;
    case ec2::SnapshotState::Error: return CopyStep::Failed;
    default: return CopyStep::InFlight;  // pending, and what may still settle
  }
}

bool untouched(const PlannedCopyRun& run) {
  return std::ranges::all_of(run.copies, [](const PlannedCopy& c) { return c.step == CopyStep::ToCopy; });
}

// The destination as it would be once the plan is carried out (each planned copy completed, with
// the tags it gets at creation), asked what its retention would not keep: those runs, when
// nothing of them is there yet, leave the plan.
void leave_out_what_the_destination_would_not_keep(const CopyInputs& in, CopyPlan& plan) {
  std::vector<ec2::Snapshot> after = in.destination;
  for (const auto& run : plan.runs) {
    for (const auto& c : run.copies) {
      if (c.step != CopyStep::ToCopy) continue;
      after.push_back(ec2::Snapshot{.id = ec2::SnapshotId{"planned-copy-of-" + c.source->id.value},
                                    .state = ec2::SnapshotState::Completed,
                                    .start_time = c.source->start_time,
                                    .volume_size_gib = c.source->volume_size_gib,
                                    .tags = copy_tags(in.group, run, *c.source, in.source_region)});
    }
  }
  const auto not_kept = in.not_kept_there(after);
  if (not_kept.empty()) return;
  std::vector<PlannedCopyRun> kept;
  for (auto& run : plan.runs) {
    if (untouched(run) && not_kept.contains(run.run_id)) {
      plan.skipped.push_back(
          {.run_id = run.run_id,
           .time = run.time,
           .reason = "the destination's retention would not keep it (pruned there, or older than "
                     "what it keeps): not copied"});
    } else {
      kept.push_back(std::move(run));
    }
  }
  plan.runs = std::move(kept);
  std::ranges::stable_sort(plan.skipped, {}, &SkippedCopyRun::time);
}

}  // namespace

CopyPlan plan_copy(const CopyInputs& in) {
  CopyPlan plan;
  // The destination's copies of this group's lineages, by the snapshot they copy.
  std::unordered_map<std::string_view, const ec2::Snapshot*> copies;
  for (const auto& d : in.destination) {
    const auto* source = ec2::find_tag_value(d.tags, k_tag_source_snapshot);
    const auto* group = ec2::find_tag_value(d.tags, k_tag_group);
    const auto* mp = ec2::find_tag_value(d.tags, k_tag_mount_point);
    if (source == nullptr || group == nullptr || *group != in.group || mp == nullptr ||
        !in_lineage(d.tags, in.filters, *mp)) {
      continue;
    }
    auto [it, added] = copies.try_emplace(*source, &d);
    if (!added && settled_rank(d) < settled_rank(*it->second)) it->second = &d;
  }
  const auto history = restore_points(HistoryInputs{.snapshots = in.source,
                                                    .group = in.group,
                                                    .filters = in.filters,
                                                    .mount_points = in.mount_points,
                                                    .untagged_window = in.untagged_window});
  // Oldest first.
  for (auto p = history.points.rbegin(); p != history.points.rend(); ++p) {
    if (!p->complete()) {
      plan.skipped.push_back({.run_id = p->run_id, .time = p->time, .reason = p->problem()});
      continue;
    }
    if (p->has_pending()) {
      plan.skipped.push_back(
          {.run_id = p->run_id, .time = p->time, .reason = "pending: the next copy takes it", .pending = true});
      continue;
    }
    PlannedCopyRun run{.run_id = p->run_id, .time = p->time, .consistency = p->consistency};
    bool from_destination = false;
    for (const auto& m : p->members) {
      if (m.snapshot == nullptr) continue;  // not-yet: the mount point joined the group later
      if (ec2::find_tag(m.snapshot->tags, k_tag_source_region) == in.destination_region) from_destination = true;
      PlannedCopy c{.mount_point = m.mount_point, .source = m.snapshot};
      if (const auto it = copies.find(m.snapshot->id.value); it != copies.end()) {
        c.copy = it->second;
        c.step = step_of(*it->second);
      }
      run.copies.push_back(c);
    }
    if (from_destination) {
      plan.skipped.push_back({.run_id = p->run_id,
                              .time = p->time,
                              .reason = "copied from " + std::string(in.destination_region) + ": its original is there"});
      continue;
    }
    if (run.whole()) {
      ++plan.already_copied;
      continue;
    }
    plan.runs.push_back(std::move(run));
  }
  if (in.not_kept_there && !plan.runs.empty()) leave_out_what_the_destination_would_not_keep(in, plan);
  return plan;
}

std::vector<ec2::Tag> copy_tags(std::string_view group, const PlannedCopyRun& run, const ec2::Snapshot& source,
                                std::string_view source_region) {
  std::vector<ec2::Tag> tags;
  tags.reserve(source.tags.size() + 6);
  for (const auto& t : source.tags) {
    if (t.key.starts_with("aws:") || t.key == k_tag_expires || t.key == k_tag_keep || t.key == k_tag_run_id ||
        t.key == k_tag_consistency || t.key == k_tag_source_snapshot || t.key == k_tag_source_region ||
        t.key == k_tag_source_time || t.key == k_tag_run_size) {
      continue;
    }
    tags.push_back(t);
  }
  if (ec2::find_tag_value(tags, k_tag_group) == nullptr) tags.push_back({std::string(k_tag_group), std::string(group)});
  tags.push_back({std::string(k_tag_run_id), run.run_id});
  if (run.consistency) tags.push_back({std::string(k_tag_consistency), *run.consistency});
  tags.push_back({std::string(k_tag_source_snapshot), source.id.value});
  tags.push_back({std::string(k_tag_source_region), std::string(source_region)});
  tags.push_back({std::string(k_tag_source_time),
                  ec2::format_iso8601(point_time(source).value_or(run.time))});
  tags.push_back({std::string(k_tag_run_size), std::to_string(run.copies.size())});
  return tags;
}

}  // namespace agent
