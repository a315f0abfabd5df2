#include "platform/mkfs.h"

#include "ebsnap/try.h"
#include "platform/log.h"
#include "platform/probe.h"
#include "platform/spawn.h"

namespace platform {

Result<std::vector<std::string>> mkfs_argv(const std::string& devnode, const MkfsOptions& options) {
  std::vector<std::string> argv;
  if (options.fs_type == "ext4") {
    // -F: mke2fs asks for confirmation before formatting a whole disk; we have checked (blkid)
    // that the device is empty, and stdin is /dev/null.
    argv = {"mkfs.ext4", "-F", "-q"};
  } else if (options.fs_type == "xfs") {
    // -f: mkfs.xfs refuses a device where it finds an old signature; blkid found none.
    argv = {"mkfs.xfs", "-f", "-q"};
  } else {
    return fail(ErrorKind::Unsupported,
                "mkfs: filesystem type '" + options.fs_type + "' is not supported (ext4, xfs)");
  }
  if (!options.label.empty()) {
    const std::size_t max = options.fs_type == "xfs" ? 12 : 16;
    if (options.label.size() > max) {
      return fail(ErrorKind::Refused, "mkfs: label '" + options.label + "' longer than " +
                                          std::to_string(max) + " characters for " + options.fs_type);
    }
    argv.insert(argv.end(), {"-L", options.label});
  }
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  argv.push_back(devnode);
  return argv;
}

Result<void> make_filesystem(const std::string& devnode, const MkfsOptions& options) {
  EBSNAP_TRY_ASSIGN(auto argv, mkfs_argv(devnode, options));
  EBSNAP_TRY_ASSIGN(auto content, probe_device(devnode));
  if (auto ok = check_empty_for_mkfs(devnode, content); !ok) {
    if (!options.redo_interrupted) {
      log_blkid().warn("mkfs refused device={} reason=\"{}\"", devnode, ok.error().message);
      return ok;
    }
    log_blkid().warn("mkfs device={} redo_interrupted=1 found=\"{}\"", devnode, ok.error().message);
  }
  log_blkid().info("mkfs device={} fs_type={}", devnode, options.fs_type);
  EBSNAP_TRY_ASSIGN(auto ran, run_command(argv, std::chrono::minutes(10)));
  if (ran.exit_code != 0) {
    std::string out = ran.output;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return fail(ErrorKind::System, argv[0] + " " + devnode + " failed (exit " +
                                       std::to_string(ran.exit_code) + ", signal " +
                                       std::to_string(ran.signal) + "): " + out);
  }
  return {};
}

}  // namespace platform
