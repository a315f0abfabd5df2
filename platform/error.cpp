#include "platform/error.h"

#include <cerrno>
#include <cstring>

namespace platform {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::NotFound: return "not-found";
    case ErrorKind::Busy: return "busy";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::Refused: return "refused";
    case ErrorKind::Mismatch: return "mismatch";
    case ErrorKind::AlreadyFrozen: return "already-frozen";
    case ErrorKind::NotFrozen: return "not-frozen";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::System: return "system";
  }
  return "system";
}

std::string Error::describe() const {
  std::string out{to_string(kind)};
  out += ": ";
  out += message;
  return out;
}

std::unexpected<Error> fail_errno(std::string what, int errno_value) {
  ErrorKind kind = ErrorKind::System;
  if (errno_value == ENOENT || errno_value == ENODEV || errno_value == ENXIO) kind = ErrorKind::NotFound;
  if (errno_value == EBUSY) kind = ErrorKind::Busy;
  if (errno_value == ETIMEDOUT) kind = ErrorKind::Timeout;
  what += ": ";
  what += std::strerror(errno_value);
  return fail(kind, std::move(what), errno_value);
}

}  // namespace platform
