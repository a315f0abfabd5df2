// main() of every fuzz target: see fuzz_driver.h.
#include "tests/fuzz/fuzz_driver.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

namespace {

// The parsers' warnings would fill afl-fuzz's log (and a replay's output) at every input.
void quiet_logs() { spdlog::set_level(spdlog::level::off); }

std::vector<std::uint8_t> read_all(std::istream& in) {
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Replays the files named (directories: every file in them, in name order), or stdin.
int replay(int argc, char** argv) {
  if (argc < 2) {
    fuzz::fuzz_one(read_all(std::cin));
    return 0;
  }
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg = argv[i];
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "%s: no input files under the paths given\n", argv[0]);
    return 2;
  }
  std::ranges::sort(files);
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "%s: cannot read %s\n", argv[0], file.c_str());
      return 2;
    }
    fuzz::fuzz_one(read_all(in));
  }
  std::printf("%s: replayed %zu inputs\n", argv[0], files.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  quiet_logs();
#ifdef __AFL_FUZZ_TESTCASE_LEN
  // afl-fuzz starts it without arguments; with files it replays them, as the g++ build does
  // (bench/fuzz replays each queue that way at the end, for LeakSanitizer's check at exit).
  if (argc < 2) {
// AFL++'s macros (defined on afl-cc's command line) are C: casts, a statement expression.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
    __AFL_INIT();
    const unsigned char* buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(10000)) {
      // A copy of exactly the input's size: AFL's buffer is larger, and ASan must see a read
      // past the end of the input.
      const std::vector<std::uint8_t> input(buf, buf + __AFL_FUZZ_TESTCASE_LEN);
      fuzz::fuzz_one(input);
    }
#pragma GCC diagnostic pop
    return 0;
  }
#endif
  return replay(argc, argv);
}
