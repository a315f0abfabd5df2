// ebsnap(8) (agent/ebsnap.8.scd, generated at build time) names every command, alias and option
// that --help shows: a command added without its man page entry fails here.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "agent/cli/cli.h"

namespace agent {
namespace {

std::string help_of(std::vector<const char*> words) {
  words.insert(words.begin(), "ebsnap");
  words.push_back("--help");
  auto parsed = parse_command_line(words);
  if (parsed) return {};
  return parsed.error().out;
}

// The generated page as text: roff's font changes and escapes taken out.
std::string man_page() {
  std::ifstream in(std::string(EBSNAP_BINARY_DIR) + "/agent/ebsnap.8");
  std::stringstream s;
  s << in.rdbuf();
  std::string text = std::regex_replace(s.str(), std::regex(R"(\\f[BIRP]|\\&|\\)"), "");
  return text;
}

// The lines of a --help section ("Options:", "Subcommands:") up to the next blank line.
std::vector<std::string> section(const std::string& help, const std::string& title) {
  std::vector<std::string> out;
  std::istringstream in(help);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line == title) {
      inside = true;
    } else if (inside && line.empty()) {
      break;
    } else if (inside) {
      out.push_back(line);
    }
  }
  return out;
}

// "  -v,--verbose Excludes: --quiet" → "-v", "--verbose"; "  --as-of TIME   restore …" → "--as-of".
std::vector<std::string> options_in(const std::string& help) {
  std::vector<std::string> out;
  static const std::regex option(R"(^\s+((-[A-Za-z]),)?(--[a-z-]+))");
  for (const auto& line : section(help, "Options:")) {
    std::smatch m;
    if (!std::regex_search(line, m, option)) continue;
    if (m[2].matched) out.push_back(m[2]);
    out.push_back(m[3]);
  }
  return out;
}

TEST(ManPage, NamesEveryCommandAliasAndOptionOfTheHelp) {
  const auto page = man_page();
  ASSERT_TRUE(page.contains(".TH \"ebsnap\" \"8\"")) << "not generated: " << EBSNAP_BINARY_DIR << "/agent/ebsnap.8";
  const auto top = help_of({});
  std::vector<std::string> commands;
  for (const auto& line : section(top, "Subcommands:")) {
    // "  history, list-snapshots     the groups' …": the names before the description.
    const auto names = line.substr(0, line.find("  ", 2));
    std::istringstream words(names);
    for (std::string w; std::getline(words, w, ',');) {
      w.erase(0, w.find_first_not_of(' '));
      commands.push_back(w);
    }
  }
  ASSERT_GE(commands.size(), 18U) << top;
  for (const auto& option : options_in(top)) EXPECT_TRUE(page.contains(option)) << option;
  for (const auto& command : commands) {
    EXPECT_TRUE(std::regex_search(page, std::regex("(^|[^-a-z])" + command + "([^-a-z]|$)"))) << "command " << command;
    const auto help = help_of({command.c_str()});
    ASSERT_FALSE(help.empty()) << command;
    for (const auto& option : options_in(help)) EXPECT_TRUE(page.contains(option)) << command << " " << option;
  }
}

}  // namespace
}  // namespace agent
