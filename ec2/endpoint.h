#pragma once
// Where the EC2 API lives: AWS_ENDPOINT_URL_EC2, then AWS_ENDPOINT_URL, else
// https://ec2.<region>.amazonaws.com (.amazonaws.com.cn in China regions).
#include <string>
#include <string_view>

#include "ec2/environment.h"
#include "ec2/error.h"

namespace ec2 {

struct Endpoint {
  std::string url;          // "https://ec2.eu-west-1.amazonaws.com/" (always ends with '/')
  std::string scheme;       // "https" or "http"
  std::string host;         // host[:port] as for the Host header
  std::string path;         // "/" or a base path
  bool configured = false;  // true when it came from configuration, not from the region

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Parses "scheme://host[:port][/path]"; only http and https.
[[nodiscard]] Result<Endpoint> parse_endpoint(std::string_view url);

// The default endpoint of a region.
[[nodiscard]] Result<Endpoint> region_endpoint(std::string_view region);

// The endpoint for this region with the environment's overrides applied.
[[nodiscard]] Result<Endpoint> resolve_ec2_endpoint(std::string_view region, const EnvLookup& env);

}  // namespace ec2
