#include "ec2/query.h"

#include "ec2/sigv4.h"

namespace ec2 {

void QueryParams::add(std::string name, std::string value) {
  params_.emplace_back(std::move(name), std::move(value));
}

void QueryParams::add_list(const std::string& prefix, const std::vector<std::string>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) add(prefix + "." + std::to_string(i + 1), values[i]);
}

void QueryParams::add_filters(const std::vector<Filter>& filters) {
  for (std::size_t i = 0; i < filters.size(); ++i) {
    const std::string p = "Filter." + std::to_string(i + 1);
    add(p + ".Name", filters[i].name);
    add_list(p + ".Value", filters[i].values);
  }
}

void QueryParams::add_tags(const std::string& prefix, const std::vector<Tag>& tags) {
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const std::string p = prefix + "." + std::to_string(i + 1);
    add(p + ".Key", tags[i].key);
    add(p + ".Value", tags[i].value);
  }
}

void QueryParams::add_tag_specifications(const std::vector<TagSpecification>& specs) {
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const std::string p = "TagSpecification." + std::to_string(i + 1);
    add(p + ".ResourceType", specs[i].resource_type);
    add_tags(p + ".Tag", specs[i].tags);
  }
}

std::string QueryParams::body(std::string_view action) const {
  std::string out = "Action=" + sigv4::uri_encode(action) + "&Version=" + std::string(k_ec2_api_version);
  for (const auto& [name, value] : params_) {
    out += '&';
    out += sigv4::uri_encode(name);
    out += '=';
    out += sigv4::uri_encode(value);
  }
  return out;
}

}  // namespace ec2
