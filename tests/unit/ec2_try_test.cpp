// ebsnap/try.h: EBSNAP_TRY and EBSNAP_TRY_ASSIGN pass an error up unchanged and otherwise go on.
#include <gtest/gtest.h>

#include <expected>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ebsnap/try.h"

namespace {

// A local error type: the macros know nothing of ec2::Error or platform::Error.
struct TestError {
  int code = 0;
  std::string message;
};

template <class T>
using Expected = std::expected<T, TestError>;

Expected<void> step(std::vector<std::string>& log, std::string name, bool fails) {
  log.push_back(name);
  if (fails) return std::unexpected(TestError{.code = 7, .message = name + " failed"});
  return {};
}

Expected<int> number(int v) {
  if (v < 0) return std::unexpected(TestError{.code = v, .message = "negative"});
  return v;
}

Expected<std::unique_ptr<int>> box(int v) {
  if (v < 0) return std::unexpected(TestError{.code = v, .message = "no box"});
  return std::make_unique<int>(v);
}

// ---- EBSNAP_TRY ----

Expected<void> two_steps(std::vector<std::string>& log, bool first_fails) {
  EBSNAP_TRY(step(log, "first", first_fails));
  EBSNAP_TRY(step(log, "second", false));
  log.emplace_back("after");
  return {};
}

TEST(EbsnapTry, ContinuesPastASuccessfulVoidExpected) {
  std::vector<std::string> log;
  const auto r = two_steps(log, false);
  EXPECT_TRUE(r.has_value());
  EXPECT_EQ(log, (std::vector<std::string>{"first", "second", "after"}));
}

TEST(EbsnapTry, ReturnsTheErrorUnchangedAndStops) {
  std::vector<std::string> log;
  const auto r = two_steps(log, true);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, 7);
  EXPECT_EQ(r.error().message, "first failed");
  EXPECT_EQ(log, (std::vector<std::string>{"first"}));  // nothing after the failed step ran
}

// The caller's value type differs from the callee's: only the error type must match.
Expected<std::string> described(std::vector<std::string>& log, bool fails) {
  EBSNAP_TRY(step(log, "only", fails));
  return std::string("done");
}

TEST(EbsnapTry, ErrorConvertsToTheCallersExpected) {
  std::vector<std::string> log;
  EXPECT_EQ(described(log, false).value(), "done");
  const auto r = described(log, true);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "only failed");
}

TEST(EbsnapTry, EvaluatesItsExpressionOnce) {
  int calls = 0;
  auto counted = [&]() -> Expected<void> {
    ++calls;
    return {};
  };
  auto run = [&]() -> Expected<void> {
    EBSNAP_TRY(counted());
    return {};
  };
  ASSERT_TRUE(run().has_value());
  EXPECT_EQ(calls, 1);
}

// `if (c) EBSNAP_TRY(x); else ...`: the else belongs to the caller's if, not to one inside the macro.
Expected<std::string> guarded(bool check, bool fails) {
  std::vector<std::string> log;
  std::string taken = "none";
  if (check)
    EBSNAP_TRY(step(log, "checked", fails));
  else
    taken = "else";
  return taken;
}

TEST(EbsnapTry, TakesNoDanglingElse) {
  EXPECT_EQ(guarded(false, false).value(), "else");
  EXPECT_EQ(guarded(true, false).value(), "none");
  const auto r = guarded(true, true);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "checked failed");
}

// ---- EBSNAP_TRY_ASSIGN ----

Expected<int> doubled(int v) {
  EBSNAP_TRY_ASSIGN(auto n, number(v));
  static_assert(std::is_same_v<decltype(n), int>, "the new variable holds the value, not the expected");
  return n * 2;
}

TEST(EbsnapTryAssign, DeclaresANewVariableWithTheValue) {
  EXPECT_EQ(doubled(21).value(), 42);
  const auto r = doubled(-3);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, -3);
  EXPECT_EQ(r.error().message, "negative");
}

Expected<void> assign_into(int& out, int v) {
  EBSNAP_TRY_ASSIGN(out, number(v));
  return {};
}

struct Settings {
  int timeout = 5;
  std::string name = "default";
};

Expected<Settings> configure(int timeout) {
  Settings s;
  EBSNAP_TRY_ASSIGN(s.timeout, number(timeout));
  s.name = "configured";
  return s;
}

TEST(EbsnapTryAssign, AssignsIntoAnExistingLvalue) {
  int out = 1;
  ASSERT_TRUE(assign_into(out, 9).has_value());
  EXPECT_EQ(out, 9);
  const auto failed = assign_into(out, -1);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, -1);
  EXPECT_EQ(out, 9);  // untouched by the failure

  const auto s = configure(30);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->timeout, 30);
  EXPECT_EQ(s->name, "configured");
  EXPECT_EQ(configure(-2).error().code, -2);
}

Expected<int> unboxed(int v) {
  EBSNAP_TRY_ASSIGN(auto b, box(v));
  static_assert(std::is_same_v<decltype(b), std::unique_ptr<int>>);
  return *b + 1;
}

Expected<void> rebox(std::unique_ptr<int>& slot, int v) {
  EBSNAP_TRY_ASSIGN(slot, box(v));
  return {};
}

TEST(EbsnapTryAssign, MovesAMoveOnlyValue) {
  EXPECT_EQ(unboxed(41).value(), 42);
  EXPECT_EQ(unboxed(-1).error().message, "no box");

  auto slot = std::make_unique<int>(1);
  ASSERT_TRUE(rebox(slot, 5).has_value());
  ASSERT_NE(slot, nullptr);
  EXPECT_EQ(*slot, 5);
  EXPECT_EQ(rebox(slot, -4).error().code, -4);
  ASSERT_NE(slot, nullptr);
  EXPECT_EQ(*slot, 5);  // untouched by the failure
}

TEST(EbsnapTryAssign, EvaluatesItsExpressionOnce) {
  int calls = 0;
  auto counted = [&]() -> Expected<int> { return ++calls; };
  auto run = [&]() -> Expected<int> {
    EBSNAP_TRY_ASSIGN(auto v, counted());
    return v;
  };
  EXPECT_EQ(run().value(), 1);
  EXPECT_EQ(calls, 1);
}

}  // namespace
