#include "platform/libmount_mounter.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <filesystem>
#include <cstdlib>
#include <set>

#include "ebsnap/try.h"
#include "platform/handles.h"
#include "platform/log.h"
#include "platform/probe.h"
#include "platform/trusted_path.h"

namespace platform {
namespace {

std::string canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) != nullptr) return buf;
  return path;
}

MountInfo info_of(libmnt_fs* fs) {
  auto str = [](const char* s) { return s != nullptr ? std::string(s) : std::string(); };
  return MountInfo{.source = str(mnt_fs_get_source(fs)),
                   .target = str(mnt_fs_get_target(fs)),
                   .fs_type = str(mnt_fs_get_fstype(fs)),
                   .options = str(mnt_fs_get_options(fs))};
}

bool has_option(const std::string& options, std::string_view name) {
  std::size_t start = 0;
  while (start <= options.size()) {
    const auto end = std::min(options.find(',', start), options.size());
    if (std::string_view(options).substr(start, end - start) == name) return true;
    start = end + 1;
  }
  return false;
}

std::string libmount_message(libmnt_context* cxt, int rc) {
  char buf[BUFSIZ] = {};
  (void)mnt_context_get_excode(cxt, rc, buf, sizeof buf);
  return buf;
}

}  // namespace

LibmountMounter::LibmountMounter(LibmountOptions options) : options_(std::move(options)) {}

Result<std::vector<MountInfo>> LibmountMounter::mounts() {
  MntTablePtr table{mnt_new_table_from_file(options_.mountinfo.c_str())};
  if (!table) return fail(ErrorKind::System, "cannot parse " + options_.mountinfo);
  MntIterPtr iter{mnt_new_iter(MNT_ITER_FORWARD)};
  std::vector<MountInfo> out;
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(table.get(), iter.get(), &fs) == 0) out.push_back(info_of(fs));
  return out;
}

Result<std::optional<MountInfo>> LibmountMounter::find_by_target(const std::string& target) {
  MntTablePtr table{mnt_new_table_from_file(options_.mountinfo.c_str())};
  if (!table) return fail(ErrorKind::System, "cannot parse " + options_.mountinfo);
  // Backward: the topmost of several mounts stacked on the same directory.
  libmnt_fs* fs = mnt_table_find_target(table.get(), canonical(target).c_str(), MNT_ITER_BACKWARD);
  if (fs == nullptr) return std::optional<MountInfo>{};
  return std::optional<MountInfo>(info_of(fs));
}

Result<std::vector<MountInfo>> LibmountMounter::find_by_source(const std::string& source) {
  struct stat st {};
  if (::stat(source.c_str(), &st) != 0) return fail_errno("stat " + source, errno);
  if (!S_ISBLK(st.st_mode)) return fail(ErrorKind::Refused, source + " is not a block device");
  MntTablePtr table{mnt_new_table_from_file(options_.mountinfo.c_str())};
  if (!table) return fail(ErrorKind::System, "cannot parse " + options_.mountinfo);
  MntIterPtr iter{mnt_new_iter(MNT_ITER_FORWARD)};
  std::vector<MountInfo> out;
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(table.get(), iter.get(), &fs) == 0) {
    // mountinfo's major:minor, so /dev/disk/by-id/… and /dev/nvme1n1 are the same source.
    if (mnt_fs_get_devno(fs) == st.st_rdev) out.push_back(info_of(fs));
  }
  return out;
}

Result<MountInfo> LibmountMounter::mount(const MountRequest& request) {
  if (request.source.empty() || request.target.empty()) {
    return fail(ErrorKind::Refused, "mount: source and target are required");
  }
  // The target is opened one component at a time, never through a symlink, every directory above
  // it root's; the mount goes onto that very directory (/proc/self/fd/N), not onto a path that
  // could be swapped in between (platform/trusted_path.h).
  EBSNAP_TRY_ASSIGN(const auto target_dir, open_trusted_directory(request.target, request.create_target));
  const std::string target_fd_path = "/proc/self/fd/" + std::to_string(target_dir.get());
  std::string options = request.options;
  if (request.fs_type == "xfs" && !has_option(options, "nouuid")) {
    // XFS refuses a second filesystem with a UUID already mounted (a volume restored from a
    // snapshot of a mounted one has its original's UUID): mount it with nouuid.
    auto mine = probe_device(request.source);
    auto all = mounts();
    if (mine && !mine->uuid.empty() && all) {
      for (const auto& m : *all) {
        if (m.fs_type != "xfs" || !m.source.starts_with("/dev/")) continue;
        auto theirs = probe_device(m.source);
        if (theirs && theirs->uuid == mine->uuid) {
          log_mount().warn("xfs uuid={} of {} already mounted at {}: adding nouuid", mine->uuid,
                           request.source, m.target);
          options += options.empty() ? "nouuid" : ",nouuid";
          break;
        }
      }
    }
  }

  MntContextPtr cxt{mnt_new_context()};
  if (!cxt) return fail(ErrorKind::System, "mnt_new_context failed");
  // Exactly what was asked: no fstab lookup, no /sbin/mount.<type> helper.
  mnt_context_set_optsmode(cxt.get(), MNT_OMODE_NOTAB);
  mnt_context_disable_helpers(cxt.get(), 1);
  mnt_context_set_source(cxt.get(), request.source.c_str());
  mnt_context_disable_canonicalize(cxt.get(), 1);  // the fd's path must not be resolved to a name again
  mnt_context_set_target(cxt.get(), target_fd_path.c_str());
  if (!request.fs_type.empty()) mnt_context_set_fstype(cxt.get(), request.fs_type.c_str());
  if (!options.empty()) mnt_context_set_options(cxt.get(), options.c_str());
  const int rc = mnt_context_mount(cxt.get());
  if (rc != 0 || mnt_context_get_status(cxt.get()) != 1) {
    const int err = mnt_context_syscall_called(cxt.get()) != 0 ? mnt_context_get_syscall_errno(cxt.get()) : 0;
    std::string message = "mount " + request.source + " on " + request.target + " (" + request.fs_type +
                          (options.empty() ? "" : ", " + options) + "): " + libmount_message(cxt.get(), rc);
    log_mount().error("{}", message);
    if (err != 0) {
      auto e = fail_errno(message, err);
      return e;
    }
    return fail(ErrorKind::System, message);
  }
  log_mount().info("mount source={} target={} fs_type={} options={}", request.source, request.target,
                   request.fs_type, options);
  EBSNAP_TRY_ASSIGN(auto mounted, find_by_target(request.target));
  if (!mounted) return fail(ErrorKind::System, "mounted " + request.target + " but it is not in mountinfo");
  return *mounted;
}

Result<void> LibmountMounter::remove_empty_directories(const std::string& path, const std::string& stop_at) {
  const std::filesystem::path stop = std::filesystem::path(stop_at).lexically_normal();
  std::filesystem::path dir = std::filesystem::path(path).lexically_normal();
  const auto relative = dir.lexically_relative(stop);
  if (relative.empty() || relative.native().starts_with("..") || relative == ".") {
    return fail(ErrorKind::Refused, path + " is not under " + stop_at);
  }
  // rmdir(2) removes only an empty directory that is not a mount point: anything else ends it.
  for (; dir != stop && dir.has_relative_path(); dir = dir.parent_path()) {
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) break;
  }
  return {};
}

Result<void> LibmountMounter::unmount(const std::string& target) {
  EBSNAP_TRY_ASSIGN(auto mounted, find_by_target(target));
  const std::string path = canonical(target);
  if (!mounted || mounted->target != path) {
    return fail(ErrorKind::NotFound, "unmount " + target + ": nothing is mounted there");
  }
  MntContextPtr cxt{mnt_new_context()};
  if (!cxt) return fail(ErrorKind::System, "mnt_new_context failed");
  mnt_context_disable_helpers(cxt.get(), 1);
  mnt_context_set_target(cxt.get(), path.c_str());
  const int rc = mnt_context_umount(cxt.get());
  if (rc != 0 || mnt_context_get_status(cxt.get()) != 1) {
    const int err = mnt_context_syscall_called(cxt.get()) != 0 ? mnt_context_get_syscall_errno(cxt.get()) : 0;
    if (err == EBUSY) {
      log_mount().error("unmount target={} busy", path);
      return fail(ErrorKind::Busy,
                  "cannot unmount " + path +
                      ": mount point is busy (a process has a file open, or "
                      "its working directory, under " +
                      path + ")",
                  EBUSY);
    }
    std::string message = "unmount " + path + ": " + libmount_message(cxt.get(), rc);
    if (err != 0) return fail_errno(message, err);
    return fail(ErrorKind::System, message);
  }
  log_mount().info("unmount target={}", path);
  return {};
}

}  // namespace platform
