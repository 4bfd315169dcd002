// The CLI at its edges, through real child processes: TARGET parsed one way by every
// subcommand, service names verified by every subcommand, options out of range, --version and
// the defaults in --help, send's exit status, and input refused before it is sent (too deep
// for any peer's reader, larger than any message may be).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "procslink/procslink.hpp"
#include "support/process.hpp"

namespace procslink {
namespace {

using test::ChildProcess;
using test::CommandResult;
using test::procslink_cli;
using test::run_command;
using test::start_demo_server;

bool is_one_line(const std::string& text) {
  return text.size() > 1 && text.back() == '\n' && std::count(text.begin(), text.end(), '\n') == 1;
}

bool mentions(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string unique_name(const std::string& what) {
  return "procslink-test-edges-" + std::to_string(::getpid()) + "-" + what;
}

// One client invocation of each subcommand that takes a TARGET.
std::vector<std::vector<std::string>> every_client_subcommand(const std::string& target) {
  return {{"call", target, "rpc.ping"},
          {"notify", target, "update"},
          {"send", target, R"({"jsonrpc":"2.0","method":"rpc.ping","id":1})"},
          {"list", target},
          {"ping", "-c", "1", target}};
}

TEST(CliTarget, OutOfRangeOrEmptyTargetIsAUsageErrorForEverySubcommand) {
  for (const std::string target : {"99999999999", "4294967296", "", "0"}) {
    for (const auto& args : every_client_subcommand(target)) {
      SCOPED_TRACE(args.front() + " '" + target + "'");
      const CommandResult r = procslink_cli(args);
      EXPECT_EQ(r.exit_code, 2);
      EXPECT_TRUE(is_one_line(r.err)) << r.err;
      EXPECT_EQ(r.out, "");
    }
  }
}

TEST(CliTarget, AnUnservedNameIsNamedInTheErrorOfEverySubcommand) {
  const std::string name = unique_name("nobody");
  for (const auto& args : every_client_subcommand(name)) {
    SCOPED_TRACE(args.front());
    const CommandResult r = procslink_cli(args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(is_one_line(r.err)) << r.err;
    EXPECT_TRUE(mentions(r.err, "'" + name + "'")) << r.err;
  }
}

TEST(CliTarget, ANameIsVerifiedByEverySubcommand) {
  // An unnamed server at the name's port: every subcommand must refuse it as the wrong peer.
  const std::string name = unique_name("squatted");
  PeerOptions options;
  options.nl_pid = port_id_for_name(name);
  RPCPeer impostor(options);  // answers rpc.identity with no name
  impostor.start();
  for (const auto& args : every_client_subcommand(name)) {
    SCOPED_TRACE(args.front());
    const CommandResult r = procslink_cli(args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(is_one_line(r.err)) << r.err;
    EXPECT_TRUE(mentions(r.err, "unnamed peer")) << r.err;
  }
}

TEST(CliTarget, ANamedServerIsReachedByNameFromEverySubcommand) {
  const std::string name = unique_name("served");
  std::unique_ptr<ChildProcess> server;
  start_demo_server(server, {"--name", name});
  for (const auto& args : every_client_subcommand(name)) {
    SCOPED_TRACE(args.front());
    const CommandResult r = procslink_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  server->stop(SIGTERM);
}

TEST(CliDemoServerName, EmptyOrNumericNameIsAUsageError) {
  for (const std::string name : {"", "123", "4294967296"}) {
    SCOPED_TRACE("'" + name + "'");
    const CommandResult r = procslink_cli({"demo-server", "--name", name});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(is_one_line(r.err)) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(CliDemoServerName, ATakenNameSaysWhenItsHolderCannotBeSeen) {
  if (!test::running_as_root()) GTEST_SKIP() << "creating a PID namespace with unshare needs root";
  const std::vector<std::string> flags = {"--pid", "--fork", "--mount", "--mount-proc"};
  if (!test::can_unshare(flags)) GTEST_SKIP() << "unshare --pid is not permitted here";
  const std::string name = unique_name("hidden-holder");
  std::unique_ptr<ChildProcess> holder;
  start_demo_server(holder, {"--name", name});
  // Inside a new PID namespace the holder has no /proc entry: the error must say so.
  std::vector<std::string> argv = {"unshare"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {PROCSLINK_CLI, "demo-server", "--name", name});
  const CommandResult r = run_command(argv);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_TRUE(mentions(r.err, "cannot see")) << r.err;
  holder->stop(SIGTERM);
}

TEST(CliOptions, ZeroTimeoutIsOneShortLine) {
  const CommandResult r = procslink_cli({"call", "--timeout", "0", "1234", "rpc.ping"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_LT(r.err.size(), 120u) << r.err;
  EXPECT_TRUE(mentions(r.err, "--timeout")) << r.err;
}

TEST(CliOptions, VersionIsPrintedOnStdout) {
  const CommandResult r = procslink_cli({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "procslink " + std::string(kVersion) + "\n");
}

TEST(CliOptions, HelpShowsTheDefaults) {
  CommandResult r = procslink_cli({"call", "--help"});
  EXPECT_TRUE(mentions(r.out, "=5000")) << r.out;
  r = procslink_cli({"ping", "--help"});
  EXPECT_TRUE(mentions(r.out, "=10")) << r.out;
  EXPECT_TRUE(mentions(r.out, "=5000")) << r.out;
}

class CliSendTest : public ::testing::Test {
 protected:
  void SetUp() override { target = std::to_string(start_demo_server(server)); }
  void TearDown() override { server->stop(SIGTERM); }
  std::unique_ptr<ChildProcess> server;
  std::string target;
};

TEST_F(CliSendTest, AnErrorReplyIsPrintedAndExitsOne) {
  for (const std::string body : {"{this is not json", R"({"jsonrpc":"2.0","method":"nope","id":1})",
                                 R"([{"jsonrpc":"2.0","method":"rpc.ping","id":1},{"id":2}])"}) {
    SCOPED_TRACE(body);
    const CommandResult r = procslink_cli({"send", target, body});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    ASSERT_TRUE(is_one_line(r.out)) << r.out;
    EXPECT_TRUE(mentions(r.out, "\"error\"")) << r.out;
  }
}

TEST_F(CliSendTest, NoReplyToARequestExitsTwo) {
  // A socket that never answers.
  NetlinkSocket silent;
  const CommandResult r = procslink_cli({"send", "--timeout", "200", std::to_string(silent.nl_pid()),
                                         R"({"jsonrpc":"2.0","method":"rpc.ping","id":1})"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_TRUE(mentions(r.err, "no reply")) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(CliSendTest, NotificationsOnlyWaitForNoReply) {
  const CommandResult r = procslink_cli(
      {"send", target, R"([{"jsonrpc":"2.0","method":"update"},{"jsonrpc":"2.0","method":"update"}])"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST_F(CliSendTest, ParamsTooDeepForAnyPeerAreRefusedBeforeSending) {
  // The request's own object is a level: params of 256 levels make a 257-level message.
  CommandResult r = procslink_cli({"call", target, "echo", "-"}, nested(kMaxJsonDepth));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_TRUE(mentions(r.err, "levels deep")) << r.err;
  r = procslink_cli({"call", target, "echo", "-"}, nested(kMaxJsonDepth - 1));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, nested(kMaxJsonDepth - 2) + "\n");
}

TEST_F(CliSendTest, StdinPastTheMessageSizeIsRefusedWithoutReadingItAll) {
  // An endless stream: the CLI must stop at the limit, not read to the end or parse.
  const CommandResult r = run_command(
      {"sh", "-c", "yes '[1,' | \"$0\" call \"$1\" echo -", PROCSLINK_CLI, target});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_TRUE(mentions(r.err, "exceeds the maximum message size")) << r.err;
}

// ---- stopping while a handler runs ----

// Whether a thread of process `pid` sleeps in clock_nanosleep (the demo's sleep handler):
// /proc/PID/task/*/syscall starts with the system call's number (230 on x86_64).
bool some_thread_sleeps(pid_t pid) {
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/task", error)) {
    std::ifstream syscall(task.path() / "syscall");
    std::string number;
    if (syscall >> number && number == "230") return true;
  }
  return false;
}

// Starts demo-server with `grace_ms`, and a call of sleep that runs until the test ends.
class CliStopTest : public ::testing::Test {
 protected:
  void start(const std::string& grace_ms) {
#if !defined(__x86_64__)
    GTEST_SKIP() << "the test finds the sleeping handler by x86_64's system call number";
#endif
    target = std::to_string(start_demo_server(server, {"--stop-grace", grace_ms}));
    sleeping = client.talk_to(static_cast<std::uint32_t>(std::stoul(target)))
                   .with_timeout(std::chrono::minutes(10))
                   .async_call("sleep", 600000);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!some_thread_sleeps(server->pid()) && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(some_thread_sleeps(server->pid())) << "the sleep handler did not start";
  }
  RPCPeer client;
  std::unique_ptr<ChildProcess> server;
  std::string target;
  std::future<json> sleeping;
};

// After SIGTERM, while the sleep handler runs, a new call is refused at once (exit 1, -32003),
// not left to time out; a second SIGTERM ends the server at once.
TEST_F(CliStopTest, DuringTheGraceNewCallsAreRefusedAtOnce) {
  start("600000");
  if (IsSkipped()) return;
  ::kill(server->pid(), SIGTERM);
  const CommandResult r = procslink_cli({"call", "--timeout", "20000", target, "rpc.ping"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(mentions(r.err, "-32003")) << r.err;
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_EQ(server->stop(SIGTERM), 2) << "the second SIGTERM did not end it at once";
}

// A handler that outlasts --stop-grace does not keep the server: it exits 0 after the grace.
TEST_F(CliStopTest, AHandlerOutlastingTheGraceDoesNotKeepTheServer) {
  start("100");
  if (IsSkipped()) return;
  ::kill(server->pid(), SIGTERM);
  const auto exit_code = server->wait_for_exit(std::chrono::seconds(20));
  ASSERT_TRUE(exit_code.has_value()) << "the server still runs long after its grace period";
  EXPECT_EQ(*exit_code, 0);
}

}  // namespace
}  // namespace procslink
