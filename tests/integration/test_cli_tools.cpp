// The CLI's shell and manual: `procslink completion bash` completes subcommands, options and
// file names in a real bash; `cmake --install` puts the completion, the man pages (help2man)
// and the Wireshark dissector where bash, man and Wireshark look.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/process.hpp"

namespace procslink {
namespace {

using test::CommandResult;
using test::run_command;

// What the generated completion offers for the words typed so far (the last one being
// completed), in a real bash.
std::string complete(const std::string& words) {
  const std::string script = "source <(\"" + std::string(PROCSLINK_CLI) +
                             "\" completion bash) && COMP_WORDS=(" + words +
                             ") && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _procslink && "
                             "echo \"${COMPREPLY[*]}\"";
  const CommandResult r = run_command({"bash", "-c", script});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

TEST(Completion, CompletesSubcommandsOptionsAndPaths) {
  EXPECT_EQ(complete("procslink pe"), "peers\n");
  EXPECT_EQ(complete("procslink mon"), "monitor\n");
  EXPECT_EQ(complete("procslink peers --a"), "--all\n");
  EXPECT_EQ(complete("procslink -v monitor --re"), "--read\n");
  EXPECT_EQ(complete("procslink monitor --read /etc/hostn"), "/etc/hostname\n");
  EXPECT_EQ(complete("procslink call --time"), "--timeout\n");
}

TEST(Install, PutsCompletionManPagesAndDissectorInPlace) {
  namespace fs = std::filesystem;
  if (run_command({"sh", "-c", "command -v help2man"}).exit_code != 0) {
    GTEST_SKIP() << "help2man is not installed: no man pages are built";
  }
  const fs::path build = fs::path(PROCSLINK_CLI).parent_path();
  const fs::path prefix = fs::path(::testing::TempDir()) / ("procslink-install-" + std::to_string(::getpid()));
  const CommandResult r = run_command({"cmake", "--install", build.string(), "--prefix", prefix.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(prefix / "share/bash-completion/completions/procslink"));
  EXPECT_TRUE(fs::exists(prefix / "share/procslink/wireshark/procslink.lua"));
  for (const char* page : {"procslink.1", "procslink-peers.1", "procslink-monitor.1", "procslink-call.1"}) {
    EXPECT_TRUE(fs::exists(prefix / "share/man/man1" / page)) << page;
  }
  std::ifstream peers(prefix / "share/man/man1/procslink-peers.1");
  std::stringstream text;
  text << peers.rdbuf();
  EXPECT_NE(text.str().find(".SH OPTIONS"), std::string::npos);
  EXPECT_NE(text.str().find("\\-\\-all"), std::string::npos) << text.str();
  fs::remove_all(prefix);
}

}  // namespace
}  // namespace procslink
