#include <gtest/gtest.h>

#include "ec2/error.h"

using ec2::ErrorKind;
using ec2::kind_for_aws_code;

TEST(Ec2ErrorKinds, MapsAwsCodesOnce) {
  EXPECT_EQ(kind_for_aws_code("RequestLimitExceeded", 503), ErrorKind::Throttled);
  EXPECT_EQ(kind_for_aws_code("InvalidVolume.NotFound", 400), ErrorKind::NotFound);
  EXPECT_EQ(kind_for_aws_code("InvalidSnapshot.NotFound", 400), ErrorKind::NotFound);
  EXPECT_EQ(kind_for_aws_code("DryRunOperation", 412), ErrorKind::DryRunOk);
  EXPECT_EQ(kind_for_aws_code("UnauthorizedOperation", 403), ErrorKind::Unauthorized);
  EXPECT_EQ(kind_for_aws_code("SnapshotCreationPerVolumeRateExceeded", 400), ErrorKind::RateExceeded);
  EXPECT_EQ(kind_for_aws_code("IncorrectState", 400), ErrorKind::IncorrectState);
  EXPECT_EQ(kind_for_aws_code("SomethingNew", 500), ErrorKind::ServerError);
  EXPECT_EQ(kind_for_aws_code("SomethingNew", 400), ErrorKind::Other);
}

TEST(Ec2ErrorKinds, DescribeNamesCodeAndRequestId) {
  ec2::Error e{.kind = ErrorKind::NotFound,
               .message = "no such volume",
               .aws_code = "InvalidVolume.NotFound",
               .request_id = "abc"};
  EXPECT_EQ(e.describe(), "not-found: no such volume (code=InvalidVolume.NotFound, request_id=abc)");
}

TEST(Ec2ErrorKinds, EveryStandardModeThrottlingCodeIsThrottled) {
  for (const char* code :
       {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "RequestLimitExceeded", "BandwidthLimitExceeded", "RequestThrottled",
        "SlowDown", "EC2ThrottledException"}) {
    EXPECT_EQ(kind_for_aws_code(code, 400), ErrorKind::Throttled) << code;
  }
  EXPECT_EQ(kind_for_aws_code("VolumeLimitExceeded", 400), ErrorKind::LimitExceeded);
}

TEST(Ec2ErrorKinds, TakenDeviceNameIsInUseOtherBadValuesAreNot) {
  EXPECT_EQ(ec2::kind_for_aws_error(
                "InvalidParameterValue",
                "Invalid value '/dev/sdf' for unixDevice. Attachment point /dev/sdf is already in use", 400),
            ErrorKind::InUse);
  EXPECT_EQ(
      ec2::kind_for_aws_error("InvalidParameterValue", "Value (x) for parameter device is invalid.", 400),
      ErrorKind::InvalidParameter);
  const ec2::Error e = ec2::aws_error("AuthFailure", "nope", "rid", 401);
  EXPECT_EQ(e.kind, ErrorKind::Auth);
  EXPECT_EQ(e.request_id, "rid");
  EXPECT_EQ(e.http_status, 401);
}

TEST(Ec2ErrorKinds, ReusedClientTokenIsAnIdempotencyMismatch) {
  // CreateVolume with a ClientToken already bound to other parameters: neither a bad parameter
  // nor anything a resend could cure.
  EXPECT_EQ(kind_for_aws_code("IdempotentParameterMismatch", 400), ErrorKind::IdempotencyMismatch);
  const ec2::Error e = ec2::aws_error(
      "IdempotentParameterMismatch",
      "The client token you have provided is associated with a resource that has different parameters.",
      "rid", 400);
  EXPECT_EQ(e.kind, ErrorKind::IdempotencyMismatch);
  EXPECT_EQ(e.aws_code, "IdempotentParameterMismatch");
  EXPECT_EQ(ec2::to_string(ErrorKind::IdempotencyMismatch), "idempotency-mismatch");
  EXPECT_EQ(e.describe(),
            "idempotency-mismatch: The client token you have provided is associated with a resource that "
            "has different parameters. (code=IdempotentParameterMismatch, request_id=rid)");
}
