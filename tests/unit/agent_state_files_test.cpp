// The files of the run directory, parsed from their bytes (what tests/fuzz/run_records feeds
// them): values no writer of ours produces are refused, never undefined behaviour.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

#include "agent/commands/copy.h"
#include "agent/commands/freeze.h"
#include "agent/core/detach_record.h"
#include "agent/core/epoch_ms.h"
#include "agent/core/snapshot_record.h"

namespace agent {
namespace {

// 10^16 ms is 317,000 years: beyond system_clock's nanoseconds (±292 years). Converting it
// unchecked was a signed overflow (UBSan: "signed integer overflow" in <chrono>).
constexpr const char* k_beyond = "10000000000000000";

std::string run_record(const std::string& started_at_ms) {
  return R"({"format":"ebsnap-snapshot-run 1","run_id":"20261207T050000Z-1a2b3c","group":"solr",)"
         R"("instance_id":"i-0123456789abcdef0","pid":4242,"pid_start":123456,"started_at_ms":)" +
         started_at_ms +
         R"(,"in_flight_until_ms":1796619660000,"volumes":[{"volume_id":"vol-0123456789abcdef0",)"
         R"("mount_point":"/mnt/solr","intended":"frozen","verdict":null,"tags":[["ebsnap:group","solr"]]}]})";
}

std::string detach_record(const std::string& written_at_ms) {
  return R"({"format":"ebsnap-unmount-detach 1","volume_id":"vol-0123456789abcdef0","group":"solr",)"
         R"("mount_point":"/mnt/solr","instance_id":"i-0123456789abcdef0","written_at_ms":)" +
         written_at_ms + "}";
}

TEST(EpochMs, TimesTheClockCannotHoldAreNone) {
  EXPECT_EQ(time_from_epoch_ms(1'796'619'600'000)->time_since_epoch(), std::chrono::milliseconds{1'796'619'600'000});
  EXPECT_EQ(time_from_epoch_ms(-1'000)->time_since_epoch(), std::chrono::seconds{-1});
  EXPECT_FALSE(time_from_epoch_ms(10'000'000'000'000'000).has_value());
  EXPECT_FALSE(time_from_epoch_ms(-10'000'000'000'000'000).has_value());
  EXPECT_FALSE(time_from_epoch_ms(std::numeric_limits<std::int64_t>::max()).has_value());
  EXPECT_FALSE(time_from_epoch_ms(std::numeric_limits<std::int64_t>::min()).has_value());
}

TEST(StateFiles, ARunRecordWithATimeBeyondTheClockIsNotOne) {
  const auto ok = parse_run_record(run_record("1796619600000"));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->started_at.time_since_epoch(), std::chrono::milliseconds{1'796'619'600'000});
  EXPECT_FALSE(parse_run_record(run_record(k_beyond)).has_value());
  EXPECT_FALSE(parse_run_record(run_record("-10000000000000000")).has_value());
}

TEST(StateFiles, ADetachRecordWithATimeBeyondTheClockIsNotOne) {
  EXPECT_TRUE(parse_detach_record(detach_record("1796619600000")).has_value());
  EXPECT_FALSE(parse_detach_record(detach_record(k_beyond)).has_value());
}

TEST(StateFiles, AHoldRecordWithATimeBeyondTheClockIsNotOne) {
  HoldRecord r{.group = "solr", .guardian_pid = 4243, .guardian_start = 1, .mount_points = {"/mnt/solr"},
               .bound_ms = 10'000, .frozen_at = *time_from_epoch_ms(1'796'619'600'000), .freeze_offset_ms = 3};
  std::string text = serialize_hold_record(r);
  const auto back = parse_hold_record(text);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->frozen_at, r.frozen_at);
  const auto at = text.find("1796619600000");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 13, k_beyond);
  EXPECT_FALSE(parse_hold_record(text).has_value());
}

TEST(StateFiles, ACopyIntentWithATimeBeyondTheClockIsNotOne) {
  EXPECT_EQ(parse_copy_intent("1796619600000\n")->time_since_epoch(), std::chrono::milliseconds{1'796'619'600'000});
  EXPECT_FALSE(parse_copy_intent(std::string(k_beyond) + "\n").has_value());
  EXPECT_FALSE(parse_copy_intent("9223372036854775807\n").has_value());
  EXPECT_FALSE(parse_copy_intent("12x\n").has_value());
  EXPECT_FALSE(parse_copy_intent("").has_value());
}

TEST(StateFiles, NumbersThatAreNotIntegersAreNoRecord) {
  // nlohmann's get<int>() of 1e300 is a static_cast of a double out of range: undefined.
  EXPECT_FALSE(parse_run_record(run_record("1e300")).has_value());
  EXPECT_FALSE(parse_run_record(run_record("1796619600000.5")).has_value());
  EXPECT_FALSE(parse_detach_record(detach_record("1e300")).has_value());
  std::string hold = serialize_hold_record(HoldRecord{.group = "solr", .guardian_pid = 4243, .guardian_start = 1,
                                                      .mount_points = {"/mnt/solr"}, .bound_ms = 10'000,
                                                      .frozen_at = {}, .freeze_offset_ms = 3});
  const auto pid = hold.find("4243");
  ASSERT_NE(pid, std::string::npos);
  hold.replace(pid, 4, "1e300");
  EXPECT_FALSE(parse_hold_record(hold).has_value());
}

}  // namespace
}  // namespace agent
