// The command line: parse_command_line only (nothing is run). Input: the arguments after the
// program name, separated by NUL bytes.
#include "agent/cli/cli.h"
#include "tests/fuzz/fuzz_driver.h"

namespace fuzz {

void fuzz_one(std::span<const std::uint8_t> data) {
  const auto args = split_nul(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
  std::vector<const char*> argv{"ebsnap"};
  for (const auto& a : args) argv.push_back(a.c_str());
  auto invocation = agent::parse_command_line(argv);
  if (!invocation) {
    use(invocation.error().out);
    use(invocation.error().err);
    return;
  }
  use(agent::config_path_for(*invocation, nullptr));
}

}  // namespace fuzz
