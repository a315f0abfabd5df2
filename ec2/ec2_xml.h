#pragma once
// EC2 Query responses (XML) → the types of ec2/types.h. Element names as EC2 writes them
// (namespace http://ec2.amazonaws.com/doc/2016-11-15/).
#include <string>
#include <string_view>
#include <vector>

#include "ec2/error.h"
#include "ec2/types.h"

namespace ec2::xml {

template <class T>
struct Page {
  std::vector<T> items;
  std::string next_token;  // empty on the last page
};

// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response> → Error
// (kind mapped). A body that is not such a document gives an Error from the HTTP status alone.
[[nodiscard]] Error parse_error(std::string_view body, long http_status);

[[nodiscard]] Result<Page<Volume>> parse_describe_volumes(std::string_view body);
[[nodiscard]] Result<Page<Snapshot>> parse_describe_snapshots(std::string_view body);
[[nodiscard]] Result<Page<Instance>> parse_describe_instances(std::string_view body);
[[nodiscard]] Result<Page<VolumeStatusItem>> parse_describe_volume_status(std::string_view body);
[[nodiscard]] Result<Volume> parse_create_volume(std::string_view body);
// AttachVolume and DetachVolume answer with the attachment.
[[nodiscard]] Result<VolumeAttachment> parse_attachment(std::string_view body);
[[nodiscard]] Result<Snapshot> parse_create_snapshot(std::string_view body);
[[nodiscard]] Result<std::vector<Snapshot>> parse_create_snapshots(std::string_view body);
[[nodiscard]] Result<SnapshotId> parse_copy_snapshot(std::string_view body);
// <return>true</return> responses (DeleteVolume, DeleteSnapshot, ModifyInstanceAttribute, CreateTags,
// DeleteTags).
[[nodiscard]] Result<void> parse_return(std::string_view body);
// The requestId of a successful response (for logs).
[[nodiscard]] std::string request_id(std::string_view body);

}  // namespace ec2::xml
