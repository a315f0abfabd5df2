#pragma once
// The one error type of ec2/. AWS error codes are mapped to kinds here, once.
#include <expected>
#include <string>
#include <string_view>

namespace ec2 {

enum class ErrorKind {
  NotFound,        // InvalidVolume.NotFound, InvalidSnapshot.NotFound, ...
  IncorrectState,  // IncorrectState, IncorrectInstanceState, VolumeInUse (wrong state)
  InUse,           // device name already in use, resource in use
  Throttled,       // RequestLimitExceeded, Throttling, ...
  RateExceeded,    // SnapshotCreationPerVolumeRateExceeded (retry later, not now)
  Auth,            // AuthFailure, SignatureDoesNotMatch, expired or missing credentials
  Unauthorized,    // UnauthorizedOperation (IAM denies it)
  DryRunOk,        // DryRunOperation: the call would have succeeded
  InvalidParameter,
  // IdempotentParameterMismatch: a ClientToken reused with different parameters (a resend with
  // the same token cannot succeed; only a new token can).
  IdempotencyMismatch,
  LimitExceeded,  // VolumeLimitExceeded, SnapshotLimitExceeded ...
  ServerError,    // 5xx, InternalError, Unavailable
  Network,        // connection refused, reset, timeout
  Timeout,        // a deadline of ours passed
  Imds,           // instance metadata problems
  Credentials,    // no credential source found
  Parse,          // a response we cannot understand
  Other,
};

[[nodiscard]] std::string_view to_string(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::Other;
  std::string message;
  std::string aws_code;    // e.g. "InvalidVolume.NotFound"; empty when not from AWS
  std::string request_id;  // AWS request id where there is one
  long http_status = 0;
  int errno_value = 0;
  // A network failure after the request may have reached the server: a call that is not
  // idempotent (CreateSnapshot) may have been applied. Reconcile; do not resend blindly.
  // Also set on the final error of a resent call when an earlier attempt may have reached the
  // server (an IncorrectState after a resent AttachVolume may be that attempt's doing).
  bool maybe_applied = false;

  // One line for humans and logs: "kind: message (code=..., request_id=...)".
  [[nodiscard]] std::string describe() const;
};

// Maps an AWS error code (and HTTP status) to its kind.
[[nodiscard]] ErrorKind kind_for_aws_code(std::string_view code, long http_status);
// The same, looking also at the message where EC2 uses one code for different cases
// (InvalidParameterValue "Attachment point /dev/sdf is already in use" → InUse).
[[nodiscard]] ErrorKind kind_for_aws_error(std::string_view code, std::string_view message, long http_status);
// An Error from an AWS error response, kind mapped.
[[nodiscard]] Error aws_error(std::string code, std::string message, std::string request_id,
                              long http_status);

template <class T>
using Result = std::expected<T, Error>;

[[nodiscard]] inline std::unexpected<Error> fail(ErrorKind kind, std::string message) {
  return std::unexpected(Error{.kind = kind, .message = std::move(message)});
}

}  // namespace ec2
