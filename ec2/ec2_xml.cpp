#include "ec2/ec2_xml.h"

#include <charconv>
#include <cstdint>
#include <pugixml.hpp>

#include "ebsnap/try.h"

namespace ec2::xml {
namespace {

std::string text(const pugi::xml_node& node, const char* name) {
  return node.child(name).text().as_string();
}

std::optional<int> optional_int(const pugi::xml_node& node, const char* name) {
  const pugi::xml_node child = node.child(name);
  if (!child || child.text().empty()) return std::nullopt;
  return child.text().as_int();
}

std::optional<std::int64_t> optional_int64(const pugi::xml_node& node, const char* name) {
  const pugi::xml_node child = node.child(name);
  if (!child || child.text().empty()) return std::nullopt;
  return child.text().as_llong();
}

std::optional<bool> optional_bool(const pugi::xml_node& node, const char* name) {
  const pugi::xml_node child = node.child(name);
  if (!child || child.text().empty()) return std::nullopt;
  return child.text().as_bool();
}

bool boolean(const pugi::xml_node& node, const char* name) {
  return node.child(name).text().as_bool();
}

std::optional<TimePoint> time(const pugi::xml_node& node, const char* name) {
  const std::string s = text(node, name);
  if (s.empty()) return std::nullopt;
  return parse_iso8601(s);
}

int percent(std::string_view s) {
  if (s.ends_with('%')) s.remove_suffix(1);
  int v = 0;
  (void)std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::vector<Tag> tags(const pugi::xml_node& node) {
  std::vector<Tag> out;
  for (const pugi::xml_node& item : node.child("tagSet").children("item")) {
    out.push_back(Tag{.key = text(item, "key"), .value = text(item, "value")});
  }
  return out;
}

VolumeAttachment attachment(const pugi::xml_node& node) {
  return VolumeAttachment{.volume_id = VolumeId{text(node, "volumeId")},
                          .instance_id = InstanceId{text(node, "instanceId")},
                          .device = text(node, "device"),
                          .state = parse_attachment_state(text(node, "status")),
                          .attach_time = time(node, "attachTime"),
                          .delete_on_termination = boolean(node, "deleteOnTermination")};
}

Volume volume(const pugi::xml_node& node) {
  Volume v;
  v.id = VolumeId{text(node, "volumeId")};
  v.size_gib = node.child("size").text().as_int();
  v.state = parse_volume_state(text(node, "status"));
  v.availability_zone = text(node, "availabilityZone");
  v.volume_type = text(node, "volumeType");
  v.iops = optional_int(node, "iops");
  v.throughput = optional_int(node, "throughput");
  v.encrypted = boolean(node, "encrypted");
  v.kms_key_id = text(node, "kmsKeyId");
  if (std::string s = text(node, "snapshotId"); !s.empty()) v.snapshot_id = SnapshotId{std::move(s)};
  v.create_time = time(node, "createTime");
  v.tags = tags(node);
  for (const pugi::xml_node& item : node.child("attachmentSet").children("item")) {
    v.attachments.push_back(attachment(item));
  }
  v.fast_restored = optional_bool(node, "fastRestored");
  v.initialization_rate = optional_int(node, "volumeInitializationRate");
  return v;
}

VolumeStatusItem volume_status(const pugi::xml_node& node) {
  VolumeStatusItem item{.volume_id = VolumeId{text(node, "volumeId")},
                        .status = node.child("volumeStatus").child("status").text().as_string()};
  if (const pugi::xml_node init = node.child("initializationStatusDetails")) {
    item.initialization = VolumeInitialization{
        .type = text(init, "initializationType"),
        .progress = optional_int(init, "progress"),
        .estimated_seconds_left = optional_int64(init, "estimatedTimeToCompleteInSeconds")};
  }
  return item;
}

// DescribeSnapshots and CreateSnapshot say <status>; CreateSnapshots says <state>.
Snapshot snapshot(const pugi::xml_node& node) {
  Snapshot s;
  s.id = SnapshotId{text(node, "snapshotId")};
  s.volume_id = VolumeId{text(node, "volumeId")};
  s.state = parse_snapshot_state(node.child("status") ? text(node, "status") : text(node, "state"));
  s.progress = percent(text(node, "progress"));
  s.start_time = time(node, "startTime");
  s.owner_id = text(node, "ownerId");
  s.description = text(node, "description");
  s.volume_size_gib = node.child("volumeSize").text().as_int();
  s.encrypted = boolean(node, "encrypted");
  s.kms_key_id = text(node, "kmsKeyId");
  s.state_message = text(node, "statusMessage");
  s.tags = tags(node);
  return s;
}

Instance instance(const pugi::xml_node& node) {
  Instance i;
  i.id = InstanceId{text(node, "instanceId")};
  i.availability_zone = node.child("placement").child("availabilityZone").text().as_string();
  i.state = node.child("instanceState").child("name").text().as_string();
  i.instance_type = text(node, "instanceType");
  i.root_device_name = text(node, "rootDeviceName");
  for (const pugi::xml_node& item : node.child("blockDeviceMapping").children("item")) {
    const pugi::xml_node ebs = item.child("ebs");
    i.block_device_mappings.push_back(
        InstanceBlockDevice{.device_name = text(item, "deviceName"),
                            .volume_id = VolumeId{text(ebs, "volumeId")},
                            .state = parse_attachment_state(text(ebs, "status")),
                            .delete_on_termination = boolean(ebs, "deleteOnTermination")});
  }
  i.tags = tags(node);
  return i;
}

// The document's root element, or a Parse error.
Result<pugi::xml_node> root(pugi::xml_document& doc, std::string_view body, std::string_view expected) {
  const pugi::xml_parse_result r = doc.load_buffer(body.data(), body.size());
  if (!r) return fail(ErrorKind::Parse, "EC2 answered with malformed XML: " + std::string(r.description()));
  pugi::xml_node node = doc.document_element();
  if (std::string_view(node.name()) != expected) {
    return fail(ErrorKind::Parse,
                "EC2 answered <" + std::string(node.name()) + ">, expected <" + std::string(expected) + ">");
  }
  return node;
}

}  // namespace

Error parse_error(std::string_view body, long http_status) {
  pugi::xml_document doc;
  if (doc.load_buffer(body.data(), body.size())) {
    const pugi::xml_node response = doc.document_element();
    // EC2: <Response><Errors><Error>; other AWS query services: <ErrorResponse><Error>.
    pugi::xml_node error = response.child("Errors").child("Error");
    if (!error) error = response.child("Error");
    if (error) {
      std::string request = text(response, "RequestID");
      if (request.empty()) request = text(response, "RequestId");
      return aws_error(text(error, "Code"), text(error, "Message"), std::move(request), http_status);
    }
  }
  Error e;
  e.http_status = http_status;
  e.kind = http_status >= 500                           ? ErrorKind::ServerError
           : http_status == 429                         ? ErrorKind::Throttled
           : (http_status == 401 || http_status == 403) ? ErrorKind::Auth
                                                        : ErrorKind::Other;
  e.message = "HTTP " + std::to_string(http_status) + " without an EC2 error document";
  return e;
}

Result<Page<Volume>> parse_describe_volumes(std::string_view body) {
  pugi::xml_document doc;
  EBSNAP_TRY_ASSIGN(auto r, root(doc, body, "DescribeVolumesResponse"));
  Page<Volume> page;
  for (const pugi::xml_node& item : r.child("volumeSet").children("item")) page.items.push_back(volume(item));
  page.next_token = text(r, "nextToken");
  return page;
}

Result<Page<Snapshot>> parse_describe_snapshots(std::string_view body) {
  pugi::xml_document doc;
  EBSNAP_TRY_ASSIGN(auto r, root(doc, body, "DescribeSnapshotsResponse"));
  Page<Snapshot> page;
  for (const pugi::xml_node& item : r.child("snapshotSet").children("item"))
    page.items.push_back(snapshot(item));
  page.next_token = text(r, "nextToken");
  return page;
}

Result<Page<Instance>> parse_describe_instances(std::string_view body) {
  pugi::xml_document doc;
  EBSNAP_TRY_ASSIGN(auto r, root(doc, body, "DescribeInstancesResponse"));
  Page<Instance> page;
  for (const pugi::xml_node& reservation : r.child("reservationSet").children("item")) {
    for (const pugi::xml_node& item : reservation.child("instancesSet").children("item")) {
      page.items.push_back(instance(item));
    }
  }
  page.next_token = text(r, "nextToken");
  return page;
}

Result<Page<VolumeStatusItem>> parse_describe_volume_status(std::string_view body) {
  pugi::xml_document doc;
  EBSNAP_TRY_ASSIGN(auto r, root(doc, body, "DescribeVolumeStatusResponse"));
  Page<VolumeStatusItem> page;
  for (const pugi::xml_node& item : r.child("volumeStatusSet").children("item"))
    page.items.push_back(volume_status(item));
  page.next_token = text(r, "nextToken");
  return page;
}

Result<Volume> parse_create_volume(std::string_view body) {
  pugi::xml_document doc;
  EBSNAP_TRY_ASSIGN(auto r, root(doc, body, "CreateVolumeResponse"));
  Volume v = volume(r);
  if (v.id.empty()) return fail(ErrorKind::Parse, "CreateVolume answered without a volumeId");
  return v;
}

Result<VolumeAttachment> parse_attachment(std::string_view body) {
  pugi::xml_document doc;
  const pugi::xml_parse_result pr = doc.load_buffer(body.data(), body.size());
  if (!pr) return fail(ErrorKind::Parse, "EC2 answered with malformed XML: " + std::string(pr.description()));
  const pugi::xml_node node = doc.document_element();
  const std::string_view name = node.name();
  if (name != "AttachVolumeResponse" && name != "DetachVolumeResponse") {
    return fail(ErrorKind::Parse, "EC2 answered <" + std::string(name) + ">, expected an attachment");
  }
  return attachment(node);
}

Result<Snapshot> parse_create_snapshot(std::string_view body) {
  pugi::xml_document doc;
  EBSNAP_TRY_ASSIGN(auto r, root(doc, body, "CreateSnapshotResponse"));
  Snapshot s = snapshot(r);
  if (s.id.empty()) return fail(ErrorKind::Parse, "CreateSnapshot answered without a snapshotId");
  return s;
}

Result<std::vector<Snapshot>> parse_create_snapshots(std::string_view body) {
  pugi::xml_document doc;
  EBSNAP_TRY_ASSIGN(auto r, root(doc, body, "CreateSnapshotsResponse"));
  std::vector<Snapshot> out;
  for (const pugi::xml_node& item : r.child("snapshotSet").children("item")) out.push_back(snapshot(item));
  return out;
}

Result<SnapshotId> parse_copy_snapshot(std::string_view body) {
  pugi::xml_document doc;
  EBSNAP_TRY_ASSIGN(auto r, root(doc, body, "CopySnapshotResponse"));
  std::string id = text(r, "snapshotId");
  if (id.empty()) return fail(ErrorKind::Parse, "CopySnapshot answered without a snapshotId");
  return SnapshotId{std::move(id)};
}

Result<void> parse_return(std::string_view body) {
  pugi::xml_document doc;
  const pugi::xml_parse_result pr = doc.load_buffer(body.data(), body.size());
  if (!pr) return fail(ErrorKind::Parse, "EC2 answered with malformed XML: " + std::string(pr.description()));
  const pugi::xml_node ret = doc.document_element().child("return");
  if (ret && !ret.text().as_bool()) {
    return fail(ErrorKind::Other, std::string(doc.document_element().name()) + " returned false");
  }
  return {};
}

std::string request_id(std::string_view body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size())) return {};
  return text(doc.document_element(), "requestId");
}

}  // namespace ec2::xml
