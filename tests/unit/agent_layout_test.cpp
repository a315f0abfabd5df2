// The dependency rule of the README ("Layout and architecture"), checked on the sources: a
// forbidden #include fails here, naming the file and the line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Include {
  std::string file;  // relative to the source dir
  int line = 0;
  std::string target;  // "agent/core/services.h"
};

std::vector<Include> includes_under(const std::string& dir) {
  const fs::path root = EBSNAP_SOURCE_DIR;
  static const std::regex include_re(R"re(^\s*#\s*include\s*"([^"]+)")re");
  std::vector<Include> out;
  for (const auto& e : fs::recursive_directory_iterator(root / dir)) {
    const auto ext = e.path().extension();
    if (!e.is_regular_file() || (ext != ".h" && ext != ".cpp")) continue;
    std::ifstream in(e.path());
    std::string text;
    for (int n = 1; std::getline(in, text); ++n) {
      std::smatch m;
      if (std::regex_search(text, m, include_re)) {
        out.push_back({fs::relative(e.path(), root).string(), n, m[1].str()});
      }
    }
  }
  return out;
}

// The room of a path: "ec2", "ec2/testing", "agent/core", ...
std::string room_of(const std::string& path) {
  const auto first = path.find('/');
  if (first == std::string::npos) return path;
  const auto top = path.substr(0, first);
  const auto second = path.find('/', first + 1);
  if (second == std::string::npos) return top;
  const auto sub = path.substr(first + 1, second - first - 1);
  if (top == "agent" || sub == "testing") return top + "/" + sub;
  return top;
}

void expect_rule(const std::string& dir, const std::set<std::string>& allowed) {
  const auto all = includes_under(dir);
  ASSERT_FALSE(all.empty()) << dir;
  for (const auto& inc : all) {
    if (inc.target.find('/') == std::string::npos) continue;  // <system> style quoted, generated
    const auto from = room_of(inc.file);
    const auto to = room_of(inc.target);
    if (!(to.starts_with("agent") || to.starts_with("ec2") || to.starts_with("platform"))) continue;
    // Its own room; a sub-room its library (ec2/testing → ec2); agent/version.h (generated).
    if (to == from || from.starts_with(to + "/")) continue;
    EXPECT_TRUE(allowed.contains(to)) << inc.file << ":" << inc.line << " includes " << inc.target << " (" << from
                                      << " may not use " << to << ")";
  }
}

TEST(Layout, Ec2AndPlatformNeverIncludeEachOtherOrTheAgent) {
  expect_rule("ec2", {});
  expect_rule("platform", {});
}

TEST(Layout, TheFakesAreUsedByNoProductionCode) {
  for (const auto* dir : {"agent", "ec2", "platform"}) {
    for (const auto& inc : includes_under(dir)) {
      if (room_of(inc.file).ends_with("/testing")) continue;
      EXPECT_FALSE(inc.target.find("/testing/") != std::string::npos) << inc.file << ":" << inc.line << " includes "
                                                                       << inc.target;
    }
  }
}

TEST(Layout, AgentRoomsFollowCliCommandsCoreConfig) {
  expect_rule("agent/config", {"platform"});
  expect_rule("agent/report", {"platform"});
  expect_rule("agent/core", {"agent/config", "agent/report", "ec2", "platform"});
  expect_rule("agent/commands", {"agent/config", "agent/core", "agent/report", "ec2", "platform"});
  expect_rule("agent/cli", {"agent/config", "agent/core", "agent/commands", "agent/report", "ec2", "platform"});
}

TEST(Layout, CommandsNeverIncludeEachOther) {
  for (const auto& inc : includes_under("agent/commands")) {
    if (!inc.target.starts_with("agent/commands/")) continue;
    const auto stem = [](const std::string& p) {
      auto name = fs::path(p).stem().string();
      if (auto u = name.find('_'); u != std::string::npos) name = name.substr(0, u);  // mount_decide → mount
      return name;
    };
    EXPECT_EQ(stem(inc.file), stem(inc.target)) << inc.file << ":" << inc.line << " includes " << inc.target;
  }
}

}  // namespace
