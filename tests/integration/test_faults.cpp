// Faults, with real processes and real sockets: peers that die mid-call, handlers that throw,
// hang or answer too much, a caller that stops reading, and a flood of malformed datagrams.
//
// Some tests need methods the demo-server does not have (a handler that throws a plain
// exception, one that never returns, one that answers with megabytes). For those this program
// forks a "fault server": a separate process, like any peer, whose first stdout line is its
// nl_pid and whose log lines follow on that pipe.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "procslink/byteorder.hpp"
#include "procslink/procslink.hpp"
#include "support/memory.hpp"
#include "support/process.hpp"

namespace procslink {
namespace {

using namespace std::chrono_literals;
using test::ChildProcess;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kFaultServerMaxMessage = 16u << 20;

// The bytes of blob(n): a pattern that changes every 1000 bytes, so a reply reassembled in the
// wrong order or with a fragment missing cannot compare equal.
std::string blob_of(std::size_t size) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + (i / 1000) % 26);
  return text;
}

void announce(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

int run_fault_server() {
  // Log lines go to stdout too, so a test can wait for the server to report what it did.
  set_log_sink([](LogLevel, std::string_view line) { announce("log: " + std::string(line)); });
  PeerOptions options;
  options.workers = 2;
  options.max_message_size = kFaultServerMaxMessage;
  RPCPeer peer(options);
  peer.register_function("echo", [](const json& value) { return value; }, {"value"});
  peer.register_function(
      "sleep_announced",
      [](std::int64_t ms) {
        announce("entered sleep_announced");
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return ms;
      },
      {"ms"});
  peer.register_raw("hang", [](const json&, const CallContext&) -> json {
    announce("entered hang");
    for (;;) std::this_thread::sleep_for(1h);  // until the process is killed
  });
  peer.register_raw("explode", [](const json&, const CallContext&) -> json {
    throw std::runtime_error("disk on fire");
  });
  peer.register_function("blob", [](std::size_t size) { return blob_of(size); }, {"bytes"});
  announce(std::to_string(peer.nl_pid()));
  peer.run_server_forever();
  return 0;
}

// A fault server: this test program forked (the test process has no threads at that moment),
// serving in the child until it is killed.
class FaultServer {
 public:
  FaultServer() {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    std::fflush(nullptr);  // or the child would repeat the parent's buffered output
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      setpgid(0, 0);
      dup2(out[1], STDOUT_FILENO);
      std::_Exit(run_fault_server());
    }
    ::close(out[1]);
    out_ = fdopen(out[0], "r");
    const std::string line = next_line();
    if (line.empty()) throw std::runtime_error("fault server did not print its nl_pid");
    nl_pid = static_cast<std::uint32_t>(std::stoul(line));
  }
  ~FaultServer() {
    stop(SIGKILL);
    if (out_ != nullptr) std::fclose(out_);
  }
  FaultServer(const FaultServer&) = delete;
  FaultServer& operator=(const FaultServer&) = delete;

  pid_t pid() const { return pid_; }

  // The next stdout line without its newline; "" once the server closed stdout.
  std::string next_line() {
    char* line = nullptr;
    std::size_t capacity = 0;
    const ssize_t n = getline(&line, &capacity, out_);
    std::string text = n > 0 ? std::string(line, static_cast<std::size_t>(n)) : std::string();
    std::free(line);
    if (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }
  // Reads stdout until a line contains `text`; false if the server closed stdout first.
  bool wait_for_line(const std::string& text) {
    for (;;) {
      const std::string line = next_line();
      if (line.empty()) return false;
      if (line.find(text) != std::string::npos) return true;
    }
  }
  // Signals the server and reaps it; returns false if it had already been reaped.
  bool stop(int signal) {
    if (pid_ <= 0) return false;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return true;
  }

  std::uint32_t nl_pid = 0;

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

bool process_alive(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, WNOHANG) == 0;
}

using test::kRssGrowthBoundKib;
using test::rss_kib;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(Faults, ServerKilledMidCallFailsTheCallerWithTransportErrorByItsDeadline) {
  FaultServer server;
  RPCPeer client;
  const auto channel = client.talk_to(server.nl_pid).with_timeout(3s);
  std::thread killer([&] {
    // Only once the handler runs is the call really in the middle.
    if (server.wait_for_line("entered sleep_announced")) kill(server.pid(), SIGKILL);
  });
  const auto start = Clock::now();
  try {
    channel.call("sleep_announced", 60000);
    ADD_FAILURE() << "the call to a killed server returned";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::timeout) << e.what();
  }
  const double elapsed = seconds_since(start);
  killer.join();
  EXPECT_TRUE(server.stop(SIGKILL));
  // The deadline holds: not before it, and not long after (a generous liveness bound).
  EXPECT_GE(elapsed, 3.0);
  EXPECT_LT(elapsed, 3.0 + 10.0);

  // With nobody bound at the port any more, the next call fails at once with no_peer.
  try {
    channel.call("echo", "anyone?");
    ADD_FAILURE() << "a call to a dead server returned";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::no_peer) << e.what();
  }
}

TEST(Faults, CallerKilledMidCallLeavesTheServerServingOthers) {
  FaultServer server;
  ChildProcess caller({PROCSLINK_CLI, "call", "--timeout", "60000", std::to_string(server.nl_pid),
                       "sleep_announced", "[500]"});
  ASSERT_TRUE(server.wait_for_line("entered sleep_announced"));
  EXPECT_EQ(caller.stop(SIGKILL), 128 + SIGKILL);
  // The handler finishes, finds nobody at the caller's port, says so, and carries on.
  ASSERT_TRUE(server.wait_for_line("gave up reply"));
  EXPECT_TRUE(process_alive(server.pid()));

  RPCPeer client;
  EXPECT_EQ(client.talk_to(server.nl_pid).call("echo", "still serving"), "still serving");
  const auto other = test::procslink_cli({"call", std::to_string(server.nl_pid), "echo", "[42]"});
  EXPECT_EQ(other.exit_code, 0) << other.err;
  EXPECT_NE(other.out.find("42"), std::string::npos) << other.out;
}

TEST(Faults, HandlerThrowingAnExceptionAnswersInternalErrorWithItsText) {
  FaultServer server;
  RPCPeer client;
  const auto channel = client.talk_to(server.nl_pid);
  try {
    channel.call("explode");
    ADD_FAILURE() << "explode returned";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::internal_error);
    EXPECT_EQ(e.message(), "Internal error");
    ASSERT_TRUE(e.data().has_value());
    EXPECT_NE(to_text(*e.data()).find("disk on fire"), std::string::npos) << to_text(*e.data());
  }
  EXPECT_EQ(channel.call("echo", 7), 7);
}

TEST(Faults, HandlerThatNeverReturnsFailsOnlyItsOwnCallersAtTheirDeadline) {
  FaultServer server;
  RPCPeer client;
  const auto channel = client.talk_to(server.nl_pid).with_timeout(1500ms);
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    try {
      channel.call("hang");
      ADD_FAILURE() << "hang returned";
    } catch (const TransportError& e) {
      EXPECT_EQ(e.kind(), TransportError::Kind::timeout) << e.what();
    }
    const double elapsed = seconds_since(start);
    EXPECT_GE(elapsed, 1.5);
    EXPECT_LT(elapsed, 1.5 + 10.0);
  }
  // Three serving threads are stuck for good; the pool grew, and others are still answered.
  EXPECT_EQ(client.talk_to(server.nl_pid).call("echo", "not stuck"), "not stuck");
}

TEST(Faults, ReplyLargerThanMaxMessageSizeAnswersMessageTooLarge) {
  FaultServer server;
  RPCPeer client;
  const auto channel = client.talk_to(server.nl_pid).with_timeout(60s);
  try {
    channel.call("blob", kFaultServerMaxMessage + (4u << 20));
    ADD_FAILURE() << "a reply beyond max_message_size was delivered";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::message_too_large) << e.what();
  }
  EXPECT_TRUE(server.wait_for_line("exceeds max_message_size"));
  EXPECT_EQ(channel.call("echo", "after the refusal"), "after the refusal");
}

TEST(Faults, MultiMegabyteReplyArrivesWholeInFragments) {
  FaultServer server;
  RPCPeer client;
  const auto channel = client.talk_to(server.nl_pid).with_timeout(60s);
  const std::size_t size = 6u << 20;
  const std::string reply = channel.call<std::string>("blob", size);
  ASSERT_EQ(reply.size(), size);
  EXPECT_TRUE(reply == blob_of(size)) << "the reassembled reply differs from what was sent";
}

// A caller that sends many requests and never reads: its receive buffer fills, and each reply
// to it can only wait (send_timeout) or be dropped. The server must not crash, must say what it
// dropped, and must keep answering everybody else meanwhile.
TEST(Faults, CallerWithFullReceiveBufferDoesNotStopServingOthers) {
  const std::string log_path = "/tmp/procslink-faults-" + std::to_string(getpid()) + ".log";
  std::unique_ptr<ChildProcess> child;
  const std::uint32_t server = test::start_demo_server(
      child, {}, {"sh", "-c", "exec \"$0\" \"$@\" 2>" + log_path});

  SocketOptions tiny;
  tiny.receive_buffer = 1;  // the kernel rounds it up to its minimum: a reply or two
  NetlinkSocket hog(tiny);
  const std::string padding(2000, 'p');
  constexpr int kRequests = 300;
  for (int i = 0; i < kRequests; ++i) {
    const std::string body = to_text(JsonRpcRequest{"echo", json::array({padding}), i}.to_json());
    const auto datagram = build_datagram({hog.nl_pid(), PayloadType::request, 0, 0, 0, 0}, body);
    const iovec part{const_cast<std::uint8_t*>(datagram.data()), datagram.size()};
    hog.send(server, std::span<const iovec>(&part, 1));
  }

  RPCPeer client;
  const auto channel = client.talk_to(server);  // the default 5 s deadline per call
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(channel.call("echo", i), i) << "call " << i << " while the hog's buffer is full";
  }
  EXPECT_TRUE(process_alive(child->pid()));
  EXPECT_EQ(child->stop(SIGTERM), 0) << "demo-server did not shut down cleanly";
  std::ifstream log_file(log_path);
  const std::string log((std::istreambuf_iterator<char>(log_file)), std::istreambuf_iterator<char>());
  std::remove(log_path.c_str());
  EXPECT_NE(log.find("gave up reply"), std::string::npos) << log.substr(0, 2000);
}

// Clients may send any integers: the demo's arithmetic must neither overflow (undefined
// behaviour, fatal to a sanitized server) nor wrap around to a wrong answer.
TEST(Faults, DemoArithmeticOnExtremeIntegersAnswersWithoutWrappingAround) {
  std::unique_ptr<ChildProcess> child;
  const std::uint32_t server = test::start_demo_server(child);
  RPCPeer client;
  const auto channel = client.talk_to(server);
  EXPECT_GT(channel.call("sum", INT64_MAX, 1).get<double>(), 9.2e18);
  EXPECT_GT(channel.call_with("sum", json::parse("[18446744073709551615, 1]")).get<double>(),
            1.8e19);
  EXPECT_GT(channel.call("subtract", 0, INT64_MIN).get<double>(), 9.2e18);
  EXPECT_LT(channel.call("subtract", INT64_MIN, 1).get<double>(), -9.2e18);
  const json small = channel.call("sum", 1, 2, 3);
  EXPECT_TRUE(small.is_number_integer());  // integral while it fits
  EXPECT_EQ(small, 6);
  EXPECT_TRUE(process_alive(child->pid()));
}

// ---- a flood of malformed datagrams ----

// Builds one malformed datagram of kind `n % 16` from `sender`; `random` varies the details.
std::vector<std::uint8_t> malformed_datagram(int n, std::uint32_t sender, std::mt19937& random) {
  using detail::store_be16;
  using detail::store_be32;
  const std::string hello = R"({"jsonrpc":"2.0","method":"echo","params":["x"],"id":"bad-)" +
                            std::to_string(n) + "\"}";
  auto valid = build_datagram({sender, PayloadType::request, static_cast<std::uint32_t>(n), 0, 0, 0},
                              hello);
  auto fragment = [&](std::uint16_t flag, std::uint16_t index, PayloadType type,
                      std::uint32_t seq) {
    return build_datagram({sender, type, seq, 0, static_cast<std::uint16_t>(kFlagFragment | flag),
                           index},
                          std::string(1 + random() % 300, 'f'));
  };
  switch (n % 16) {
    case 0:  // truncated inside the headers
      valid.resize(random() % kDatagramHeadersSize);
      return valid;
    case 1:  // nlmsg_len claims more than there is
      store_be32(valid.data(), static_cast<std::uint32_t>(valid.size()) + 1 + random() % 100000);
      return valid;
    case 2:  // nlmsg_len claims less
      store_be32(valid.data(), static_cast<std::uint32_t>(random() % (valid.size() - 16)));
      return valid;
    case 3:  // procslinkhdr length lies
      store_be32(valid.data() + 20, 0xffffffffu - random() % 1000);
      return valid;
    case 4:  // wrong version
      store_be16(valid.data() + 16, static_cast<std::uint16_t>(2 + random() % 1000));
      return valid;
    case 5:  // wrong payload type
      store_be16(valid.data() + 24, static_cast<std::uint16_t>(n % 2 == 0 ? 0 : 3 + random() % 100));
      return valid;
    case 6:  // unknown flag bits, or last-fragment without fragment
      store_be16(valid.data() + 18, static_cast<std::uint16_t>(n % 3 == 0 ? kFlagLastFragment
                                                                          : 0x4 << (random() % 12)));
      return valid;
    case 7: {  // invalid UTF-8 in the JSON text
      std::string body = hello;
      body.replace(body.find("\"x\""), 3, "\"\xff\xfe\xc3\x28\"");
      return build_datagram({sender, PayloadType::request, 0, 0, 0, 0}, body);
    }
    case 8:  // nesting far deeper than the limit
      return build_datagram({sender, PayloadType::request, 0, 0, 0, 0},
                            std::string(3000 + random() % 3000, '['));
    case 9: {  // a valid request that claims another sender's nl_pid
      store_be32(valid.data() + 12, sender + 1 + random() % 1000);
      return valid;
    }
    case 10: {  // random bytes
      std::vector<std::uint8_t> bytes(random() % 600);
      for (auto& b : bytes) b = static_cast<std::uint8_t>(random());
      return bytes;
    }
    case 11:  // a fragment past the last one of its message
      return fragment(kFlagLastFragment, 5, PayloadType::request, 1000000 + n);
    case 12:  // first fragments of messages that never complete (held until they expire)
      return fragment(0, 0, PayloadType::request, 2000000 + n);
    case 13:  // a fragment whose payload type contradicts the earlier ones of its message
      return fragment(0, static_cast<std::uint16_t>(1 + n % 3),
                      n % 2 == 0 ? PayloadType::response : PayloadType::request, 3000000);
    case 14: {  // a response nobody asked for
      const std::string reply = R"({"jsonrpc":"2.0","id":)" + std::to_string(random()) +
                                R"(,"result":"unsolicited"})";
      return build_datagram({sender, PayloadType::response, 0, 0, 0, 0}, reply);
    }
    default:  // JSON-RPC nonsense: empty batch, wrong types, not even JSON
      return build_datagram({sender, PayloadType::request, 0, 0, 0, 0},
                            n % 3 == 0 ? "[]" : n % 3 == 1 ? R"({"jsonrpc":2,"method":[]})" : "\x01");
  }
}

TEST(Faults, MalformedDatagramFloodLeavesValidCallsAnsweredAndMemoryBounded) {
  std::unique_ptr<ChildProcess> child;
  const std::uint32_t server = test::start_demo_server(child);
  RPCPeer client;
  const auto channel = client.talk_to(server);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(channel.call("echo", i), i);  // warm up the pool
  const long rss_before = rss_kib(child->pid());
  ASSERT_GT(rss_before, 0);

  NetlinkSocket attacker;
  std::vector<std::uint8_t> buffer;
  std::mt19937 random(12345);  // fixed: the same flood every run
  int replies_to_attacker = 0;
  auto drain_attacker = [&] {
    while (auto datagram = attacker.receive(buffer, false)) {
      ++replies_to_attacker;
      EXPECT_EQ(datagram->sender_nl_pid, server);
      const ProcslinkMessage message = ProcslinkMessage::parse(datagram->bytes);
      EXPECT_EQ(message.payload_type(), PayloadType::response);
      for (const auto& response : parse_response_body(message.body)) {
        // Spoofed requests (kind 9) are dropped, never answered.
        if (response.id.is_string()) {
          const int n = std::stoi(response.id.get<std::string>().substr(4));
          EXPECT_NE(n % 16, 9) << "answered a request with a spoofed nl_pid";
        }
      }
    }
  };

  constexpr int kMalformed = 1000;
  int valid_calls = 0;
  for (int n = 0; n < kMalformed; ++n) {
    auto datagram = malformed_datagram(n, attacker.nl_pid(), random);
    const iovec part{datagram.data(), datagram.size()};
    attacker.send(server, std::span<const iovec>(&part, 1));
    if (n % 10 == 9) {
      const json value = {{"call", n}, {"text", "valid call " + std::to_string(n)}};
      EXPECT_EQ(channel.call("echo", value), value);
      ++valid_calls;
      drain_attacker();
    }
  }
  EXPECT_EQ(valid_calls, kMalformed / 10);
  EXPECT_EQ(channel.call("echo", "the end"), "the end");
  drain_attacker();
  EXPECT_GT(replies_to_attacker, 0) << "bad JSON in a good datagram deserves an error reply";

  EXPECT_TRUE(process_alive(child->pid()));
  const long rss_after = rss_kib(child->pid());
  std::printf("demo-server VmRSS: %ld KiB before, %ld KiB after %d malformed datagrams\n",
              rss_before, rss_after, kMalformed);
  EXPECT_LT(rss_after - rss_before, kRssGrowthBoundKib) << "the server's memory grew under the flood";
  EXPECT_EQ(child->stop(SIGTERM), 0) << "demo-server did not shut down cleanly";
}

}  // namespace
}  // namespace procslink
