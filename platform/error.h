#pragma once
// The one error type of platform/.
#include <expected>
#include <string>
#include <string_view>

namespace platform {

enum class ErrorKind {
  NotFound,      // no such device / mount point / file
  Busy,          // device or mount point busy (EBUSY)
  Timeout,       // a deadline passed
  Refused,       // we refuse on purpose (mkfs on a non-empty device, freezing "/", wrong serial)
  Mismatch,      // a device is not what it claims (serial differs, stale symlink)
  AlreadyFrozen, // FIFREEZE -> EBUSY: frozen by someone else
  NotFrozen,     // FITHAW -> EINVAL
  Unsupported,   // filesystem or tool not available
  System,        // any other failing system call; errno_value says which
};

[[nodiscard]] std::string_view to_string(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::System;
  std::string message;
  int errno_value = 0;

  [[nodiscard]] std::string describe() const;
};

template <class T>
using Result = std::expected<T, Error>;

[[nodiscard]] inline std::unexpected<Error> fail(ErrorKind kind, std::string message,
                                                 int errno_value = 0) {
  return std::unexpected(
      Error{.kind = kind, .message = std::move(message), .errno_value = errno_value});
}

// An Error for a failed system call: "<what>: <strerror(errno)>", kind from errno.
[[nodiscard]] std::unexpected<Error> fail_errno(std::string what, int errno_value);

}  // namespace platform
