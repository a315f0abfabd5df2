// The systemd units in init/ pass `systemd-analyze verify` (unknown keys, bad values, a command
// that is not there all show), with /usr/sbin/ebsnap replaced by the binary just built; and the
// sysvinit script is valid sh.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "tests/support/shell.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;

const fs::path k_init = fs::path(EBSNAP_SOURCE_DIR) / "init";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Units, EveryUnitPassesSystemdAnalyzeVerify) {
  testsupport::TempDir dir;
  const std::string binary = std::string(EBSNAP_BINARY_DIR) + "/agent/ebsnap";
  int units = 0;
  for (const auto& entry : fs::directory_iterator(k_init)) {
    const auto name = entry.path().filename().string();
    if (!name.ends_with(".service") && !name.ends_with(".timer")) continue;
    std::ofstream(dir.path() / name) << std::regex_replace(slurp(entry.path()), std::regex("/usr/sbin/ebsnap"), binary);
    ++units;
  }
  ASSERT_GE(units, 5);
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    auto name = entry.path().filename().string();
    // A template is verified as an instance of it.
    if (const auto at = name.find("@."); at != std::string::npos) name.insert(at + 1, "solr");
    const auto r = testsupport::shell("cd '" + dir.path().string() + "' && systemd-analyze verify --man=no ./" + name +
                                      " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << name << ":\n" << r.output;
    EXPECT_EQ(r.output, "") << name << ": warnings:\n" << r.output;
  }
}

TEST(Units, VerifyFailsOnABrokenUnit) {
  // The check above can fail: an unknown key is a warning, a missing command an error.
  testsupport::TempDir dir;
  std::ofstream(dir.path() / "broken.service") << "[Service]\nType=oneshot\nExecStart=/nonexistent/ebsnap x\nBogus=1\n";
  const auto r = testsupport::shell("cd '" + dir.path().string() + "' && systemd-analyze verify --man=no ./broken.service 2>&1");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(r.output.contains("Bogus")) << r.output;
}

TEST(Units, TheMountUnitSnapshotsAtStopAndTheSysvinitScriptToo) {
  const auto mount = slurp(k_init / "ebsnap-mount@.service");
  EXPECT_TRUE(mount.contains("\nExecStop=/usr/sbin/ebsnap shutdown %i")) << mount;
  EXPECT_TRUE(mount.contains("\nTimeoutStopSec=")) << mount;
  const auto watch = slurp(k_init / "ebsnap-watch.service");
  EXPECT_TRUE(watch.contains("\nExecStart=/usr/sbin/ebsnap watch\n")) << watch;
  const auto script = k_init / "ebsnap.init";
  EXPECT_TRUE(slurp(script).contains("\"$EBSNAP\" shutdown $EBSNAP_GROUPS"));
  const auto r = testsupport::shell("sh -n '" + script.string() + "' 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
