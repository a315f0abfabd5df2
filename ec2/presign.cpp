#include "ec2/presign.h"

#include "ec2/sigv4.h"

namespace ec2 {

Result<Endpoint> presign_source_endpoint(const Endpoint& destination, std::string_view destination_region,
                                         std::string_view source_region) {
  std::string url = destination.url;
  if (!destination_region.empty()) {
    for (auto pos = url.find(destination_region); pos != std::string::npos;
         pos = url.find(destination_region, pos + source_region.size())) {
      url.replace(pos, destination_region.size(), source_region);
    }
  }
  auto e = parse_endpoint(url);
  if (e) e->configured = destination.configured;
  return e;
}

std::string copy_snapshot_presigned_url(const CopySnapshotPresign& in) {
  sigv4::PresignRequest req{.method = "GET",
                            .scheme = in.source_endpoint.scheme,
                            .host = in.source_endpoint.host,
                            .path = in.source_endpoint.path,
                            .params = {{"Action", "CopySnapshot"}, {"Version", std::string(k_ec2_api_version)}}};
  if (in.params != nullptr) {
    for (const auto& p : in.params->params()) req.params.push_back(p);
  }
  req.params.emplace_back("DestinationRegion", in.destination_region);
  static const SecretString k_none;
  const sigv4::SigningInput signing{
      .access_key_id = in.credentials != nullptr ? in.credentials->access_key_id : std::string(),
      .secret_access_key = in.credentials != nullptr ? &in.credentials->secret_access_key : &k_none,
      .session_token = in.credentials != nullptr ? &in.credentials->session_token : &k_none,
      .region = in.source_region,
      .service = "ec2",
      .time = in.time};
  return sigv4::presign(req, signing, in.expires_s);
}

}  // namespace ec2
