// The attempt records (agent/core/client_tokens.h): the bytes through parse_attempt, then as a
// file in a run directory, read back by ClientTokens::load and live_attempts (and so through
// platform::read_state_file). The directory is this process's own, under $TMPDIR, removed at exit.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "agent/core/client_tokens.h"
#include "tests/fuzz/fuzz_driver.h"

namespace fuzz {
namespace {

constexpr std::string_view k_group = "db";
constexpr std::string_view k_mount_point = "/srv/db";

const std::filesystem::path& run_dir() {
  // Never destroyed: the exit handler that removes the directory runs after static destructors.
  static const auto* const dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/ebsnap-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    auto* path = new std::filesystem::path(pattern);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(run_dir(), ec);
    });
    return path;
  }();
  return *dir;
}

}  // namespace

void fuzz_one(std::span<const std::uint8_t> data) {
  const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  const auto parsed = agent::parse_attempt(text);
  use(parsed.attempt.token);
  use(parsed.mount_point);

  const agent::ClientTokens tokens(run_dir());
  const auto path = tokens.path_for(k_group, k_mount_point);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) std::abort();
  }
  if (auto loaded = tokens.load(k_group, k_mount_point); loaded && *loaded) {
    // What load hands back is a valid token of this very mount point.
    if (!(*loaded)->token.starts_with("ebsnap-") || parsed.mount_point != k_mount_point) std::abort();
  }
  if (auto live = agent::live_attempts(run_dir()); live) {
    for (const auto& a : *live) use(a.token);
  }
}

}  // namespace fuzz
