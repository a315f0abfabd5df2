#include "ec2/error.h"

#include <array>
#include <utility>

namespace ec2 {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::NotFound:
      return "not-found";
    case ErrorKind::IncorrectState:
      return "incorrect-state";
    case ErrorKind::InUse:
      return "in-use";
    case ErrorKind::Throttled:
      return "throttled";
    case ErrorKind::RateExceeded:
      return "rate-exceeded";
    case ErrorKind::Auth:
      return "auth";
    case ErrorKind::Unauthorized:
      return "unauthorized";
    case ErrorKind::DryRunOk:
      return "dry-run-ok";
    case ErrorKind::InvalidParameter:
      return "invalid-parameter";
    case ErrorKind::IdempotencyMismatch:
      return "idempotency-mismatch";
    case ErrorKind::LimitExceeded:
      return "limit-exceeded";
    case ErrorKind::ServerError:
      return "server-error";
    case ErrorKind::Network:
      return "network";
    case ErrorKind::Timeout:
      return "timeout";
    case ErrorKind::Imds:
      return "imds";
    case ErrorKind::Credentials:
      return "credentials";
    case ErrorKind::Parse:
      return "parse";
    case ErrorKind::Other:
      return "other";
  }
  return "other";
}

std::string Error::describe() const {
  std::string out{to_string(kind)};
  out += ": ";
  out += message;
  if (!aws_code.empty() || !request_id.empty()) {
    out += " (";
    if (!aws_code.empty()) out += "code=" + aws_code;
    if (!request_id.empty()) out += (aws_code.empty() ? "" : ", ") + std::string("request_id=") + request_id;
    out += ")";
  }
  return out;
}

ErrorKind kind_for_aws_code(std::string_view code, long http_status) {
  // Codes from the EC2 API reference, "Error codes for the Amazon EC2 API".
  static constexpr std::array<std::pair<std::string_view, ErrorKind>, 33> k_exact{{
      {"RequestLimitExceeded", ErrorKind::Throttled},
      {"Throttling", ErrorKind::Throttled},
      {"ThrottlingException", ErrorKind::Throttled},
      // The rest of the SDKs' standard-mode throttling codes.
      {"ThrottledException", ErrorKind::Throttled},
      {"RequestThrottledException", ErrorKind::Throttled},
      {"RequestThrottled", ErrorKind::Throttled},
      {"TooManyRequestsException", ErrorKind::Throttled},
      {"EC2ThrottledException", ErrorKind::Throttled},
      {"SlowDown", ErrorKind::Throttled},
      {"BandwidthLimitExceeded", ErrorKind::Throttled},
      {"ServiceUnavailable", ErrorKind::ServerError},
      {"SnapshotCreationPerVolumeRateExceeded", ErrorKind::RateExceeded},
      {"AuthFailure", ErrorKind::Auth},
      {"SignatureDoesNotMatch", ErrorKind::Auth},
      {"IncompleteSignature", ErrorKind::Auth},
      {"InvalidClientTokenId", ErrorKind::Auth},
      {"RequestExpired", ErrorKind::Auth},
      {"ExpiredToken", ErrorKind::Auth},
      {"MissingAuthenticationToken", ErrorKind::Auth},
      {"UnauthorizedOperation", ErrorKind::Unauthorized},
      {"DryRunOperation", ErrorKind::DryRunOk},
      {"IncorrectState", ErrorKind::IncorrectState},
      {"IncorrectInstanceState", ErrorKind::IncorrectState},
      {"VolumeInUse", ErrorKind::IncorrectState},
      {"InvalidVolume.ZoneMismatch", ErrorKind::InvalidParameter},
      {"InvalidParameterValue", ErrorKind::InvalidParameter},
      {"InvalidParameterCombination", ErrorKind::InvalidParameter},
      {"MissingParameter", ErrorKind::InvalidParameter},
      {"UnknownParameter", ErrorKind::InvalidParameter},
      {"IdempotentParameterMismatch", ErrorKind::IdempotencyMismatch},
      {"InternalError", ErrorKind::ServerError},
      {"InternalFailure", ErrorKind::ServerError},
      {"Unavailable", ErrorKind::ServerError},
  }};
  for (const auto& [name, kind] : k_exact) {
    if (code == name) return kind;
  }
  if (code.ends_with(".NotFound")) return ErrorKind::NotFound;
  if (code.ends_with(".InUse") || code == "InvalidParameterValue.InUse") return ErrorKind::InUse;
  if (code.ends_with("LimitExceeded")) return ErrorKind::LimitExceeded;
  if (http_status >= 500) return ErrorKind::ServerError;
  return ErrorKind::Other;
}

ErrorKind kind_for_aws_error(std::string_view code, std::string_view message, long http_status) {
  // AttachVolume answers a taken device name with the generic InvalidParameterValue; the agent
  // must tell it apart to try the next free name.
  if (code == "InvalidParameterValue" && message.find("already in use") != std::string_view::npos) {
    return ErrorKind::InUse;
  }
  return kind_for_aws_code(code, http_status);
}

Error aws_error(std::string code, std::string message, std::string request_id, long http_status) {
  Error e;
  e.kind = kind_for_aws_error(code, message, http_status);
  e.aws_code = std::move(code);
  e.message = std::move(message);
  e.request_id = std::move(request_id);
  e.http_status = http_status;
  return e;
}

}  // namespace ec2
