// Where the log lines go decides their level and form (agent/core/log.h).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "agent/core/log.h"
#include "tests/support/temp_dir.h"

namespace agent {
namespace {

using spdlog::level::level_enum;

TEST(LogLevel, ATerminalStartsAtWarningAndEachVerboseAddsALevel) {
  EXPECT_EQ(log_level_for(0, LogSink::Terminal), level_enum::warn);
  EXPECT_EQ(log_level_for(1, LogSink::Terminal), level_enum::info);
  EXPECT_EQ(log_level_for(2, LogSink::Terminal), level_enum::debug);
  EXPECT_EQ(log_level_for(3, LogSink::Terminal), level_enum::trace);
  for (const auto sink : {LogSink::Journal, LogSink::Plain}) {
    EXPECT_EQ(log_level_for(0, sink), level_enum::info);
    EXPECT_EQ(log_level_for(1, sink), level_enum::debug);
    EXPECT_EQ(log_level_for(2, sink), level_enum::trace);
    EXPECT_EQ(log_level_for(3, sink), level_enum::trace);
  }
  for (const auto sink : {LogSink::Terminal, LogSink::Journal, LogSink::Plain}) {
    EXPECT_EQ(log_level_for(-1, sink), level_enum::err);
  }
}

TEST(LogSinkOf, TheJournalOnlyWhenJournalStreamNamesStderrItself) {
  testsupport::TempDir dir;
  const auto path = dir.path() / "err";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  const auto dev = std::to_string(st.st_dev);
  const auto ino = std::to_string(st.st_ino);
  EXPECT_EQ(log_sink_of(dev + ":" + ino, fd), LogSink::Journal);
  EXPECT_EQ(log_sink_of(dev + ":" + std::to_string(st.st_ino + 1), fd), LogSink::Plain);
  EXPECT_EQ(log_sink_of(std::to_string(st.st_dev + 1) + ":" + ino, fd), LogSink::Plain);
  for (const std::string& bad :
       std::vector<std::string>{"", ":", dev, dev + ":", ":" + ino, "x:" + ino, dev + ":" + ino + "x"}) {
    EXPECT_EQ(log_sink_of(bad, fd), LogSink::Plain) << bad;
  }
  EXPECT_EQ(log_sink_of(std::nullopt, fd), LogSink::Plain);
  ::close(fd);

  int master = -1;
  int slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  EXPECT_EQ(log_sink_of(std::nullopt, slave), LogSink::Terminal);
  EXPECT_EQ(log_sink_of(dev + ":" + ino, slave), LogSink::Terminal);  // names another stream
  ::close(slave);
  ::close(master);
}

}  // namespace
}  // namespace agent
