#pragma once
// Propagating a failed std::expected, in standard C++ (no GNU statement expressions), for all
// three libraries: ec2/, platform/ and agent/ each keep their own error type; these macros only
// pass an error up unchanged, so the caller's return type must accept the callee's error.
//
//   EBSNAP_TRY(write_state(dir));                      // std::expected<void, E>
//   EBSNAP_TRY_ASSIGN(auto fd, open_dir(dir));          // std::expected<Fd, E>: fd is an Fd
//   EBSNAP_TRY_ASSIGN(config.timeout, seconds_at(v));   // assigns to an existing lvalue
//
// Each is a statement (it may return from the enclosing function). A failure is returned as
// std::unexpected(std::move(result).error()), so it converts to the caller's std::expected.
#include <expected>
#include <utility>

#define EBSNAP_TRY_CONCAT_INNER(a, b) a##b
#define EBSNAP_TRY_CONCAT(a, b) EBSNAP_TRY_CONCAT_INNER(a, b)

// The trailing `else (void)0` makes the macro one statement that takes the caller's `;` and
// cannot capture an `else` that follows it.
#define EBSNAP_TRY(expr)                                                      \
  if (auto&& ebsnap_try_result_ = (expr); !ebsnap_try_result_)               \
    return std::unexpected(std::move(ebsnap_try_result_).error());           \
  else                                                                        \
    (void)0

#define EBSNAP_TRY_ASSIGN_IMPL(tmp, lhs, expr)             \
  auto tmp = (expr);                                       \
  if (!tmp) return std::unexpected(std::move(tmp).error()); \
  lhs = std::move(*tmp)

#define EBSNAP_TRY_ASSIGN(lhs, expr) \
  EBSNAP_TRY_ASSIGN_IMPL(EBSNAP_TRY_CONCAT(ebsnap_try_value_, __LINE__), lhs, expr)
