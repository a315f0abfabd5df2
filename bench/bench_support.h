#pragma once
// What the system benchmarks share: the application probe, running ebsnap as a child with its
// wall time and peak RSS, a group configuration, loop-device filesystems, and the rows that
// bench/run prints as one table. Benchmarks only: never product code, never timed assertions.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ec2/ec2_client.h"

namespace testsupport {
class Sandbox;
}

namespace bench {

using Clock = std::chrono::steady_clock;
using Micros = std::chrono::microseconds;

[[nodiscard]] double ms(Micros us);
[[nodiscard]] double median(std::vector<double> values);
[[nodiscard]] double max_of(const std::vector<double>& values);

// One line of the table: figure, its value, the physical limit it is held against, the target
// and a verdict. Written as tab-separated fields to the rows file bench/run gathers.
struct Row {
  std::string part;    // micro, freeze, restore, footprint
  std::string figure;  // "freeze N=4 L=100ms: probe stall"
  std::string value;   // "131.2 ms"
  std::string limit;   // "118.4 ms" or "-"
  std::string target;  // "≤ 133.4 ms"
  std::string verdict; // ok, MISSED, info
  std::string note;    // evidence, one line
};

class RowWriter {
 public:
  explicit RowWriter(std::filesystem::path path);  // appends
  void write(const Row& row);

 private:
  std::filesystem::path path_;
};

[[nodiscard]] std::string fmt_ms(double value);
[[nodiscard]] std::string verdict(bool ok);

// Shared (MAP_SHARED) between a Probe and its process.
struct ProbeShared {
  std::atomic<std::int64_t> max_stall_ns{0};
  std::atomic<std::uint64_t> iterations{0};
  std::atomic<int> armed{0};
  std::atomic<int> stop{0};
  std::atomic<int> error{0};  // errno of a failed open/write/fsync
};

// A process that writes and fsyncs a small record every millisecond in `dir` and keeps its
// longest stall (one write + fsync) while armed: what an application on that filesystem feels.
// Forked (async-signal-safe loop only) and killed with us (PR_SET_PDEATHSIG).
class Probe {
 public:
  explicit Probe(const std::filesystem::path& dir);
  ~Probe();
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  void arm();
  // Waits until the probe completed two more iterations (so a write blocked during the measured
  // operation has returned), disarms, and returns the longest stall since arm(). nullopt when
  // the probe failed or did not advance within the bound.
  [[nodiscard]] std::optional<Micros> disarm(std::chrono::milliseconds bound = std::chrono::milliseconds(10'000));
  [[nodiscard]] std::uint64_t iterations() const;
  void stop();

 private:
  ProbeShared* shared_ = nullptr;
  pid_t pid_ = -1;
};

// A set of probes, one per directory: arm all, disarm all → the longest stall among them.
class Probes {
 public:
  explicit Probes(const std::vector<std::string>& dirs);
  void arm();
  [[nodiscard]] std::optional<Micros> disarm();
  void stop();

 private:
  std::vector<std::unique_ptr<Probe>> probes_;
};

// A child's end.
struct ChildResult {
  int exit_code = -1;  // -signal when killed
  Micros wall{0};
  std::int64_t max_rss_kib = 0;  // wait4: the child or any descendant it reaped (mkfs, guardian)
  std::int64_t own_hwm_kib = 0;   // the child's own VmHWM, sampled every 2 ms (when asked)
  std::int64_t own_anon_kib = 0;  // the largest RssAnon seen (heap, stacks: ebsnap's own memory)
  std::int64_t own_file_kib = 0;  // the largest RssFile seen (mapped binary and shared libraries)
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs argv with `env` added to (and overriding) ours; stdout and stderr go to files under
// `scratch`, read back. Wall time is spawn → reaped; RSS from wait4's rusage.
[[nodiscard]] ChildResult run_child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                                    const std::filesystem::path& scratch, bool sample_hwm = false);

// ebsnap against a running sandbox.
class Ebsnap {
 public:
  Ebsnap(std::filesystem::path binary, std::map<std::string, std::string> env, std::filesystem::path config,
         std::filesystem::path scratch);
  // ebsnap --config C --userdata U ARGS...
  [[nodiscard]] ChildResult run(const std::vector<std::string>& args, bool sample_hwm = false) const;
  // As run(), throwing with its stderr when the exit code is not 0.
  ChildResult run_ok(const std::vector<std::string>& args) const;
  [[nodiscard]] const std::filesystem::path& binary() const { return binary_; }

 private:
  std::filesystem::path binary_;
  std::map<std::string, std::string> env_;
  std::filesystem::path config_;
  std::filesystem::path scratch_;
};

// The run directory ebsnap gets (EBSNAP_RUN_DIR): mode 0700, as ebsnap requires of it.
void make_run_dir(const std::filesystem::path& dir);

// The userdata every benchmark passes (--userdata): values for the default filter tags.
[[nodiscard]] std::string bench_userdata();

// A config with one group `name` of n ext4 volumes of 1 GiB on /dev/sdf.. mounted under
// `mount_root`/<name>/vK. Returns the mount points.
std::vector<std::string> write_group_config(const std::filesystem::path& file, const std::string& name, int n,
                                            const std::filesystem::path& mount_root);

// n loop devices with ext4, mounted under `root`/kK; unmounted and detached at destruction
// (thawed first, in case).
class LoopFilesystems {
 public:
  LoopFilesystems(const std::filesystem::path& root, int n, std::uint64_t size_mib = 1024);
  ~LoopFilesystems();
  LoopFilesystems(const LoopFilesystems&) = delete;
  LoopFilesystems& operator=(const LoopFilesystems&) = delete;
  [[nodiscard]] const std::vector<std::string>& mount_points() const { return mount_points_; }

 private:
  void teardown();
  std::vector<std::string> images_;
  std::vector<std::string> devices_;
  std::vector<std::string> mount_points_;
};

// Command-line parsing shared by the system benchmarks: --key value pairs.
struct Args {
  std::map<std::string, std::string> values;
  [[nodiscard]] std::string get(const std::string& key, const std::string& fallback = {}) const;
  [[nodiscard]] std::vector<int> ints(const std::string& key, const std::string& fallback) const;
};
[[nodiscard]] Args parse_args(int argc, char** argv);

// An EC2 client of the sandbox's home region with its static keys: what a benchmark uses to set
// the scene (volumes for bulk snapshots) outside ebsnap. Throws when it cannot be made.
[[nodiscard]] std::unique_ptr<ec2::Ec2Client> sandbox_client(const testsupport::Sandbox& sandbox);

// The sandbox's call log from line `from` on (JSON objects).
[[nodiscard]] std::vector<nlohmann::json> read_call_log(const std::string& path, std::size_t from = 0);
[[nodiscard]] std::size_t count_lines(const std::string& path);

}  // namespace bench
