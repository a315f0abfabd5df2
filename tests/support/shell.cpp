#include "tests/support/shell.h"

#include <sys/wait.h>

#include <cstdio>
#include <stdexcept>

namespace testsupport {

ShellResult shell(const std::string& command) {
  ShellResult result;
  const std::string full = command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string shell_ok(const std::string& command) {
  auto r = shell(command);
  if (r.exit_code != 0) {
    throw std::runtime_error("command failed (" + std::to_string(r.exit_code) + "): " + command + "\n" +
                             r.output);
  }
  return r.output;
}

}  // namespace testsupport
