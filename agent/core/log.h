#pragma once
#include <spdlog/spdlog.h>

#include <optional>
#include <string_view>

namespace agent {
[[nodiscard]] spdlog::logger& log_agent();

// Where the log lines (stderr) go, which decides their level and form.
enum class LogSink {
  Terminal,  // a person reads the report: warnings and errors only by default, coloured
  Journal,   // systemd's journal: info by default, "<N>" priority prefixes, no timestamp
  Plain,     // a file or a pipe: info by default, timestamped key=value lines
};

// The journal when JOURNAL_STREAM ("DEVICE:INODE", set by systemd) names stderr itself (a child
// that inherited the variable but not the stream writes plain lines); else a terminal when
// stderr is one; else plain.
[[nodiscard]] LogSink log_sink_of(std::optional<std::string_view> journal_stream, int stderr_fd);

// verbosity: -1 quiet (errors only), 0 the sink's default, each -v one level more: on a terminal
// warning → info → debug → trace; elsewhere info → debug → trace.
[[nodiscard]] spdlog::level::level_enum log_level_for(int verbosity, LogSink sink);

// Sets every logger's level and the sink's line form on stderr.
void configure_logging(int verbosity, LogSink sink);
}  // namespace agent
