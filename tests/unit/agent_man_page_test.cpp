// ebsnap(8) (agent/ebsnap.8.scd, generated at build time) and the bash completion
// (etc/bash-completion/ebsnap) name every command, alias and option that --help shows: a command
// added without its man page entry or its completion fails here.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "agent/cli/cli.h"
#include "tests/support/shell.h"
#include "tests/support/temp_dir.h"

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

// "Subcommands:": every command and alias ("  history, list-snapshots     the groups' …").
std::vector<std::string> commands_in(const std::string& help) {
  std::vector<std::string> commands;
  for (const auto& line : section(help, "Subcommands:")) {
    const auto names = line.substr(0, line.find("  ", 2));
    std::istringstream words(names);
    for (std::string w; std::getline(words, w, ',');) {
      w.erase(0, w.find_first_not_of(' '));
      commands.push_back(w);
    }
  }
  return commands;
}

TEST(ManPage, NamesEveryCommandAliasAndOptionOfTheHelp) {
  const auto page = man_page();
  ASSERT_TRUE(page.contains(".TH \"ebsnap\" \"8\"")) << "not generated: " << EBSNAP_BINARY_DIR << "/agent/ebsnap.8";
  const auto top = help_of({});
  const auto commands = commands_in(top);
  ASSERT_GE(commands.size(), 18U) << top;
  for (const auto& option : options_in(top)) EXPECT_TRUE(page.contains(option)) << option;
  for (const auto& command : commands) {
    EXPECT_TRUE(std::regex_search(page, std::regex("(^|[^-a-z])" + command + "([^-a-z]|$)"))) << "command " << command;
    const auto help = help_of({command.c_str()});
    ASSERT_FALSE(help.empty()) << command;
    for (const auto& option : options_in(help)) EXPECT_TRUE(page.contains(option)) << command << " " << option;
  }
}

// What the bash completion (etc/bash-completion/ebsnap) offers for `words` with the cursor on the
// last one: bash runs the script's _ebsnap as it would on TAB, with the built ebsnap as words[0].
std::vector<std::string> completions(const std::vector<std::string>& words, const testsupport::TempDir& dir) {
  std::string script = "source '" + std::string(EBSNAP_SOURCE_DIR) + "/etc/bash-completion/ebsnap'\nCOMP_WORDS=('" +
                       std::string(EBSNAP_BINARY_DIR) + "/agent/ebsnap'";
  for (const auto& w : words) script += " '" + w + "'";
  script += ")\nCOMP_CWORD=" + std::to_string(words.size()) + "\n_ebsnap\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n";
  const auto path = dir.path() / "complete.sh";
  std::ofstream(path) << script;
  const auto ran = testsupport::shell("cd '" + dir.path().string() + "' && EBSNAP_CONFIG= bash '" + path.string() + "' 2>&1");
  EXPECT_EQ(ran.exit_code, 0) << ran.output;
  std::vector<std::string> out;
  std::istringstream lines(ran.output);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) out.push_back(line);
  }
  std::ranges::sort(out);
  return out;
}

std::vector<std::string> long_options_in(const std::string& help) {
  std::vector<std::string> out;
  for (const auto& o : options_in(help)) {
    if (o.starts_with("--")) out.push_back(o);
  }
  return out;
}

// The completion offers exactly what --help shows: every command and alias, and for each command
// its own long options and the global ones. A command or option added without it fails here.
TEST(BashCompletion, OffersEveryCommandAndOptionOfTheHelp) {
  testsupport::TempDir dir;
  const auto top = help_of({});
  auto globals = long_options_in(top);
  const auto commands = commands_in(top);
  auto expected = commands;
  expected.insert(expected.end(), globals.begin(), globals.end());
  std::ranges::sort(expected);
  EXPECT_EQ(completions({""}, dir), expected);
  for (const auto& command : commands) {
    auto options = long_options_in(help_of({command.c_str()}));  // its own and --help
    options.insert(options.end(), globals.begin(), globals.end());
    std::ranges::sort(options);
    options.erase(std::unique(options.begin(), options.end()), options.end());
    EXPECT_EQ(completions({command, "--"}, dir), options) << command;
  }
  EXPECT_EQ(completions({"sna"}, dir), std::vector<std::string>{"snapshot"});
}

// Group names come from the configuration in use: --config, else $EBSNAP_CONFIG; a value after an
// option is not taken for the command.
TEST(BashCompletion, GroupsComeFromTheConfigInUse) {
  testsupport::TempDir dir;
  const auto config = dir.path() / "ebsnap.json";
  std::ofstream(config) << R"({"groups":{
      "solr":{"volumes":[{"device":"/dev/sdf","mount_point":"/mnt/solr","size_gib":1}]},
      "pg":{"volumes":[{"device":"/dev/sdg","mount_point":"/mnt/pg","size_gib":1}]},
      "pg-wal":{"volumes":[{"device":"/dev/sdh","mount_point":"/mnt/wal","size_gib":1}]}}})";
  std::filesystem::permissions(config, std::filesystem::perms(0600));
  const std::vector<std::string> all{"pg", "pg-wal", "solr"};
  EXPECT_EQ(completions({"--config", config.string(), "snapshot", ""}, dir), all);
  EXPECT_EQ(completions({"--region", "eu-west-1", "--config", config.string(), "mount", "--as-of", "-6h", "p"}, dir),
            (std::vector<std::string>{"pg", "pg-wal"}));
  EXPECT_EQ(completions({"watch", "--config", config.string(), "s"}, dir), std::vector<std::string>{"solr"});
  // No config readable: no names, and no error on the terminal.
  EXPECT_TRUE(completions({"--config", (dir.path() / "missing.json").string(), "mount", ""}, dir).empty());
  // thaw takes mount points: directories.
  std::filesystem::create_directory(dir.path() / "mnt");
  EXPECT_EQ(completions({"thaw", "mn"}, dir), std::vector<std::string>{"mnt"});
}

// iam-policy --for takes command names (and all), several of them.
TEST(BashCompletion, IamPolicyForOffersTheCommands) {
  testsupport::TempDir dir;
  EXPECT_EQ(completions({"iam-policy", "--for", "s"}, dir), (std::vector<std::string>{"shutdown", "snapshot"}));
  EXPECT_EQ(completions({"iam-policy", "--for", "mount", "p"}, dir), (std::vector<std::string>{"prewarm", "prune"}));
  EXPECT_EQ(completions({"iam-policy", "--for", "a"}, dir), std::vector<std::string>{"all"});
  EXPECT_TRUE(completions({"iam-policy", ""}, dir).empty());
}

}  // namespace
}  // namespace agent
