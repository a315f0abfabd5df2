#include "ec2/endpoint.h"

namespace ec2 {

Result<Endpoint> parse_endpoint(std::string_view url) {
  Endpoint e;
  std::string_view rest;
  if (url.starts_with("https://")) {
    e.scheme = "https";
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    e.scheme = "http";
    rest = url.substr(7);
  } else {
    return fail(ErrorKind::InvalidParameter,
                "endpoint must start with http:// or https://: " + std::string(url));
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  if (authority.empty() || authority.find_first_of("@?# ") != std::string_view::npos) {
    return fail(ErrorKind::InvalidParameter, "endpoint has no valid host: " + std::string(url));
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    return fail(ErrorKind::InvalidParameter, "endpoint may not carry a query: " + std::string(url));
  }
  // The Host header (and so the signature) carries no default port, as clients send it.
  if (e.scheme == "https" && authority.ends_with(":443")) authority.remove_suffix(4);
  if (e.scheme == "http" && authority.ends_with(":80")) authority.remove_suffix(3);
  e.host = std::string(authority);
  e.path = std::string(path);
  if (!e.path.ends_with('/')) e.path += '/';
  e.url = e.scheme + "://" + e.host + e.path;
  return e;
}

Result<Endpoint> region_endpoint(std::string_view region) {
  if (region.empty()) return fail(ErrorKind::InvalidParameter, "no region: set AWS_REGION or configure one");
  for (char c : region) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return fail(ErrorKind::InvalidParameter, "not a region name: " + std::string(region));
    }
  }
  const std::string suffix = region.starts_with("cn-") ? ".amazonaws.com.cn" : ".amazonaws.com";
  return parse_endpoint("https://ec2." + std::string(region) + suffix + "/");
}

Result<Endpoint> resolve_ec2_endpoint(std::string_view region, const EnvLookup& env) {
  for (const char* name : {"AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"}) {
    if (auto v = env(name); v && !v->empty()) {
      auto e = parse_endpoint(*v);
      if (!e) {
        e.error().message = std::string(name) + ": " + e.error().message;
        return e;
      }
      e->configured = true;
      return e;
    }
  }
  return region_endpoint(region);
}

}  // namespace ec2
