#pragma once
// The driver shared by the fuzz targets (tests/fuzz/<target>.cpp). A target defines fuzz_one();
// fuzz_driver.cpp supplies main():
//   built by afl-g++-fast (bench/fuzz) and started without arguments: AFL++'s persistent mode,
//   many inputs per process;
//   otherwise (and always when built by plain g++, EBSNAP_FUZZ=ON): replays the files and
//   directories named on the command line, or stdin, once each (the corpus test of scripts/test,
//   and a crash's reproducer).
// fuzz_one must take any bytes: bad input gets an error value, never a crash, a leak or a hang.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fuzz {

void fuzz_one(std::span<const std::uint8_t> data);

// data[0] picks one of `count` parsers; the rest is that parser's input.
struct Split {
  std::size_t choice = 0;
  std::string_view rest;
};
[[nodiscard]] inline Split split_choice(std::span<const std::uint8_t> data, std::size_t count) {
  if (data.empty()) return {};
  return {.choice = data[0] % count,
          .rest = std::string_view(reinterpret_cast<const char*>(data.data()) + 1, data.size() - 1)};
}

// The input cut at each NUL byte (a command line's arguments; a document and its overlay).
[[nodiscard]] inline std::vector<std::string> split_nul(std::string_view text) {
  std::vector<std::string> out;
  for (;;) {
    const auto nul = text.find('\0');
    out.emplace_back(text.substr(0, nul));
    if (nul == std::string_view::npos) return out;
    text.remove_prefix(nul + 1);
  }
}

// Touches every byte of a result, so that an out-of-bounds string inside it shows under ASan.
inline void use(std::string_view s) {
  volatile std::size_t sink = 0;
  for (char c : s) sink = sink + static_cast<unsigned char>(c);
}

}  // namespace fuzz
