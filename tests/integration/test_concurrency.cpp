// Concurrency against a real `procslink demo-server` child process: many threads and many
// processes calling at once, out-of-order completion, deadlines against a stopped or killed
// server, late replies, and fragments that arrive shuffled, twice, or not at all.
//
// No timing assertions: only orderings that the protocol guarantees and generous deadlines
// that a live system meets by far.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "procslink/procslink.hpp"
#include "support/process.hpp"

namespace procslink {
namespace {

using namespace std::chrono_literals;
using test::ChildProcess;
using test::start_demo_server;

constexpr auto kLiveness = 20s;
constexpr std::chrono::milliseconds kCallDeadline = 20s;

// A value nobody else sends, so a reply given to the wrong call cannot match by accident.
json unique_value(int who, int i) {
  return json{{"who", who}, {"i", i}, {"tag", "v-" + std::to_string(who) + "-" + std::to_string(i)}};
}

class DemoServerTest : public ::testing::Test {
 protected:
  void SetUp() override { server_nl_pid = start_demo_server(server); }
  void TearDown() override {
    if (server) server->stop(SIGTERM);
  }
  std::unique_ptr<ChildProcess> server;
  std::uint32_t server_nl_pid = 0;
};

void many_threads_many_calls(RPCPeer& client, std::uint32_t target) {
  constexpr int kThreads = 16;
  constexpr int kCalls = 150;
  std::atomic<int> correct{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Channel channel = client.talk_to(target).with_timeout(kCallDeadline);
      for (int i = 0; i < kCalls; ++i) {
        try {
          const json value = unique_value(t, i);
          if (channel.call("echo", value) == value) ++correct;
          else ++wrong;
        } catch (const std::exception& e) {
          ADD_FAILURE() << "thread " << t << " call " << i << ": " << e.what();
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(correct.load(), kThreads * kCalls);
}

TEST_F(DemoServerTest, ManyThreadsOnOneClientPeerEachGetTheirOwnReplies) {
  RPCPeer client;  // not serving: the calling threads take turns receiving for each other
  many_threads_many_calls(client, server_nl_pid);
}

TEST_F(DemoServerTest, ManyThreadsOnOneServingClientPeerEachGetTheirOwnReplies) {
  RPCPeer client;
  client.start();  // the pool receives; calling threads only wait
  many_threads_many_calls(client, server_nl_pid);
}

TEST_F(DemoServerTest, ManyClientProcessesUsingTheLibraryAtOnce) {
  constexpr int kChildren = 8;
  constexpr int kCalls = 100;
  std::vector<pid_t> children;
  for (int c = 0; c < kChildren; ++c) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Exit status: 0 every reply matched its call, 1 a mismatch, 2 an exception.
      int status = 0;
      try {
        RPCPeer client;
        Channel channel = client.talk_to(server_nl_pid).with_timeout(kCallDeadline);
        for (int i = 0; i < kCalls && status == 0; ++i) {
          const json value = unique_value(1000 + c, i);
          if (channel.call("echo", value) != value) status = 1;
        }
      } catch (...) {
        status = 2;
      }
      _exit(status);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child " << pid;
  }
}

TEST_F(DemoServerTest, ManyCliCallProcessesAtOnce) {
  constexpr int kProcesses = 8;
  std::vector<std::future<test::CommandResult>> results;
  for (int p = 0; p < kProcesses; ++p) {
    results.push_back(std::async(std::launch::async, [this, p] {
      return test::procslink_cli({"call", std::to_string(server_nl_pid), "echo",
                                  json::array({unique_value(p, 0)}).dump()});
    }));
  }
  for (int p = 0; p < kProcesses; ++p) {
    const test::CommandResult r = results[p].get();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, unique_value(p, 0).dump() + "\n");
  }
}

TEST_F(DemoServerTest, LaterFastCallCompletesBeforeEarlierSlowCall) {
  RPCPeer client;
  Channel channel = client.talk_to(server_nl_pid).with_timeout(kCallDeadline);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> order;
  auto record = [&](std::string what) {
    return [&, what](CallOutcome outcome) {
      try {
        outcome.get();
      } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": " << e.what();
      }
      // Notified under the lock: the waiter may destroy cv as soon as it can lock mu.
      std::lock_guard lock(mu);
      order.push_back(what);
      cv.notify_all();
    };
  };
  // Far longer than an echo's round trip, so the order below does not depend on luck.
  channel.async_call_with("sleep", json::array({1000}), record("sleep"));
  channel.async_call_with("echo", json::array({"fast"}), record("echo"));
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, kLiveness, [&] { return order.size() == 2; }));
  // A server that ran one caller's requests in order would answer the sleep first.
  EXPECT_EQ(order, (std::vector<std::string>{"echo", "sleep"}));
}

TEST_F(DemoServerTest, SynchronousCallIsNotHeldBackByEarlierSlowCallOnSamePeer) {
  RPCPeer client;
  Channel channel = client.talk_to(server_nl_pid).with_timeout(kCallDeadline);
  std::atomic<bool> slow_done{false};
  std::promise<void> slow_sent;
  std::thread slow([&] {
    auto f = channel.async_call("sleep", 1000);  // sent before this returns
    slow_sent.set_value();
    EXPECT_EQ(f.get(), json(1000));
    slow_done = true;
  });
  slow_sent.get_future().wait();
  EXPECT_EQ(channel.call("echo", "quick"), json("quick"));
  EXPECT_FALSE(slow_done.load()) << "the echo sent later should have finished first";
  slow.join();
  EXPECT_TRUE(slow_done.load());
}

TEST_F(DemoServerTest, TwoHundredAsyncCallsInFlightAllComplete) {
  RPCPeer client;
  Channel channel = client.talk_to(server_nl_pid).with_timeout(kCallDeadline);
  constexpr int kCalls = 200;
  std::vector<std::future<json>> futures;
  std::vector<json> expected;
  for (int i = 0; i < kCalls; ++i) {
    // Every tenth call holds a server thread for a while, so the rest overtake it.
    if (i % 10 == 0) {
      futures.push_back(channel.async_call("sleep", 100 + i));
      expected.push_back(100 + i);
    } else {
      futures.push_back(channel.async_call("echo", unique_value(0, i)));
      expected.push_back(unique_value(0, i));
    }
  }
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(futures[i].wait_for(kLiveness), std::future_status::ready) << "call " << i;
    EXPECT_EQ(futures[i].get(), expected[i]) << "call " << i;
  }
}

// kill() returns before the stop takes effect: wait until every thread of `pid` has stopped
// (state 'T' in /proc/PID/task/*/stat), so no request sent next can still be answered.
bool wait_until_stopped(pid_t pid) {
  const auto until = std::chrono::steady_clock::now() + kLiveness;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  while (std::chrono::steady_clock::now() < until) {
    bool all = true;
    for (const auto& task : std::filesystem::directory_iterator(tasks)) {
      std::ifstream stat(task.path() / "stat");
      std::string line;
      std::getline(stat, line);
      const auto close = line.rfind(')');
      if (close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'T') all = false;
    }
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST_F(DemoServerTest, CallToStoppedServerTimesOutByItsDeadline) {
  ASSERT_EQ(kill(server->pid(), SIGSTOP), 0);
  ASSERT_TRUE(wait_until_stopped(server->pid()));
  RPCPeer client;
  Channel channel = client.talk_to(server_nl_pid);
  const auto start = std::chrono::steady_clock::now();
  try {
    channel.with_timeout(1000ms).call("echo", "stopped");
    ADD_FAILURE() << "a stopped server cannot answer";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::timeout) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, kLiveness);
  ASSERT_EQ(kill(server->pid(), SIGCONT), 0);
  // Once resumed it answers again; its late reply to the timed-out call is ignored.
  EXPECT_EQ(channel.with_timeout(kCallDeadline).call("echo", "resumed"), json("resumed"));
}

TEST_F(DemoServerTest, KilledServerFailsCallInFlightByItsDeadline) {
  RPCPeer client;
  Channel channel = client.talk_to(server_nl_pid).with_timeout(1000ms);
  // async_call returns once the request is sent, so the kill lands with the call in flight.
  std::future<json> in_flight = channel.async_call("sleep", 5000);
  server->stop(SIGKILL);
  ASSERT_EQ(in_flight.wait_for(kLiveness), std::future_status::ready);
  try {
    in_flight.get();
    ADD_FAILURE() << "a killed server cannot answer";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::timeout) << e.what();
  }
  // Now nobody holds the port: the kernel refuses at once.
  try {
    channel.with_timeout(60000ms).call("echo", 1);
    ADD_FAILURE() << "nobody is bound at the dead server's nl_pid";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::no_peer) << e.what();
  }
}

TEST_F(DemoServerTest, KilledServerFailsSynchronousCallByItsDeadline) {
  RPCPeer client;
  Channel channel = client.talk_to(server_nl_pid);
  std::optional<TransportError::Kind> kind;
  const auto start = std::chrono::steady_clock::now();
  std::thread caller([&] {
    try {
      channel.with_timeout(1000ms).call("sleep", 5000);
    } catch (const TransportError& e) {
      kind = e.kind();
    }
  });
  // Whether the request was read before the kill or not, no reply can come.
  std::this_thread::sleep_for(100ms);
  server->stop(SIGKILL);
  caller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, kLiveness);
  ASSERT_TRUE(kind.has_value()) << "the call must fail with a TransportError";
  // no_peer only if the kill beat the send on a very slow machine.
  EXPECT_TRUE(*kind == TransportError::Kind::timeout || *kind == TransportError::Kind::no_peer);
}

TEST_F(DemoServerTest, LateReplyDoesNotAnswerTheNextCall) {
  RPCPeer client;
  Channel channel = client.talk_to(server_nl_pid);
  EXPECT_THROW(channel.with_timeout(200ms).call("sleep", 500), TransportError);
  // The late reply (500) arrives while this call waits: the server cannot answer this one
  // before 700 ms from now, and the first one ends 300 ms from now.
  EXPECT_EQ(channel.with_timeout(kCallDeadline).call("sleep", 700), json(700));
  EXPECT_EQ(channel.with_timeout(kCallDeadline).call("echo", "after"), json("after"));
}

TEST_F(DemoServerTest, LateReplyDoesNotAnswerTheNextAsyncCall) {
  RPCPeer client;
  Channel channel = client.talk_to(server_nl_pid);
  std::future<json> timed_out = channel.with_timeout(200ms).async_call("sleep", 500);
  ASSERT_EQ(timed_out.wait_for(kLiveness), std::future_status::ready);
  EXPECT_THROW(timed_out.get(), TransportError);
  std::future<json> next = channel.with_timeout(kCallDeadline).async_call("sleep", 700);
  ASSERT_EQ(next.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(next.get(), json(700));
}

// ---- fragments sent by hand ----

// Splits `body` into fragments of `size` bytes as a request with sequence number `seq`.
std::vector<std::vector<std::uint8_t>> fragment_request(std::uint32_t sender, std::uint32_t seq,
                                                        const std::string& body, std::size_t size) {
  std::vector<std::vector<std::uint8_t>> out;
  const std::size_t count = (body.size() + size - 1) / size;
  for (std::size_t i = 0; i < count; ++i) {
    DatagramFields fields{sender, PayloadType::request, seq, 0,
                          static_cast<std::uint16_t>(kFlagFragment |
                                                     (i + 1 == count ? kFlagLastFragment : 0)),
                          static_cast<std::uint16_t>(i)};
    out.push_back(build_datagram(fields, std::string_view(body).substr(i * size, size)));
  }
  return out;
}

void send_datagram(const NetlinkSocket& socket, std::uint32_t dest,
                   const std::vector<std::uint8_t>& datagram) {
  const iovec part{const_cast<std::uint8_t*>(datagram.data()), datagram.size()};
  socket.send(dest, {&part, 1});
}

// The next `count` response bodies from `from`, reassembled if fragmented (replies sent at
// the same time may interleave their fragments); fewer at the deadline.
std::vector<std::string> receive_responses(const NetlinkSocket& socket, std::uint32_t from,
                                           std::size_t count,
                                           std::chrono::steady_clock::time_point deadline) {
  std::vector<std::uint8_t> buffer;
  FragmentReassembler reassembler;
  std::vector<std::string> bodies;
  while (bodies.size() < count) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{socket.fd(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    auto d = socket.receive(buffer, false);
    if (!d || d->sender_nl_pid != from) continue;
    const ProcslinkMessage message = ProcslinkMessage::parse(d->bytes);
    if (message.payload_type() != PayloadType::response) continue;
    if (!message.header.is_fragment()) {
      bodies.emplace_back(message.body);
    } else if (auto whole = reassembler.add(from, message)) {
      bodies.push_back(std::move(whole->body));
    }
  }
  return bodies;
}

// The next response body from `from`; nullopt at the deadline.
std::optional<std::string> receive_response(const NetlinkSocket& socket, std::uint32_t from,
                                            std::chrono::steady_clock::time_point deadline) {
  auto bodies = receive_responses(socket, from, 1, deadline);
  if (bodies.empty()) return std::nullopt;
  return std::move(bodies.front());
}

std::string patterned(std::size_t size) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('A' + (i * 13 + i / 1000) % 26);
  return text;
}

TEST_F(DemoServerTest, ShuffledAndDuplicatedFragmentsAreReassembled) {
  NetlinkSocket socket;
  const std::string text = patterned(20000);
  const std::string body = to_text(json{{"jsonrpc", "2.0"}, {"method", "echo"},
                                        {"params", json::array({text})}, {"id", 77}});
  auto fragments = fragment_request(socket.nl_pid(), 100, body, 3000);
  ASSERT_GE(fragments.size(), 6u);
  std::mt19937 shuffle_with(12345);  // fixed seed: the same order every run
  std::shuffle(fragments.begin(), fragments.end(), shuffle_with);
  fragments.insert(fragments.begin() + 2, fragments[4]);  // one fragment twice
  for (const auto& f : fragments) send_datagram(socket, server_nl_pid, f);
  const auto reply = receive_response(socket, server_nl_pid, std::chrono::steady_clock::now() + kLiveness);
  ASSERT_TRUE(reply.has_value()) << "no reply to the reassembled request";
  const auto responses = parse_response_body(*reply);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].id, json(77));
  ASSERT_FALSE(responses[0].is_error()) << responses[0].error().message;
  EXPECT_TRUE(responses[0].result() == json(text)) << "the echoed text differs";
}

// Once a large request has been assembled, the next ones are received straight into the
// buffer it leaves (see FragmentReassembler::landing_room). Whatever lands in between must
// take the usual way and leave the message exact: another sender's requests, a duplicate, two
// fragments swapped, a message longer than the buffer has room for.
TEST_F(DemoServerTest, FragmentsLandingInAReusedBufferAmidOtherTrafficComeOutExact) {
  NetlinkSocket a;
  NetlinkSocket b;
  const std::size_t sizes[] = {90000, 80000, 95000, 120000, 60000, 100000};
  for (std::uint32_t round = 0; round < std::size(sizes); ++round) {
    SCOPED_TRACE(round);
    std::string text = patterned(sizes[round]);
    text[round * 7] = static_cast<char>('a' + round);  // no round's text is another's
    const std::string body = to_text(json{{"jsonrpc", "2.0"}, {"method", "echo"},
                                          {"params", json::array({text})}, {"id", round}});
    auto fragments = fragment_request(a.nl_pid(), 300 + round, body, 4000);
    ASSERT_GE(fragments.size(), 12u);
    const std::string small = to_text(json{{"jsonrpc", "2.0"}, {"method", "echo"},
                                           {"params", json::array({round})}, {"id", 1000 + round}});
    const std::string other = to_text(json{{"jsonrpc", "2.0"}, {"method", "echo"},
                                           {"params", json::array({patterned(9000)})},
                                           {"id", 2000 + round}});
    const auto other_fragments = fragment_request(b.nl_pid(), 400 + round, other, 4000);
    for (std::size_t i = 0; i < fragments.size(); ++i) {
      if (round == 0 || i != 8) send_datagram(a, server_nl_pid, fragments[i]);  // 8: after 9
      if (round > 0 && i == 3) {
        send_datagram(b, server_nl_pid,
                      build_datagram({b.nl_pid(), PayloadType::request, 500 + round, 0, 0, 0}, small));
      }
      if (round > 0 && i == 5) send_datagram(a, server_nl_pid, fragments[4]);  // again
      if (round > 0 && i == 9) send_datagram(a, server_nl_pid, fragments[8]);
      if (round > 0 && i >= 6 && i - 6 < other_fragments.size()) {
        send_datagram(b, server_nl_pid, other_fragments[i - 6]);
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + kLiveness;
    const auto reply = receive_response(a, server_nl_pid, deadline);
    ASSERT_TRUE(reply.has_value()) << "no reply to the large request";
    const auto responses = parse_response_body(*reply);
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].id, json(round));
    ASSERT_FALSE(responses[0].is_error()) << responses[0].error().message;
    EXPECT_TRUE(responses[0].result() == json(text)) << "the echoed text differs";
    if (round == 0) continue;
    std::set<std::int64_t> ids;
    const auto got = receive_responses(b, server_nl_pid, 2, deadline);
    ASSERT_EQ(got.size(), 2u) << "a reply to the other sender is missing";
    for (const std::string& reply_b : got) {
      const auto r = parse_response_body(reply_b);
      ASSERT_EQ(r.size(), 1u);
      ids.insert(r[0].id.get<std::int64_t>());
      EXPECT_TRUE(r[0].result() == (r[0].id == json(1000 + round) ? json(round) : json(patterned(9000))));
    }
    EXPECT_EQ(ids, (std::set<std::int64_t>{1000 + round, 2000 + round}));
  }
}

// Fragments sent 0, 2 (the last), 1: the one that completes the request does not carry the
// last-fragment flag. Its handler calls another peer, whose reply comes in on the same socket
// while the handler waits: the thread running it must let the socket go (after the usual
// hand-off time) as for any handler, or the reply is never read and the call times out.
TEST_F(DemoServerTest, HandlerOfARequestCompletedOutOfOrderCanReceiveOnItsSocket) {
  RPCPeer relay;
  const Channel to_server = relay.talk_to(server_nl_pid).with_timeout(std::chrono::seconds(5));
  relay.register_function("relay", [&](std::string text) {
    return to_server.call<std::string>("echo", text + "!");
  });
  relay.start();
  NetlinkSocket socket;
  for (std::uint32_t round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    const std::string text = patterned(10000 + round);
    const std::string body = to_text(json{{"jsonrpc", "2.0"}, {"method", "relay"},
                                          {"params", json::array({text})}, {"id", round}});
    auto fragments = fragment_request(socket.nl_pid(), 600 + round, body, body.size() / 3 + 1);
    ASSERT_EQ(fragments.size(), 3u);
    for (const std::size_t i : {0, 2, 1}) send_datagram(socket, relay.nl_pid(), fragments[i]);
    const auto reply = receive_response(socket, relay.nl_pid(),
                                        std::chrono::steady_clock::now() + kLiveness);
    ASSERT_TRUE(reply.has_value()) << "no reply to the relayed request";
    const auto responses = parse_response_body(*reply);
    ASSERT_EQ(responses.size(), 1u);
    ASSERT_FALSE(responses[0].is_error()) << responses[0].error().message;
    EXPECT_TRUE(responses[0].result() == json(text + "!"));
  }
}

TEST_F(DemoServerTest, MessageWithMissingFragmentGetsNoAnswerAndServerKeepsServing) {
  NetlinkSocket socket;
  const std::string body = to_text(json{{"jsonrpc", "2.0"}, {"method", "echo"},
                                        {"params", json::array({patterned(12000)})}, {"id", 88}});
  auto fragments = fragment_request(socket.nl_pid(), 200, body, 3000);
  ASSERT_GE(fragments.size(), 4u);
  fragments.erase(fragments.begin() + 1);
  for (const auto& f : fragments) send_datagram(socket, server_nl_pid, f);
  // A whole request sent afterwards on the same socket is answered, and is the only answer.
  const std::string valid = to_text(json{{"jsonrpc", "2.0"}, {"method", "echo"},
                                         {"params", json::array({"still here"})}, {"id", 89}});
  send_datagram(socket, server_nl_pid,
                build_datagram({socket.nl_pid(), PayloadType::request, 201, 0, 0, 0}, valid));
  const auto reply = receive_response(socket, server_nl_pid, std::chrono::steady_clock::now() + kLiveness);
  ASSERT_TRUE(reply.has_value());
  const auto responses = parse_response_body(*reply);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].id, json(89));
  EXPECT_EQ(responses[0].result(), json("still here"));
  // Absence can only be checked for a while; half a second is far longer than a round trip.
  EXPECT_FALSE(receive_response(socket, server_nl_pid, std::chrono::steady_clock::now() + 500ms))
      << "an incomplete message must not be answered";
  RPCPeer client;
  EXPECT_EQ(client.talk_to(server_nl_pid).with_timeout(kCallDeadline).call("echo", "ok"), json("ok"));
}

}  // namespace
}  // namespace procslink
