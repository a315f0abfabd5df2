#pragma once
// Runs a command line through /bin/sh for test set-up (losetup, udevadm, sfdisk): tests only,
// never product code.
#include <string>

namespace testsupport {

struct ShellResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

[[nodiscard]] ShellResult shell(const std::string& command);
// shell(), throwing std::runtime_error with the output when the exit code is not 0.
std::string shell_ok(const std::string& command);

}  // namespace testsupport
