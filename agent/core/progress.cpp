#include "agent/core/progress.h"

#include <cstdio>

namespace agent {

Progress::Progress(const ec2::Clock& clock, std::string label, bool bar)
    : clock_(clock), label_(std::move(label)), bar_(bar), last_(clock.monotonic()) {}

void Progress::update(std::uint64_t done, std::uint64_t total, const std::string& detail,
                      const std::function<void()>& log) {
  if (bar_) {
    draw(done, total, detail);
    return;
  }
  const auto now = clock_.monotonic();
  if (now - last_ >= k_progress_every) {
    log();
    last_ = now;
  }
}

void Progress::finish(std::uint64_t done, std::uint64_t total, const std::string& detail) {
  if (!bar_) return;
  draw(done, total, detail);
  std::fputc('\n', stderr);
}

void Progress::draw(std::uint64_t done, std::uint64_t total, const std::string& detail) const {
  constexpr std::uint64_t width = 30;
  const std::uint64_t filled = total == 0 ? width : std::min(width, done * width / total);
  std::fprintf(stderr, "\r%s [%s%s] %s", label_.c_str(), std::string(filled, '#').c_str(),
               std::string(width - filled, '.').c_str(), detail.c_str());
  std::fflush(stderr);
}

}  // namespace agent
