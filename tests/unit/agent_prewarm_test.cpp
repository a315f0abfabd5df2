// ebsnap prewarm against fakes: the volume mounted by a (fake) restore is read from where its
// state file says, the state file is kept, a stop saves the offset, --wait polls it, list shows it.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "agent/commands/list.h"
#include "agent/commands/mount.h"
#include "agent/commands/prewarm.h"
#include "tests/unit/agent_restore_fixture.h"

namespace agent {
namespace {

using namespace std::chrono_literals;
using testing::FakeInstance;

constexpr std::uint64_t k_mib = 1ULL << 20;
constexpr std::uint64_t k_size = 64 * k_mib;

// A device reader that "reads" 1 MiB per progress call, with hooks into its run.
struct FakeReader {
  struct Call {
    std::string devnode;
    std::uint64_t from = 0;
    std::uint64_t bytes_per_second = 0;
  };
  std::vector<Call> calls;
  std::function<void(std::uint64_t offset)> at_each_mib;  // after the progress call of `offset`

  PrewarmDevices devices() {
    return PrewarmDevices{
        .size_of = [](const std::string&) -> platform::Result<std::uint64_t> { return k_size; },
        .read = [this](const std::string& devnode,
                       const platform::ReadThroughOptions& o) -> platform::Result<platform::ReadThrough> {
          calls.push_back({devnode, o.from, o.bytes_per_second});
          platform::ReadThrough r{.from = o.from, .offset = o.from, .size = k_size};
          while (r.offset < k_size) {
            if (o.stop != nullptr && o.stop->load()) {
              r.stopped = true;
              return r;
            }
            r.offset += k_mib;
            r.bytes_read += k_mib;
            o.progress(r.offset, k_size);
            if (at_each_mib) at_each_mib(r.offset);
          }
          return r;
        }};
  }
};

class Prewarm : public ::testing::Test {
 protected:
  void SetUp() override {
    auto a = f_.volume("/dev/sdf", "/data/a");
    a.prewarm = true;
    a.prewarm_mibps = 50;
    f_.add_group("db", {a, f_.volume("/dev/sdg", "/data/b")});  // /data/b: no prewarm
    f_.add_snapshot("/data/a", 2);
    auto restored = mount(f_.context());
    ASSERT_TRUE(restored.ok()) << render_text(restored);
    volume_id_ = *restored.groups[0].volumes[0].volume_id;
    devnode_ = *restored.groups[0].volumes[0].devnode;
  }

  RunReport run(bool wait = false) {
    return prewarm(f_.context(), PrewarmOptions{.wait = wait, .stop = &stop_, .devices = reader_.devices()});
  }

  [[nodiscard]] std::optional<PrewarmState> state() const {
    auto s = PrewarmStates(f_.services.options.run_dir).load("db", "/data/a");
    EXPECT_TRUE(s) << s.error();
    return s ? *s : std::nullopt;
  }

  FakeInstance f_;
  FakeReader reader_;
  std::atomic<bool> stop_{false};
  std::string volume_id_;
  std::string devnode_;
};

TEST_F(Prewarm, ReadsTheMountedVolumeInFullRecordsDoneAndARerunReadsNothing) {
  auto r = run();
  ASSERT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(r.groups[0].volumes.size(), 1U) << "only the volume with prewarm";
  const auto& v = r.groups[0].volumes[0];
  EXPECT_EQ(v.outcome, Outcome::Prewarmed) << render_text(r);
  EXPECT_EQ(v.volume_id, volume_id_);
  EXPECT_EQ(v.prewarm_from_bytes, 0);
  EXPECT_EQ(v.prewarm_bytes_read, static_cast<std::int64_t>(k_size));
  EXPECT_EQ(v.prewarm_state, "done");
  EXPECT_EQ(v.prewarm_percent, 100);
  ASSERT_EQ(reader_.calls.size(), 1U);
  EXPECT_EQ(reader_.calls[0].devnode, devnode_);
  EXPECT_EQ(reader_.calls[0].bytes_per_second, 50 * k_mib);
  EXPECT_EQ(state(), (PrewarmState{.group = "db",
                                   .mount_point = "/data/a",
                                   .volume_id = volume_id_,
                                   .size_bytes = k_size,
                                   .offset = k_size,
                                   .done = true}));

  auto again = run();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.groups[0].volumes[0].outcome, Outcome::Prewarmed);
  EXPECT_EQ(again.groups[0].volumes[0].reason, "already pre-warmed");
  EXPECT_EQ(again.groups[0].volumes[0].prewarm_bytes_read, 0);
  EXPECT_EQ(reader_.calls.size(), 1U) << "nothing read again";

  auto listed = list(f_.context());
  EXPECT_EQ(listed.groups[0].volumes[0].prewarm_state, "done");
  EXPECT_FALSE(listed.groups[0].volumes[1].prewarm_state) << "no pre-warm for /data/b";
  EXPECT_NE(render_text(listed).find("  done  "), std::string::npos) << render_text(listed);
}

TEST_F(Prewarm, AStopSavesTheOffsetAndTheNextRunContinuesFromIt) {
  reader_.at_each_mib = [this](std::uint64_t offset) {
    if (offset == 20 * k_mib) stop_ = true;
  };
  auto r = run();
  EXPECT_TRUE(r.ok()) << "an interrupted pre-warm is no failure: " << render_text(r);
  const auto& v = r.groups[0].volumes[0];
  EXPECT_EQ(v.outcome, Outcome::Interrupted);
  EXPECT_NE(v.reason.value_or("").find("continues"), std::string::npos) << render_text(r);
  EXPECT_EQ(state()->offset, 20 * k_mib);
  EXPECT_FALSE(state()->done);

  auto listed = list(f_.context());
  EXPECT_EQ(listed.groups[0].volumes[0].prewarm_state, "partial");
  EXPECT_EQ(listed.groups[0].volumes[0].prewarm_percent, 31);

  stop_ = false;
  reader_.at_each_mib = nullptr;
  auto rest = run();
  ASSERT_TRUE(rest.ok()) << render_text(rest);
  ASSERT_EQ(reader_.calls.size(), 2U);
  EXPECT_EQ(reader_.calls[1].from, 20 * k_mib);
  EXPECT_EQ(rest.groups[0].volumes[0].prewarm_from_bytes, static_cast<std::int64_t>(20 * k_mib));
  EXPECT_EQ(rest.groups[0].volumes[0].prewarm_bytes_read, static_cast<std::int64_t>(44 * k_mib));
  EXPECT_TRUE(state()->done);
}

TEST_F(Prewarm, TheOffsetIsCheckpointedWhileReadingSoAKillLosesAtMostOneInterval) {
  std::vector<std::uint64_t> seen;  // the state file's offset after each MiB, 1 s apart
  reader_.at_each_mib = [this, &seen](std::uint64_t) {
    f_.clock.advance(1s);
    seen.push_back(state()->offset);
  };
  ASSERT_TRUE(run().ok());
  ASSERT_EQ(seen.size(), 64U);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const auto read = (i + 1) * k_mib;
    EXPECT_LE(seen[i], read);
    // Checkpoints every 2 s of reading: the file is never more than 2 MiB (2 s here) behind.
    EXPECT_GE(seen[i] + 2 * k_mib, read) << "after " << i + 1 << " MiB";
  }
}

TEST_F(Prewarm, AStateOfAnotherVolumeAtTheMountPointStartsOver) {
  ASSERT_TRUE(PrewarmStates(f_.services.options.run_dir)
                  .save(PrewarmState{.group = "db",
                                     .mount_point = "/data/a",
                                     .volume_id = "vol-0ld",
                                     .size_bytes = k_size,
                                     .offset = 30 * k_mib}));
  auto r = run();
  ASSERT_TRUE(r.ok()) << render_text(r);
  ASSERT_EQ(reader_.calls.size(), 1U);
  EXPECT_EQ(reader_.calls[0].from, 0U);
  EXPECT_EQ(state()->volume_id, volume_id_);
}

TEST_F(Prewarm, DryRunPrintsThePlanAndReadsNothing) {
  ASSERT_TRUE(PrewarmStates(f_.services.options.run_dir)
                  .save(PrewarmState{.group = "db",
                                     .mount_point = "/data/a",
                                     .volume_id = volume_id_,
                                     .size_bytes = k_size,
                                     .offset = 16 * k_mib}));
  f_.services.options.dry_run = true;
  auto r = run();
  ASSERT_TRUE(r.ok()) << render_text(r);
  const auto& v = r.groups[0].volumes[0];
  EXPECT_EQ(v.outcome, Outcome::Planned);
  ASSERT_EQ(v.plan.size(), 1U);
  EXPECT_EQ(v.plan[0], "read " + devnode_ + " (" + volume_id_ +
                           ") from byte 16777216 to 67108864: 48 MiB, at most 50 MiB/s");
  EXPECT_TRUE(reader_.calls.empty());
  EXPECT_EQ(state()->offset, 16 * k_mib);
}

TEST_F(Prewarm, NothingMountedIsSkippedButAWaitForItFails) {
  ASSERT_TRUE(f_.mounter.unmount("/data/a"));
  auto r = run();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(r.groups[0].volumes[0].outcome, Outcome::Skipped);
  EXPECT_TRUE(reader_.calls.empty());
  EXPECT_FALSE(run(true).ok()) << "a wait for a volume that is not there would never end";
}

TEST_F(Prewarm, WaitPollsTheStateFileUntilThisVolumeIsDone) {
  PrewarmStates states(f_.services.options.run_dir);
  PrewarmState partial{.group = "db",
                       .mount_point = "/data/a",
                       .volume_id = volume_id_,
                       .size_bytes = k_size,
                       .offset = 8 * k_mib};
  ASSERT_TRUE(states.save(partial));
  // Another process: done after the third poll.
  const auto before = f_.clock.sleeps().size();
  std::thread other([&] {
    while (f_.clock.sleeps().size() < before + 3) std::this_thread::sleep_for(1ms);
    auto done = partial;
    done.offset = k_size;
    done.done = true;
    EXPECT_TRUE(states.save(done));
  });
  auto r = run(true);
  other.join();
  ASSERT_TRUE(r.ok()) << render_text(r);
  EXPECT_EQ(r.groups[0].volumes[0].outcome, Outcome::Prewarmed);
  EXPECT_EQ(r.groups[0].volumes[0].prewarm_state, "done");
  EXPECT_TRUE(reader_.calls.empty()) << "--wait reads nothing";
  const auto sleeps = f_.clock.sleeps();
  ASSERT_GE(sleeps.size(), before + 3);
  for (auto i = before; i < sleeps.size(); ++i) EXPECT_EQ(sleeps[i], k_prewarm_wait_poll);
}

TEST_F(Prewarm, ASecondPrewarmOfTheGroupIsRefusedWhileOneRuns) {
  reader_.at_each_mib = [this](std::uint64_t offset) {
    if (offset != k_mib) return;
    FakeReader inner;
    auto second = prewarm(f_.context(), PrewarmOptions{.devices = inner.devices()});
    EXPECT_FALSE(second.ok());
    EXPECT_NE(second.groups[0].error.value_or("").find("another prewarm"), std::string::npos)
        << render_text(second);
    EXPECT_TRUE(inner.calls.empty());
  };
  ASSERT_TRUE(run().ok());
}

}  // namespace
}  // namespace agent
