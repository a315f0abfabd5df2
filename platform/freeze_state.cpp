#include "platform/freeze_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <sstream>

#include "ebsnap/try.h"
#include "platform/fd.h"
#include "platform/freeze_ops.h"
#include "platform/log.h"
#include "platform/run_dir.h"

namespace platform {
namespace {

constexpr std::string_view k_magic = "ebsnap-freeze-state 1";
std::atomic<unsigned> g_sequence{0};

// "pid <n>": a process id, 1..INT_MAX. Anything else (a sign, an overflow, trailing bytes) is no
// pid: std::atoi's answer for those is undefined or a different process.
int parse_pid(std::string_view text) {
  int pid = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (ec != std::errc{} || end != text.data() + text.size() || pid <= 0) return 0;
  return pid;
}

}  // namespace

std::optional<FreezeStateRecord> parse_freeze_state(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  if (!std::getline(in, line) || line != k_magic) return std::nullopt;
  FreezeStateRecord record;
  while (std::getline(in, line)) {
    if (line.starts_with("pid ")) {
      record.agent_pid = parse_pid(std::string_view(line).substr(4));
    } else if (!line.empty()) {
      record.mount_points.push_back(line);
    }
  }
  return record;
}

std::string_view to_string(ThawOutcome outcome) {
  switch (outcome) {
    case ThawOutcome::Thawed:
      return "thawed";
    case ThawOutcome::NotFrozen:
      return "not-frozen";
    case ThawOutcome::Failed:
      return "failed";
    case ThawOutcome::Skipped:
      return "skipped";
  }
  return "failed";
}

Result<std::string> write_freeze_state(const std::string& state_dir,
                                       const std::vector<std::string>& mount_points) {
  EBSNAP_TRY(check_run_directory(state_dir, true));
  std::string body{k_magic};
  body += "\npid " + std::to_string(::getpid()) + "\n";
  for (const auto& mp : mount_points) {
    if (mp.empty() || mp.find('\n') != std::string::npos) {
      return fail(ErrorKind::Refused, "mount point name not representable in the freeze state file");
    }
    body += mp + "\n";
  }
  const std::string name = state_dir + "/freeze-" + std::to_string(::getpid()) + "-" +
                           std::to_string(g_sequence.fetch_add(1)) + ".state";
  EBSNAP_TRY(write_state_file(name, body, false));
  return name;
}

Result<void> write_freeze_state_owner(const std::string& path, int owner_pid,
                                      const std::vector<std::string>& mount_points) {
  std::string body{k_magic};
  body += "\npid " + std::to_string(owner_pid) + "\n";
  for (const auto& mp : mount_points) body += mp + "\n";
  return write_state_file(path, body, false);
}

Result<std::vector<FreezeStateRecord>> read_freeze_states(const std::string& state_dir) {
  std::vector<FreezeStateRecord> out;
  if (auto checked = check_run_directory(state_dir, false); !checked) {
    if (checked.error().kind == ErrorKind::NotFound) return out;
    return std::unexpected(checked.error());
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(state_dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (!file.starts_with("freeze-") || !file.ends_with(".state")) continue;
    auto text = read_state_file(entry.path());
    if (!text) {
      log_freeze().warn("freeze state file={} error=\"{}\"; ignored", entry.path().string(),
                        text.error().describe());
      continue;
    }
    auto record = parse_freeze_state(*text);
    if (!record) {
      log_freeze().warn("freeze state file={} not recognised; ignored", entry.path().string());
      continue;
    }
    record->path = entry.path().string();
    out.push_back(std::move(*record));
  }
  if (ec) return fail(ErrorKind::System, "read " + state_dir + ": " + ec.message(), ec.value());
  return out;
}

Result<ThawOutcome> thaw(const std::string& mount_point) {
  KernelFreezeOps ops;
  // A path that is no longer a mount point belongs to the filesystem holding it, which someone
  // else may have frozen: never FITHAW it on the strength of an old record.
  auto id = ops.identify(mount_point);
  if (!id) {
    if (id.error().kind == ErrorKind::NotFound) return ThawOutcome::NotFrozen;
    return std::unexpected(id.error());
  }
  if (!id->mount_root) return ThawOutcome::NotFrozen;
  Fd fd{::open(mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!fd) return fail_errno("open " + mount_point, errno);
  auto r = thaw_fd(fd.get(), mount_point);
  if (r) return ThawOutcome::Thawed;
  if (r.error().kind == ErrorKind::NotFrozen) return ThawOutcome::NotFrozen;
  return std::unexpected(r.error());
}

Result<std::vector<ThawReport>> thaw_all(const std::string& state_dir) {
  EBSNAP_TRY_ASSIGN(auto records, read_freeze_states(state_dir));
  std::vector<ThawReport> out;
  for (const auto& record : records) {
    bool all_done = true;
    for (auto it = record.mount_points.rbegin(); it != record.mount_points.rend(); ++it) {
      ThawReport report{.mount_point = *it};
      auto r = thaw(*it);
      if (r) {
        report.outcome = *r;
      } else {
        report.outcome = ThawOutcome::Failed;
        report.error = r.error().message;
        all_done = false;
      }
      log_freeze().info("thaw mount_point={} result={} state_file={}", *it, to_string(report.outcome),
                        record.path);
      out.push_back(std::move(report));
    }
    if (all_done) ::unlink(record.path.c_str());
  }
  return out;
}

}  // namespace platform
