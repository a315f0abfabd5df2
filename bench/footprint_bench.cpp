// ebsnap's footprint: peak RSS of a full mount and of a full snapshot of a group of 4 volumes
// against the sandbox, the wall time of `ebsnap --version` (median of many runs: what a shell,
// a unit's ExecStartPre or a health check pays to start it), and the binary's size.
// Targets: ≤ 8 MiB RSS, ≤ 3 ms. And ebsnap watch at rest (issue 17): its CPU time and RSS over
// --watch-s seconds (default 60) of polls at the default 5 s interval with no notice, against a
// budget of 0.1% of one core and the same 8 MiB.
//
//   footprint_bench --ebsnap BIN --rows FILE --work DIR [--floor BIN] [--curl-floor BIN] [--runs 200] [--n 4]
//                   [--watch-s 60] [--version-only]
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_support.h"
#include "tests/support/sandbox.h"
#include "tests/support/shell.h"
#include "tests/support/udev_rule.h"

extern char** environ;

namespace {

constexpr double k_rss_target_mib = 8.0;
constexpr double k_version_target_ms = 3.0;
constexpr double k_watch_cpu_target_percent = 0.1;  // of one core, at rest

std::string g_shared_libs = "?";

double mib(std::int64_t kib) { return static_cast<double>(kib) / 1024.0; }

void rss_row(bench::RowWriter& rows, const std::string& figure, const bench::ChildResult& r, const std::string& what) {
  // The figure is the process's own peak; wait4's also covers what it reaped (mkfs, blkid, the
  // guardian, which is a fork of it).
  const double own = mib(r.own_hwm_kib);
  rows.write({"footprint", figure, fmt::format("{:.1f} MiB", own), "-", fmt::format("≤ {:.0f} MiB", k_rss_target_mib),
              bench::verdict(own > 0 && own <= k_rss_target_mib),
              fmt::format("{}; of which anon (heap, stacks) ≤ {:.1f}, file (binary + {} shared libs) ≤ {:.1f}; "
                          "with reaped children (wait4) {:.1f} MiB",
                          what, mib(r.own_anon_kib), g_shared_libs, mib(r.own_file_kib), mib(r.max_rss_kib))});
}

// An empty main() linked with shared libraries and nothing else: the start-up and RSS that the
// libraries alone cost, under which no program built on them can go. Two of them: ebsnap's whole
// set (--floor), and libcurl as Debian ships it with the C++ runtime (--curl-floor): what the
// design card fixes (C++, libcurl), which ebsnap cannot shed.
void floor(const bench::Args& args, bench::RowWriter& rows, int runs, const std::string& option, const std::string& what) {
  const std::string binary = args.get(option);
  if (binary.empty()) return;
  const std::filesystem::path work = args.get("work");
  std::vector<double> walls;
  std::int64_t hwm = 0;
  for (int i = 0; i < runs + 10; ++i) {
    auto r = bench::run_child({binary}, {}, work / "child");
    if (r.exit_code != 0) throw std::runtime_error(binary + " exited " + std::to_string(r.exit_code));
    if (i >= 10) walls.push_back(bench::ms(r.wall));
    hwm = std::max(hwm, r.max_rss_kib);
  }
  const auto libs = testsupport::shell("ldd '" + binary + "' | wc -l");
  rows.write({"footprint", "floor: empty main() with " + what, fmt::format("{:.2f} ms / {:.1f} MiB",
              bench::median(walls), mib(hwm)), "-", "-", "info",
              fmt::format("start-up median of {} / peak RSS; {} shared libraries", runs,
                          libs.output.substr(0, libs.output.find('\n')))});
}

void version_and_size(const bench::Args& args, bench::RowWriter& rows) {
  const std::filesystem::path binary = args.get("ebsnap");
  const std::filesystem::path work = args.get("work");
  const int runs = std::stoi(args.get("runs", "200"));
  std::vector<double> walls;
  for (int i = 0; i < runs + 10; ++i) {
    auto r = bench::run_child({binary.string(), "--version"}, {}, work / "child");
    if (r.exit_code != 0) throw std::runtime_error("ebsnap --version exited " + std::to_string(r.exit_code) + ": " + r.err);
    if (i >= 10) walls.push_back(bench::ms(r.wall));  // the first runs warm the page cache
  }
  // The cost of starting any process here, for comparison: /bin/true through the same spawn.
  std::vector<double> trues;
  for (int i = 0; i < runs / 2; ++i) trues.push_back(bench::ms(bench::run_child({"/bin/true"}, {}, work / "child").wall));
  const double median = bench::median(walls);
  std::sort(walls.begin(), walls.end());
  const double p90 = walls[walls.size() * 9 / 10];
  rows.write({"footprint", "ebsnap --version wall time", fmt::format("{:.2f} ms", median), "-",
              fmt::format("≤ {:.0f} ms", k_version_target_ms), bench::verdict(median <= k_version_target_ms),
              fmt::format("median of {}; p90 {:.2f}; /bin/true {:.2f}", runs, p90, bench::median(trues))});
  floor(args, rows, runs, "floor", "ebsnap's shared libraries");
  floor(args, rows, runs, "curl-floor", "libcurl and the C++ runtime alone");

  const auto size = std::filesystem::file_size(binary);
  const auto stripped = work / "ebsnap.stripped";
  std::string note;
  if (testsupport::shell("strip -o '" + stripped.string() + "' '" + binary.string() + "'").exit_code == 0) {
    note = fmt::format("stripped {:.2f} MiB; ", static_cast<double>(std::filesystem::file_size(stripped)) / 1048576.0);
    std::filesystem::remove(stripped);
  }
  const auto libs = testsupport::shell("ldd '" + binary.string() + "' | wc -l");
  g_shared_libs = libs.output.substr(0, libs.output.find('\n'));
  note += "shared libraries loaded: " + g_shared_libs;
  rows.write({"footprint", "binary size", fmt::format("{:.2f} MiB", static_cast<double>(size) / 1048576.0), "-", "-",
              "info", note});
}

// utime + stime of a live process, in seconds (/proc/PID/stat fields 14 and 15).
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
  std::string f;
  long long ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i >= 14) ticks += std::stoll(f);
  }
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A /proc/PID/status figure in KiB ("VmRSS", "VmHWM").
std::int64_t status_kib(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(key + ":")) return std::stoll(line.substr(key.size() + 1));
  }
  return 0;
}

// ebsnap watch with no notice for `seconds`: what it costs the instance while it waits. The first
// 5 s (start-up, the first poll) are left out of the CPU figure.
void watch_idle(const std::filesystem::path& binary, const std::map<std::string, std::string>& env,
                const std::filesystem::path& config, const std::filesystem::path& work, testsupport::Sandbox& sandbox,
                int seconds, bench::RowWriter& rows) {
  std::vector<std::string> words = {binary.string(), "--config", config.string(), "--userdata", bench::bench_userdata(),
                                    "watch"};
  std::vector<std::string> env_words;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string w = *e;
    if (!env.contains(w.substr(0, w.find('=')))) env_words.push_back(w);
  }
  for (const auto& [k, v] : env) env_words.push_back(k + "=" + v);
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& w : env_words) envp.push_back(w.data());
  envp.push_back(nullptr);
  const auto log = work / "watch.err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start ebsnap watch");
  const auto calls_before = sandbox.calls().size();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  const double cpu_from = cpu_seconds(pid);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const double cpu = cpu_seconds(pid) - cpu_from;
  const auto rss = status_kib(pid, "VmRSS");
  const auto hwm = status_kib(pid, "VmHWM");
  const auto ec2_calls = sandbox.calls().size() - calls_before;
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("ebsnap watch did not exit 0 on SIGTERM; its log is " + log.string());
  }
  const double percent = cpu / seconds * 100.0;
  rows.write({"footprint", "watch at rest: CPU", fmt::format("{:.2f} s per hour", cpu / seconds * 3600.0), "-",
              fmt::format("≤ {:.1f} s per hour ({}% of a core)", k_watch_cpu_target_percent * 36.0, k_watch_cpu_target_percent),
              bench::verdict(percent <= k_watch_cpu_target_percent),
              fmt::format("{:.3f} s of CPU over {} s of polls at the default 5 s interval (two IMDS GETs each), "
                          "{:.4f}% of a core; EC2 calls meanwhile: {}",
                          cpu, seconds, percent, ec2_calls)});
  rows.write({"footprint", "watch at rest: RSS", fmt::format("{:.1f} MiB", mib(rss)), "-",
              fmt::format("≤ {:.0f} MiB", k_rss_target_mib), bench::verdict(rss > 0 && mib(rss) <= k_rss_target_mib),
              fmt::format("VmRSS after {} s; its peak (VmHWM) {:.1f} MiB", seconds + 5, mib(hwm))});
}

void rss(const bench::Args& args, bench::RowWriter& rows) {
  const std::filesystem::path binary = args.get("ebsnap");
  const std::filesystem::path work = args.get("work");
  const int n = std::stoi(args.get("n", "4"));
  testsupport::ensure_udevd();
  testsupport::Sandbox sandbox;
  auto env = sandbox.environment();
  const auto run_dir = work / "run";
  bench::make_run_dir(run_dir);
  env["EBSNAP_RUN_DIR"] = run_dir.string();
  const std::string group = fmt::format("p{}", n);
  const auto config = work / fmt::format("footprint-{}.json", n);
  (void)bench::write_group_config(config, group, n, work / "mnt");
  bench::Ebsnap ebsnap(binary, env, config, work / "child");
  try {
    auto first = ebsnap.run({"--json", "mount", group}, true);
    if (first.exit_code != 0) throw std::runtime_error("ebsnap mount exited " + std::to_string(first.exit_code) + ":\n" + first.err + first.out);
    auto snap = ebsnap.run({"--json", "snapshot", group}, true);
    if (snap.exit_code != 0) throw std::runtime_error("ebsnap snapshot exited " + std::to_string(snap.exit_code) + ":\n" + snap.err + snap.out);
    auto unmount = ebsnap.run({"--json", "unmount", group, "--delete-volumes", "--yes"}, true);
    if (unmount.exit_code != 0) throw std::runtime_error("ebsnap unmount exited " + std::to_string(unmount.exit_code) + ":\n" + unmount.err + unmount.out);
    auto restore = ebsnap.run({"--json", "mount", group}, true);
    if (restore.exit_code != 0) throw std::runtime_error("ebsnap mount (restore) exited " + std::to_string(restore.exit_code) + ":\n" + restore.err + restore.out);
    rss_row(rows, fmt::format("peak RSS: mount N={} (restore)", n), restore, "restored from snapshots");
    rss_row(rows, fmt::format("peak RSS: mount N={} (first boot)", n), first, "created + mkfs");
    rss_row(rows, fmt::format("peak RSS: snapshot N={}", n), snap, "freeze + CreateSnapshots + thaw");
    watch_idle(binary, env, config, work, sandbox, std::stoi(args.get("watch-s", "60")), rows);
    (void)ebsnap.run_ok({"unmount", group, "--delete-volumes", "--yes"});
  } catch (...) {
    (void)ebsnap.run({"unmount", group, "--delete-volumes", "--yes"});
    throw;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const bench::Args args = bench::parse_args(argc, argv);
    bench::RowWriter rows(args.get("rows", "/dev/stdout"));
    if (args.get("work").empty() || args.get("ebsnap").empty()) throw std::runtime_error("--work DIR and --ebsnap BIN are required");
    std::filesystem::create_directories(args.get("work"));
    version_and_size(args, rows);
    if (!args.values.contains("version-only")) rss(args, rows);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "footprint_bench: %s\n", e.what());
    return 1;
  }
}
