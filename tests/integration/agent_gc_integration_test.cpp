// ebsnap gc, the real binary against the sandbox over HTTP: of ebsnap-tagged, untagged and
// other-lineage volumes, only ebsnap's own available volume older than the bound is deleted, and
// only with --yes; without a terminal to ask on, or with --dry-run, nothing is.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <ctime>
#include <map>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agent/core/tags.h"
#include "ec2/waiter.h"
#include "tests/integration/ec2_sandbox_fixture.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

struct Ran {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class GcSandbox : public ec2test::SandboxSuite {
 protected:
  void SetUp() override {
    std::ofstream(config_) << Json{{"filter_tags", {"role", "cluster"}},
                                   {"groups",
                                    {{"gcg", {{"volumes", {{{"device", "/dev/sdf"}, {"mount_point", "/mnt/gc-a"},
                                                            {"size_gib", 1}}}}}}}}}
                                  .dump();
    std::filesystem::permissions(config_, std::filesystem::perms(0600));
  }

  // The ebsnap binary with the sandbox's environment, stdin not a terminal (/dev/null).
  Ran ebsnap(std::vector<std::string> command) {
    std::vector<std::string> words = {std::string(EBSNAP_BINARY_DIR) + "/agent/ebsnap", "--config", config_.string(),
                                      "--userdata", R"({"role":"gc-it","cluster":"c1"})"};
    words.insert(words.end(), command.begin(), command.end());
    std::vector<std::string> env_words;
    for (char** e = environ; *e != nullptr; ++e) env_words.emplace_back(*e);
    for (const auto& [k, v] : sandbox().environment()) env_words.push_back(k + "=" + v);
    env_words.push_back("EBSNAP_RUN_DIR=" + (dir_.path() / "run").string());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& w : env_words) envp.push_back(w.data());
    envp.push_back(nullptr);
    const auto out = dir_.path() / "out";
    const auto err = dir_.path() / "err";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + words[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return Ran{.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
               .out = slurp(out),
               .err = slurp(err)};
  }

  // An available volume with these tags, created `age` ago (the sandbox's CreateTime control).
  ec2::VolumeId volume(std::vector<ec2::Tag> tags, std::chrono::hours age) {
    auto c = client();
    ec2::CreateVolumeOptions o{.availability_zone = sandbox().availability_zone(), .size_gib = 1};
    if (!tags.empty()) o.tag_specifications = {{"volume", std::move(tags)}};
    auto v = c->create_volume(o);
    EXPECT_TRUE(v) << v.error().describe();
    ec2::Waiter waiter{ec2::WaiterOptions{.initial_delay = 50ms, .max_delay = 500ms, .timeout = 60s}};
    EXPECT_TRUE(waiter.volumes(*c, {v->id}, ec2::VolumeState::Available));
    const std::time_t when = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() - age);
    std::tm tm{};
    ::gmtime_r(&when, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    control_post("/volumes/create-time", {{"create_times", {{v->id.value, text}}}});
    return v->id;
  }

  static std::vector<ec2::Tag> ours(std::string group = "gcg", std::string cluster = "c1") {
    return {{"role", "gc-it"},
            {"cluster", std::move(cluster)},
            {std::string(agent::k_tag_group), std::move(group)},
            {std::string(agent::k_tag_mount_point), "/mnt/gc-a"}};
  }

  bool alive(const ec2::VolumeId& id) {
    auto found = client()->describe_volumes({.filters = {{"volume-id", {id.value}}}});
    EXPECT_TRUE(found) << found.error().describe();
    return found && !found->empty() && (*found)[0].state != ec2::VolumeState::Deleting &&
           (*found)[0].state != ec2::VolumeState::Deleted;
  }

  testsupport::TempDir dir_{"ebsnap-gc-it"};
  std::filesystem::path config_ = dir_.path() / "ebsnap.json";
};

TEST_F(GcSandbox, DeletesOnlyEbsnapsOldAvailableVolumeAndOnlyWhenConfirmed) {
  const auto old_ours = volume(ours(), 48h);
  const auto young_ours = volume(ours(), 0h);
  const auto untagged = volume({}, 480h);
  const auto other_group = volume(ours("elsewhere"), 480h);
  const auto other_cluster = volume(ours("gcg", "c2"), 480h);
  const std::vector<ec2::VolumeId> survivors = {young_ours, untagged, other_group, other_cluster};

  // The sandbox reports the CreateTime it was given.
  auto seen = client()->describe_volumes({.volume_ids = {old_ours}});
  ASSERT_TRUE(seen) << seen.error().describe();
  ASSERT_TRUE((*seen)[0].create_time);
  EXPECT_LT(*(*seen)[0].create_time, std::chrono::system_clock::now() - 47h);

  // No terminal, no --yes: listed, nothing deleted, exit 1 with the reason.
  auto r = ebsnap({"gc"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(r.out.contains("add --yes")) << r.out;
  EXPECT_TRUE(r.out.contains(old_ours.value)) << r.out;
  EXPECT_TRUE(alive(old_ours));

  // --dry-run: the plan, nothing deleted.
  r = ebsnap({"--dry-run", "gc"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(r.out.contains("would delete " + old_ours.value)) << r.out;
  EXPECT_TRUE(alive(old_ours));
  for (const auto& id : survivors) EXPECT_TRUE(alive(id)) << id.value;

  // --yes: exactly the old one of ours.
  r = ebsnap({"--json", "gc", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto doc = Json::parse(r.out);
  EXPECT_EQ(doc["command"], "gc");
  std::map<std::string, std::string> outcomes;
  for (const auto& g : doc["gc"]) outcomes[g["volume_id"]] = g["outcome"];
  EXPECT_EQ(outcomes, (std::map<std::string, std::string>{{old_ours.value, "deleted"}, {young_ours.value, "left"}}));
  EXPECT_FALSE(alive(old_ours));
  for (const auto& id : survivors) EXPECT_TRUE(alive(id)) << id.value;

  // --older-than 0s now takes the young one too, and still nothing else.
  r = ebsnap({"gc", "--older-than", "0s", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(alive(young_ours));
  for (const auto& id : {untagged, other_group, other_cluster}) EXPECT_TRUE(alive(id)) << id.value;

  auto c = client();
  for (const auto& id : {untagged, other_group, other_cluster}) EXPECT_TRUE(c->delete_volume({.volume_id = id}));
}

TEST_F(GcSandbox, ABadDurationIsAUsageError) {
  auto r = ebsnap({"gc", "--older-than", "yesterday"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_TRUE(r.err.contains("--older-than")) << r.err;
}

}  // namespace
