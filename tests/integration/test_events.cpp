// Events over real sockets and processes: subscribe, emit and unsubscribe; emission order;
// many subscriber processes; a subscriber that dies or stops reading; an event's policy and
// the subscription limits; rpc.discover and `procslink list`; a reference Python subscriber
// (../shared/reference, run with /usr/bin/python3 as its own process); `procslink subscribe`
// and demo-server's emit; by service name; through --netns (root only, skipped otherwise).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
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
using test::run_command;
using test::start_demo_server;

// Waits for `done` to hold; false if it still does not after `limit` (a guard against a hang,
// not a timing requirement).
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  for (const auto give_up = std::chrono::steady_clock::now() + limit;
       std::chrono::steady_clock::now() < give_up;) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

// The params of the events a subscription received, in the order they came.
class Received {
 public:
  EventCallback callback() {
    return [this](const json& params) {
      std::lock_guard lock(mutex_);
      events_.push_back(params);
    };
  }
  std::vector<json> wait_for(std::size_t count) {
    eventually([&] { return size() >= count; });
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return events_.size();
  }

 private:
  std::mutex mutex_;
  std::vector<json> events_;
};

std::size_t subscriptions_of(std::uint32_t demo_server) {
  const CommandResult r = procslink_cli({"call", std::to_string(demo_server), "rpc.stats"});
  if (r.exit_code != 0) return SIZE_MAX;
  return parse_json(r.out).at("events").at("subscriptions").get<std::size_t>();
}

TEST(Events, SubscribeEmitAndUnsubscribe) {
  RPCPeer publisher;
  publisher.start();
  RPCPeer subscriber;  // a client only: it starts receiving to take the events
  Received received;
  {
    Subscription subscription =
        subscriber.talk_to(publisher.nl_pid()).subscribe("tick", received.callback());
    EXPECT_TRUE(subscription.active());
    EXPECT_EQ(publisher.subscription_count(), 1u);
    EXPECT_EQ(publisher.emit("tick", 1, "one"), 1u);
    EXPECT_EQ(publisher.emit("tock", 2), 0u);  // nobody subscribed to it
    EXPECT_EQ(publisher.emit_with("tick", json{{"n", 2}}), 1u);
    const std::vector<json> events = received.wait_for(2);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0], json::array({1, "one"}));
    EXPECT_EQ(events[1], json({{"n", 2}}));
  }
  ASSERT_TRUE(eventually([&] { return publisher.subscription_count() == 0; }));
  EXPECT_EQ(publisher.emit("tick", 3), 0u);
}

TEST(Events, SubscribeTakesTheEventByNameOrInAnObject) {
  RPCPeer publisher;
  publisher.start();
  RPCPeer caller;
  Channel channel = caller.talk_to(publisher.nl_pid());
  EXPECT_EQ(channel.call_with("rpc.subscribe", json{{"event", "tick"}}), true);
  EXPECT_EQ(channel.call_with("rpc.subscribe", json::array({"tick"})), true);  // again: one
  EXPECT_EQ(publisher.subscription_count(), 1u);
  EXPECT_EQ(channel.call_with("rpc.unsubscribe", json{{"event", "tick"}}), true);
  EXPECT_EQ(channel.call_with("rpc.unsubscribe", json::array({"tick"})), false);
  try {
    channel.call_with("rpc.subscribe", json::array({1}));
    ADD_FAILURE() << "a number is no event name";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::invalid_params);
  }
}

// Every event sent runs, in order, or is counted missed: one held up between its receipt and
// its callback longer than a later one waits for it (2 ms, on a slow machine) is not run.
TEST(Events, OneSubscriberReceivesEventsInEmissionOrder) {
  RPCPeer publisher;
  publisher.start();
  RPCPeer subscriber;
  Received received;
  Subscription s = subscriber.talk_to(publisher.nl_pid()).subscribe("seq", received.callback());
  constexpr std::size_t kEvents = 2000;
  std::size_t sent = 0;
  for (std::size_t i = 0; i < kEvents; ++i) sent += publisher.emit("seq", i);
  ASSERT_TRUE(eventually([&] { return received.size() + s.missed() >= sent; }));
  const std::vector<json> events = received.wait_for(0);
  EXPECT_LE(events.size() + s.missed(), kEvents);  // the publisher's misses at the end unknown
  for (std::size_t i = 1; i < events.size(); ++i) {
    ASSERT_LT(events[i - 1][0].get<int>(), events[i][0].get<int>()) << "at " << i;
  }
  if (sent == kEvents) {
    EXPECT_EQ(events.size() + s.missed(), kEvents);
  }
}

TEST(Events, TwoSubscriptionsOfOnePeerShareOneAtThePublisher) {
  RPCPeer publisher;
  publisher.start();
  RPCPeer subscriber;
  Received first, second;
  Channel channel = subscriber.talk_to(publisher.nl_pid());
  Subscription a = channel.subscribe("tick", first.callback());
  {
    Subscription b = channel.subscribe("tick", second.callback());
    EXPECT_EQ(publisher.subscription_count(), 1u);
    EXPECT_EQ(publisher.emit("tick", 1), 1u);
    EXPECT_EQ(second.wait_for(1).size(), 1u);
  }
  EXPECT_EQ(publisher.emit("tick", 2), 1u);  // `a` still wants it
  EXPECT_EQ(first.wait_for(2).size(), 2u);
  EXPECT_EQ(second.size(), 1u);
}

TEST(Events, AnEventFromAnotherPeerIsNotDelivered) {
  RPCPeer publisher;
  publisher.start();
  RPCPeer subscriber;
  Received received;
  Subscription s = subscriber.talk_to(publisher.nl_pid()).subscribe("tick", received.callback());
  RPCPeer stranger;
  try {
    stranger.talk_to(subscriber.nl_pid()).call("tick", 666);
    ADD_FAILURE() << "a stranger's 'tick' must not be taken as the publisher's event";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::method_not_found);
  }
  EXPECT_EQ(publisher.emit("tick", 1), 1u);
  const std::vector<json> events = received.wait_for(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], json::array({1}));
}

TEST(Events, SubscribingToAnEventNamedLikeAMethodIsRefused) {
  RPCPeer publisher;
  publisher.start();
  RPCPeer subscriber;
  subscriber.register_function("tick", [] { return 1; });
  EXPECT_THROW((void)subscriber.talk_to(publisher.nl_pid()).subscribe("tick", [](const json&) {}),
               std::invalid_argument);
  EXPECT_EQ(publisher.subscription_count(), 0u);
}

TEST(Events, DeclaredEventsAreDiscoveredAndTheirPolicyRefusesWithAccessDenied) {
  RPCPeer publisher;
  publisher.declare_event("tick");
  publisher.declare_event("secret", AccessPolicy{{::getuid() + 1}, {::getgid() + 1}});
  publisher.start();
  RPCPeer subscriber;
  Channel channel = subscriber.talk_to(publisher.nl_pid());
  const json document = channel.call("rpc.discover");
  ASSERT_EQ(document.at("x-events").size(), 2u) << document;
  EXPECT_EQ(document["x-events"][0].at("name"), "secret");
  EXPECT_EQ(document["x-events"][1].at("name"), "tick");
  try {
    (void)channel.subscribe("secret", [](const json&) {});
    ADD_FAILURE() << "the policy allows only another uid";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::access_denied);
  }
  EXPECT_EQ(publisher.subscription_count(), 0u);
  // The refused subscription left no method behind: subscribing later works.
  Subscription s = channel.subscribe("tick", [](const json&) {});
  EXPECT_EQ(publisher.subscription_count(), 1u);
}

TEST(Events, ASubscriberPastItsUidsLimitIsRefusedBusy) {
  PeerOptions options;
  options.max_subscriptions = 4;
  options.max_subscriptions_per_uid = 2;
  RPCPeer publisher(options);
  publisher.start();
  RPCPeer one, two, three;
  Subscription a = one.talk_to(publisher.nl_pid()).subscribe("e", [](const json&) {});
  Subscription b = two.talk_to(publisher.nl_pid()).subscribe("e", [](const json&) {});
  try {
    (void)three.talk_to(publisher.nl_pid()).subscribe("e", [](const json&) {});
    ADD_FAILURE() << "a third subscription of one uid passes max_subscriptions_per_uid";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::server_busy);
  }
  EXPECT_EQ(publisher.emit("e"), 2u);
}

TEST(Events, ByServiceName) {
  PeerOptions options;
  options.name = "events-test-" + std::to_string(::getpid());
  RPCPeer publisher(options);
  publisher.start();
  RPCPeer subscriber;
  Received received;
  Subscription s =
      subscriber.talk_to(std::string_view(options.name)).subscribe("tick", received.callback());
  EXPECT_EQ(publisher.emit("tick", "named"), 1u);
  EXPECT_EQ(received.wait_for(1).at(0), json::array({"named"}));
}

// Sends rpc.subscribe for `event` from a bare socket (which may then not read at all).
void subscribe_from(const NetlinkSocket& socket, std::uint32_t publisher, const std::string& event) {
  const std::string request =
      R"({"jsonrpc":"2.0","method":"rpc.subscribe","params":[")" + event + R"("],"id":1})";
  const std::vector<std::uint8_t> datagram =
      build_datagram({socket.nl_pid(), PayloadType::request, 1, 0, 0, 0, 0}, request);
  const iovec part{const_cast<std::uint8_t*>(datagram.data()), datagram.size()};
  socket.send(publisher, std::span<const iovec>(&part, 1));
}

// Whether a datagram other than the reply to rpc.subscribe is queued on `socket` now.
bool event_queued(const NetlinkSocket& socket) {
  std::vector<std::uint8_t> buffer;
  while (const auto d = socket.receive(buffer, false)) {
    if (ProcslinkMessage::parse(d->bytes).header.payload_type ==
        static_cast<std::uint16_t>(PayloadType::request)) {
      return true;
    }
  }
  return false;
}

// A subscriber socket that never reads: its receive buffer fills, its events are missed and
// counted, and the other subscriber gets every one.
TEST(Events, ASubscriberThatStopsReadingMissesEventsAndSlowsNobody) {
  RPCPeer publisher;
  publisher.start();
  SocketOptions tiny;
  tiny.receive_buffer = 1;  // the kernel's least
  NetlinkSocket silent(tiny);
  subscribe_from(silent, publisher.nl_pid(), "tick");
  ASSERT_TRUE(eventually([&] { return publisher.subscription_count() == 1; }));
  RPCPeer reader;
  Received received;
  Subscription s = reader.talk_to(publisher.nl_pid()).subscribe("tick", received.callback());

  constexpr int kEvents = 100;
  std::size_t sent = 0;
  for (int i = 0; i < kEvents; ++i) sent += publisher.emit("tick", i);
  EXPECT_LT(sent, 2u * kEvents) << "a 1-byte receive buffer took every event";
  EXPECT_EQ(received.wait_for(kEvents).size(), static_cast<std::size_t>(kEvents));
  const json stats = reader.talk_to(publisher.nl_pid()).call("rpc.stats").at("events");
  EXPECT_EQ(stats.at("by_event").at("tick").at("missed").get<std::size_t>(), 2u * kEvents - sent)
      << stats;
  EXPECT_EQ(stats["by_event"]["tick"].at("subscribers"), 2);  // full is not gone
}

// A second process binds the exact port id of a subscriber that closed its socket: the events
// meant for the departed one must not reach it (the socket's inode tells them apart).
TEST(Events, AProcessBindingADepartedSubscribersPortIdGetsNoEvents) {
  PeerOptions options;
  options.subscriber_check = std::chrono::milliseconds(0);  // the table read before each emit
  RPCPeer publisher(options);
  publisher.start();
  auto departing = std::make_unique<NetlinkSocket>();
  const std::uint32_t port = departing->nl_pid();
  subscribe_from(*departing, publisher.nl_pid(), "tick");
  ASSERT_TRUE(eventually([&] { return publisher.subscription_count() == 1; }));
  ASSERT_EQ(publisher.emit("tick", 0), 1u);
  ASSERT_TRUE(event_queued(*departing));  // the subscriber itself does get them
  departing.reset();

  int ready[2], go[2], verdict[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(verdict), 0);
  const pid_t child = fork();
  if (child == 0) {
    char c = 'F';
    try {
      SocketOptions at;
      at.nl_pid = port;
      const NetlinkSocket squatter(at);
      c = 'R';
      (void)!::write(ready[1], &c, 1);
      (void)!::read(go[0], &c, 1);
      c = event_queued(squatter) ? 'E' : 'N';
    } catch (...) {
      (void)!::write(ready[1], &c, 1);
    }
    (void)!::write(verdict[1], &c, 1);
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'R') << "the second process could not bind port id " << port;
  EXPECT_EQ(publisher.emit("tick", 1), 0u);
  EXPECT_EQ(publisher.subscription_count(), 0u);
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ASSERT_EQ(::read(verdict[0], &c, 1), 1);
  EXPECT_EQ(c, 'N') << "the process now at port id " << port << " received the event";
  int status = 0;
  waitpid(child, &status, 0);
  for (int fd : {ready[0], ready[1], go[0], go[1], verdict[0], verdict[1]}) close(fd);
}

TEST(Events, ADeadSubscriberIsDroppedAtOnce) {
  std::unique_ptr<ChildProcess> server;
  const std::uint32_t port = start_demo_server(server, {"--workers", "2"});
  ChildProcess subscriber({PROCSLINK_CLI, "subscribe", std::to_string(port), "tick"});
  ASSERT_TRUE(eventually([&] { return subscriptions_of(port) == 1; }));
  subscriber.stop(SIGKILL);
  const CommandResult r = procslink_cli({"call", std::to_string(port), "emit", R"(["tick", 1])"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0\n");
  EXPECT_EQ(subscriptions_of(port), 0u);
}

TEST(Events, ManySubscriberProcessesEachGetTheEvent) {
  std::unique_ptr<ChildProcess> server;
  const std::uint32_t port = start_demo_server(server, {"--workers", "2"});
  constexpr std::size_t kSubscribers = 16;
  std::vector<std::unique_ptr<ChildProcess>> subscribers;
  for (std::size_t i = 0; i < kSubscribers; ++i) {
    subscribers.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{PROCSLINK_CLI, "subscribe", "-c", "1", std::to_string(port),
                                 "tick"}));
  }
  ASSERT_TRUE(eventually([&] { return subscriptions_of(port) == kSubscribers; }));
  const CommandResult r =
      procslink_cli({"call", std::to_string(port), "emit", R"(["tick", "all"])"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::to_string(kSubscribers) + "\n");
  for (auto& s : subscribers) {
    EXPECT_EQ(s->first_line(), R"({"event":"tick","params":["all"]})");
    EXPECT_EQ(s->wait_for_exit(std::chrono::seconds(20)), 0);
  }
  EXPECT_TRUE(eventually([&] { return subscriptions_of(port) == 0; }));
}

// ---- the CLI ----

TEST(EventsCli, SubscribePrintsEventsAndExitsAfterCount) {
  std::unique_ptr<ChildProcess> server;
  const std::string port = std::to_string(start_demo_server(server));
  ChildProcess subscriber({PROCSLINK_CLI, "subscribe", "-c", "2", port, "tick", "tock"});
  ASSERT_TRUE(eventually([&] { return subscriptions_of(std::stoul(port)) == 2; }));
  EXPECT_EQ(procslink_cli({"call", port, "emit", R"(["tock", {"a": [1, 2]}])"}).out, "1\n");
  EXPECT_EQ(procslink_cli({"call", port, "emit", R"(["tick", 2])"}).out, "1\n");
  EXPECT_EQ(subscriber.first_line(), R"({"event":"tock","params":[{"a":[1,2]}]})");
  EXPECT_EQ(subscriber.first_line(), R"({"event":"tick","params":[2]})");
  EXPECT_EQ(subscriber.wait_for_exit(std::chrono::seconds(20)), 0);
  EXPECT_TRUE(eventually([&] { return subscriptions_of(std::stoul(port)) == 0; }));
}

// A subscriber process that stops (SIGSTOP) stops reading: the events that find its buffer full
// are missed, and once it reads again the next event it prints tells it how many ("missed").
// Events it drops itself (more than 1,024 waiting behind its printing, which waits for this
// test to read) are counted the same way: every event is either printed or counted missed.
TEST(EventsCli, AStoppedSubscriberLearnsHowManyEventsItMissed) {
  RPCPeer publisher;
  publisher.start();
  ChildProcess subscriber(
      {PROCSLINK_CLI, "subscribe", std::to_string(publisher.nl_pid()), "big"});
  ASSERT_TRUE(eventually([&] { return publisher.subscription_count() == 1; }));
  ASSERT_EQ(::kill(subscriber.pid(), SIGSTOP), 0);
  const std::string payload(3000, 'x');  // one datagram each
  std::uint64_t emitted = 0;
  for (std::size_t missed = 0; emitted < 100000 && missed < 5; ++emitted) {
    missed += publisher.emit("big", payload) == 0;
  }
  ASSERT_LT(emitted, 100000u) << "a stopped subscriber's buffer never filled";
  ASSERT_EQ(::kill(subscriber.pid(), SIGCONT), 0);
  // Numbered "last" events go on until one is printed (any may be missed); if none is by the
  // deadline, the subscriber is killed so that reading its output ends.
  std::atomic<bool> printed_last{false};
  std::thread closer([&] {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int k = 0; !printed_last; ++k) {
      if (std::chrono::steady_clock::now() > give_up) {
        ::kill(subscriber.pid(), SIGKILL);
        return;
      }
      publisher.emit("big", "last", k);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::uint64_t printed = 0;
  std::uint64_t reported = 0;
  std::int64_t last = -1;
  for (std::string line = subscriber.first_line(); !line.empty(); line = subscriber.first_line()) {
    const json event = parse_json(line);
    ++printed;
    reported += event.value("missed", std::uint64_t{0});
    const json& params = event.at("params");
    if (params.size() == 2 && params[0] == "last") {
      last = params[1].get<std::int64_t>();
      break;
    }
  }
  printed_last = true;
  closer.join();
  ASSERT_GE(last, 0) << "no \"last\" event was printed";
  EXPECT_GT(reported, 0u);
  EXPECT_EQ(printed + reported, emitted + static_cast<std::uint64_t>(last) + 1);
}

TEST(EventsCli, SigtermUnsubscribesAndExitsZero) {
  std::unique_ptr<ChildProcess> server;
  const std::uint32_t port = start_demo_server(server);
  ChildProcess subscriber({PROCSLINK_CLI, "subscribe", std::to_string(port), "tick"});
  ASSERT_TRUE(eventually([&] { return subscriptions_of(port) == 1; }));
  EXPECT_EQ(subscriber.stop(SIGTERM), 0);
  EXPECT_TRUE(eventually([&] { return subscriptions_of(port) == 0; }));
}

TEST(EventsCli, AbsentTargetOrRefusedSubscriptionIsOneLineAndExitTwo) {
  NetlinkSocket vacated;
  const std::string absent = std::to_string(vacated.nl_pid());
  { NetlinkSocket moved = std::move(vacated); }  // closed: nobody is bound there now
  const CommandResult none = procslink_cli({"subscribe", "--timeout", "500", absent, "tick"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(std::count(none.err.begin(), none.err.end(), '\n'), 1) << none.err;

  std::unique_ptr<ChildProcess> server;
  const std::string port =
      std::to_string(start_demo_server(server, {"--allow-uid", std::to_string(::getuid() + 1)}));
  const CommandResult refused = procslink_cli({"subscribe", port, "tick"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;
  EXPECT_NE(refused.err.find("-32001"), std::string::npos) << refused.err;
}

TEST(EventsCli, ListShowsTheDeclaredEvents) {
  std::unique_ptr<ChildProcess> server;
  const CommandResult r = procslink_cli({"list", std::to_string(start_demo_server(server))});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\nevent tick\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nemit\n"), std::string::npos) << r.out;
}

// ---- a reference Python peer subscribes as it is ----

TEST(EventsReference, AReferencePeerSubscribesAndReceivesEventsAsCalls) {
  if (access((test::kReferencePackage + "/procslink").c_str(), R_OK) != 0 ||
      access("/usr/bin/python3", X_OK) != 0) {
    GTEST_SKIP() << "no reference peer at " << test::kReferencePackage << " or no /usr/bin/python3";
  }
  RPCPeer publisher;
  publisher.start();
  const std::string script =
      "import sys; sys.path.insert(0, '" + test::kReferencePackage + "')\n"
      "from procslink import RPCPeer\n"
      "p = RPCPeer()\n"
      "def tick(value): print('tick', value, flush=True)\n"
      "p.register_function(tick)\n"
      "print(getattr(p.talk_to(int(sys.argv[1])), 'rpc.subscribe')('tick'), flush=True)\n"
      "p.run_server_forever()\n";
  ChildProcess reference(
      {"/usr/bin/python3", "-c", script, std::to_string(publisher.nl_pid())});
  EXPECT_EQ(reference.first_line(), "True");
  ASSERT_EQ(publisher.subscription_count(), 1u);
  EXPECT_EQ(publisher.emit("tick", 1), 1u);
  EXPECT_EQ(publisher.emit("tick", "two"), 1u);
  EXPECT_EQ(reference.first_line(), "tick 1");
  EXPECT_EQ(reference.first_line(), "tick two");
}

// ---- across a PID namespace, through another network namespace (root) ----

TEST(EventsNamespaces, ASubscriberInAnotherPidNamespaceGetsTheEvents) {
  if (!test::running_as_root()) GTEST_SKIP() << "unshare --pid needs root";
  if (!test::can_unshare({"--pid", "--fork"})) GTEST_SKIP() << "unshare --pid is not permitted";
  std::unique_ptr<ChildProcess> server;
  const std::uint32_t port = start_demo_server(server);
  ChildProcess subscriber({"unshare", "--pid", "--fork", PROCSLINK_CLI, "subscribe", "-c", "1",
                           std::to_string(port), "tick"});
  ASSERT_TRUE(eventually([&] { return subscriptions_of(port) == 1; }));
  EXPECT_EQ(procslink_cli({"call", std::to_string(port), "emit", R"(["tick", 7])"}).out, "1\n");
  EXPECT_EQ(subscriber.first_line(), R"({"event":"tick","params":[7]})");
  EXPECT_EQ(subscriber.wait_for_exit(std::chrono::seconds(20)), 0);
}

TEST(EventsNamespaces, SubscribeThroughNetnsGetsEventsThroughThatSocket) {
  if (!test::running_as_root()) GTEST_SKIP() << "ip netns add needs root";
  const std::string name = "procslink-events-" + std::to_string(::getpid());
  if (const CommandResult r = run_command({"ip", "netns", "add", name}); r.exit_code != 0) {
    GTEST_SKIP() << "ip netns add failed: " << r.err;
  }
  const std::string path = "/run/netns/" + name;
  {
    PeerOptions options;
    options.extra_netns = {path};
    RPCPeer publisher(options);
    publisher.start();
    const std::string inside = std::to_string(publisher.nl_pid(path));
    ChildProcess subscriber({PROCSLINK_CLI, "subscribe", "-c", "1", "--netns", path, inside, "tick"});
    ASSERT_TRUE(eventually([&] { return publisher.subscription_count() == 1; }));
    // Its events go through the socket the subscription came in on.
    EXPECT_EQ(publisher.emit("tick", "inside"), 1u);
    EXPECT_EQ(subscriber.first_line(), R"({"event":"tick","params":["inside"]})");
    EXPECT_EQ(subscriber.wait_for_exit(std::chrono::seconds(20)), 0);
    ASSERT_TRUE(eventually([&] { return publisher.subscription_count() == 0; }));

    // A C++ subscriber with a socket in there too (extra_netns).
    PeerOptions sub_options;
    sub_options.extra_netns = {path};
    RPCPeer cxx(sub_options);
    Received received;
    Subscription s = cxx.talk_to(publisher.nl_pid(path), path).subscribe("tick", received.callback());
    EXPECT_EQ(publisher.emit("tick", 2), 1u);
    EXPECT_EQ(received.wait_for(1).at(0), json::array({2}));
  }
  run_command({"ip", "netns", "delete", name});
}

}  // namespace
}  // namespace procslink
