// EC2 Query responses: every action's parser of ec2/ec2_xml.h, the error document and the
// request id. data[0] picks the parser; the rest is the HTTP body.
#include "ec2/ec2_xml.h"
#include "tests/fuzz/fuzz_driver.h"

namespace fuzz {
namespace {

template <class T>
void check(const ec2::Result<T>& r) {
  if (!r) use(r.error().describe());
}

}  // namespace

void fuzz_one(std::span<const std::uint8_t> data) {
  namespace xml = ec2::xml;
  const auto [choice, body] = split_choice(data, 14);
  switch (choice) {
    case 0: use(xml::parse_error(body, 400).describe()); break;
    case 1: use(xml::parse_error(body, 503).describe()); break;
    case 2: check(xml::parse_describe_volumes(body)); break;
    case 3: check(xml::parse_describe_snapshots(body)); break;
    case 4: check(xml::parse_describe_instances(body)); break;
    case 5: check(xml::parse_describe_volume_status(body)); break;
    case 6: check(xml::parse_create_volume(body)); break;
    case 7: check(xml::parse_attachment(body)); break;
    case 8: check(xml::parse_create_snapshot(body)); break;
    case 9: check(xml::parse_create_snapshots(body)); break;
    case 10: check(xml::parse_copy_snapshot(body)); break;
    case 11: check(xml::parse_return(body)); break;
    case 12: use(xml::request_id(body)); break;
    default: use(xml::parse_error(body, 0).describe()); break;
  }
}

}  // namespace fuzz
