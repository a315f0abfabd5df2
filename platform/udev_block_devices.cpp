#include "platform/udev_block_devices.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "ebsnap/try.h"
#include "platform/fd.h"
#include "platform/handles.h"
#include "platform/log.h"

namespace platform {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

class UdevWatchState final : public VolumeWatch::State {
 public:
  UdevPtr udev;
  UdevMonitorPtr monitor;  // null without udevd: the waits poll sysfs instead
  // The disks with a medium when the watch was armed: none of them, whatever its name, can be a
  // volume attached after, so a device without serial among them is never taken (it may be an
  // instance-store disk carrying the name the volume was attached with).
  std::vector<BlockDevice> before;

  [[nodiscard]] bool present_before(const BlockDevice& d) const {
    return std::ranges::any_of(before, [&](const BlockDevice& b) { return same_disk(identity_of(b), identity_of(d)); });
  }
};

std::string trim(std::string s) {
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) != 0)) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (std::isspace(static_cast<unsigned char>(s[i])) != 0)) ++i;
  return s.substr(i);
}

std::string read_small_file(const fs::path& path) {
  std::ifstream in(path);
  std::string out;
  std::getline(in, out);
  return trim(out);
}

std::uint64_t parse_u64(const std::string& s) {
  try {
    return s.empty() ? 0 : std::stoull(s);
  } catch (...) {
    return 0;
  }
}

// What sysfs alone says about the disk with this sysfs directory (/sys/class/block/<name>).
BlockDevice from_sysfs(const fs::path& link) {
  // /sys/dev/block/<maj:min> and /sys/class/block/<name> are symlinks to the device's directory.
  std::error_code ec;
  fs::path dir = fs::canonical(link, ec);
  if (ec) dir = link;
  BlockDevice d;
  d.devnode = "/dev/" + dir.filename().string();
  // NVMe namespaces: the controller (device/) carries the serial; EBS puts "vol0123…" there.
  d.serial = read_small_file(dir / "device" / "serial");
  d.size_bytes = parse_u64(read_small_file(dir / "size")) * 512;
  d.diskseq = parse_u64(read_small_file(dir / "diskseq"));
  const std::string dev = read_small_file(dir / "dev");
  if (const auto colon = dev.find(':'); colon != std::string::npos) {
    d.devnum = makedev(static_cast<unsigned>(parse_u64(dev.substr(0, colon))),
                       static_cast<unsigned>(parse_u64(dev.substr(colon + 1))));
  }
  return d;
}

BlockDevice from_udev(udev_device* dev, const UdevOptions& options) {
  BlockDevice d;
  if (const char* node = udev_device_get_devnode(dev)) d.devnode = node;
  // The serial comes from the device itself: the udev database entry of this device number
  // (ID_SERIAL_SHORT, set by udev's nvme/scsi rules or the sandbox's rule), else sysfs.
  if (const char* serial = udev_device_get_property_value(dev, "ID_SERIAL_SHORT")) {
    d.serial = trim(serial);
  }
  const char* syspath = udev_device_get_syspath(dev);
  if (d.serial.empty() && syspath != nullptr) {
    d.serial = read_small_file(fs::path(syspath) / "device" / "serial");
  }
  if (const char* size = udev_device_get_sysattr_value(dev, "size")) {
    d.size_bytes = parse_u64(trim(size)) * 512;
  }
  if (const char* seq = udev_device_get_sysattr_value(dev, "diskseq")) d.diskseq = parse_u64(trim(seq));
  d.devnum = udev_device_get_devnum(dev);
  const std::string prefix = options.by_id_dir + "/";
  std::string any_by_id;
  for (auto* e = udev_device_get_devlinks_list_entry(dev); e != nullptr; e = udev_list_entry_get_next(e)) {
    const std::string link = udev_list_entry_get_name(e);
    d.devlinks.push_back(link);
    if (!link.starts_with(prefix)) continue;
    if (d.by_id_link.empty() && link.find("Amazon_Elastic_Block_Store") != std::string::npos) {
      d.by_id_link = link;
      continue;
    }
    if (any_by_id.empty()) any_by_id = link;
  }
  if (d.by_id_link.empty()) d.by_id_link = any_by_id;
  return d;
}

bool has_serial_of(const BlockDevice& d, const std::string& volume_id) {
  return !d.devnode.empty() && d.size_bytes != 0 && !d.serial.empty() && serial_matches(d.serial, volume_id);
}

long long ms_left(Deadline deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
}

Result<dev_t> devnum_of(const std::string& devnode) {
  struct stat st {};
  if (::stat(devnode.c_str(), &st) != 0) return fail_errno("stat " + devnode, errno);
  if (!S_ISBLK(st.st_mode)) return fail(ErrorKind::Refused, devnode + " is not a block device");
  return st.st_rdev;
}

// By device number, not by name: a symlink (by-id, or a stale one) resolves to the disk it points
// at now, and what is reported is that disk's own identity.
Result<BlockDevice> describe_devnode(const std::string& devnode, const UdevOptions& options, bool udevd) {
  EBSNAP_TRY_ASSIGN(const dev_t num, devnum_of(devnode));
  if (!udevd) {
    return from_sysfs(fs::path("/sys/dev/block") /
                      (std::to_string(major(num)) + ":" + std::to_string(minor(num))));
  }
  UdevPtr udev{udev_new()};
  if (!udev) return fail(ErrorKind::System, "udev_new failed");
  UdevDevicePtr dev{udev_device_new_from_devnum(udev.get(), 'b', num)};
  if (!dev) return fail(ErrorKind::NotFound, "no udev device for " + devnode);
  return from_udev(dev.get(), options);
}

}  // namespace

bool udevd_listening(const std::string& control_socket) {
  sockaddr_un addr{};
  if (control_socket.empty() || control_socket.size() >= sizeof(addr.sun_path)) return false;
  addr.sun_family = AF_UNIX;
  control_socket.copy(addr.sun_path, control_socket.size());
  const Fd fd{::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)};
  if (!fd) return false;
  int rc = 0;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  return rc == 0;
}

UdevBlockDevices::UdevBlockDevices(UdevOptions options) : options_(std::move(options)) {
  udevd_running_ = udevd_listening(options_.udev_control);
  if (!udevd_running_) {
    log_udev().warn(
        "udevd is not running (nothing listens on {}): waiting for devices by polling sysfs, and volumes are "
        "recognised only by NVMe serial, or by device name and size for a disk that appears after the watch",
        options_.udev_control);
  }
}

Result<VolumeWatch> UdevBlockDevices::arm_watch() {
  auto state = std::make_unique<UdevWatchState>();
  state->udev.reset(udev_new());
  if (!state->udev) return fail(ErrorKind::System, "udev_new failed");
  if (udevd_running_) {
    // Events from udevd (after its rules ran, so properties like ID_SERIAL_SHORT are set).
    state->monitor.reset(udev_monitor_new_from_netlink(state->udev.get(), "udev"));
    if (!state->monitor) return fail(ErrorKind::System, "udev_monitor_new_from_netlink failed");
    if (udev_monitor_filter_add_match_subsystem_devtype(state->monitor.get(), "block", "disk") < 0) {
      return fail(ErrorKind::System, "udev monitor filter failed");
    }
    (void)udev_monitor_set_receive_buffer_size(state->monitor.get(), 4 * 1024 * 1024);
    if (const int rc = udev_monitor_enable_receiving(state->monitor.get()); rc < 0) {
      return fail_errno("udev monitor enable receiving", -rc);
    }
  }
  // Listed once the monitor receives, so no disk falls between the two: one that appeared in that
  // instant counts as there before, which can only refuse, never wrongly accept (AttachVolume
  // is sent after arm_watch returns).
  EBSNAP_TRY_ASSIGN(auto all, list());
  for (auto& d : all) {
    if (d.size_bytes != 0) state->before.push_back(std::move(d));
  }
  return VolumeWatch{std::move(state)};
}

Result<std::vector<BlockDevice>> UdevBlockDevices::list() {
  std::vector<BlockDevice> out;
  if (!udevd_running_) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(options_.sysfs_block_dir, ec)) {
      if (fs::exists(entry.path() / "partition", ec)) continue;
      out.push_back(from_sysfs(entry.path()));
    }
    if (ec)
      return fail(ErrorKind::System, "list " + options_.sysfs_block_dir + ": " + ec.message(), ec.value());
    return out;
  }
  UdevPtr udev{udev_new()};
  if (!udev) return fail(ErrorKind::System, "udev_new failed");
  UdevEnumeratePtr en{udev_enumerate_new(udev.get())};
  if (!en) return fail(ErrorKind::System, "udev_enumerate_new failed");
  udev_enumerate_add_match_subsystem(en.get(), "block");
  udev_enumerate_add_match_property(en.get(), "DEVTYPE", "disk");
  if (const int rc = udev_enumerate_scan_devices(en.get()); rc < 0) return fail_errno("udev enumerate", -rc);
  for (auto* e = udev_enumerate_get_list_entry(en.get()); e != nullptr; e = udev_list_entry_get_next(e)) {
    UdevDevicePtr dev{udev_device_new_from_syspath(udev.get(), udev_list_entry_get_name(e))};
    if (!dev) continue;
    out.push_back(from_udev(dev.get(), options_));
  }
  return out;
}

Result<std::string> UdevBlockDevices::serial_of(const std::string& devnode) {
  EBSNAP_TRY_ASSIGN(auto d, describe_devnode(devnode, options_, udevd_running_));
  return d.serial;
}

Result<BlockDevice> UdevBlockDevices::verify(const std::string& devnode, const VolumeQuery& query) {
  EBSNAP_TRY_ASSIGN(auto d, describe_devnode(devnode, options_, udevd_running_));
  // Whether it was there before the watch was settled when it was accepted; what can change since
  // is its serial, its size and (query.accepted) which disk holds the name.
  const auto judged = judge_device(d, query, /*present_before_watch=*/false);
  if (judged.verdict == Verdict::Refused) return fail(ErrorKind::Mismatch, devnode + ": " + judged.why);
  if (judged.verdict != Verdict::Accepted) {
    return fail(ErrorKind::Mismatch,
                devnode + " (" + d.devnode + ", serial '" + d.serial + "') is not volume " + query.volume_id);
  }
  return d;
}

Result<std::optional<BlockDevice>> UdevBlockDevices::find_by_serial(const std::string& volume_id) {
  const VolumeQuery query{.volume_id = volume_id};
  // The by-id link first (what udev made for the volume), but only if the disk behind it has the
  // right serial: a link left over from an earlier attachment may point at another disk now.
  const std::string link = nvme_by_id_link(volume_id, options_.by_id_dir);
  std::error_code ec;
  if (fs::exists(link, ec)) {
    auto d = verify(link, query);
    if (d) {
      d->by_id_link = link;
      return std::optional<BlockDevice>(*d);
    }
    log_udev().warn("stale link={} rejected: {}", link, d.error().message);
  }
  EBSNAP_TRY_ASSIGN(auto all, list());
  for (auto& d : all) {
    if (has_serial_of(d, volume_id)) return std::optional<BlockDevice>(std::move(d));
  }
  return std::optional<BlockDevice>{};
}

Result<BlockDevice> UdevBlockDevices::wait_for_volume(VolumeWatch& watch, const VolumeQuery& query,
                                                      Deadline deadline) {
  auto* state = dynamic_cast<UdevWatchState*>(watch.state());
  if (state == nullptr)
    return fail(ErrorKind::Refused, "wait_for_volume: watch not armed by UdevBlockDevices");
  log_udev().debug("wait volume_id={} device_hint={} size_bytes={} timeout_ms={}", query.volume_id,
                   query.device_hint, query.size_bytes, ms_left(deadline));
  // Devices with the volume's name but no proof, by devnode: named in the Timeout error.
  std::map<std::string, std::string> refused;
  // Judged with what the watch saw at arm time; Mismatch at once for a device that will never be
  // provable (query.already_attached).
  auto judge = [&](const BlockDevice& d) -> Result<Verdict> {
    const bool before = state->present_before(d);
    auto j = judge_device(d, query, before);
    if (j.verdict != Verdict::Refused) return j.verdict;
    if (before && query.already_attached) return fail(ErrorKind::Mismatch, j.why);
    if (auto [it, added] = refused.insert_or_assign(d.devnode, j.why); added) {
      log_udev().warn("volume_id={} device={} refused=\"{}\"", query.volume_id, d.devnode, it->second);
    }
    return j.verdict;
  };
  auto check_present = [&]() -> Result<std::optional<BlockDevice>> {
    if (!query.volume_id.empty()) {
      auto found = find_by_serial(query.volume_id);
      if (!found || found->has_value()) return found;
    }
    if (!query.device_hint.empty()) {
      EBSNAP_TRY_ASSIGN(auto all, list());
      for (auto& d : all) {
        if (!d.serial.empty()) continue;
        EBSNAP_TRY_ASSIGN(const auto verdict, judge(d));
        if (verdict == Verdict::Accepted) return std::optional<BlockDevice>(std::move(d));
      }
    }
    return std::optional<BlockDevice>{};
  };

  // The monitor is armed already, so anything that appears after this enumeration is queued on it.
  EBSNAP_TRY_ASSIGN(auto present, check_present());
  if (present) {
    log_udev().info("volume_id={} device={} serial={} (already present)", query.volume_id, present->devnode,
                    present->serial);
    return *present;
  }

  if (!state->monitor) {
    // No udevd: poll sysfs with backoff (there is no event source to wait on).
    auto delay = options_.poll_initial;
    while (Clock::now() < deadline) {
      std::this_thread::sleep_for(
          std::min(delay, std::chrono::milliseconds(std::max(0LL, ms_left(deadline)))));
      delay = std::min(delay * 2, options_.poll_max);
      EBSNAP_TRY_ASSIGN(present, check_present());
      if (present) return *present;
    }
  } else {
    const int fd = udev_monitor_get_fd(state->monitor.get());
    for (;;) {
      const long long left = ms_left(deadline);
      if (left <= 0) break;
      pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
      const int n = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, options_.recheck_every.count())));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail_errno("poll udev monitor", errno);
      if (n == 0) {
        // Quiet for a while: look in the udev database again. An event can be lost (a full
        // netlink buffer, a udevd restart) while the database still gets the device.
        EBSNAP_TRY_ASSIGN(present, check_present());
        if (present) {
          log_udev().warn(
              "volume_id={} device={} serial={} found in the udev database, its event was not seen",
              query.volume_id, present->devnode, present->serial);
          return *present;
        }
        continue;
      }
      UdevDevicePtr dev{udev_monitor_receive_device(state->monitor.get())};
      if (!dev) continue;
      const char* action = udev_device_get_action(dev.get());
      const std::string act = action != nullptr ? action : "";
      // Loop devices (the sandbox, the tests) get "change" when a file is attached; NVMe "add".
      if (act != "add" && act != "change") continue;
      BlockDevice d = from_udev(dev.get(), options_);
      EBSNAP_TRY_ASSIGN(const auto verdict, judge(d));
      if (verdict != Verdict::Accepted) continue;
      // Re-read from the udev database by device number: the event and the device must agree.
      auto confirmed = verify(d.devnode, query);
      if (!confirmed) {
        log_udev().warn("event device={} did not verify: {}", d.devnode, confirmed.error().message);
        continue;
      }
      EBSNAP_TRY_ASSIGN(const auto still, judge(*confirmed));
      if (still != Verdict::Accepted) continue;
      log_udev().info("volume_id={} device={} serial={} action={}", query.volume_id, confirmed->devnode,
                      confirmed->serial, act);
      return *confirmed;
    }
  }
  std::string seen;
  for (const auto& [node, why] : refused) seen += "; " + why;
  return fail(ErrorKind::Timeout,
              "volume " + query.volume_id +
                  (query.device_hint.empty() ? "" : " (device " + query.device_hint + ")") +
                  " did not appear before the deadline" + seen);
}

Result<void> UdevBlockDevices::check_not_in_use(const std::string& devnode) {
  Fd fd(::open(devnode.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK));
  if (fd) return {};
  if (errno == EBUSY) {
    return fail(ErrorKind::Busy, devnode + " is in use (mounted in another mount namespace, or held open exclusively)",
                EBUSY);
  }
  return fail_errno("open " + devnode + " O_EXCL", errno);
}

Result<void> UdevBlockDevices::wait_for_removal(const std::string& devnode, Deadline deadline) {
  EBSNAP_TRY_ASSIGN(auto watch, arm_watch());
  auto* state = dynamic_cast<UdevWatchState*>(watch.state());
  const auto initial = devnum_of(devnode);
  if (!initial) {
    if (initial.error().kind == ErrorKind::NotFound) return {};
    return std::unexpected(initial.error());
  }
  // Gone: the node is missing, now names another device, or has no medium (a detached loop
  // device keeps its node with size 0).
  auto gone = [&] {
    auto now = devnum_of(devnode);
    if (!now) return true;
    if (*now != *initial) return true;
    const auto dir =
        fs::path("/sys/dev/block") / (std::to_string(major(*now)) + ":" + std::to_string(minor(*now)));
    std::error_code ec;
    return !fs::exists(dir, ec) || parse_u64(read_small_file(dir / "size")) == 0;
  };
  auto delay = options_.poll_initial;
  while (!gone()) {
    const long long left = ms_left(deadline);
    if (left <= 0) {
      return fail(ErrorKind::Timeout, devnode + " was still present at the deadline");
    }
    if (state->monitor) {
      // Wake on any block event and re-check; the 1 s cap re-checks even if an event was missed.
      const int fd = udev_monitor_get_fd(state->monitor.get());
      pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
      const int n = ::poll(&pfd, 1, static_cast<int>(std::min(left, 1000LL)));
      if (n > 0) UdevDevicePtr drained{udev_monitor_receive_device(state->monitor.get())};
    } else {
      std::this_thread::sleep_for(std::min(delay, std::chrono::milliseconds(left)));
      delay = std::min(delay * 2, options_.poll_max);
    }
  }
  log_udev().info("device={} removed", devnode);
  return {};
}

Result<ProbeResult> UdevBlockDevices::probe(const std::string& devnode) {
  return probe_device(devnode);
}

Result<void> UdevBlockDevices::make_filesystem(const std::string& devnode, const MkfsOptions& options) {
  return platform::make_filesystem(devnode, options);
}

}  // namespace platform
