#include <cstdio>
#include <cstring>

#include "agent/version.h"

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--version") == 0 || std::strcmp(argv[1], "version") == 0)) {
    std::printf("ebsnap %s\n", agent::k_version);
    return 0;
  }
  std::fprintf(stderr, "ebsnap: not yet implemented\n");
  return 2;
}
