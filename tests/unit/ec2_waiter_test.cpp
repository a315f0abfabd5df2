// Waiters: one batched Describe per round, backoff with jitter, deadlines, failure states.
#include <gtest/gtest.h>

#include "ec2/testing/fake_ec2.h"
#include "ec2/testing/manual_clock.h"
#include "ec2/waiter.h"

namespace {

using namespace ec2;
using namespace std::chrono_literals;

class WaiterTest : public ::testing::Test {
 protected:
  ManualClock clock;
  SequenceRandom random{{1.0 - 1e-9}};
  FakeEc2 ec2{FakeEc2Options{.progress = FakeEc2Options::Progress::Clock,
                             .clock = &clock,
                             .volume_create_delay = 5s,
                             .attach_delay = 3s,
                             .snapshot_delay = 20s}};
  Waiter waiter{WaiterOptions{.initial_delay = 1s, .max_delay = 8s, .multiplier = 2.0, .timeout = 60s}, clock,
                clock, random};

  // No jitter: rounds every `delay` for `steady_for`, then growing 2x.
  SequenceRandom any{{0.3}};
  Waiter without_jitter(std::chrono::milliseconds delay, std::chrono::milliseconds steady_for) {
    return Waiter(WaiterOptions{.initial_delay = delay, .max_delay = 8s, .multiplier = 2.0, .steady_for = steady_for,
                                .jitter = 0.0, .timeout = 60s},
                  clock, clock, any);
  }

  std::vector<VolumeId> create(int n) {
    std::vector<VolumeId> ids;
    for (int i = 0; i < n; ++i)
      ids.push_back(ec2.create_volume({.availability_zone = "us-east-1a", .size_gib = 1})->id);
    return ids;
  }
};

TEST_F(WaiterTest, ManyVolumesOneDescribePerRound) {
  const auto ids = create(30);
  auto r = waiter.volumes(ec2, ids, VolumeState::Available);
  ASSERT_TRUE(r) << r.error().describe();
  ASSERT_EQ(r->size(), 30u);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ((*r)[i].id, ids[i]);
    EXPECT_EQ((*r)[i].state, VolumeState::Available);
  }
  // Rounds at t=0, 1, 3 (not yet), 7 (done): delays 1, 2, 4 s (no jitter with random ~1).
  EXPECT_EQ(ec2.call_count("DescribeVolumes"), 4);
  const auto sleeps = clock.sleeps();
  ASSERT_EQ(sleeps.size(), 3u);
  EXPECT_EQ(sleeps[0], 999ms);
  EXPECT_EQ(sleeps[1], 1999ms);
  EXPECT_EQ(sleeps[2], 3999ms);
}

TEST_F(WaiterTest, DelayGrowsAndIsCapped) {
  EXPECT_EQ(waiter.delay_before_jitter(1), 1s);
  EXPECT_EQ(waiter.delay_before_jitter(3), 4s);
  EXPECT_EQ(waiter.delay_before_jitter(10), 8s);
}

TEST_F(WaiterTest, JitterStaysInTheUpperHalf) {
  SequenceRandom zero({0.0});
  Waiter w(WaiterOptions{.initial_delay = 2s, .max_delay = 8s, .timeout = 60s}, clock, clock, zero);
  const auto ids = create(1);
  ASSERT_TRUE(w.volumes(ec2, ids, VolumeState::Available));
  EXPECT_EQ(clock.sleeps().front(), 1s);  // half of 2 s
}

TEST_F(WaiterTest, EvenlySpacedDuringTheSteadyPhaseThenGrowing) {
  Waiter w = without_jitter(500ms, 3s);
  const auto ids = create(1);  // available at t = 5 s
  ASSERT_TRUE(w.volumes(ec2, ids, VolumeState::Available));
  // Rounds every 500 ms up to t = 3 s, then 500 ms, 1 s, 2 s: seen at t = 6.5 s.
  const std::vector<std::chrono::milliseconds> expected{500ms, 500ms, 500ms, 500ms, 500ms,
                                                        500ms, 500ms, 1s,    2s};
  EXPECT_EQ(clock.sleeps(), expected);
}

TEST_F(WaiterTest, TheRestOfAWaveIsPolledSooner) {
  Waiter w = without_jitter(600ms, 60s);
  auto ids = create(1);  // available at t = 5 s
  clock.advance(100ms);
  ids.push_back(create(1).front());  // 5.1 s
  clock.advance(200ms);
  ids.push_back(create(1).front());  // 5.3 s
  clock.advance(50ms);
  ASSERT_TRUE(w.volumes(ec2, ids, VolumeState::Available));
  // From t = 0.35 s, rounds every 600 ms; the one at 5.15 s finds two of the three ready, so the
  // next comes 200 ms later (5.35 s, the third ready) instead of at 5.75 s.
  const std::vector<std::chrono::milliseconds> expected{600ms, 600ms, 600ms, 600ms, 600ms,
                                                        600ms, 600ms, 600ms, 200ms};
  EXPECT_EQ(clock.sleeps(), expected);
  EXPECT_EQ(ec2.call_count("DescribeVolumes"), 10);
}

TEST_F(WaiterTest, AQuickRoundThatFindsNoneReadyEndsTheQuickRounds) {
  Waiter w = without_jitter(600ms, 60s);
  auto ids = create(1);  // available at t = 5 s
  clock.advance(1s);
  ids.push_back(create(1).front());  // 6 s
  clock.advance(50ms);
  ASSERT_TRUE(w.volumes(ec2, ids, VolumeState::Available));
  // From t = 1.05 s, rounds every 600 ms: 5.25 s finds the first ready, 5.45 s (quick) none,
  // then the usual 600 ms: 6.05 s finds the second.
  const std::vector<std::chrono::milliseconds> expected{600ms, 600ms, 600ms, 600ms, 600ms, 600ms, 600ms,
                                                        200ms, 600ms};
  EXPECT_EQ(clock.sleeps(), expected);
}

TEST_F(WaiterTest, AThrottledRoundEndsTheSteadyPhase) {
  Waiter w = without_jitter(500ms, 60s);
  const auto ids = create(1);  // available at t = 5 s
  ec2.fail_next("DescribeVolumes",
                Error{.message = "slow down", .aws_code = "RequestLimitExceeded", .http_status = 503}, 2);
  ASSERT_TRUE(w.volumes(ec2, ids, VolumeState::Available));
  const std::vector<std::chrono::milliseconds> expected{500ms, 1s, 2s, 4s};
  EXPECT_EQ(clock.sleeps(), expected);
}

TEST_F(WaiterTest, DeadlineGivesATimeoutNamingWhatIsPending) {
  const auto ids = create(2);
  Waiter quick(WaiterOptions{.initial_delay = 1s, .max_delay = 1s, .timeout = 3s}, clock, clock, random);
  auto r = quick.volumes(ec2, ids, VolumeState::InUse);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Timeout);
  EXPECT_NE(r.error().message.find(ids[0].value), std::string::npos);
  EXPECT_NE(r.error().message.find("state creating"), std::string::npos);
  std::chrono::milliseconds slept{0};
  for (auto s : clock.sleeps()) slept += s;
  EXPECT_LE(slept, 3s);
}

// Volumes that join while the wait runs (as their CreateVolume returns) share each round's one
// DescribeVolumes, and each keeps its own deadline: b joins at 3 s and is available at 8 s, past
// a's deadline of 6 s but inside its own of 9 s; one that never appears expires alone.
TEST_F(WaiterTest, JoiningVolumesShareEachRoundAndKeepTheirOwnDeadlines) {
  Waiter w(WaiterOptions{.initial_delay = 1s, .max_delay = 1s, .jitter = 0.0, .timeout = 6s}, clock, clock, any);
  const auto start = clock.monotonic();
  const auto a = create(1).front();  // available at 5 s
  const VolumeId never{"vol-0000000000000dead"};
  std::optional<VolumeId> b;
  int joins = 0;
  const Waiter::Join join = [&](bool idle) -> std::optional<std::vector<VolumeId>> {
    if (++joins == 1) {
      EXPECT_TRUE(idle);
      return std::vector{a, never};
    }
    if (!b && clock.monotonic() - start >= 3s) {
      b = create(1).front();  // available at 8 s
      return std::vector{*b};
    }
    if (idle) return std::nullopt;
    return std::vector<VolumeId>{};
  };
  std::vector<std::pair<VolumeId, std::chrono::milliseconds>> done;
  const VolumeCheck check = [&](const VolumeId& id, const std::optional<Volume>& v) {
    if (!v) return WaitCheck{WaitVerdict::Pending, "not visible yet"};
    if (v->state != VolumeState::Available) return WaitCheck{WaitVerdict::Pending, "state creating"};
    done.emplace_back(id, std::chrono::duration_cast<std::chrono::milliseconds>(clock.monotonic() - start));
    return WaitCheck{WaitVerdict::Done, {}};
  };
  std::vector<std::pair<VolumeId, Error>> expired;
  const Waiter::Expired on_expired = [&](const VolumeId& id, Error e) { expired.emplace_back(id, std::move(e)); };
  ASSERT_TRUE(w.volumes_joining(ec2, join, check, on_expired));
  ASSERT_TRUE(b);
  ASSERT_EQ(done.size(), 2U);
  EXPECT_EQ(done[0], std::pair(a, std::chrono::milliseconds(5s)));
  EXPECT_EQ(done[1], std::pair(*b, std::chrono::milliseconds(8s)));
  ASSERT_EQ(expired.size(), 1U);
  EXPECT_EQ(expired[0].first, never);
  EXPECT_EQ(expired[0].second.kind, ErrorKind::Timeout);
  EXPECT_EQ(expired[0].second.message, "volumes: still waiting after 6 s for vol-0000000000000dead (not visible yet)");
  // Rounds every second, each one DescribeVolumes for all that were pending: 0 to 5 s (a ready),
  // 5.33 s (the rest of a's wave), 6 s (the deadline of the one that never appears), 7 and 8 s.
  EXPECT_EQ(ec2.call_count("DescribeVolumes"), 10);
  EXPECT_EQ(clock.sleeps().size(), 9U);
}

TEST_F(WaiterTest, ErrorStateFailsFast) {
  const VolumeId bad =
      ec2.add_volume(Volume{.size_gib = 1, .state = VolumeState::Error, .availability_zone = "us-east-1a"});
  auto r = waiter.volumes(ec2, {bad}, VolumeState::Available);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::IncorrectState);
  EXPECT_EQ(ec2.call_count("DescribeVolumes"), 1);
}

TEST_F(WaiterTest, UnknownIdIsNotYetVisibleRatherThanAnError) {
  // EC2 is eventually consistent: a fresh id may not be described yet.
  bool added = false;
  ec2.on_call([&](std::string_view) {
    if (!added && clock.sleeps().size() == 2) {
      added = true;
      (void)ec2.add_volume(Volume{.id = VolumeId{"vol-late"},
                                  .size_gib = 1,
                                  .state = VolumeState::Available,
                                  .availability_zone = "us-east-1a"});
    }
  });
  auto r = waiter.volumes(ec2, {VolumeId{"vol-late"}}, VolumeState::Available);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(ec2.call_count("DescribeVolumes"), 3);
}

TEST_F(WaiterTest, AttachmentsAndDetachment) {
  const InstanceId instance = ec2.add_instance(FakeInstanceSpec{.availability_zone = "us-east-1a"});
  const auto ids = create(2);
  ASSERT_TRUE(waiter.volumes(ec2, ids, VolumeState::Available));
  ASSERT_TRUE(ec2.attach_volume({.volume_id = ids[0], .instance_id = instance, .device = "/dev/sdf"}));
  ASSERT_TRUE(ec2.attach_volume({.volume_id = ids[1], .instance_id = instance, .device = "/dev/sdg"}));
  auto attached = waiter.attachments(ec2, ids, instance, AttachmentState::Attached);
  ASSERT_TRUE(attached) << attached.error().describe();
  EXPECT_EQ((*attached)[1].attachments.at(0).state, AttachmentState::Attached);
  ASSERT_TRUE(ec2.detach_volume({.volume_id = ids[0]}));
  auto detached = waiter.attachments(ec2, {ids[0]}, instance, AttachmentState::Detached);
  ASSERT_TRUE(detached) << detached.error().describe();
}

TEST_F(WaiterTest, SnapshotsCompletedAndDeletedVolumes) {
  const auto ids = create(1);
  ASSERT_TRUE(waiter.volumes(ec2, ids, VolumeState::Available));
  auto s = ec2.create_snapshot({.volume_id = ids[0]});
  ASSERT_TRUE(s);
  auto done = waiter.snapshots(ec2, {s->id}, SnapshotState::Completed);
  ASSERT_TRUE(done) << done.error().describe();
  EXPECT_EQ((*done)[0].progress, 100);
  ASSERT_TRUE(ec2.delete_volume({.volume_id = ids[0]}));
  auto gone = waiter.volumes(ec2, ids, VolumeState::Deleted);
  ASSERT_TRUE(gone) << gone.error().describe();
  EXPECT_EQ((*gone)[0].state, VolumeState::Deleted);
}

TEST_F(WaiterTest, SnapshotInErrorFails) {
  const SnapshotId s =
      ec2.add_snapshot(Snapshot{.state = SnapshotState::Error, .state_message = "disk on fire"});
  auto r = waiter.snapshots(ec2, {s}, SnapshotState::Completed);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("disk on fire"), std::string::npos);
}

TEST_F(WaiterTest, TransientDescribeFailureIsRiddenOut) {
  const auto ids = create(1);
  ec2.fail_next("DescribeVolumes",
                Error{.message = "busy", .aws_code = "RequestLimitExceeded", .http_status = 503});
  auto r = waiter.volumes(ec2, ids, VolumeState::Available);
  ASSERT_TRUE(r) << r.error().describe();
  ec2.fail_next("DescribeVolumes",
                Error{.message = "denied", .aws_code = "UnauthorizedOperation", .http_status = 403});
  auto denied = waiter.volumes(ec2, ids, VolumeState::Available);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().kind, ErrorKind::Unauthorized);
}

}  // namespace
