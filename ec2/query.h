#pragma once
// EC2 Query request bodies: Action=...&Version=2016-11-15&Name=value..., flattened the way
// botocore's ec2 serializer flattens lists and structures (Filter.1.Value.2,
// TagSpecification.1.Tag.1.Key), percent-encoded per RFC 3986.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ec2/types.h"

namespace ec2 {

inline constexpr std::string_view k_ec2_api_version = "2016-11-15";

class QueryParams {
 public:
  void add(std::string name, std::string value);
  void add(std::string name, bool value) { add(std::move(name), std::string(value ? "true" : "false")); }
  void add(std::string name, int value) { add(std::move(name), std::to_string(value)); }
  void add(std::string name, const char* value) { add(std::move(name), std::string(value)); }
  // prefix.1, prefix.2, ...
  void add_list(const std::string& prefix, const std::vector<std::string>& values);
  template <class Id>
  void add_ids(const std::string& prefix, const std::vector<Id>& ids) {
    for (std::size_t i = 0; i < ids.size(); ++i) add(prefix + "." + std::to_string(i + 1), ids[i].value);
  }
  void add_filters(const std::vector<Filter>& filters);                    // Filter.N.Name, Filter.N.Value.M
  void add_tags(const std::string& prefix, const std::vector<Tag>& tags);  // prefix.N.Key/Value
  void add_tag_specifications(const std::vector<TagSpecification>& specs);

  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& params() const { return params_; }
  // The form body for `action`.
  [[nodiscard]] std::string body(std::string_view action) const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

}  // namespace ec2
