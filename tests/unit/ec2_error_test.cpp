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
