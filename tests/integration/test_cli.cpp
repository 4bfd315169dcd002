// The procslink CLI's contract, checked through real child processes: what each subcommand
// prints, on which stream, and with which exit status (0 ok, 1 remote JSON-RPC error,
// 2 transport or usage failure, one line on stderr).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "procslink/procslink.hpp"
#include "support/process.hpp"

namespace procslink {
namespace {

using test::ChildProcess;
using test::CommandResult;
using test::procslink_cli;
using test::start_demo_server;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Exactly one non-empty line, ending in a newline.
bool is_one_line(const std::string& text) {
  return !text.empty() && text.back() == '\n' && std::count(text.begin(), text.end(), '\n') == 1 &&
         text.size() > 1;
}

std::string unique_name(const std::string& what) {
  return "procslink-test-cli-" + std::to_string(::getpid()) + "-" + what;
}

// A port id nobody holds (freed again when the socket closes).
std::string unbound_target() {
  NetlinkSocket socket;
  return std::to_string(socket.nl_pid());
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { target = std::to_string(start_demo_server(server)); }
  void TearDown() override {
    if (server) server->stop(SIGTERM);
  }
  CommandResult call(const std::string& method, std::vector<std::string> params = {}) {
    std::vector<std::string> args = {"call", target, method};
    args.insert(args.end(), params.begin(), params.end());
    return procslink_cli(args);
  }

  std::unique_ptr<ChildProcess> server;
  std::string target;
};

// ---- demo-server ----

TEST(CliDemoServer, PrintsItsNlPidAsBareDecimalFirstLine) {
  ChildProcess server({PROCSLINK_CLI, "demo-server"});
  const std::string line = server.first_line();
  ASSERT_TRUE(!line.empty() && std::all_of(line.begin(), line.end(), [](char c) {
    return c >= '0' && c <= '9';
  })) << "'" << line << "'";
  // And that number is where it serves.
  RPCPeer client;
  EXPECT_EQ(client.talk_to(static_cast<std::uint32_t>(std::stoul(line))).call("echo", "x"),
            json("x"));
}

TEST(CliDemoServer, ExitsZeroOnSigint) {
  std::unique_ptr<ChildProcess> server;
  start_demo_server(server);
  EXPECT_EQ(server->stop(SIGINT), 0);
}

TEST(CliDemoServer, ExitsZeroOnSigterm) {
  std::unique_ptr<ChildProcess> server;
  start_demo_server(server);
  EXPECT_EQ(server->stop(SIGTERM), 0);
}

TEST(CliDemoServer, FinishesTheRunningHandlerAndExitsZeroOnSigterm) {
  std::unique_ptr<ChildProcess> server;
  const std::uint32_t nl_pid = start_demo_server(server);
  RPCPeer client;
  auto in_flight =
      client.talk_to(nl_pid).with_timeout(std::chrono::seconds(20)).async_call("sleep", 300);
  // The handler runs once rpc.stats counts two running handlers (itself and sleep): a request
  // that was read but not yet started would be answered -32003 on SIGTERM, rightly.
  const auto running = [&] {
    return client.talk_to(nl_pid).call("rpc.stats")["threads"]["running_handlers"].get<int>();
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (running() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(running(), 2);
  EXPECT_EQ(server->stop(SIGTERM), 0);
  ASSERT_EQ(in_flight.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_EQ(in_flight.get(), json(300)) << "the reply of a running handler is still sent";
}

TEST(CliDemoServer, SecondServerWithSameNameExitsTwoNamingTheHolder) {
  const std::string name = unique_name("twice");
  std::unique_ptr<ChildProcess> first;
  start_demo_server(first, {"--name", name});
  const CommandResult second = procslink_cli({"demo-server", "--name", name});
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_EQ(second.out, "") << "no nl_pid line when nothing was bound";
  EXPECT_TRUE(is_one_line(second.err)) << second.err;
  EXPECT_NE(second.err.find("pid " + std::to_string(first->pid())), std::string::npos)
      << second.err;
  EXPECT_NE(second.err.find(name), std::string::npos) << second.err;
}

TEST(CliDemoServer, CallByNameReachesTheNamedServer) {
  const std::string name = unique_name("byname");
  std::unique_ptr<ChildProcess> server;
  const std::uint32_t nl_pid = start_demo_server(server, {"--name", name});
  EXPECT_EQ(nl_pid, port_id_for_name(name));
  const CommandResult r = procslink_cli({"call", name, "hello", R"(["named"])"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\"Hello, named!\"\n");
  const CommandResult missing = procslink_cli({"call", unique_name("nobody"), "hello", R"(["x"])"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(is_one_line(missing.err)) << missing.err;
}

// ---- call ----

TEST_F(CliTest, CallHelloPrintsJsonResult) {
  const CommandResult r = call("hello", {R"(["x"])"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\"Hello, x!\"\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, CallSubtractPositionalAndNamed) {
  CommandResult r = call("subtract", {"[42, 23]"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "19\n");
  r = call("subtract", {R"({"subtrahend": 23, "minuend": 42})"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "19\n");
  r = call("subtract", {"[23, 42]"});
  EXPECT_EQ(r.out, "-19\n");
}

TEST_F(CliTest, CallSum) {
  CommandResult r = call("sum", {"[1, 2, 4]"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "7\n");
  r = call("sum", {"[1.5, 2]"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "3.5\n");
}

TEST_F(CliTest, CallGetData) {
  const CommandResult r = call("get_data");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[\"hello\",5]\n");
}

TEST_F(CliTest, CallEcho) {
  const CommandResult r = call("echo", {R"([{"a": [1, null, "é"], "b": true}])"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out), json::parse(R"({"a": [1, null, "é"], "b": true})"));
  EXPECT_EQ(r.out.back(), '\n');
}

TEST_F(CliTest, CallWhoamiReportsTheCallingProcess) {
  // `exec` keeps the shell's pid, so the shell can print the pid the CLI will run as.
  const CommandResult r = test::run_command(
      {"sh", "-c", "echo $$; exec \"$0\" call \"$1\" whoami", PROCSLINK_CLI, target});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  const json who = json::parse(lines[1]);
  EXPECT_EQ(who["pid"], std::stol(lines[0]));
  EXPECT_EQ(who["uid"], ::getuid());
  EXPECT_EQ(who["gid"], ::getgid());
}

TEST_F(CliTest, RemoteErrorExitsOneWithCodeAndMessageOnStderr) {
  CommandResult r = call("fail", {R"(["it went wrong"])"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("-32000"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("it went wrong"), std::string::npos) << r.err;
  // An error with data shows the data too.
  r = call("subtract", {R"(["a", 1])"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("-32602"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Invalid params"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("minuend must be a number"), std::string::npos) << r.err;
}

TEST_F(CliTest, UnknownMethodExitsOne) {
  const CommandResult r = call("no_such_method");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("-32601"), std::string::npos) << r.err;
}

TEST(CliCall, UnboundTargetExitsTwoWithOneLine) {
  const CommandResult r = procslink_cli({"call", unbound_target(), "hello", R"(["x"])"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
}

TEST_F(CliTest, TimeoutExitsTwo) {
  const CommandResult r = procslink_cli({"call", "--timeout", "200", target, "sleep", "[2000]"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
}

TEST_F(CliTest, ScalarParamsExitTwo) {
  for (const std::string params : {"42", "\"x\"", "null", "true"}) {
    SCOPED_TRACE(params);
    const CommandResult r = call("echo", {params});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_TRUE(is_one_line(r.err)) << r.err;
  }
}

TEST_F(CliTest, InvalidJsonParamsExitTwo) {
  for (const std::string params : {"[1, 2", "{\"a\":}", "not json", ""}) {
    SCOPED_TRACE(params);
    const CommandResult r = call("echo", {params});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_TRUE(is_one_line(r.err)) << r.err;
  }
}

TEST_F(CliTest, DashReadsParamsFromStdin) {
  CommandResult r = procslink_cli({"call", target, "hello", "-"}, R"(["stdin"])");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\"Hello, stdin!\"\n");
  r = procslink_cli({"call", target, "subtract", "-"}, "{\"minuend\": 5,\n \"subtrahend\": 2}\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "3\n");
}

TEST_F(CliTest, LargePayloadFromStdinRoundTrips) {
  std::string text(1u << 20, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + (i * 7 + i / 997) % 26);
  const std::string params = json::array({text}).dump();
  const CommandResult r = procslink_cli({"call", target, "echo", "-"}, params);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.out.size(), text.size() + 3) << "quotes and newline around the text";
  EXPECT_TRUE(r.out == json(text).dump() + "\n");
}

// ---- notify, send ----

TEST_F(CliTest, NotifyExitsZeroAndPrintsNothing) {
  const CommandResult r = procslink_cli({"notify", target, "update", "[1, 2, 3]"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  // The server is still fine afterwards.
  EXPECT_EQ(call("echo", {"[1]"}).out, "1\n");
}

TEST(CliNotify, UnboundTargetExitsTwo) {
  const CommandResult r = procslink_cli({"notify", unbound_target(), "update", "[1]"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
}

TEST_F(CliTest, SendInvalidBodyPrintsParseErrorReply) {
  const CommandResult r = procslink_cli({"send", target, "{this is not json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ASSERT_TRUE(is_one_line(r.out)) << r.out;
  const json reply = json::parse(r.out);
  EXPECT_EQ(reply["jsonrpc"], "2.0");
  EXPECT_EQ(reply["id"], nullptr);
  EXPECT_EQ(reply["error"]["code"], -32700);
}

TEST_F(CliTest, SendValidBodyPrintsRawReply) {
  const CommandResult r = procslink_cli(
      {"send", target, R"({"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":"s1"})"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out), json::parse(R"({"jsonrpc":"2.0","id":"s1","result":19})"));
}

TEST_F(CliTest, SendNotificationBodyPrintsNothing) {
  const CommandResult r = procslink_cli(
      {"send", "--timeout", "300", target, R"({"jsonrpc":"2.0","method":"update","params":[1]})"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

// ---- list, ping ----

TEST_F(CliTest, ListPrintsEveryDemoMethodOnePerLine) {
  const CommandResult r = procslink_cli({"list", target});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  for (const char* name : {"hello", "echo", "subtract", "sum", "get_data", "update", "notify_hello",
                           "notify_sum", "sleep", "whoami", "fail", "rpc.discover"}) {
    EXPECT_EQ(std::count(lines.begin(), lines.end(), name), 1) << name << " in\n" << r.out;
  }
}

TEST_F(CliTest, IntrospectPrintsEachMethodWithItsTypes) {
  const CommandResult r = procslink_cli({"introspect", target});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  for (const char* line : {"hello(name: string) -> string", "echo(value: any) -> any",
                           "sleep(ms: integer) -> integer", "whoami() -> any",
                           "rpc.ping() -> boolean", "sum(...) -> any"}) {
    EXPECT_EQ(std::count(lines.begin(), lines.end(), line), 1) << line << " in\n" << r.out;
  }
  const CommandResult document = procslink_cli({"introspect", "--json", target});
  ASSERT_EQ(document.exit_code, 0) << document.err;
  const json parsed = json::parse(document.out);
  EXPECT_EQ(parsed["openrpc"], "1.2.6");
  EXPECT_EQ(parsed["methods"].size(), lines.size());
}

TEST_F(CliTest, PingEndsWithOneRttSummaryLine) {
  const CommandResult r = procslink_cli({"ping", "-c", "5", target});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_FALSE(lines.empty());
  // "rtt min/median/p99/max = A/B/C/D us", all of the line.
  auto summary = [](const std::string& line) -> std::optional<std::array<double, 4>> {
    std::array<double, 4> v{};
    int end = -1;
    if (std::sscanf(line.c_str(), "rtt min/median/p99/max = %lf/%lf/%lf/%lf us%n", &v[0], &v[1],
                    &v[2], &v[3], &end) == 4 &&
        end == static_cast<int>(line.size())) {
      return v;
    }
    return std::nullopt;
  };
  const auto stats = summary(lines.back());
  ASSERT_TRUE(stats) << lines.back();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) { return l.find("rtt ") != std::string::npos; }),
            1);
  // The statistics are ordered as named.
  const auto [min, median, p99, max] = *stats;
  EXPECT_LE(min, median);
  EXPECT_LE(median, p99);
  EXPECT_LE(p99, max);
}

// ---- concurrency through the CLI ----

TEST_F(CliTest, TenConcurrentSleepCallsAllSucceed) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<CommandResult>> calls;
  for (int i = 0; i < 10; ++i) {
    calls.push_back(std::async(std::launch::async, [this] {
      return procslink_cli({"call", "--timeout", "20000", target, "sleep", "[500]"});
    }));
  }
  for (auto& c : calls) {
    const CommandResult r = c.get();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "500\n");
  }
  // Served one after another they would need 5 s; concurrently about 0.5 s plus start-up.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// ---- help ----

TEST(CliHelp, EverySubcommandHasHelp) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"demo-server", "--help"},
                                             {"call", "--help"},
                                             {"notify", "--help"},
                                             {"send", "--help"},
                                             {"list", "--help"},
                                             {"ping", "--help"}}) {
    SCOPED_TRACE(args.front());
    const CommandResult r = procslink_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
}

TEST(CliHelp, MissingSubcommandOrArgumentExitsTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {}, {"call"}, {"call", "123"}, {"no-such-subcommand"}, {"ping", "-c", "0", "123"}}) {
    SCOPED_TRACE(args.empty() ? std::string("(none)") : args.front());
    const CommandResult r = procslink_cli(args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(is_one_line(r.err)) << r.err;
  }
}

}  // namespace
}  // namespace procslink
