#pragma once
// The PresignedUrl of a cross-region CopySnapshot, made as the AWS SDKs make it (botocore's
// inject_presigned_url_ec2): the same CopySnapshot request, plus DestinationRegion, as a GET to
// the source region's endpoint, query-signed (SigV4, X-Amz-Expires 3600) for the source region
// with the caller's credentials. The destination region sends it in PresignedUrl and
// DestinationRegion; EC2 verifies it and fails the copy asynchronously (state error) when it
// does not.
#include <string>
#include <string_view>

#include "ec2/clock.h"
#include "ec2/credentials.h"
#include "ec2/endpoint.h"
#include "ec2/query.h"

namespace ec2 {

inline constexpr int k_presigned_url_expires_s = 3600;  // botocore's default

// The source region's endpoint as botocore derives it: the destination endpoint's URL with every
// occurrence of the destination region replaced by the source region (a configured endpoint
// without the region in it, such as a local test endpoint, stays as it is).
[[nodiscard]] Result<Endpoint> presign_source_endpoint(const Endpoint& destination,
                                                       std::string_view destination_region,
                                                       std::string_view source_region);

struct CopySnapshotPresign {
  Endpoint source_endpoint;  // presign_source_endpoint(...)
  std::string source_region;
  std::string destination_region;
  // The CopySnapshot parameters as sent (SourceRegion, SourceSnapshotId, ...), without Action,
  // Version, PresignedUrl and DestinationRegion.
  const QueryParams* params = nullptr;
  const Credentials* credentials = nullptr;
  TimePoint time;
  int expires_s = k_presigned_url_expires_s;
};

[[nodiscard]] std::string copy_snapshot_presigned_url(const CopySnapshotPresign& in);

}  // namespace ec2
