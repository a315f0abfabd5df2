#include "bench/bench_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include "ec2/environment.h"
#include "tests/support/loop_device.h"
#include "tests/support/sandbox.h"
#include "tests/support/shell.h"

extern char** environ;

namespace bench {

double ms(Micros us) { return static_cast<double>(us.count()) / 1000.0; }

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double max_of(const std::vector<double>& values) {
  return values.empty() ? 0 : *std::max_element(values.begin(), values.end());
}

std::string fmt_ms(double value) { return fmt::format("{:.1f} ms", value); }
std::string verdict(bool ok) { return ok ? "ok" : "MISSED"; }

RowWriter::RowWriter(std::filesystem::path path) : path_(std::move(path)) {}

void RowWriter::write(const Row& row) {
  auto clean = [](std::string s) {
    std::replace(s.begin(), s.end(), '\t', ' ');
    std::replace(s.begin(), s.end(), '\n', ' ');
    return s.empty() ? std::string("-") : s;
  };
  std::ofstream out(path_, std::ios::app);
  out << clean(row.part) << '\t' << clean(row.figure) << '\t' << clean(row.value) << '\t' << clean(row.limit)
      << '\t' << clean(row.target) << '\t' << clean(row.verdict) << '\t' << clean(row.note) << '\n';
  // Also on stdout, so a run shows progress.
  fmt::print("  {:<46} {:>12}  limit {:>10}  target {:>12}  {}  {}\n", row.figure, row.value, row.limit, row.target,
             row.verdict, row.note);
  std::fflush(stdout);
}

// ---- Probe -------------------------------------------------------------------------------------

namespace {

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The child: async-signal-safe calls only (we forked a possibly threaded process).
[[noreturn]] void probe_loop(const char* file, ProbeShared* shared) {
  const int fd = ::open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    shared->error.store(errno);
    _exit(1);
  }
  char record[64];
  std::memset(record, 'p', sizeof record);
  std::int64_t next = now_ns();
  std::uint64_t i = 0;
  while (shared->stop.load(std::memory_order_relaxed) == 0) {
    const std::int64_t t0 = now_ns();
    // A small record in a 4 KiB ring: data and metadata (mtime) to write back at each fsync.
    if (::pwrite(fd, record, sizeof record, static_cast<off_t>((i % 64) * sizeof record)) < 0 || ::fsync(fd) != 0) {
      shared->error.store(errno);
      _exit(1);
    }
    const std::int64_t stall = now_ns() - t0;
    if (shared->armed.load(std::memory_order_acquire) != 0) {
      std::int64_t old = shared->max_stall_ns.load(std::memory_order_relaxed);
      while (stall > old && !shared->max_stall_ns.compare_exchange_weak(old, stall)) {
      }
    }
    shared->iterations.fetch_add(1, std::memory_order_release);
    ++i;
    next += 1'000'000;
    const std::int64_t now = now_ns();
    if (next < now) next = now;  // behind (we stalled): no burst to catch up
    timespec ts{.tv_sec = static_cast<time_t>(next / 1'000'000'000), .tv_nsec = static_cast<long>(next % 1'000'000'000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
  }
  ::close(fd);
  _exit(0);
}

}  // namespace

Probe::Probe(const std::filesystem::path& dir) {
  static_assert(sizeof(ProbeShared) <= 4096);
  void* memory = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::runtime_error("mmap for the probe failed");
  shared_ = new (memory) ProbeShared();
  const std::string file = (dir / ".ebsnap-bench-probe").string();
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork for the probe failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(1);
    probe_loop(file.c_str(), shared_);
  }
  // Running before anyone measures it.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (shared_->iterations.load() < 20 && shared_->error.load() == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (shared_->error.load() != 0 || shared_->iterations.load() < 20) {
    const int e = shared_->error.load();
    stop();
    throw std::runtime_error("the probe in " + dir.string() + " did not run: " + (e ? std::strerror(e) : "too slow"));
  }
}

Probe::~Probe() {
  stop();
  if (shared_ != nullptr) ::munmap(shared_, 4096);
}

void Probe::stop() {
  if (pid_ <= 0) return;
  shared_->stop.store(1);
  int status = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      // Blocked on a frozen filesystem would be our bug; do not hang the run on it.
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  pid_ = -1;
}

void Probe::arm() {
  shared_->max_stall_ns.store(0);
  shared_->armed.store(1, std::memory_order_release);
}

std::uint64_t Probe::iterations() const { return shared_->iterations.load(); }

std::optional<Micros> Probe::disarm(std::chrono::milliseconds bound) {
  const std::uint64_t start = shared_->iterations.load();
  const auto deadline = Clock::now() + bound;
  while (shared_->iterations.load() < start + 2 && shared_->error.load() == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  shared_->armed.store(0, std::memory_order_release);
  if (shared_->error.load() != 0 || shared_->iterations.load() < start + 2) return std::nullopt;
  return std::chrono::duration_cast<Micros>(std::chrono::nanoseconds(shared_->max_stall_ns.load()));
}

Probes::Probes(const std::vector<std::string>& dirs) {
  for (const auto& d : dirs) probes_.push_back(std::make_unique<Probe>(d));
}

void Probes::arm() {
  for (auto& p : probes_) p->arm();
}

std::optional<Micros> Probes::disarm() {
  std::optional<Micros> worst = Micros(0);
  for (auto& p : probes_) {
    auto stall = p->disarm();
    if (!stall) worst = std::nullopt;
    if (worst && stall) worst = std::max(*worst, *stall);
  }
  return worst;
}

void Probes::stop() {
  for (auto& p : probes_) p->stop();
}

// ---- children ----------------------------------------------------------------------------------

namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

namespace {

// VmHWM, RssAnon, RssFile of /proc/PID/status (KiB).
std::array<std::int64_t, 3> memory_kib(pid_t pid) {
  std::array<std::int64_t, 3> out{};
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmHWM:")) out[0] = std::stoll(line.substr(6));
    if (line.starts_with("RssAnon:")) out[1] = std::stoll(line.substr(8));
    if (line.starts_with("RssFile:")) out[2] = std::stoll(line.substr(8));
  }
  return out;
}

}  // namespace

ChildResult run_child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                      const std::filesystem::path& scratch, bool sample_hwm) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos) merged[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argvp;
  for (auto& a : args) argvp.push_back(a.data());
  argvp.push_back(nullptr);

  std::filesystem::create_directories(scratch);
  const auto out_file = scratch / "child.out";
  const auto err_file = scratch / "child.err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ChildResult result;
  pid_t pid = -1;
  const auto start = Clock::now();
  const int rc = posix_spawn(&pid, argvp[0], &actions, nullptr, argvp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  if (sample_hwm) {
    for (;;) {
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) break;
      const auto m = memory_kib(pid);
      result.own_hwm_kib = std::max(result.own_hwm_kib, m[0]);
      result.own_anon_kib = std::max(result.own_anon_kib, m[1]);
      result.own_file_kib = std::max(result.own_file_kib, m[2]);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  result.wall = std::chrono::duration_cast<Micros>(Clock::now() - start);
  result.max_rss_kib = usage.ru_maxrss;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  result.out = slurp(out_file);
  result.err = slurp(err_file);
  return result;
}

Ebsnap::Ebsnap(std::filesystem::path binary, std::map<std::string, std::string> env, std::filesystem::path config,
               std::filesystem::path scratch)
    : binary_(std::move(binary)), env_(std::move(env)), config_(std::move(config)), scratch_(std::move(scratch)) {}

ChildResult Ebsnap::run(const std::vector<std::string>& args, bool sample_hwm) const {
  std::vector<std::string> argv = {binary_.string(), "--config", config_.string(), "--userdata", bench_userdata()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_child(argv, env_, scratch_, sample_hwm);
}

ChildResult Ebsnap::run_ok(const std::vector<std::string>& args) const {
  ChildResult r = run(args);
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    throw std::runtime_error("ebsnap" + cmd + " exited " + std::to_string(r.exit_code) + ":\n" + r.err + r.out);
  }
  return r;
}

void make_run_dir(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
}

std::string bench_userdata() { return R"({"role":"bench","cluster":"bench","environment":"bench"})"; }

std::vector<std::string> write_group_config(const std::filesystem::path& file, const std::string& name, int n,
                                            const std::filesystem::path& mount_root) {
  if (n < 1 || n > 21) throw std::runtime_error("a group holds 1..21 volumes (/dev/sdf../dev/sdz)");
  nlohmann::ordered_json volumes = nlohmann::ordered_json::array();
  std::vector<std::string> mount_points;
  for (int k = 0; k < n; ++k) {
    const std::string mp = (mount_root / name / fmt::format("v{}", k)).string();
    mount_points.push_back(mp);
    volumes.push_back({{"device", std::string("/dev/sd") + static_cast<char>('f' + k)},
                       {"mount_point", mp},
                       {"size_gib", 1},
                       {"filesystem", "ext4"}});
  }
  nlohmann::ordered_json config = {{"filter_tags", {"role", "cluster", "environment"}},
                                   {"freeze_timeout_s", 30},
                                   {"groups", {{name, {{"volumes", volumes}}}}}};
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file) << config.dump(2) << "\n";
  std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return mount_points;
}

// ---- loop filesystems --------------------------------------------------------------------------

LoopFilesystems::LoopFilesystems(const std::filesystem::path& root, int n, std::uint64_t size_mib) {
  try {
    std::filesystem::create_directories(root);
    for (int k = 0; k < n; ++k) {
      const auto image = root / fmt::format("k{}.img", k);
      testsupport::make_sparse_image(image, size_mib);
      images_.push_back(image.string());
      std::string dev = testsupport::shell_ok("losetup --find --show '" + image.string() + "'");
      while (!dev.empty() && (dev.back() == '\n' || dev.back() == ' ')) dev.pop_back();
      devices_.push_back(dev);
      testsupport::shell_ok("mkfs.ext4 -q -F '" + dev + "'");
      const auto mp = root / fmt::format("k{}", k);
      std::filesystem::create_directories(mp);
      testsupport::shell_ok("mount -t ext4 '" + dev + "' '" + mp.string() + "'");
      mount_points_.push_back(mp.string());
    }
  } catch (...) {
    teardown();
    throw;
  }
}

LoopFilesystems::~LoopFilesystems() { teardown(); }

void LoopFilesystems::teardown() {
  for (auto it = mount_points_.rbegin(); it != mount_points_.rend(); ++it) {
    // Never leave one frozen: FITHAW says EINVAL when it is not, which is fine.
    const int fd = ::open(it->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      (void)::ioctl(fd, FITHAW, 0);
      ::close(fd);
    }
    if (testsupport::shell("umount '" + *it + "'").exit_code != 0) (void)testsupport::shell("umount -l '" + *it + "'");
  }
  mount_points_.clear();
  for (const auto& dev : devices_) (void)testsupport::shell("losetup -d '" + dev + "'");
  devices_.clear();
  for (const auto& image : images_) {
    std::error_code ec;
    std::filesystem::remove(image, ec);
  }
  images_.clear();
}

// ---- arguments and logs ------------------------------------------------------------------------

std::string Args::get(const std::string& key, const std::string& fallback) const {
  auto it = values.find(key);
  return it == values.end() ? fallback : it->second;
}

std::vector<int> Args::ints(const std::string& key, const std::string& fallback) const {
  std::vector<int> out;
  std::stringstream ss(get(key, fallback));
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(std::stoi(item));
  }
  return out;
}

Args parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (!arg.starts_with("--")) throw std::runtime_error("unexpected argument " + std::string(arg));
    const std::string key(arg.substr(2));
    // A flag without a value is "1". (insert_or_assign of whole strings: GCC 12 at -O3 warns
    // -Wrestrict, wrongly, on operator=(const char*) here.)
    std::string value(1, '1');
    if (i + 1 < argc && !std::string_view(argv[i + 1]).starts_with("--")) value = std::string(argv[++i]);
    args.values.insert_or_assign(key, std::move(value));
  }
  return args;
}

std::unique_ptr<ec2::Ec2Client> sandbox_client(const testsupport::Sandbox& sandbox) {
  ec2::Credentials keys;
  keys.access_key_id = sandbox.env("AWS_ACCESS_KEY_ID");
  keys.secret_access_key = ec2::SecretString(sandbox.env("AWS_SECRET_ACCESS_KEY"));
  keys.source = "sandbox static keys";
  ec2::Ec2ClientOptions options;  // member by member: GCC 12 -O3 -Wmaybe-uninitialized on a designated one
  options.region = sandbox.region();
  options.credentials = std::make_shared<ec2::StaticCredentialsProvider>(std::move(keys));
  auto client = ec2::Ec2Client::create(options, ec2::fixed_environment(sandbox.environment()));
  if (!client) throw std::runtime_error(client.error().describe());
  return std::move(*client);
}

std::vector<nlohmann::json> read_call_log(const std::string& path, std::size_t from) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::size_t line_no = 0;
  for (std::string line; std::getline(in, line); ++line_no) {
    if (line_no < from || line.empty()) continue;
    out.push_back(nlohmann::json::parse(line, nullptr, false));
  }
  return out;
}

std::size_t count_lines(const std::string& path) {
  std::ifstream in(path);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

}  // namespace bench
