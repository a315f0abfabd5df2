#include "ec2/ec2_client.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <array>
#include <functional>

#include "ebsnap/try.h"
#include "ec2/ec2_xml.h"
#include "ec2/log.h"
#include "ec2/presign.h"
#include "ec2/query.h"
#include "ec2/sigv4.h"

namespace ec2 {
namespace {

constexpr int k_max_pages = 100'000;

// A random UUID for ClientToken, as the SDKs fill in idempotency tokens the caller left out.
std::string random_client_token() {
  std::array<unsigned char, 16> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    // No randomness is worse than no token: the caller gets a non-idempotent call instead.
    return {};
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

// Credentials the server reports as expired: ask the provider for fresh ones and try again.
// EC2 answers an expired session token with RequestExpired ("Request has expired"), the same
// code as for a stale X-Amz-Date; a re-signed request with fresh credentials cures both.
bool is_expired_credentials(const Error& e) {
  return e.aws_code == "ExpiredToken" || e.aws_code == "ExpiredTokenException" ||
         e.aws_code == "RequestExpired";
}

}  // namespace

struct Ec2Client::Impl {
  Ec2ClientOptions options;
  Endpoint endpoint;
  std::shared_ptr<HttpClient> http;
  const Clock& clock;
  Sleeper& sleeper;
  RandomSource& random;
  RetryStrategy retry;
  Pacing pacing;

  Impl(Ec2ClientOptions o, Endpoint e, std::shared_ptr<HttpClient> h)
      : options(std::move(o)),
        endpoint(std::move(e)),
        http(std::move(h)),
        clock(options.clock != nullptr ? *options.clock : system_clock()),
        sleeper(options.sleeper != nullptr ? *options.sleeper : system_sleeper()),
        random(options.random != nullptr ? *options.random : system_random()),
        retry(paced(options.retry, options.pacing), options.quota, sleeper, random),
        pacing(options.pacing, clock, sleeper, random) {}

  static RetryOptions paced(RetryOptions r, const PacingOptions& p) {
    r.throttles_paced = p.patience.count() > 0;
    return r;
  }

  // One signed attempt. The body of a 2xx answer, or the EC2 error.
  Result<std::string> attempt(std::string_view action, const std::string& body, bool fresh_connection) {
    EBSNAP_TRY_ASSIGN(auto creds, options.credentials->credentials());
    sigv4::Request req{.method = "POST",
                       .host = endpoint.host,
                       .path = endpoint.path,
                       .query = "",
                       .headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                                   {"Host", endpoint.host}},
                       .body = body};
    const sigv4::SigningInput input{.access_key_id = creds.access_key_id,
                                    .secret_access_key = &creds.secret_access_key,
                                    .session_token = &creds.session_token,
                                    .region = options.region,
                                    .service = "ec2",
                                    .time = clock.now()};
    HttpRequest http_request{.method = "POST",
                             .url = endpoint.url,
                             .headers = req.headers,
                             .body = body,
                             .fresh_connection = fresh_connection};
    for (auto& h : sigv4::sign(req, input)) http_request.headers.push_back(std::move(h));
    auto response = http->send(http_request);
    // The signed headers (Authorization, session token) die here; nothing of them is logged.
    for (auto& [name, value] : http_request.headers) wipe(value);
    if (!response) {
      response.error().message = std::string(action) + ": " + response.error().message;
      return std::unexpected(std::move(response.error()));
    }
    if (response->status >= 200 && response->status < 300) return std::move(response->body);
    Error e = xml::parse_error(response->body, response->status);
    if (e.kind == ErrorKind::Auth) {
      e.message += " (credentials from " + options.credentials->source() + ")";
    }
    return std::unexpected(std::move(e));
  }

  // Signs, sends and retries one EC2 Query action; the response body of the success.
  Result<std::string> call(std::string_view action, const QueryParams& params, Idempotency idempotency) {
    const std::string body = params.body(action);
    return call_with(action, [&]() -> Result<std::string> { return body; }, idempotency);
  }

  // The same, with a body made again for each attempt (CopySnapshot's PresignedUrl is signed with
  // the credentials of the attempt that carries it).
  Result<std::string> call_with(std::string_view action, const std::function<Result<std::string>()>& body_of_attempt,
                                Idempotency idempotency) {
    const auto start = clock.monotonic();
    bool refreshed = false;
    const auto counted_attempt = [&]() -> Result<std::string> {
      auto body = body_of_attempt();
      if (!body) return std::unexpected(std::move(body.error()));
      // The request leaves right after this line: a kill at it lands with the call in flight
      // (the e2e kill matrix waits for it).
      log_ec2().trace("call={} sending", action);
      auto r = attempt(action, *body, idempotency == Idempotency::NotIdempotent);
      if (options.call_stats) options.call_stats->record(action, !r && is_throttle(r.error()));
      return r;
    };
    const auto refreshing_attempt = [&] {
      auto r = counted_attempt();
      if (!r && is_expired_credentials(r.error()) && !refreshed) {
        // A rejected request did nothing: fetch fresh credentials and send it again at once.
        refreshed = true;
        log_ec2().info("call={} credentials expired source={}; refreshing", action,
                       options.credentials->source());
        options.credentials->invalidate();
        r = counted_attempt();
      }
      return r;
    };
    std::chrono::milliseconds throttled_for{0};
    bool was_throttled = false;
    auto result = retry.run<std::string>(action, idempotency, [&](int) -> Result<std::string> {
      // A throttled request did nothing: it is sent again at the bucket's next slot, for as long
      // as the pacing's patience lasts (ec2/pacing.h). The wait before its first send (a fleet's
      // share, the spacing of its bucket's calls) is not time it was throttled.
      for (;;) {
        const auto waited = pacing.before(action);
        if (was_throttled) throttled_for += waited;
        auto r = refreshing_attempt();
        const bool throttled = !r && is_throttle(r.error());
        pacing.after(action, throttled);
        if (!throttled || !pacing.enabled()) return r;
        was_throttled = true;
        if (throttled_for >= pacing.options().patience) {
          r.error().message += fmt::format(" (throttled for {} s)",
                                           std::chrono::duration_cast<std::chrono::seconds>(throttled_for).count());
          return r;
        }
      }
    });
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock.monotonic() - start).count();
    if (result) {
      log_ec2().debug("call={} ok ms={} request_id={}", action, ms, xml::request_id(*result));
    } else if (result.error().kind == ErrorKind::DryRunOk) {
      log_ec2().debug("call={} dry_run=ok", action);
    } else {
      log_ec2().debug("call={} failed ms={} error=\"{}\"", action, ms, result.error().describe());
    }
    return result;
  }

  // Follows NextToken to the end.
  template <class T, class Parse>
  Result<std::vector<T>> paginate(std::string_view action, const QueryParams& base, bool may_page,
                                  std::optional<int> max_results, Parse parse) {
    std::vector<T> all;
    std::string token;
    const int page_size = max_results.value_or(options.default_page_size);
    for (int page = 0; page < k_max_pages; ++page) {
      QueryParams params = base;
      if (may_page && page_size > 0) params.add("MaxResults", page_size);
      if (!token.empty()) params.add("NextToken", token);
      EBSNAP_TRY_ASSIGN(auto body, call(action, params, Idempotency::Idempotent));
      EBSNAP_TRY_ASSIGN(auto parsed, parse(body));
      for (auto& item : parsed.items) all.push_back(std::move(item));
      if (parsed.next_token.empty()) return all;
      if (parsed.next_token == token)
        return fail(ErrorKind::Parse, std::string(action) + " repeated its NextToken");
      token = std::move(parsed.next_token);
    }
    return fail(ErrorKind::Parse, std::string(action) + " paginated without end");
  }
};

Result<std::unique_ptr<Ec2Client>> Ec2Client::create(Ec2ClientOptions options, const EnvLookup& env) {
  if (!options.credentials) return fail(ErrorKind::Credentials, "Ec2Client needs a credentials provider");
  if (options.region.empty()) return fail(ErrorKind::InvalidParameter, "Ec2Client needs a region");
  Endpoint endpoint = options.endpoint;
  if (endpoint.url.empty()) {
    EBSNAP_TRY_ASSIGN(endpoint, resolve_ec2_endpoint(options.region, env));
  }
  if (endpoint.scheme == "http" && !endpoint.configured) {
    return fail(ErrorKind::InvalidParameter, "plain http only for an explicitly configured endpoint");
  }
  std::shared_ptr<HttpClient> http = options.http_client;
  if (!http) {
    HttpOptions http_options = options.http;
    if (http_options.ca_bundle.empty()) http_options.ca_bundle = env("AWS_CA_BUNDLE").value_or("");
    http_options.allow_plain_http = endpoint.configured && endpoint.scheme == "http";
    http = std::make_shared<CurlHttpClient>(http_options);
  }
  log_ec2().debug("client region={} endpoint={} credentials={}", options.region, endpoint.url,
                  options.credentials->source());
  return std::unique_ptr<Ec2Client>(
      new Ec2Client(std::make_unique<Impl>(std::move(options), std::move(endpoint), std::move(http))));
}

Ec2Client::Ec2Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ec2Client::~Ec2Client() = default;

const Endpoint& Ec2Client::endpoint() const {
  return impl_->endpoint;
}
const std::string& Ec2Client::region() const {
  return impl_->options.region;
}
RetryQuota& Ec2Client::quota() {
  return impl_->retry.quota();
}

Result<std::vector<Snapshot>> Ec2Client::describe_snapshots(const DescribeSnapshotsOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add_list("Owner", o.owner_ids);
  p.add_ids("SnapshotId", o.snapshot_ids);
  p.add_filters(o.filters);
  // EC2 refuses MaxResults together with explicit ids.
  return impl_->paginate<Snapshot>("DescribeSnapshots", p, o.snapshot_ids.empty(), o.max_results,
                                   xml::parse_describe_snapshots);
}

Result<std::vector<Volume>> Ec2Client::describe_volumes(const DescribeVolumesOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add_ids("VolumeId", o.volume_ids);
  p.add_filters(o.filters);
  return impl_->paginate<Volume>("DescribeVolumes", p, o.volume_ids.empty(), o.max_results,
                                 xml::parse_describe_volumes);
}

Result<std::vector<Instance>> Ec2Client::describe_instances(const DescribeInstancesOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add_ids("InstanceId", o.instance_ids);
  p.add_filters(o.filters);
  return impl_->paginate<Instance>("DescribeInstances", p, o.instance_ids.empty(), o.max_results,
                                   xml::parse_describe_instances);
}

Result<std::vector<VolumeStatusItem>> Ec2Client::describe_volume_status(
    const DescribeVolumeStatusOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add_ids("VolumeId", o.volume_ids);
  return impl_->paginate<VolumeStatusItem>("DescribeVolumeStatus", p, o.volume_ids.empty(), o.max_results,
                                           xml::parse_describe_volume_status);
}

Result<Volume> Ec2Client::create_volume(const CreateVolumeOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add("AvailabilityZone", o.availability_zone);
  if (o.size_gib) p.add("Size", *o.size_gib);
  if (o.snapshot_id) p.add("SnapshotId", o.snapshot_id->value);
  if (!o.volume_type.empty()) p.add("VolumeType", o.volume_type);
  if (o.iops) p.add("Iops", *o.iops);
  if (o.throughput) p.add("Throughput", *o.throughput);
  if (o.encrypted) p.add("Encrypted", *o.encrypted);
  if (!o.kms_key_id.empty()) p.add("KmsKeyId", o.kms_key_id);
  if (o.initialization_rate) p.add("VolumeInitializationRate", *o.initialization_rate);
  p.add_tag_specifications(o.tag_specifications);
  // With a ClientToken a resend returns the same volume, so CreateVolume may be retried.
  const std::string token = o.client_token.empty() ? random_client_token() : o.client_token;
  if (!token.empty()) p.add("ClientToken", token);
  EBSNAP_TRY_ASSIGN(
      auto body,
      impl_->call("CreateVolume", p, token.empty() ? Idempotency::NotIdempotent : Idempotency::Idempotent));
  return xml::parse_create_volume(body);
}

Result<VolumeAttachment> Ec2Client::attach_volume(const AttachVolumeOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add("VolumeId", o.volume_id.value);
  p.add("InstanceId", o.instance_id.value);
  p.add("Device", o.device);
  // Idempotent by state: a resent attach of an attached volume fails with IncorrectState /
  // VolumeInUse, which the caller reconciles by describing the volume.
  EBSNAP_TRY_ASSIGN(auto body, impl_->call("AttachVolume", p, Idempotency::Idempotent));
  return xml::parse_attachment(body);
}

Result<VolumeAttachment> Ec2Client::detach_volume(const DetachVolumeOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add("VolumeId", o.volume_id.value);
  if (o.instance_id) p.add("InstanceId", o.instance_id->value);
  if (!o.device.empty()) p.add("Device", o.device);
  if (o.force) p.add("Force", true);
  EBSNAP_TRY_ASSIGN(auto body, impl_->call("DetachVolume", p, Idempotency::Idempotent));
  return xml::parse_attachment(body);
}

Result<void> Ec2Client::delete_volume(const DeleteVolumeOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add("VolumeId", o.volume_id.value);
  EBSNAP_TRY_ASSIGN(auto body, impl_->call("DeleteVolume", p, Idempotency::Idempotent));
  return xml::parse_return(body);
}

Result<Snapshot> Ec2Client::create_snapshot(const CreateSnapshotOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add("VolumeId", o.volume_id.value);
  if (!o.description.empty()) p.add("Description", o.description);
  p.add_tag_specifications(o.tag_specifications);
  // CreateSnapshot has no ClientToken: a resend after a lost answer makes a second snapshot.
  EBSNAP_TRY_ASSIGN(auto body, impl_->call("CreateSnapshot", p, Idempotency::NotIdempotent));
  return xml::parse_create_snapshot(body);
}

Result<std::vector<Snapshot>> Ec2Client::create_snapshots(const CreateSnapshotsOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add("InstanceSpecification.InstanceId", o.instance_id.value);
  if (o.instance_specification.exclude_boot_volume) p.add("InstanceSpecification.ExcludeBootVolume", true);
  p.add_ids("InstanceSpecification.ExcludeDataVolumeId", o.instance_specification.exclude_data_volume_ids);
  if (!o.description.empty()) p.add("Description", o.description);
  if (!o.copy_tags_from_source.empty()) p.add("CopyTagsFromSource", o.copy_tags_from_source);
  p.add_tag_specifications(o.tag_specifications);
  EBSNAP_TRY_ASSIGN(auto body, impl_->call("CreateSnapshots", p, Idempotency::NotIdempotent));
  return xml::parse_create_snapshots(body);
}

Result<void> Ec2Client::delete_snapshot(const DeleteSnapshotOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add("SnapshotId", o.snapshot_id.value);
  EBSNAP_TRY_ASSIGN(auto body, impl_->call("DeleteSnapshot", p, Idempotency::Idempotent));
  return xml::parse_return(body);
}

Result<SnapshotId> Ec2Client::copy_snapshot(const CopySnapshotOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add("SourceRegion", o.source_region);
  p.add("SourceSnapshotId", o.source_snapshot_id.value);
  if (!o.description.empty()) p.add("Description", o.description);
  if (o.encrypted) p.add("Encrypted", *o.encrypted);
  if (!o.kms_key_id.empty()) p.add("KmsKeyId", o.kms_key_id);
  p.add_tag_specifications(o.tag_specifications);
  if (o.completion_duration_minutes) p.add("CompletionDurationMinutes", *o.completion_duration_minutes);
  // The PresignedUrl, as botocore's inject_presigned_url_ec2 adds it to every CopySnapshot:
  // these parameters and DestinationRegion, query-signed for the source region, then
  // PresignedUrl and DestinationRegion appended to the request. Signed again for each attempt,
  // with that attempt's credentials: a URL signed with credentials that expired before EC2 read it
  // makes a copy that ends in state error (the resend after a RequestExpired carried the stale
  // URL under a fresh signature; found by the fault matrix, issue 16).
  const auto body_of_attempt = [&]() -> Result<std::string> {
    std::string url = o.presigned_url;
    if (url.empty()) {
      EBSNAP_TRY_ASSIGN(auto creds, impl_->options.credentials->credentials());
      EBSNAP_TRY_ASSIGN(auto source,
                        presign_source_endpoint(impl_->endpoint, impl_->options.region, o.source_region));
      url = copy_snapshot_presigned_url(CopySnapshotPresign{.source_endpoint = std::move(source),
                                                            .source_region = o.source_region,
                                                            .destination_region = impl_->options.region,
                                                            .params = &p,
                                                            .credentials = &creds,
                                                            .time = impl_->clock.now()});
    }
    QueryParams q = p;
    q.add("PresignedUrl", std::move(url));
    q.add("DestinationRegion", impl_->options.region);
    return q.body("CopySnapshot");
  };
  // The 2016-11-15 CopySnapshot takes no ClientToken: like CreateSnapshot it is not resent
  // after a lost answer.
  EBSNAP_TRY_ASSIGN(auto body, impl_->call_with("CopySnapshot", body_of_attempt, Idempotency::NotIdempotent));
  return xml::parse_copy_snapshot(body);
}

Result<void> Ec2Client::modify_instance_attribute(const ModifyInstanceAttributeOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add("InstanceId", o.instance_id.value);
  p.add("BlockDeviceMapping.1.DeviceName", o.device);
  p.add("BlockDeviceMapping.1.Ebs.DeleteOnTermination", o.delete_on_termination);
  // Idempotent by value: a resend sets the flag to what it already is.
  EBSNAP_TRY_ASSIGN(auto body, impl_->call("ModifyInstanceAttribute", p, Idempotency::Idempotent));
  return xml::parse_return(body);
}

Result<void> Ec2Client::create_tags(const CreateTagsOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add_list("ResourceId", o.resource_ids);
  p.add_tags("Tag", o.tags);
  EBSNAP_TRY_ASSIGN(auto body, impl_->call("CreateTags", p, Idempotency::Idempotent));
  return xml::parse_return(body);
}

Result<void> Ec2Client::delete_tags(const DeleteTagsOptions& o) {
  QueryParams p;
  if (o.dry_run) p.add("DryRun", true);
  p.add_list("ResourceId", o.resource_ids);
  for (std::size_t i = 0; i < o.tags.size(); ++i) {
    const std::string prefix = "Tag." + std::to_string(i + 1);
    p.add(prefix + ".Key", o.tags[i].key);
    if (o.tags[i].value) p.add(prefix + ".Value", *o.tags[i].value);
  }
  EBSNAP_TRY_ASSIGN(auto body, impl_->call("DeleteTags", p, Idempotency::Idempotent));
  return xml::parse_return(body);
}

}  // namespace ec2
