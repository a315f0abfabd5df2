// The fleet scenarios' yardstick (bench/fleet/ideal.h): what EC2's buckets allow at best.
#include <gtest/gtest.h>

#include <stdexcept>

#include "bench/fleet/ideal.h"

namespace {

TEST(FleetIdeal, BurstIsFreeThenTheRefillRate) {
  const fleet::Bucket b{.burst = 100, .rate = 5};
  EXPECT_DOUBLE_EQ(fleet::bucket_time(0, b), 0);
  EXPECT_DOUBLE_EQ(fleet::bucket_time(100, b), 0);
  EXPECT_DOUBLE_EQ(fleet::bucket_time(105, b), 1);
  EXPECT_DOUBLE_EQ(fleet::bucket_time(1'000, b), 180);
}

// boot-1000: 4,000 CreateVolume (100 burst, 5/s) and 4,000 AttachVolume in the mutating bucket
// (50 burst, 5/s): the attaches are the bound, then one volume's median create and attach.
TEST(FleetIdeal, MountIsTheSlowestBucketPlusOneVolumesMedianCreateAndAttach) {
  const fleet::AccountOptions a;
  const fleet::IdealInputs in{.calls_by_bucket = {{"CreateVolume", 4'000}, {"mutating", 4'000}},
                              .tail_s = a.volume_create.median_s + a.attach.median_s,
                              .floors_s = {4.6, 12.0}};
  EXPECT_DOUBLE_EQ(fleet::ideal_s(in, a), 790 + 3.0);
}

// snapshot-1000: 1,000 CreateSnapshots fit the bucket in 180 s, but the timers' 45-minute spread
// starts the last instance much later: its start is the bound.
TEST(FleetIdeal, SnapshotSpreadOverTheTimersDelayIsBoundByTheLastStart) {
  const fleet::AccountOptions a;
  const fleet::IdealInputs in{
      .calls_by_bucket = {{"CreateSnapshots", 1'000}}, .tail_s = 0, .floors_s = {0.5, 2'697.25, 1'200}};
  EXPECT_DOUBLE_EQ(fleet::ideal_s(in, a), 2'697.25);
}

TEST(FleetIdeal, SnapshotAllAtOnceIsBoundByTheCreateSnapshotsBucket) {
  const fleet::AccountOptions a;
  const fleet::IdealInputs in{
      .calls_by_bucket = {{"CreateSnapshots", 1'000}}, .tail_s = 0, .floors_s = {0, 0}};
  EXPECT_DOUBLE_EQ(fleet::ideal_s(in, a), 180);
}

// prune-1000: 8,000 DeleteSnapshot after a 100 burst at 5/s.
TEST(FleetIdeal, PruneIsItsDeletesPastTheBurstAtFivePerSecond) {
  const fleet::AccountOptions a;
  const fleet::IdealInputs in{.calls_by_bucket = {{"DeleteSnapshot", 8'000}}, .tail_s = 0, .floors_s = {0}};
  EXPECT_DOUBLE_EQ(fleet::ideal_s(in, a), 1'580);
}

TEST(FleetIdeal, BucketTheAccountDoesNotHaveIsABug) {
  const fleet::IdealInputs in{.calls_by_bucket = {{"DeleteSnapshots", 1}}, .tail_s = 0, .floors_s = {}};
  EXPECT_THROW((void)fleet::ideal_s(in, fleet::AccountOptions{}), std::out_of_range);
}

}  // namespace
