#pragma once
// Progress of a long command (prune's deletes, prewarm's reads): a bar on stderr when it is a
// terminal, else a log line every few seconds (journald keeps those; a bar would fill it).
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "ec2/clock.h"

namespace agent {

inline constexpr std::chrono::milliseconds k_progress_every{5'000};

class Progress {
 public:
  // `label` starts the bar's line ("prune solr").
  Progress(const ec2::Clock& clock, std::string label, bool bar);

  // `done` of `total`; `detail` follows the bar ("3/10"). Without a bar, `log` writes the log
  // line instead, at most once per k_progress_every.
  void update(std::uint64_t done, std::uint64_t total, const std::string& detail,
              const std::function<void()>& log);
  // The bar's last state and its newline (nothing without a bar).
  void finish(std::uint64_t done, std::uint64_t total, const std::string& detail);

 private:
  void draw(std::uint64_t done, std::uint64_t total, const std::string& detail) const;

  const ec2::Clock& clock_;
  std::string label_;
  bool bar_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace agent
