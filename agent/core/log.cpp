#include "agent/core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <memory>

namespace agent {

namespace {

// "%*": the journal's priority prefix for the line's level (sd-daemon(3)).
class JournalPriority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    const std::string_view prefix = [&msg] {
      switch (msg.level) {
        case spdlog::level::critical:
          return "<2>";
        case spdlog::level::err:
          return "<3>";
        case spdlog::level::warn:
          return "<4>";
        case spdlog::level::info:
          return "<6>";
        default:
          return "<7>";
      }
    }();
    dest.append(prefix.data(), prefix.data() + prefix.size());
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JournalPriority>();
  }
};

// A whole decimal number, nothing before or after it.
std::optional<unsigned long long> decimal(std::string_view text) {
  unsigned long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool names_fd(std::string_view journal_stream, int fd) {
  const auto colon = journal_stream.find(':');
  if (colon == std::string_view::npos) return false;
  const auto device = decimal(journal_stream.substr(0, colon));
  const auto inode = decimal(journal_stream.substr(colon + 1));
  struct stat st {};
  return device && inode && ::fstat(fd, &st) == 0 && st.st_dev == *device && st.st_ino == *inode;
}

}  // namespace

spdlog::logger& log_agent() {
  static spdlog::logger& l = [] -> spdlog::logger& {
    if (auto existing = spdlog::get("agent")) return *existing;
    return *spdlog::stderr_logger_mt("agent");
  }();
  return l;
}

LogSink log_sink_of(std::optional<std::string_view> journal_stream, int stderr_fd) {
  if (journal_stream && names_fd(*journal_stream, stderr_fd)) return LogSink::Journal;
  return ::isatty(stderr_fd) == 1 ? LogSink::Terminal : LogSink::Plain;
}

spdlog::level::level_enum log_level_for(int verbosity, LogSink sink) {
  if (verbosity < 0) return spdlog::level::err;
  const int base = sink == LogSink::Terminal ? spdlog::level::warn : spdlog::level::info;
  return static_cast<spdlog::level::level_enum>(std::max<int>(spdlog::level::trace, base - verbosity));
}

void configure_logging(int verbosity, LogSink sink) {
  spdlog::set_level(log_level_for(verbosity, sink));
  if (sink == LogSink::Journal) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JournalPriority>('*').set_pattern("%*%l %n: %v");
    spdlog::set_formatter(std::move(formatter));
    return;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %n: %v");
}

}  // namespace agent
