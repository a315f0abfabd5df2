#include "agent/core/group_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "agent/core/log.h"
#include "agent/report/report.h"
#include "ebsnap/try.h"
#include "platform/run_dir.h"

namespace agent {
namespace {

// What the holder wrote: "pid 1234 (ebsnap mount) since 2026-12-05T08:00:00Z", or why not known.
std::string holder_of(int fd) {
  char buf[256];
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return "a process that has not said who it is yet";
  std::string text(buf, static_cast<std::size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  std::replace_if(text.begin(), text.end(), [](char c) { return c < ' ' || c > '~'; }, '?');
  return text;
}

// Says who holds the lock now: this process, this command, since now.
void write_holder(int fd, const std::string& command, const ec2::Clock& clock) {
  const std::string text =
      "pid " + std::to_string(::getpid()) + " (ebsnap " + command + ") since " + format_utc(clock.now()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    log_agent().warn("lock holder not recorded error=\"{}\"", std::strerror(errno));
  }
}

platform::Result<platform::Fd> open_lock_file(const std::filesystem::path& path) {
  platform::Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return platform::fail_errno("open " + path.string(), errno);
  return fd;
}

}  // namespace

std::filesystem::path lock_path(const std::filesystem::path& run_dir, const std::string& group) {
  return run_dir / ("lock-" + group);
}

platform::Result<GroupLocks> GroupLocks::acquire(const LockRequest& request, const ec2::Clock& clock,
                                                 ec2::Sleeper& sleeper) {
  EBSNAP_TRY(platform::check_run_directory(request.run_dir, true));
  auto groups = request.groups;
  std::ranges::sort(groups);
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  GroupLocks locks;
  const auto deadline = clock.monotonic() + request.wait;
  for (const auto& group : groups) {
    const auto path = lock_path(request.run_dir, group);
    auto fd = open_lock_file(path);
    if (!fd) return std::unexpected(fd.error());
    bool announced = false;
    while (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) return platform::fail_errno("flock " + path.string(), errno);
      if (clock.monotonic() >= deadline) {
        return platform::fail(platform::ErrorKind::Busy,
                              "group " + group + " is in use by " + holder_of(fd->get()) + "; waited " +
                                  std::to_string(std::chrono::duration_cast<std::chrono::seconds>(request.wait).count()) +
                                  " s (timeouts.lock_s)");
      }
      if (!announced) {
        log_agent().info("lock group={} wait=held holder=\"{}\"", group, holder_of(fd->get()));
        announced = true;
      }
      sleeper.sleep_for(k_lock_poll);
    }
    write_holder(fd->get(), request.command, clock);
    locks.fds_.push_back(std::move(*fd));
  }
  return locks;
}

platform::Result<GroupLocks> lock_groups(const RunContext& context, std::string command) {
  LockRequest request{.run_dir = context.services.options.run_dir,
                      .command = std::move(command),
                      .wait = std::chrono::duration_cast<std::chrono::milliseconds>(context.config.timeouts.lock)};
  for (const auto* g : context.groups) request.groups.push_back(g->name);
  return GroupLocks::acquire(request, context.services.clock, context.services.sleeper);
}

}  // namespace agent
