// JSON-RPC 2.0 conformance: every example of the specification's "Examples" section
// (https://www.jsonrpc.org/specification, section 7) is sent verbatim through a real netlink
// socket to a `procslink demo-server` child process, and the reply is compared with the one the
// specification gives. Each example runs twice: once from a NetlinkSocket in this process and
// once through `procslink send`, so both the library's framing and the CLI's are covered.
#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "procslink/jsonrpc.hpp"
#include "procslink/message.hpp"
#include "procslink/transport.hpp"
#include "support/process.hpp"

namespace procslink {
namespace {

struct SpecExample {
  const char* name;
  const char* request;
  const char* reply;  // nullptr: the specification says no reply is sent
};

// Names the example in test listings (gtest would otherwise print its raw bytes).
void PrintTo(const SpecExample& example, std::ostream* out) { *out << example.name; }

// The request and reply texts are copied from the specification as they stand there.
const SpecExample kExamples[] = {
    {"PositionalParams",
     R"({"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1})",
     R"({"jsonrpc": "2.0", "result": 19, "id": 1})"},
    {"PositionalParamsSwapped",
     R"({"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2})",
     R"({"jsonrpc": "2.0", "result": -19, "id": 2})"},
    {"NamedParams",
     R"({"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3})",
     R"({"jsonrpc": "2.0", "result": 19, "id": 3})"},
    {"NamedParamsOtherOrder",
     R"({"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4})",
     R"({"jsonrpc": "2.0", "result": 19, "id": 4})"},
    {"NotificationUpdate",
     R"({"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]})",
     nullptr},
    {"NotificationFoobar",
     R"({"jsonrpc": "2.0", "method": "foobar"})",
     nullptr},
    {"NonExistentMethod",
     R"({"jsonrpc": "2.0", "method": "foobar", "id": "1"})",
     R"({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"})"},
    {"InvalidJson",
     R"({"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz])",
     R"({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null})"},
    {"InvalidRequestObject",
     R"({"jsonrpc": "2.0", "method": 1, "params": "bar"})",
     R"({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null})"},
    {"BatchInvalidJson",
     R"([
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
])",
     R"({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null})"},
    {"EmptyArray",
     R"([])",
     R"({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null})"},
    {"InvalidBatchOfOne",
     R"([1])",
     R"([
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}
])"},
    {"InvalidBatchOfThree",
     R"([1,2,3])",
     R"([
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}
])"},
    {"MixedBatch",
     R"([
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"} 
    ])",
     R"([
        {"jsonrpc": "2.0", "result": 7, "id": "1"},
        {"jsonrpc": "2.0", "result": 19, "id": "2"},
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
        {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}
    ])"},
    {"AllNotificationBatch",
     R"([
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ])",
     nullptr},
};

constexpr int kReplyDeadlineMs = 10000;  // liveness bound only; replies normally take < 1 ms
constexpr int kSilenceWaitMs = 500;      // how long "no reply" is watched for

// The specification's error objects carry no "data"; ours may explain more, which it allows.
json without_error_data(json reply) {
  auto strip = [](json& one) {
    if (one.is_object() && one.contains("error") && one["error"].is_object()) {
      one["error"].erase("data");
    }
  };
  if (reply.is_array()) {
    for (auto& element : reply) strip(element);
  } else {
    strip(reply);
  }
  return reply;
}

// Batch replies may come in any order, so they are compared as multisets.
json canonical(json reply) {
  reply = without_error_data(std::move(reply));
  if (reply.is_array()) {
    std::vector<std::string> texts;
    for (const auto& element : reply) texts.push_back(element.dump());
    std::sort(texts.begin(), texts.end());
    json sorted = json::array();
    for (const auto& text : texts) sorted.push_back(json::parse(text));
    return sorted;
  }
  return reply;
}

void expect_reply_matches(const std::string& actual_text, const SpecExample& example) {
  json actual;
  ASSERT_NO_THROW(actual = json::parse(actual_text)) << actual_text;
  const json expected = json::parse(example.reply);
  EXPECT_EQ(actual.is_array(), expected.is_array()) << actual_text;
  EXPECT_EQ(canonical(actual), canonical(expected))
      << "request: " << example.request << "\nreply: " << actual_text;
}

class DemoServer {
 public:
  static void start() {
    if (child_) return;
    nl_pid_ = test::start_demo_server(child_);
  }
  static void stop() { child_.reset(); }
  static std::uint32_t nl_pid() { return nl_pid_; }
  static bool running() { return child_ && waitpid(child_->pid(), nullptr, WNOHANG) == 0; }

 private:
  static inline std::unique_ptr<test::ChildProcess> child_;
  static inline std::uint32_t nl_pid_ = 0;
};

// A client speaking to the demo server with the library's lowest layers only, so the body
// arrives byte for byte as written.
class RawClient {
 public:
  void send(std::string_view body) {
    const DatagramFields fields{socket_.nl_pid(), PayloadType::request, ++seq_, 0, 0, 0};
    for_each_datagram(fields, body, kReferenceMaxDatagram, 64u << 10,
                      [&](const DatagramFields& f, std::string_view chunk) {
                        const auto datagram = build_datagram(f, chunk);
                        const iovec part{const_cast<std::uint8_t*>(datagram.data()),
                                         datagram.size()};
                        socket_.send(DemoServer::nl_pid(), {&part, 1});
                      });
  }

  // The next reply body from the server, or nullopt when none arrives within `wait_ms`.
  std::optional<std::string> reply_within(int wait_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{socket_.fd(), POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const auto d = socket_.receive(buffer_, false);
      if (!d) continue;
      EXPECT_EQ(d->sender_nl_pid, DemoServer::nl_pid()) << "datagram from a stranger";
      if (d->sender_nl_pid != DemoServer::nl_pid()) continue;
      const ProcslinkMessage message = ProcslinkMessage::parse(d->bytes);
      EXPECT_EQ(message.payload_type(), PayloadType::response);
      EXPECT_EQ(message.netlink.pid, DemoServer::nl_pid());
      if (!message.header.is_fragment()) return std::string(message.body);
      if (auto whole = reassembler_.add(d->sender_nl_pid, message)) return whole->body;
    }
  }

 private:
  NetlinkSocket socket_;
  std::vector<std::uint8_t> buffer_;
  FragmentReassembler reassembler_;
  std::uint32_t seq_ = 0;
};

// Proves the server is still serving after a body that earned no reply.
constexpr const char* kFollowUp =
    R"({"jsonrpc": "2.0", "method": "subtract", "params": [100, 1], "id": "follow-up"})";
const json kFollowUpReply = json::parse(R"({"jsonrpc": "2.0", "result": 99, "id": "follow-up"})");

class SpecificationExample : public ::testing::TestWithParam<SpecExample> {
 protected:
  static void SetUpTestSuite() { DemoServer::start(); }
  static void TearDownTestSuite() { DemoServer::stop(); }
  void SetUp() override { ASSERT_TRUE(DemoServer::running()) << "demo-server is not running"; }
};

TEST_P(SpecificationExample, ThroughNetlinkSocket) {
  const SpecExample& example = GetParam();
  RawClient client;
  client.send(example.request);
  if (example.reply != nullptr) {
    const auto reply = client.reply_within(kReplyDeadlineMs);
    ASSERT_TRUE(reply) << "no reply to " << example.request;
    expect_reply_matches(*reply, example);
    return;
  }
  const auto unexpected = client.reply_within(kSilenceWaitMs);
  EXPECT_FALSE(unexpected) << "a reply to a notification: " << *unexpected;
  client.send(kFollowUp);
  const auto follow_up = client.reply_within(kReplyDeadlineMs);
  ASSERT_TRUE(follow_up) << "server stopped answering after " << example.request;
  EXPECT_EQ(json::parse(*follow_up), kFollowUpReply);
  const auto late = client.reply_within(kSilenceWaitMs / 2);
  EXPECT_FALSE(late) << "a late reply to a notification: " << *late;
}

TEST_P(SpecificationExample, ThroughProcslinkSendCli) {
  const SpecExample& example = GetParam();
  const std::string target = std::to_string(DemoServer::nl_pid());
  const int timeout = example.reply != nullptr ? kReplyDeadlineMs : kSilenceWaitMs;
  const auto sent =
      test::procslink_cli({"send", "--timeout", std::to_string(timeout), target, example.request});
  // send exits 1 when the reply is an error object or a batch holding one.
  const bool error_reply = example.reply != nullptr &&
                           std::string_view(example.reply).find("\"error\"") != std::string_view::npos;
  ASSERT_EQ(sent.exit_code, error_reply ? 1 : 0) << sent.err;
  if (example.reply != nullptr) {
    ASSERT_FALSE(sent.out.empty()) << "no reply to " << example.request << "\n" << sent.err;
    expect_reply_matches(sent.out, example);
    return;
  }
  EXPECT_EQ(sent.out, "") << "a reply to a notification";
  const auto follow_up = test::procslink_cli({"send", "--timeout", std::to_string(kReplyDeadlineMs),
                                              target, kFollowUp});
  ASSERT_EQ(follow_up.exit_code, 0) << follow_up.err;
  ASSERT_FALSE(follow_up.out.empty()) << "server stopped answering after " << example.request;
  EXPECT_EQ(json::parse(follow_up.out), kFollowUpReply);
}

INSTANTIATE_TEST_SUITE_P(JsonRpc2Section7, SpecificationExample, ::testing::ValuesIn(kExamples),
                         [](const ::testing::TestParamInfo<SpecExample>& info) {
                           return std::string(info.param.name);
                         });

// The specification's examples, all sent before any reply is read: replies must still pair up
// with their requests by id, and the notifications among them must stay silent.
class SpecificationExamples : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { DemoServer::start(); }
  static void TearDownTestSuite() { DemoServer::stop(); }
  void SetUp() override { ASSERT_TRUE(DemoServer::running()) << "demo-server is not running"; }
};

TEST_F(SpecificationExamples, AllAtOnceEachAnsweredExactlyOnce) {
  RawClient client;
  std::size_t owed = 0;
  for (const auto& example : kExamples) {
    client.send(example.request);
    if (example.reply != nullptr) ++owed;
  }
  std::vector<json> replies;
  for (std::size_t i = 0; i < owed; ++i) {
    const auto reply = client.reply_within(kReplyDeadlineMs);
    ASSERT_TRUE(reply) << "only " << i << " of " << owed << " replies arrived";
    replies.push_back(canonical(json::parse(*reply)));
  }
  const auto extra = client.reply_within(kSilenceWaitMs);
  EXPECT_FALSE(extra) << "one reply too many: " << *extra;
  std::vector<json> expected;
  for (const auto& example : kExamples) {
    if (example.reply != nullptr) expected.push_back(canonical(json::parse(example.reply)));
  }
  auto by_text = [](const json& a, const json& b) { return a.dump() < b.dump(); };
  std::sort(replies.begin(), replies.end(), by_text);
  std::sort(expected.begin(), expected.end(), by_text);
  EXPECT_EQ(replies, expected);
}

}  // namespace
}  // namespace procslink
