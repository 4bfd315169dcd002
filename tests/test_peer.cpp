// The peer layer (RPCPeer, Channel) end to end: an in-process server peer serving on background
// threads, a client peer in the same process, real netlink sockets between them.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "procslink/procslink.hpp"

namespace procslink {
namespace {

using namespace std::chrono_literals;

// Generous bound for anything that should happen "at once": the machine is shared and noisy.
constexpr auto kLiveness = 20s;

std::string unique_name(const std::string& what) {
  return "procslink-test-peer-" + std::to_string(::getpid()) + "-" + what;
}

// A port id nobody holds: the kernel hands out each autobound id to one socket at a time, and
// closing the socket frees it again.
std::uint32_t unbound_nl_pid() {
  std::uint32_t port;
  {
    NetlinkSocket socket;
    port = socket.nl_pid();
  }
  return port;
}

template <typename F>
TransportError::Kind transport_error_kind(F&& f) {
  try {
    f();
  } catch (const TransportError& e) {
    return e.kind();
  }
  ADD_FAILURE() << "expected a TransportError";
  return TransportError::Kind::other;
}

template <typename F>
ErrorObject remote_error(F&& f) {
  try {
    f();
  } catch (const RemoteError& e) {
    return e.error();
  }
  ADD_FAILURE() << "expected a RemoteError";
  return {};
}

struct Calculator {
  int base = 100;
  int add(int a, int b) { return a + b; }
  int sub(int a, int b) const { return a - b; }
  std::string greet(const std::string& who) { return "hi " + who + " from " + std::to_string(base); }
};

// A server peer serving in the background with a few methods, and a client peer.
class PeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server.register_function("subtract", [](int a, int b) { return a - b; },
                             {"minuend", "subtrahend"});
    server.register_function("concat", [](const std::string& a, const std::string& b) {
      return a + b;
    });
    server.register_function("echo", [](const json& value) { return value; }, {"value"});
    server.register_function("sleep", [](int ms) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return ms;
    });
    server.start();
  }

  RPCPeer server;
  RPCPeer client;
  Channel channel() { return client.talk_to(server.nl_pid()); }
};

TEST_F(PeerTest, TypedHandlerTakesPositionalParams) {
  EXPECT_EQ(channel().call<int>("subtract", 42, 23), 19);
  EXPECT_EQ(channel().call<int>("subtract", 23, 42), -19);
  EXPECT_EQ(channel().call<std::string>("concat", "ab", "cd"), "abcd");
}

TEST_F(PeerTest, TypedHandlerTakesNamedParamsWhenNamesAreGiven) {
  EXPECT_EQ(channel().call_named("subtract", {{"minuend", 42}, {"subtrahend", 23}}), json(19));
  EXPECT_EQ(channel().call_named("subtract", {{"subtrahend", 23}, {"minuend", 42}}), json(19));
}

TEST_F(PeerTest, NamedParamsAreRefusedByAHandlerWithoutNames) {
  const ErrorObject e = remote_error([&] { channel().call_named("concat", {{"a", "x"}, {"b", "y"}}); });
  EXPECT_EQ(e.code, error_code::invalid_params);
}

// A Channel keeps its peer's machinery alive: once the RPCPeer is gone, a call through it is
// refused with a TransportError instead of touching freed memory.
TEST(PeerLifetime, ChannelOutlivingItsPeerRefusesCalls) {
  RPCPeer server;
  server.register_function("echo", [](int v) { return v; });
  server.start();
  std::optional<Channel> channel;
  {
    RPCPeer client;
    channel.emplace(client.talk_to(server.nl_pid()));
    EXPECT_EQ(channel->call<int>("echo", 1), 1);
  }
  EXPECT_EQ(transport_error_kind([&] { channel->call("echo", 2); }), TransportError::Kind::other);
  EXPECT_EQ(transport_error_kind([&] { channel->notify("echo", 2); }), TransportError::Kind::other);
  EXPECT_EQ(transport_error_kind([&] { channel->async_call("echo", 2); }),
            TransportError::Kind::other);
  EXPECT_EQ(transport_error_kind([&] { channel->call_batch({{"echo", json::array({3})}}); }),
            TransportError::Kind::other);
  const Channel copy = channel->with_timeout(100ms);  // copies stay refused, and harmless
  EXPECT_EQ(transport_error_kind([&] { copy.call("echo", 4); }), TransportError::Kind::other);
}

// A channel held by a handler of its own peer (a server calling back, say) does not keep the
// peer's machinery, and so itself, alive for ever: the handler goes with the peer.
TEST(PeerLifetime, AHandlerHoldingAChannelToItsOwnPeerIsFreedWithThePeer) {
  const auto sentinel = std::make_shared<int>(7);
  {
    RPCPeer peer;
    const Channel self = peer.talk_to(peer.nl_pid());
    peer.register_raw("m", [self, sentinel](const json&, const CallContext&) {
      return json(*sentinel);
    });
    EXPECT_EQ(sentinel.use_count(), 2);
  }
  EXPECT_EQ(sentinel.use_count(), 1) << "the handler outlived its peer";
}

TEST(TypedHandler, ConstJsonParameterBindsToTheArgumentWithoutACopy) {
  json params = json::array({std::string(1000, 'x'), 7});
  const json* seen = nullptr;
  int number = 0;
  auto handler = detail::make_typed_handler(
      [&](const json& text, int n) {
        seen = &text;
        number = n;
        return true;
      },
      {}, static_cast<std::tuple<const json&, int>*>(nullptr));
  // The handler is handed the params as an rvalue; a const json& parameter leaves them in place.
  EXPECT_EQ(handler(std::move(params), CallContext{}), json(true));
  EXPECT_EQ(seen, &params[0]);
  EXPECT_EQ(params[0], json(std::string(1000, 'x')));
  EXPECT_EQ(number, 7);
}

TEST(TypedHandler, ByValueJsonAndStringParametersTakeTheArgumentsOver) {
  json params = json::array({std::string(1000, 'x'), json::array({1, 2, 3}), 7});
  const char* text_bytes = params[0].get_ref<const std::string&>().data();
  const json* list_first = &params[1][0];
  const char* seen_bytes = nullptr;
  const json* seen_first = nullptr;
  auto handler = detail::make_typed_handler(
      [&](std::string text, json list, int n) {
        seen_bytes = text.data();
        seen_first = &list[0];
        return text.size() + list.size() + static_cast<std::size_t>(n);
      },
      {}, static_cast<std::tuple<std::string, json, int>*>(nullptr));
  EXPECT_EQ(handler(std::move(params), CallContext{}), json(1010));
  EXPECT_EQ(seen_bytes, text_bytes);  // the very buffer the parser filled: moved, not copied
  EXPECT_EQ(seen_first, list_first);
}

TEST(TypedHandler, ByValueStringParameterStillRefusesANonString) {
  auto handler = detail::make_typed_handler([](std::string text) { return text; }, {},
                                            static_cast<std::tuple<std::string>*>(nullptr));
  try {
    handler(json::array({42}), CallContext{});
    FAIL() << "a number was taken for a string";
  } catch (const JsonRpcError& e) {
    EXPECT_EQ(e.error().code, error_code::invalid_params);
  }
}

TEST_F(PeerTest, RawHandlerReceivesParamsAsSent) {
  std::mutex mu;
  std::vector<json> seen;
  server.register_raw("raw", [&](const json& params, const CallContext&) {
    std::lock_guard lock(mu);
    seen.push_back(params);
    return json{{"got", params}};
  });
  EXPECT_EQ(channel().call("raw", 1, "two", nullptr),
            (json{{"got", json::array({1, "two", nullptr})}}));
  EXPECT_EQ(channel().call_with("raw", {{"k", json::array({1, 2})}}),
            (json{{"got", {{"k", json::array({1, 2})}}}}));
  EXPECT_EQ(channel().call_with("raw", nullptr), (json{{"got", nullptr}}));
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_TRUE(seen[2].is_null()) << "absent params reach a raw handler as null";
}

// Channel::call writes its arguments without building json::array({json(args)...}); what
// arrives must be exactly that array, whatever the kinds of argument.
TEST_F(PeerTest, CallArgumentsArriveAsTheJsonArrayOfThem) {
  server.register_raw("params", [](json&& params, const CallContext&) { return std::move(params); });
  const std::string text = "text \"quoted\" \xC3\xA9 \xFF";
  const std::string_view view = "a view";
  const char* pointer = "a pointer";
  char mutable_chars[] = "mutable";
  const json value = {{"k", json::array({1, 2.5, nullptr})}};
  const std::vector<int> numbers = {1, 2, 3};
  const Channel c = channel();
  // As the array arrives: ill-formed UTF-8 is sent as U+FFFD, as dump's replace handler does.
  const auto as_sent = [](const json& array) {
    return json::parse(array.dump(-1, ' ', false, json::error_handler_t::replace));
  };
  EXPECT_EQ(c.call("params"), json::array());
  EXPECT_EQ(c.call("params", text, view, pointer, "a literal", mutable_chars),
            as_sent(json::array({text, view, pointer, "a literal", mutable_chars})));
  EXPECT_EQ(c.call("params", 1, -2L, 3u, 4.5, true, nullptr, 'c'),
            json::array({1, -2L, 3u, 4.5, true, nullptr, 'c'}));
  EXPECT_EQ(c.call("params", value, json("rvalue"), numbers, std::string("temporary")),
            json::array({value, "rvalue", numbers, "temporary"}));
  EXPECT_EQ(c.call<std::vector<int>>("params", 7, 8), (std::vector<int>{7, 8}));
  // A null C string cannot be a JSON string: it throws, as json(nullptr char*) does, before
  // anything is sent.
  const char* null_text = nullptr;
  EXPECT_THROW(c.call("params", null_text), std::logic_error);
  EXPECT_EQ(c.call("params", 1), json::array({1}));
}

// A serving thread reads each request's params array into the storage the previous one used:
// every handler must still see exactly its own params, whatever the previous handler did
// with them (left them, took them over, or took elements out) and however many there were.
TEST(PeerParams, EachRequestSeesExactlyItsOwnParams) {
  PeerOptions options;
  options.workers = 1;  // one serving thread: every request reuses what the last one left
  options.max_workers = 1;
  RPCPeer server(options);
  std::vector<json> seen;  // one serving thread: no lock needed
  server.register_raw("look", [&](const json& params, const CallContext&) {
    seen.push_back(params);
    return params;
  });
  server.register_raw("take", [&](json params, const CallContext&) {
    seen.push_back(params);
    return params;
  });
  server.register_function("first", [&](json a, const json& b) {
    seen.push_back(json::array({a, b}));
    return a;
  });
  server.start();
  RPCPeer client;
  const Channel channel = client.talk_to(server.nl_pid());
  json many = json::array();
  for (int i = 0; i < 40; ++i) many.push_back("element " + std::to_string(i));
  const std::vector<std::pair<std::string, json>> calls = {
      {"look", json::array({1, "two", nullptr, json::array({3})})},
      {"look", json::array({"x"})},
      {"first", json::array({"a", "b"})},
      {"look", json::array()},
      {"take", json::array({4, 5})},
      {"look", json::array({6})},
      {"look", many},
      {"look", json::array({7, 8})},
      {"look", {{"k", 1}}},
      {"first", json::array({json::array({9}), 10})},
      {"look", nullptr},
      {"look", json::array({11})},
  };
  for (const auto& [method, params] : calls) {
    const json result = channel.call_with(method, params);
    EXPECT_EQ(result, method == "first" ? params[0] : params) << method << " " << params;
  }
  ASSERT_EQ(seen.size(), calls.size());
  for (std::size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(seen[i], calls[i].second) << i;
}

json shaped_params(int thread, int i) {
  json params = json::array();
  const int n = (thread * 7 + i) % 20;  // some longer than the 16 a serving thread keeps room for
  for (int k = 0; k < n; ++k) {
    if (k % 3 == 0) params.push_back(thread * 100000 + i * 10 + k);
    else if (k % 3 == 1) params.push_back("s" + std::to_string(i) + "_" + std::to_string(k));
    else params.push_back(json::array({-i, k}));
  }
  return params;
}

// Params arrays and call records are reused per thread: many callers at once, handlers that
// leave, take over, empty, grow, spoil (then throw) or relay their params, futures and batches,
// against a client that receives for itself and one that serves.
TEST(PeerParams, ManyThreadsCallingEveryKindOfHandlerGetTheirOwnResults) {
  PeerOptions server_options;
  server_options.workers = 2;
  RPCPeer server(server_options);
  RPCPeer helper;
  helper.register_raw("look", [](const json& p, const CallContext&) { return p; });
  helper.start();
  server.register_raw("look", [](const json& p, const CallContext&) { return p; });
  server.register_raw("take", [](json p, const CallContext&) { return p; });
  server.register_raw("steal", [](json&& p, const CallContext&) {
    json out = json::array();
    for (auto& e : p) out.push_back(std::move(e));
    return out;
  });
  server.register_raw("grow", [](json&& p, const CallContext&) {
    json copy = p;
    p.get_ref<json::array_t&>().reserve(40);
    p.push_back("junk");
    return copy;
  });
  server.register_raw("spoil", [](json&& p, const CallContext&) -> json {
    for (auto& e : p) e = "poison";
    throw std::runtime_error("spoiled");
  });
  const Channel to_helper = helper.talk_to(helper.nl_pid());
  server.register_raw("relay", [to_helper](const json& p, const CallContext&) {
    if (to_helper.call_with("look", json::array({"inner", p.size()})) !=
        json::array({"inner", p.size()})) {
      throw std::runtime_error("inner call got another result");
    }
    return to_helper.call_with("look", p);
  });
  server.start();
  for (const bool client_serves : {false, true}) {
    SCOPED_TRACE(client_serves ? "serving client" : "client receiving for itself");
    RPCPeer client;
    if (client_serves) client.start();
    const Channel channel = client.talk_to(server.nl_pid());
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    const char* const methods[] = {"look", "take", "steal", "grow", "relay", "spoil"};
    for (int t = 0; t < 5; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 300; ++i) {
          const json p = shaped_params(t, i);
          const std::string method = methods[(t + i) % 6];
          try {
            if (i % 37 == 5) {
              if (channel.async_call_with("look", p).get() != p) ++wrong;
            } else if (i % 41 == 7) {
              const json other = shaped_params(t, i + 1);
              const auto out = channel.call_batch(
                  {{"look", p}, {"take", other}, {"steal", p}, {"look", json::array({i})}});
              if (out.size() != 4 || out[0].get() != p || out[1].get() != other ||
                  out[2].get() != p || out[3].get() != json::array({i})) {
                ++wrong;
              }
            } else if (channel.call_with(method, p) != p || method == "spoil") {
              ++wrong;
            }
          } catch (const RemoteError& e) {
            if (method != "spoil" || e.code() != error_code::internal_error) ++wrong;
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(wrong.load(), 0);
  }
}

// A caller receiving for itself serves a request on its own thread whose handler calls back:
// the nested call must not take the record or params array the outer one is using.
TEST(PeerParams, CallerThreadServesARequestThatCallsBack) {
  RPCPeer server;
  RPCPeer client;  // never started: its callers receive for themselves
  const Channel to_server = client.talk_to(server.nl_pid());
  client.register_raw("back", [&](const json& p, const CallContext&) {
    return to_server.call_with("look", json::array({"back", p}));
  });
  const Channel to_client = server.talk_to(client.nl_pid());
  server.register_raw("look", [](const json& p, const CallContext&) { return p; });
  server.register_raw("ask", [to_client](const json& p, const CallContext&) {
    return to_client.call_with("back", p);
  });
  server.start();
  for (int i = 0; i < 200; ++i) {
    const json p = shaped_params(1, i);
    ASSERT_EQ(to_server.call_with(i % 2 ? "ask" : "look", p),
              i % 2 ? json::array({"back", p}) : p)
        << i;
  }
}

TEST_F(PeerTest, ContextHandlerSeesCallerPortAndKernelCredentials) {
  server.register_function("who", [](const CallContext& context, int x) {
    return json{{"nl_pid", context.sender_nl_pid},
                {"pid", context.credentials.pid},
                {"uid", context.credentials.uid},
                {"gid", context.credentials.gid},
                {"method", context.method},
                {"netns", context.netns},
                {"x", x}};
  });
  const json who = channel().call("who", 7);
  EXPECT_EQ(who["nl_pid"], client.nl_pid());
  EXPECT_EQ(who["pid"], ::getpid());
  EXPECT_EQ(who["uid"], ::getuid());
  EXPECT_EQ(who["gid"], ::getgid());
  EXPECT_EQ(who["method"], "who");
  EXPECT_EQ(who["netns"], "");
  EXPECT_EQ(who["x"], 7) << "the context parameter does not count as a JSON argument";
  EXPECT_EQ(remote_error([&] { channel().call("who", 7, 8); }).code, error_code::invalid_params);
}

TEST_F(PeerTest, MemberFunctionsRegisterInOneStatementWithNamedParams) {
  Calculator calc;
  server.register_functions_in_object(calc, method("calc.add", &Calculator::add),
                                      method("calc.sub", &Calculator::sub, {"a", "b"}),
                                      method("calc.greet", &Calculator::greet, {"who"}));
  EXPECT_EQ(channel().call<int>("calc.add", 2, 3), 5);
  EXPECT_EQ(channel().call<int>("calc.sub", 10, 4), 6);
  EXPECT_EQ(channel().call_named("calc.sub", {{"b", 4}, {"a", 10}}), json(6));
  calc.base = 7;  // registered by reference: the handler sees the object as it is now
  EXPECT_EQ(channel().call_named("calc.greet", {{"who", "bob"}}), json("hi bob from 7"));
}

// A result that does not convert is the caller's mistake, not the transport's: its own
// exception, naming the method and showing what came back.
TEST_F(PeerTest, TypedResultsConvertOrFailWithResultTypeError) {
  EXPECT_EQ(channel().call<std::string>("echo", "text"), "text");
  const std::string long_text(5000, 'y');  // a string result is handed over, not copied
  EXPECT_EQ(channel().call<std::string>("echo", long_text), long_text);
  EXPECT_THROW(channel().call<std::string>("echo", 12345), ResultTypeError);
  EXPECT_EQ(channel().call<int>("echo", 12345), 12345);
  EXPECT_EQ(channel().call<std::vector<int>>("echo", json::array({1, 2, 3})),
            (std::vector<int>{1, 2, 3}));
  try {
    channel().call<int>("echo", "not a number");
    ADD_FAILURE() << "a string converted to int";
  } catch (const ResultTypeError& e) {
    EXPECT_EQ(e.method(), "echo");
    EXPECT_EQ(e.result(), R"("not a number")");
    const std::string what = e.what();
    EXPECT_NE(what.find("'echo'"), std::string::npos) << what;
    EXPECT_NE(what.find(R"("not a number")"), std::string::npos) << what;
  }
  try {
    channel().call<int>("echo", std::string(1000, 'x'));
    ADD_FAILURE() << "a string converted to int";
  } catch (const ResultTypeError& e) {
    EXPECT_LT(e.result().size(), 300u) << "a long result is shown shortened";
  }
}

TEST_F(PeerTest, WrongArgumentTypeIsInvalidParams) {
  const ErrorObject e = remote_error([&] { channel().call("subtract", "forty-two", 23); });
  EXPECT_EQ(e.code, error_code::invalid_params);
  EXPECT_EQ(remote_error([&] { channel().call_named("subtract", {{"minuend", "x"}, {"subtrahend", 1}}); })
                .code,
            error_code::invalid_params);
}

// What a caller reads when an argument does not fit: which one, what was expected, what came.
TEST_F(PeerTest, InvalidParamsSaysWhichArgumentAndWhatItExpected) {
  EXPECT_EQ(remote_error([&] { channel().call("subtract", "forty-two", 23); }).data,
            json("argument 1 (minuend): expected integer, got string"));
  EXPECT_EQ(remote_error([&] { channel().call("concat", "a", 7); }).data,
            json("argument 2: expected string, got integer"));
  EXPECT_EQ(remote_error([&] { channel().call("subtract", 1); }).data,
            json("expected 2 arguments, got 1"));
  EXPECT_EQ(remote_error([&] { channel().call("sleep"); }).data,
            json("expected 1 argument, got 0"));
  EXPECT_EQ(remote_error([&] { channel().call_with("sleep", nullptr); }).data,
            json("expected 1 argument, got none"));
  EXPECT_EQ(remote_error([&] {
              channel().call_named("subtract", {{"minuend", 1}, {"subtrahend", 2}, {"extra", 3}});
            }).data,
            json("unexpected named argument 'extra'"));
}

// An integer parameter takes an integer in its type's range (or a whole number such as 2.0);
// anything else is refused, never wrapped or cut to a different number.
TEST(TypedHandler, IntegerArgumentsOutsideTheirTypeAreRefusedNotWrapped) {
  RPCPeer server;
  server.register_function("small", [](std::int8_t v) { return v; }, {"v"});
  server.register_function("count", [](std::uint32_t v) { return v; });
  server.register_function("flag", [](bool v) { return v; });
  server.register_function("ratio", [](double v) { return v; });
  server.start();
  RPCPeer client;
  const Channel channel = client.talk_to(server.nl_pid());
  EXPECT_EQ(channel.call<int>("small", -128), -128);
  EXPECT_EQ(channel.call<int>("small", 2.0), 2);
  EXPECT_EQ(remote_error([&] { channel.call("small", 300); }).data,
            json("argument 1 (v): 300 is out of range (-128 to 127)"));
  EXPECT_EQ(remote_error([&] { channel.call("small", 1.5); }).data,
            json("argument 1 (v): expected integer, got number"));
  EXPECT_EQ(remote_error([&] { channel.call("count", -1); }).data,
            json("argument 1: -1 is out of range (0 to 4294967295)"));
  EXPECT_EQ(remote_error([&] { channel.call("count", 1e300); }).code, error_code::invalid_params);
  EXPECT_EQ(channel.call<std::uint32_t>("count", 4294967295u), 4294967295u);
  EXPECT_EQ(remote_error([&] { channel.call("flag", 1); }).data,
            json("argument 1: expected boolean, got integer"));
  EXPECT_EQ(channel.call<double>("ratio", 3), 3.0);
  EXPECT_EQ(remote_error([&] { channel.call("ratio", "3"); }).data,
            json("argument 1: expected number, got string"));
}

// Trailing std::optional parameters may be left out, or given as null.
TEST(TypedHandler, OptionalTrailingArgumentsMayBeAbsentOrNull) {
  RPCPeer server;
  server.register_function(
      "greet",
      [](const std::string& name, std::optional<std::string> greeting, std::optional<int> times) {
        std::string text;
        for (int i = 0; i < times.value_or(1); ++i) text += greeting.value_or("Hello") + ", " + name + "!";
        return text;
      },
      {"name", "greeting", "times"});
  server.start();
  RPCPeer client;
  const Channel channel = client.talk_to(server.nl_pid());
  EXPECT_EQ(channel.call<std::string>("greet", "Ann"), "Hello, Ann!");
  EXPECT_EQ(channel.call<std::string>("greet", "Ann", "Hi"), "Hi, Ann!");
  EXPECT_EQ(channel.call<std::string>("greet", "Ann", nullptr, 2), "Hello, Ann!Hello, Ann!");
  EXPECT_EQ(channel.call_named("greet", {{"name", "Bo"}, {"times", 2}}), json("Hello, Bo!Hello, Bo!"));
  EXPECT_EQ(remote_error([&] { channel.call("greet"); }).data,
            json("expected 1 to 3 arguments, got 0"));
  EXPECT_EQ(remote_error([&] { channel.call("greet", "Ann", 5); }).data,
            json("argument 2 (greeting): expected string, got integer"));
  EXPECT_EQ(remote_error([&] { channel.call_named("greet", {{"greeting", "Hi"}}); }).data,
            json("missing named argument 'name'"));
}

TEST_F(PeerTest, WrongArgumentCountIsInvalidParams) {
  EXPECT_EQ(remote_error([&] { channel().call("subtract", 1); }).code, error_code::invalid_params);
  EXPECT_EQ(remote_error([&] { channel().call("subtract", 1, 2, 3); }).code,
            error_code::invalid_params);
  EXPECT_EQ(remote_error([&] { channel().call_with("subtract", nullptr); }).code,
            error_code::invalid_params);
  EXPECT_EQ(remote_error([&] { channel().call_named("subtract", {{"minuend", 1}}); }).code,
            error_code::invalid_params);
  EXPECT_EQ(remote_error([&] {
              channel().call_named("subtract", {{"minuend", 1}, {"subtrahend", 2}, {"extra", 3}});
            }).code,
            error_code::invalid_params);
}

TEST_F(PeerTest, UnknownMethodIsMethodNotFound) {
  const ErrorObject e = remote_error([&] { channel().call("no.such.method"); });
  EXPECT_EQ(e.code, error_code::method_not_found);
  server.unregister("echo");
  EXPECT_EQ(remote_error([&] { channel().call("echo", 1); }).code, error_code::method_not_found);
}

// Serving threads keep the method they last ran: whatever changes the methods or the policy
// must reach the very next call, on whichever thread serves it.
TEST_F(PeerTest, ChangesToMethodsAndPolicyReachTheNextCall) {
  const Channel c = channel();
  const auto calls = [&](int n) {
    std::vector<json> results;
    for (int i = 0; i < n; ++i) results.push_back(c.call("echo", i));
    return results;
  };
  for (const json& r : calls(10)) EXPECT_TRUE(r.is_number());
  server.register_function("echo", [](const json& value) { return json{{"new", value}}; });
  for (const json& r : calls(10)) EXPECT_TRUE(r.contains("new")) << r;
  server.unregister("echo");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(remote_error([&] { c.call("echo", i); }).code, error_code::method_not_found);
  }
  server.register_function("echo", [](const json& value) { return value; });
  for (const json& r : calls(10)) EXPECT_TRUE(r.is_number());
  AccessPolicy others;
  others.uids = {::getuid() + 1};
  server.set_policy(others);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(remote_error([&] { c.call("echo", i); }).code, error_code::access_denied);
  }
  server.set_policy({});
  for (const json& r : calls(10)) EXPECT_TRUE(r.is_number());
  server.set_method_policy("echo", others);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(remote_error([&] { c.call("echo", i); }).code, error_code::access_denied);
  }
}

TEST_F(PeerTest, JsonRpcErrorFromHandlerReachesCallerIntact) {
  server.register_function("refuse", []() -> int {
    throw JsonRpcError(-32000, "x", json{{"why", "because"}, {"n", 3}});
  });
  try {
    channel().call("refuse");
    FAIL() << "expected RemoteError";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), -32000);
    EXPECT_EQ(e.message(), "x");
    ASSERT_TRUE(e.data().has_value());
    EXPECT_EQ(*e.data(), (json{{"why", "because"}, {"n", 3}}));
  }
}

TEST_F(PeerTest, OtherExceptionFromHandlerIsInternalErrorWithItsText) {
  server.register_function("explode", []() -> int { throw std::runtime_error("boom"); });
  const ErrorObject e = remote_error([&] { channel().call("explode"); });
  EXPECT_EQ(e.code, error_code::internal_error);
  ASSERT_TRUE(e.data.has_value());
  EXPECT_EQ(*e.data, json("boom"));
}

TEST_F(PeerTest, CallToUnboundPortFailsWithNoPeerAtOnce) {
  const auto start = std::chrono::steady_clock::now();
  // A long deadline: a no_peer failure must come from the kernel's refusal, not from waiting.
  EXPECT_EQ(transport_error_kind([&] {
              client.talk_to(unbound_nl_pid()).with_timeout(60s).call("echo", 1);
            }),
            TransportError::Kind::no_peer);
  EXPECT_LT(std::chrono::steady_clock::now() - start, kLiveness);
  // The failed call led (nobody else received): it must have given the lead up, or this call,
  // and every other on the client, would wait behind it until its deadline.
  EXPECT_EQ(channel().with_timeout(60s).call<int>("echo", 2), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - start, kLiveness);
}

TEST_F(PeerTest, ShortTimeoutOnSlowHandlerIsTimeout) {
  EXPECT_EQ(transport_error_kind([&] { channel().with_timeout(200ms).call("sleep", 1500); }),
            TransportError::Kind::timeout);
  // The peer is still usable afterwards.
  EXPECT_EQ(channel().call<int>("echo", 5), 5);
}

// A deadline of a second or more is taken from the coarse clock, moved forward by its
// resolution: it may come a few milliseconds late, never early.
TEST_F(PeerTest, ATimeoutOfASecondNeverEndsTheCallEarly) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(transport_error_kind([&] { channel().with_timeout(1000ms).call("sleep", 1500); }),
            TransportError::Kind::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1000ms);
}

TEST_F(PeerTest, NotificationReachesHandler) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<json> received;
  server.register_raw("record", [&](const json& params, const CallContext&) {
    // Notified under the lock: the waiter may destroy cv as soon as it can lock mu.
    std::lock_guard lock(mu);
    received.push_back(params);
    cv.notify_all();
    return json(nullptr);
  });
  channel().notify("record", "a", 1);
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, kLiveness, [&] { return !received.empty(); }));
  EXPECT_EQ(received.front(), json::array({"a", 1}));
}

// The server reads a burst on one thread; a handler that blocks in it must not hold up the
// calls queued behind it (another thread takes the socket over). The blocking handler is only
// released once every call behind it has been answered, so a server that waited for it would
// never finish the test: no timing is measured.
TEST_F(PeerTest, BlockedHandlerInABurstDoesNotHoldUpTheCallsQueuedBehindIt) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  server.register_function("block", [released] {
    released.wait();
    return true;
  });
  std::future<json> blocked = channel().async_call("block");
  std::vector<std::future<json>> fast;
  for (int i = 0; i < 64; ++i) fast.push_back(channel().async_call("subtract", i, 1));
  for (int i = 0; i < 64; ++i) {
    ASSERT_EQ(fast[i].wait_for(kLiveness), std::future_status::ready) << "call " << i;
    EXPECT_EQ(fast[i].get(), json(i - 1));
  }
  EXPECT_NE(blocked.wait_for(0ms), std::future_status::ready);
  release.set_value();
  ASSERT_EQ(blocked.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(blocked.get(), json(true));
}

// Requests queued before the server starts are read in batches (one recvmmsg takes several):
// the ones a batch holds behind a blocked handler are taken by another serving thread once the
// socket is handed off, rather than waiting in the blocked thread's batch.
TEST(PeerServing, CallsBatchedBehindABlockedHandlerAreAnsweredMeanwhile) {
  PeerOptions options;
  options.workers = 2;
  RPCPeer server(options);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  server.register_function("block", [released] {
    released.wait();
    return true;
  });
  server.register_function("echo", [](int x) { return x; });
  RPCPeer client;
  const Channel channel = client.talk_to(server.nl_pid());
  std::vector<std::future<json>> fast;
  fast.push_back(channel.async_call("echo", 0));
  std::future<json> blocked = channel.async_call("block");
  for (int i = 1; i <= 10; ++i) fast.push_back(channel.async_call("echo", i));
  auto served = std::async(std::launch::async, [&] { server.run_server_forever(); });
  for (int i = 0; i <= 10; ++i) {
    EXPECT_EQ(fast[i].wait_for(kLiveness), std::future_status::ready) << "call " << i;
  }
  EXPECT_NE(blocked.wait_for(0ms), std::future_status::ready) << "returned before its release";
  release.set_value();  // also when a call above failed: the server can stop then
  for (int i = 0; i <= 10; ++i) EXPECT_EQ(fast[i].get(), json(i));
  EXPECT_EQ(blocked.get(), json(true));
  server.stop();
  ASSERT_EQ(served.wait_for(kLiveness), std::future_status::ready);
}

TEST_F(PeerTest, AsyncCallReturnsFuture) {
  std::future<json> slow = channel().async_call("sleep", 100);
  std::future<json> fast = channel().async_call("subtract", 5, 3);
  std::future<json> bad = channel().async_call("no.such.method");
  ASSERT_EQ(fast.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(fast.get(), json(2));
  ASSERT_EQ(slow.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(slow.get(), json(100));
  ASSERT_EQ(bad.wait_for(kLiveness), std::future_status::ready);
  try {
    bad.get();
    FAIL() << "expected RemoteError";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::method_not_found);
  }
}

TEST_F(PeerTest, AsyncCallRunsCallbackWithTheOutcome) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<CallOutcome> outcomes;
  auto done = [&](CallOutcome outcome) {
    // Notified under the lock: the waiter may destroy cv as soon as it can lock mu.
    std::lock_guard lock(mu);
    outcomes.push_back(std::move(outcome));
    cv.notify_all();
  };
  channel().async_call_with("echo", json::array({"cb"}), done);
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, kLiveness, [&] { return outcomes.size() == 1; }));
  EXPECT_EQ(outcomes[0].get(), json("cb"));
  lock.unlock();
  channel().async_call_with("subtract", json::array({1}), done);
  lock.lock();
  ASSERT_TRUE(cv.wait_for(lock, kLiveness, [&] { return outcomes.size() == 2; }));
  EXPECT_THROW(outcomes[1].get(), RemoteError);
}

TEST_F(PeerTest, AsyncCallToUnboundPortDeliversNoPeer) {
  std::future<json> f = client.talk_to(unbound_nl_pid()).async_call("echo", 1);
  ASSERT_EQ(f.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(transport_error_kind([&] { f.get(); }), TransportError::Kind::no_peer);
}

TEST_F(PeerTest, AsyncCallTimesOutAtItsDeadline) {
  std::future<json> f = channel().with_timeout(200ms).async_call("sleep", 1500);
  ASSERT_EQ(f.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(transport_error_kind([&] { f.get(); }), TransportError::Kind::timeout);
}

// Answered calls leave their deadlines behind (they are skipped, and swept out once they are
// most of the list): after thousands of them, a call that is not answered still times out,
// and one that is answered is not failed by a stale deadline.
TEST_F(PeerTest, AsyncDeadlinesHoldAfterThousandsOfAnsweredCalls) {
  const Channel quick = channel().with_timeout(60s);
  for (int round = 0; round < 3; ++round) {
    std::vector<std::future<json>> answered;
    for (int i = 0; i < 1500; ++i) answered.push_back(quick.async_call("echo", i));
    for (int i = 0; i < 1500; ++i) {
      ASSERT_EQ(answered[i].wait_for(kLiveness), std::future_status::ready);
      EXPECT_EQ(answered[i].get(), json(i));
    }
  }
  std::future<json> late = channel().with_timeout(200ms).async_call("sleep", 1500);
  std::future<json> fine = channel().with_timeout(60s).async_call("sleep", 300);
  ASSERT_EQ(late.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(transport_error_kind([&] { late.get(); }), TransportError::Kind::timeout);
  ASSERT_EQ(fine.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(fine.get(), json(300));
}

TEST_F(PeerTest, BatchOfOneCallIsAnsweredLikeAnyBatch) {
  const auto outcomes = channel().call_batch({{"subtract", json::array({42, 23})}});
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].get(), json(19));
}

TEST_F(PeerTest, BatchReturnsOneOutcomePerCallInOrder) {
  const auto outcomes = channel().call_batch({{"subtract", json::array({42, 23})},
                                              {"no.such.method", nullptr},
                                              {"echo", json::array({"e"})},
                                              {"subtract", {{"minuend", 1}, {"subtrahend", 2}}},
                                              {"subtract", json::array({"x"})}});
  ASSERT_EQ(outcomes.size(), 5u);
  EXPECT_EQ(outcomes[0].get(), json(19));
  try {
    outcomes[1].get();
    FAIL();
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::method_not_found);
  }
  EXPECT_EQ(outcomes[2].get(), json("e"));
  EXPECT_EQ(outcomes[3].get(), json(-1));
  try {
    outcomes[4].get();
    FAIL();
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::invalid_params);
  }
}

// Each element waits until all three have started: only elements run side by side get there.
TEST_F(PeerTest, BatchElementsRunAtTheSameTime) {
  std::mutex m;
  std::condition_variable cv;
  int arrived = 0;
  server.register_function("meet", [&](int n) {
    std::unique_lock lock(m);
    ++arrived;
    cv.notify_all();
    return cv.wait_for(lock, kLiveness, [&] { return arrived >= n; });
  });
  const auto outcomes = channel().with_timeout(3 * kLiveness).call_batch(
      {{"meet", json::array({3})}, {"meet", json::array({3})}, {"meet", json::array({3})}});
  ASSERT_EQ(outcomes.size(), 3u);
  for (const auto& outcome : outcomes) EXPECT_EQ(outcome.get(), json(true));
}

// Batch elements run on threads the peer keeps: many batches are served by a few threads, not
// by new ones each time (kernel thread ids are not reused soon, unlike std::thread::id). The
// elements of each batch meet, as above, so that all eight run at once on eight threads.
TEST_F(PeerTest, BatchesReuseTheirHelperThreads) {
  std::mutex m;
  std::condition_variable cv;
  int arrived = 0;
  std::set<long> tids;
  server.register_function("meet", [&](int n) {
    std::unique_lock lock(m);
    tids.insert(static_cast<long>(::syscall(SYS_gettid)));
    ++arrived;
    cv.notify_all();
    return cv.wait_for(lock, kLiveness, [&] { return arrived >= n; });
  });
  constexpr int kRounds = 30;
  for (int round = 1; round <= kRounds; ++round) {
    std::vector<std::pair<std::string, json>> batch(8, {"meet", json::array({8 * round})});
    for (const auto& outcome : channel().with_timeout(3 * kLiveness).call_batch(batch)) {
      EXPECT_EQ(outcome.get(), json(true));
    }
  }
  // 7 helpers and the few serving threads; threads made per batch would be 7 per round.
  EXPECT_LT(tids.size(), std::size_t{kRounds});
}

TEST_F(PeerTest, HandlerMayCallAnotherPeerWhileServing) {
  RPCPeer front;
  const std::uint32_t backend = server.nl_pid();
  front.register_function("relay", [&front, backend](int a, int b) {
    return front.talk_to(backend).call<int>("subtract", a, b) * 10;
  });
  front.start();
  EXPECT_EQ(client.talk_to(front.nl_pid()).call<int>("relay", 9, 4), 50);
  // And the serving peer's own thread may call out at the same time as it serves.
  EXPECT_EQ(front.talk_to(server.nl_pid()).call<int>("subtract", 3, 1), 2);
  std::vector<std::future<json>> relayed;
  for (int i = 0; i < 8; ++i) relayed.push_back(client.talk_to(front.nl_pid()).async_call("relay", i, 1));
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(relayed[i].wait_for(kLiveness), std::future_status::ready);
    EXPECT_EQ(relayed[i].get(), json((i - 1) * 10));
  }
}

// The thread that takes a request keeps its peer's socket while the handler runs; a handler
// that calls through its own peer must hand the socket back before it waits, or its reply
// waits behind it until another thread takes the socket over (hand_off). With hand_off at an
// hour only the hand-back can deliver the replies before the test's deadline.
TEST_F(PeerTest, HandlerCallingThroughItsOwnPeerHandsItsSocketBack) {
  PeerOptions options;
  options.workers = 2;
  options.hand_off = std::chrono::hours(1);
  RPCPeer front(options);
  const std::uint32_t backend = server.nl_pid();
  front.register_function("relay", [&front, backend](int a, int b) {
    return front.talk_to(backend).call<int>("subtract", a, b) * 10;
  });
  front.register_function("relay_async", [&front, backend](int a, int b) {
    return front.talk_to(backend).async_call("subtract", a, b).get().get<int>() * 10;
  });
  front.start();
  const Channel to_front = client.talk_to(front.nl_pid()).with_timeout(kLiveness);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(to_front.call<int>("relay", i, 1), (i - 1) * 10);
    EXPECT_EQ(to_front.call<int>("relay_async", i, 2), (i - 2) * 10);
  }
}

// A reply's callback that makes the next call (pipelining) keeps the socket it drains: the
// next reply is then read by the same thread. Handing the socket back for every call (as a
// request handler must, above) would cost a re-arm each and pass the replies around the pool.
TEST_F(PeerTest, ReplyCallbackChainingCallsKeepsItsSocket) {
  PeerOptions options;
  options.workers = 2;
  options.hand_off = std::chrono::hours(1);  // no take-over: only a hand-back moves the socket
  RPCPeer caller(options);
  const Channel to_server = caller.talk_to(server.nl_pid()).with_timeout(kLiveness);
  std::mutex m;
  std::set<std::thread::id> threads;
  std::promise<void> finished;
  int left = 200;
  std::function<void(CallOutcome)> next = [&](CallOutcome outcome) {
    EXPECT_EQ(outcome.get(), json(7));
    std::lock_guard lock(m);
    threads.insert(std::this_thread::get_id());
    if (--left == 0) {
      finished.set_value();
    } else {
      to_server.async_call_with("echo", json::array({7}), next);
    }
  };
  to_server.async_call_with("echo", json::array({7}), next);
  ASSERT_EQ(finished.get_future().wait_for(kLiveness), std::future_status::ready);
  std::lock_guard lock(m);
  EXPECT_EQ(threads.size(), 1u);
}

// A reply's callback that waits for another call's future: the reply to that call comes to
// the socket the callback's thread drains, so the socket must be handed back first.
TEST_F(PeerTest, ReplyCallbackWaitingForAFutureGetsItsReply) {
  PeerOptions options;
  options.workers = 2;
  options.hand_off = std::chrono::hours(1);  // no take-over: only a hand-back moves the socket
  RPCPeer caller(options);
  const Channel to_server = caller.talk_to(server.nl_pid()).with_timeout(5s);
  std::promise<json> got;
  to_server.async_call_with("echo", json::array({1}), [&](CallOutcome first) {
    try {
      EXPECT_EQ(first.get(), json(1));
      got.set_value(to_server.async_call("echo", 2).get());
    } catch (...) {
      got.set_exception(std::current_exception());
    }
  });
  auto result = got.get_future();
  ASSERT_EQ(result.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(result.get(), json(2));
}

TEST(PeerServing, StopFromAnotherThreadEndsRunServerForever) {
  RPCPeer peer;
  peer.register_function("echo", [](int x) { return x; });
  auto served = std::async(std::launch::async, [&] { peer.run_server_forever(); });
  RPCPeer client;
  EXPECT_EQ(client.talk_to(peer.nl_pid()).call<int>("echo", 3), 3);
  EXPECT_TRUE(peer.serving());
  std::thread([&] { peer.stop(); }).join();
  ASSERT_EQ(served.wait_for(kLiveness), std::future_status::ready);
  served.get();
  EXPECT_FALSE(peer.serving());
  // A stopped peer can still make calls of its own and be served again.
  auto again = std::async(std::launch::async, [&] { peer.run_server_forever(); });
  EXPECT_EQ(client.talk_to(peer.nl_pid()).call<int>("echo", 4), 4);
  peer.stop();
  ASSERT_EQ(again.wait_for(kLiveness), std::future_status::ready);
}

RPCPeer* g_signalled_peer = nullptr;
extern "C" void stop_on_signal(int) {
  if (g_signalled_peer) g_signalled_peer->stop();
}

// A call from a thread_local object's destructor that runs after the peer's own per-thread
// buffers and records are gone (it was made before them, so it is destroyed after them): a
// goodbye message from an object that lives as long as its thread.
TEST(PeerShutdown, ACallFromALateThreadLocalDestructorWorks) {
  RPCPeer server;
  server.register_function("echo", [](const json& value) { return value; }, {"value"});
  server.start();
  RPCPeer client;  // not serving: the calling thread receives its replies itself
  const Channel channel = client.talk_to(server.nl_pid());
  std::promise<json> said;
  std::thread([&] {
    struct Goodbye {
      const Channel* channel;
      std::promise<json>* said;
      ~Goodbye() {
        try {
          said->set_value(channel->call("echo", "bye"));
        } catch (...) {
          said->set_exception(std::current_exception());
        }
      }
    };
    thread_local Goodbye goodbye{&channel, &said};
    EXPECT_EQ(goodbye.channel->call("echo", "hello"), json("hello"));
  }).join();
  EXPECT_EQ(said.get_future().get(), json("bye"));
}

TEST(PeerServing, StopFromSignalHandlerEndsRunServerForever) {
  RPCPeer peer;
  peer.register_function("echo", [](int x) { return x; });
  g_signalled_peer = &peer;
  struct sigaction action {}, previous {};
  action.sa_handler = stop_on_signal;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
  auto served = std::async(std::launch::async, [&] { peer.run_server_forever(); });
  RPCPeer client;
  EXPECT_EQ(client.talk_to(peer.nl_pid()).call<int>("echo", 1), 1);
  ASSERT_EQ(raise(SIGUSR1), 0);  // runs the handler on this thread, not the serving one
  const auto status = served.wait_for(kLiveness);
  if (status != std::future_status::ready) peer.stop();  // do not leave a thread behind
  served.get();
  sigaction(SIGUSR1, &previous, nullptr);
  g_signalled_peer = nullptr;
  EXPECT_EQ(status, std::future_status::ready);
}

TEST(PeerServing, StopFromSignalHandlerOnTheServingThreadEndsRunServerForever) {
  RPCPeer peer;
  peer.register_function("echo", [](int x) { return x; });
  g_signalled_peer = &peer;
  struct sigaction action {}, previous {};
  action.sa_handler = stop_on_signal;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
  std::promise<void> finished;
  auto done = finished.get_future();
  std::thread serving([&] {
    peer.run_server_forever();
    finished.set_value();
  });
  RPCPeer client;
  EXPECT_EQ(client.talk_to(peer.nl_pid()).call<int>("echo", 1), 1);
  // The signal interrupts the serving thread's own wait (EINTR) and the handler runs there.
  ASSERT_EQ(pthread_kill(serving.native_handle(), SIGUSR1), 0);
  const auto status = done.wait_for(kLiveness);
  if (status != std::future_status::ready) peer.stop();  // do not leave a thread behind
  serving.join();
  sigaction(SIGUSR1, &previous, nullptr);
  g_signalled_peer = nullptr;
  EXPECT_EQ(status, std::future_status::ready);
}

// The system call a thread of this process is blocked in (the first field of
// /proc/self/task/TID/syscall), or -1 when it is running or gone.
long blocked_syscall(pid_t tid) {
  std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/syscall");
  std::string first;
  if (!(file >> first) || first == "running") return -1;
  try {
    return std::stol(first);
  } catch (const std::exception&) {
    return -1;
  }
}

// Waits (up to `patience`) until a thread of this process other than `except` is blocked in
// `syscall`; returns its id or 0.
pid_t wait_for_thread_blocked_in(long syscall, pid_t except = 0,
                                 std::chrono::milliseconds patience = kLiveness) {
  const auto give_up = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < give_up) {
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      const pid_t tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
      if (tid != except && blocked_syscall(tid) == syscall) return tid;
    }
    std::this_thread::sleep_for(1ms);
  }
  return 0;
}

// Between requests a serving thread waits for the next one in a receive on the socket itself
// (recvmmsg, which also takes the datagrams queued behind it), as a plain receive loop does
// (not in epoll_wait, which costs a re-arm per request too), and stop() still wakes it: the
// peer stops and serves again.
TEST(PeerServing, IdleServingThreadWaitsInRecvmmsgOnTheSocketAndStopWakesIt) {
  PeerOptions options;
  options.workers = 2;
  RPCPeer peer(options);
  peer.register_function("echo", [](int x) { return x; });
  RPCPeer client;
  for (int round = 0; round < 2; ++round) {
    auto served = std::async(std::launch::async, [&] { peer.run_server_forever(); });
    // A datagram taken while the pool is still starting (one thread so far) is read without
    // waiting on the socket: calls go on until one finds the pool whole.
    pid_t waiting = 0;
    const auto give_up = std::chrono::steady_clock::now() + kLiveness;
    for (int i = 0; waiting == 0 && std::chrono::steady_clock::now() < give_up; ++i) {
      EXPECT_EQ(client.talk_to(peer.nl_pid()).call<int>("echo", i), i);
      waiting = wait_for_thread_blocked_in(SYS_recvmmsg, 0, 200ms);
    }
    EXPECT_NE(waiting, 0) << "round " << round;
    peer.stop();
    const auto status = served.wait_for(kLiveness);
    ASSERT_EQ(status, std::future_status::ready) << "round " << round;
    served.get();
  }
}

// A caller on a peer that does not serve waits for its reply in recvmsg on its socket, not in
// ppoll first: one system call less per call.
TEST(PeerServing, CallerOfAPeerThatDoesNotServeWaitsForItsReplyInRecvmsg) {
  RPCPeer server;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  server.register_function("block", [released] {
    released.wait();
    return true;
  });
  server.start();
  RPCPeer client;
  std::promise<pid_t> caller_tid;
  auto result = std::async(std::launch::async, [&] {
    caller_tid.set_value(static_cast<pid_t>(syscall(SYS_gettid)));
    return client.talk_to(server.nl_pid()).call<bool>("block");
  });
  const pid_t tid = caller_tid.get_future().get();
  const auto give_up = std::chrono::steady_clock::now() + kLiveness;
  long seen = -1;
  while (seen != SYS_recvmsg && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
    seen = blocked_syscall(tid);
  }
  EXPECT_EQ(seen, SYS_recvmsg);
  release.set_value();
  ASSERT_EQ(result.wait_for(kLiveness), std::future_status::ready);
  EXPECT_TRUE(result.get());
}

TEST(PeerServing, DestructorOfServingPeerJoinsCleanly) {
  auto finished = std::async(std::launch::async, [] {
    RPCPeer client;
    for (int round = 0; round < 3; ++round) {
      RPCPeer peer;
      peer.register_function("echo", [](int x) { return x; });
      peer.start();
      EXPECT_EQ(client.talk_to(peer.nl_pid()).call<int>("echo", round), round);
    }
    // Also one that serves on its own thread through run_server_forever.
    auto peer = std::make_unique<RPCPeer>();
    peer->register_function("echo", [](int x) { return x; });
    std::thread serving([&] { peer->run_server_forever(); });
    EXPECT_EQ(client.talk_to(peer->nl_pid()).call<int>("echo", 9), 9);
    peer->stop();
    serving.join();
    peer.reset();
  });
  ASSERT_EQ(finished.wait_for(kLiveness), std::future_status::ready);
  finished.get();
}

TEST(PeerServing, DestructorFailsOutstandingAsyncCalls) {
  RPCPeer server;
  server.register_function("sleep", [](int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  });
  server.start();
  std::future<json> pending;
  std::atomic<int> callbacks{0};
  std::optional<CallOutcome> outcome;
  {
    RPCPeer client;
    Channel channel = client.talk_to(server.nl_pid()).with_timeout(60s);
    pending = channel.async_call("sleep", 300);
    channel.async_call_with("sleep", json::array({300}), [&](CallOutcome o) {
      ++callbacks;
      outcome = std::move(o);
    });
  }
  // The peer is gone: both calls must have failed with a transport error, not hang or vanish.
  EXPECT_EQ(callbacks.load(), 1);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_THROW(outcome->get(), TransportError);
  ASSERT_EQ(pending.wait_for(kLiveness), std::future_status::ready);
  EXPECT_THROW(pending.get(), TransportError);
}

TEST(PeerServing, AsyncCallInFlightWhenServingStopsEndsWithTransportError) {
  RPCPeer server;
  server.register_function("sleep", [](int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  });
  server.start();
  RPCPeer client;
  client.start();
  std::future<json> in_flight = client.talk_to(server.nl_pid()).with_timeout(60s).async_call("sleep", 1000);
  client.stop();
  // Nobody receives for the client any more: the call must end rather than wait forever.
  ASSERT_EQ(in_flight.wait_for(kLiveness), std::future_status::ready);
  EXPECT_THROW(in_flight.get(), TransportError);
}

TEST(PeerServing, AsyncCallAfterARepeatedStopStillCompletes) {
  RPCPeer server;
  server.register_function("echo", [](int x) { return x; });
  server.start();
  RPCPeer client;
  client.start();
  client.stop();
  const auto deadline = std::chrono::steady_clock::now() + kLiveness;
  while (client.serving() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_FALSE(client.serving());
  client.stop();  // stop() twice, as a second signal would: nothing is serving now
  std::future<json> f = client.talk_to(server.nl_pid()).with_timeout(10s).async_call("echo", 5);
  ASSERT_EQ(f.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(f.get(), json(5));
}

class LargeMessageTest : public PeerTest {};

TEST_F(LargeMessageTest, EchoesLargeStringsIntact) {
  for (const std::size_t size : {std::size_t{100} << 10, std::size_t{1} << 20, std::size_t{64} << 20}) {
    SCOPED_TRACE(size);
    std::string text(size, '\0');
    // Not a repeated byte: a misplaced fragment must change the content.
    for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
    const auto echoed = channel().with_timeout(60s).call<std::string>("echo", text);
    ASSERT_EQ(echoed.size(), text.size());
    EXPECT_TRUE(echoed == text);
  }
}

// Senders and receivers keep their large buffers for the next message: a shorter message
// after a longer one must not carry any of the longer one's bytes.
TEST_F(LargeMessageTest, ShrinkingMessagesReuseBuffersWithoutStaleBytes) {
  for (const std::size_t size : {std::size_t{3} << 20, std::size_t{1} << 20, std::size_t{70} << 10,
                                 std::size_t{5000}, std::size_t{3} << 20}) {
    SCOPED_TRACE(size);
    std::string text(size, '\0');
    for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + (i * 13 + size) % 26);
    const auto echoed = channel().with_timeout(60s).call<std::string>("echo", text);
    EXPECT_TRUE(echoed == text);
  }
}

// A request's string of detail::kAdoptMin (1 MiB) or more takes over the buffer its message was assembled in,
// and a large string reply, once sent, is where the next large message is assembled. Members
// after the large string, other results, and changing sizes and contents must all come out
// right, round after round.
TEST_F(LargeMessageTest, LargeStringsTakingOverAndReturningBuffersStayIntact) {
  RPCPeer service;
  service.register_function(
      "wrap", [](std::string text, std::string tag) { return tag + text + tag; }, {"text", "tag"});
  service.register_function("size", [](std::string text) { return text.size(); }, {"text"});
  service.register_function("echo", [](json value) { return value; }, {"value"});
  service.start();
  const Channel to_service = client.talk_to(service.nl_pid()).with_timeout(60s);
  // Growing, shrinking, and around the threshold (the request's text just above 1 MiB).
  const std::size_t sizes[] = {std::size_t{5} << 20, std::size_t{6} << 20, std::size_t{1} << 20,
                               std::size_t{9} << 19, std::size_t{3} << 19, std::size_t{5} << 20};
  for (std::size_t round = 0; round < std::size(sizes); ++round) {
    SCOPED_TRACE(round);
    std::string text(sizes[round], '\0');
    for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + (i * 3 + round) % 26);
    EXPECT_TRUE(to_service.call<std::string>("echo", text) == text);
    const std::string tag = "<" + std::to_string(round) + ">";
    EXPECT_TRUE(to_service.call_with("wrap", json{{"text", text}, {"tag", tag}}) ==
                json(tag + text + tag));
    EXPECT_EQ(to_service.call_with("size", json{{"text", text}}), json(text.size()));
  }
}

// A large string result takes over the buffer its reply was reassembled in; handed back, that
// buffer receives the next large reply, whose string then lives in the very same memory.
TEST_F(LargeMessageTest, AGivenBackResultIsTheBufferTheNextLargeResultArrivesIn) {
  const Channel to_server = client.talk_to(server.nl_pid()).with_timeout(60s);
  std::string text(std::size_t{5} << 20, 'x');
  json first = to_server.call_with("echo", json::array({text}));
  ASSERT_TRUE(first == json(text));
  const char* buffer = first.get_ref<const std::string&>().data();
  client.give_back(std::move(first));
  for (std::size_t i = 0; i < text.size(); i += 4099) text[i] = static_cast<char>('a' + i % 26);
  json second = to_server.call_with("echo", json::array({text}));
  EXPECT_TRUE(second == json(text));  // nothing of the first result shows through
  EXPECT_EQ(second.get_ref<const std::string&>().data(), buffer);
  // Inside an array or object too; whatever else the value holds is simply freed.
  const char* again = second.get_ref<const std::string&>().data();
  client.give_back(json{{"n", 1}, {"big", std::move(second.get_ref<std::string&>())}});
  json third = to_server.call_with("echo", json::array({text}));
  EXPECT_TRUE(third == json(text));
  EXPECT_EQ(third.get_ref<const std::string&>().data(), again);
  // Small and non-string values are accepted and change nothing.
  client.give_back(json::array({1, "short", nullptr}));
  client.give_back(json("short"));
  EXPECT_TRUE(to_server.call_with("echo", json::array({text})) == json(text));
}

// A peer that does not serve lets its callers take turns receiving for everybody. The one
// whose turn it is may be asleep in ppoll while the previous one, still handling a long reply,
// completes its call: it must be woken then, not at its deadline (60 s here; the wait below
// gives up long before).
TEST_F(LargeMessageTest, CallersTakingTurnsToReceiveAreWokenWhenAnotherCompletesTheirCall) {
  std::vector<std::future<void>> callers;
  for (int t = 0; t < 4; ++t) {
    callers.push_back(std::async(std::launch::async, [&, t] {
      const Channel to_server = client.talk_to(server.nl_pid()).with_timeout(60s);
      for (int round = 0; round < 25; ++round) {
        const std::string text((std::size_t{100} << 10) + static_cast<std::size_t>(round), static_cast<char>('a' + t));
        EXPECT_EQ(to_server.call<std::string>("echo", text), text);
      }
    }));
  }
  for (auto& c : callers) {
    ASSERT_EQ(c.wait_for(kLiveness), std::future_status::ready);
    c.get();
  }
}

// A handler that makes a large call of its own while serving a large request: the buffer its
// thread keeps for outgoing text is in use by nobody else at any moment.
TEST_F(LargeMessageTest, HandlerRelayingLargeMessagesGetsItsOwnTextBack) {
  RPCPeer relay;
  Channel to_server = relay.talk_to(server.nl_pid()).with_timeout(60s);
  relay.register_function("relay", [&](std::string text) {
    std::string reversed(text.rbegin(), text.rend());
    return to_server.call<std::string>("echo", reversed) + "|" + text;
  });
  relay.start();
  std::vector<std::future<void>> callers;
  for (int t = 0; t < 3; ++t) {
    callers.push_back(std::async(std::launch::async, [&, t] {
      for (int round = 0; round < 4; ++round) {
        std::string text((std::size_t{200} << 10) * static_cast<std::size_t>(round + 1), '\0');
        for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + (i + t * 5 + round) % 26);
        const auto got = client.talk_to(relay.nl_pid()).with_timeout(60s).call<std::string>("relay", text);
        EXPECT_TRUE(got == std::string(text.rbegin(), text.rend()) + "|" + text);
      }
    }));
  }
  for (auto& c : callers) {
    ASSERT_EQ(c.wait_for(kLiveness * 3), std::future_status::ready);
    c.get();  // rethrows what a call failed with
  }
}

// Long runs of a string go out from where they are, between the escapes and the rest of the
// text, which are copied: each side's text must come out whole, in a single reply or a batch.
TEST_F(LargeMessageTest, LongStringsWithEscapesAndUtf8ComeBackIntact) {
  std::string text(300000, 'q');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 23);
  for (std::size_t i = 20000; i + 4 < text.size(); i += 30011) {
    text.replace(i, 4, (i / 30011) % 2 ? "\"\\\n" : "\xF0\x9F\x98\x80");
  }
  const json value = json::object({{std::string(20000, 'k'), text}, {"list", json::array({text, 5})}});
  EXPECT_EQ(channel().with_timeout(60s).call("echo", value), value);
  const auto outcomes = channel().with_timeout(60s).call_batch(
      {{"echo", json::array({text})}, {"echo", json::array({value})}});
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].get(), json(text));
  EXPECT_EQ(outcomes[1].get(), value);
}

// A string of 256 KiB or more is checked as its fragments go out (text_stream.hpp): escapes
// and ill-formed UTF-8 found fragments after the first still come back as append_json writes
// them, both ways.
TEST_F(LargeMessageTest, EscapesFoundAfterTheFirstFragmentsComeBackIntact) {
  std::string text(std::size_t{1} << 20, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + (i * 7) % 26);
  text[700000] = '"';
  text.replace(131000, 4, "\xF0\x9F\x98\x80");  // well-formed, around the first fragment's end
  text[900000] = '\xFF';                        // ill-formed: comes back as U+FFFD
  const std::string expected = json(text).dump(-1, ' ', false, json::error_handler_t::replace);
  const json echoed = channel().with_timeout(60s).call("echo", text);
  EXPECT_TRUE(echoed.dump() == expected);
}

// Escapes found while sending can take a message past max_message_size after its first
// fragments left: the call fails as too large and the server is none the worse for the rest.
TEST_F(LargeMessageTest, EscapesTakingARequestPastMaxMessageSizeMakeItTooLarge) {
  PeerOptions options;
  options.max_message_size = 1u << 20;
  RPCPeer small(options);
  std::string text(800u << 10, 'x');
  for (std::size_t i = 400u << 10; i < text.size(); ++i) text[i] = '\n';  // two bytes each
  EXPECT_EQ(transport_error_kind([&] { small.talk_to(server.nl_pid()).call("echo", text); }),
            TransportError::Kind::too_large);
  EXPECT_EQ(small.talk_to(server.nl_pid()).call<int>("echo", 1), 1);
}

TEST_F(LargeMessageTest, RequestAboveMaxMessageSizeIsTooLarge) {
  PeerOptions options;
  options.max_message_size = 1u << 20;
  RPCPeer small(options);
  const std::string text(2u << 20, 'x');
  EXPECT_EQ(transport_error_kind([&] { small.talk_to(server.nl_pid()).call("echo", text); }),
            TransportError::Kind::too_large);
  // Small calls still work from the same peer.
  EXPECT_EQ(small.talk_to(server.nl_pid()).call<int>("echo", 1), 1);
}

TEST_F(LargeMessageTest, ReplyAboveServersMaxMessageSizeIsAnError) {
  PeerOptions options;
  options.max_message_size = 64u << 10;
  RPCPeer limited(options);
  limited.register_function("big", [](int n) { return std::string(static_cast<std::size_t>(n), 'y'); });
  limited.start();
  const ErrorObject e = remote_error([&] { client.talk_to(limited.nl_pid()).call("big", 200000); });
  EXPECT_EQ(e.code, error_code::message_too_large);
  EXPECT_EQ(client.talk_to(limited.nl_pid()).call<std::string>("big", 10), "yyyyyyyyyy");
}

// A reply that escapes take past the server's max_message_size after its first fragments
// left (its string is checked as it is sent) is answered with the same error.
TEST_F(LargeMessageTest, ReplyEscapedPastServersMaxMessageSizeIsAnError) {
  PeerOptions options;
  options.max_message_size = 1u << 20;
  RPCPeer limited(options);
  limited.register_function("quotes", [](int n) {
    std::string text(static_cast<std::size_t>(n), 'y');
    for (std::size_t i = text.size() / 2; i < text.size(); ++i) text[i] = '"';  // two bytes each
    return text;
  });
  limited.start();
  const ErrorObject e = remote_error([&] { client.talk_to(limited.nl_pid()).call("quotes", 800 << 10); });
  EXPECT_EQ(e.code, error_code::message_too_large);
  EXPECT_EQ(client.talk_to(limited.nl_pid()).call<std::string>("quotes", 4), "yy\"\"");
}

// A handler's result that nests deeper than any peer's reader takes would be dropped by the
// caller as unreadable (and the call time out): the caller gets an error reply instead.
TEST_F(LargeMessageTest, ResultNestingTooDeepIsAnInternalError) {
  RPCPeer deep;
  deep.register_function("nest", [](int levels) {
    json value = json::array();
    for (int i = 1; i < levels; ++i) value = json::array({std::move(value)});
    return value;
  });
  deep.start();
  const Channel to_deep = client.talk_to(deep.nl_pid());
  EXPECT_EQ(remote_error([&] { to_deep.call("nest", kMaxJsonDepth); }).code,
            error_code::internal_error);
  const auto outcomes = to_deep.call_batch({{"nest", json::array({kMaxJsonDepth - 1})},
                                            {"nest", json::array({2})}});
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_THROW(outcomes[0].get(), RemoteError);  // 255 levels in a batch's array: too deep
  EXPECT_EQ(outcomes[1].get(), json::array({json::array()}));
  EXPECT_EQ(to_deep.call("nest", kMaxJsonDepth - 1).size(), 1u);  // 255 levels alone fit
}

// rpc.discover answers an OpenRPC document whose schemas come from the C++ signatures.
TEST_F(PeerTest, DiscoverIsAnOpenRpcDocumentWithTypesFromTheSignatures) {
  server.register_function(
      "greet", [](const std::string&, std::optional<std::vector<int>>) { return true; },
      {"name", "times"});
  server.register_function("scale", [](std::uint8_t, double) {});
  const json discovered = channel().call("rpc.discover");
  EXPECT_EQ(discovered["openrpc"], "1.2.6");
  EXPECT_EQ(discovered["info"]["version"], std::string(kVersion));
  ASSERT_TRUE(discovered["methods"].is_array());
  auto find = [&](const std::string& name) -> json {
    for (const auto& m : discovered["methods"]) {
      if (m["name"] == name) return m;
    }
    return nullptr;
  };
  const json integer = {{"type", "integer"}, {"minimum", INT32_MIN}, {"maximum", INT32_MAX}};
  EXPECT_EQ(find("subtract")["params"],
            json::array({{{"name", "minuend"}, {"schema", integer}, {"required", true}},
                         {{"name", "subtrahend"}, {"schema", integer}, {"required", true}}}));
  EXPECT_EQ(find("subtract")["result"]["schema"], integer);
  EXPECT_EQ(find("subtract")["paramStructure"], "either");
  EXPECT_EQ(find("echo")["params"][0]["schema"], json::object());  // const json&: any
  EXPECT_EQ(find("concat")["paramStructure"], "by-position");
  EXPECT_EQ(find("concat")["params"][1]["name"], "arg2");
  EXPECT_EQ(find("concat")["params"][1]["schema"], json({{"type", "string"}}));
  const json greet = find("greet");
  EXPECT_EQ(greet["params"][1]["required"], false);
  EXPECT_EQ(greet["params"][1]["schema"],
            json({{"oneOf", json::array({{{"type", "array"},
                                          {"items", integer}},
                                         {{"type", "null"}}})}}));
  EXPECT_EQ(greet["result"]["schema"], json({{"type", "boolean"}}));
  EXPECT_EQ(find("scale")["params"][0]["schema"],
            json({{"type", "integer"}, {"minimum", 0}, {"maximum", 255}}));
  EXPECT_EQ(find("scale")["params"][1]["schema"], json({{"type", "number"}}));
  EXPECT_EQ(find("scale")["result"]["schema"], json({{"type", "null"}}));
  EXPECT_FALSE(find("rpc.discover").is_null());
  EXPECT_TRUE(find("no.such.method").is_null());
}

TEST(PeerNames, IdentityReturnsTheName) {
  PeerOptions options;
  options.name = unique_name("identity");
  RPCPeer named(options);
  named.start();
  EXPECT_EQ(named.nl_pid(), port_id_for_name(options.name));
  RPCPeer client;
  const json identity = client.talk_to(named.nl_pid()).call("rpc.identity");
  EXPECT_EQ(identity["name"], options.name);
  EXPECT_EQ(identity["nl_pid"], named.nl_pid());
  EXPECT_EQ(identity["pid"], ::getpid());
}

TEST(PeerNames, TalkToNameReachesTheNamedPeer) {
  PeerOptions options;
  options.name = unique_name("by-name");
  RPCPeer named(options);
  named.register_function("hello", [](const std::string& who) { return "Hello, " + who + "!"; });
  named.start();
  RPCPeer client;
  Channel channel = client.talk_to(std::string_view(options.name));
  EXPECT_EQ(channel.target(), named.nl_pid());
  EXPECT_EQ(channel.call<std::string>("hello", "x"), "Hello, x!");
}

TEST(PeerNames, TalkToNameHeldByAnotherNameIsWrongPeer) {
  const std::string wanted = unique_name("wanted");
  PeerOptions options;
  options.nl_pid = port_id_for_name(wanted);
  options.name = unique_name("other");
  RPCPeer squatter(options);
  ASSERT_EQ(squatter.nl_pid(), port_id_for_name(wanted));
  squatter.start();
  RPCPeer client;
  EXPECT_EQ(transport_error_kind([&] { client.talk_to(std::string_view(wanted)); }),
            TransportError::Kind::wrong_peer);
}

TEST(PeerNames, TalkToUnservedNameIsNoPeer) {
  RPCPeer client;
  EXPECT_EQ(transport_error_kind([&] { client.talk_to(std::string_view(unique_name("nobody"))); }),
            TransportError::Kind::no_peer);
}

TEST(PeerNames, SecondPeerWithSameNameIsAddressInUse) {
  PeerOptions options;
  options.name = unique_name("taken");
  RPCPeer first(options);
  try {
    RPCPeer second(options);
    FAIL() << "a name can be bound only once";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::address_in_use);
    EXPECT_NE(std::string(e.what()).find(options.name), std::string::npos) << e.what();
  }
}

TEST_F(PeerTest, RequiringOurUidPassesAndAnotherUidIsWrongPeer) {
  EXPECT_EQ(channel().requiring_uid(::getuid()).call<int>("echo", 1), 1);
  EXPECT_EQ(transport_error_kind([&] { channel().requiring_uid(::getuid() + 1).call("echo", 1); }),
            TransportError::Kind::wrong_peer);
}

TEST_F(PeerTest, PeerPolicyRefusesOtherUids) {
  AccessPolicy others;
  others.uids = {::getuid() + 1};
  server.set_policy(others);
  const ErrorObject e = remote_error([&] { channel().call("echo", 1); });
  EXPECT_EQ(e.code, error_code::access_denied);
  AccessPolicy ours;
  ours.uids = {::getuid()};
  server.set_policy(ours);
  EXPECT_EQ(channel().call<int>("echo", 1), 1);
  server.set_policy({});
  EXPECT_EQ(channel().call<int>("echo", 2), 2);
}

TEST_F(PeerTest, PeerPolicyAllowsByGid) {
  AccessPolicy by_gid;
  by_gid.uids = {::getuid() + 1};
  by_gid.gids = {::getgid()};
  server.set_policy(by_gid);
  EXPECT_EQ(channel().call<int>("echo", 1), 1);
}

TEST_F(PeerTest, MethodPolicyRestrictsOnlyThatMethod) {
  AccessPolicy others;
  others.uids = {::getuid() + 1};
  server.set_method_policy("subtract", others);
  EXPECT_EQ(remote_error([&] { channel().call("subtract", 2, 1); }).code, error_code::access_denied);
  EXPECT_EQ(channel().call<int>("echo", 1), 1);
  // Re-registering the method keeps its policy.
  server.register_function("subtract", [](int a, int b) { return a - b; });
  EXPECT_EQ(remote_error([&] { channel().call("subtract", 2, 1); }).code, error_code::access_denied);
  EXPECT_THROW(server.set_method_policy("no.such.method", others), std::invalid_argument);
}

// A handler that runs until the test opens its gate, and says when it has started.
struct Gate {
  std::promise<void> started;
  std::promise<void> open;
  std::shared_future<void> opened = open.get_future().share();
};

// stop() while a handler runs: new requests are answered -32003 at once, the running handler
// still finishes and its reply arrives, then serving ends.
TEST(PeerStop, NewRequestsGetServerStoppingWhileARunningHandlerFinishes) {
  RPCPeer server;
  auto gate = std::make_shared<Gate>();
  server.register_function("block", [gate] {
    gate->started.set_value();
    gate->opened.wait();
    return "finished";
  });
  server.start();
  RPCPeer client;
  const Channel channel = client.talk_to(server.nl_pid()).with_timeout(10min);
  auto running = channel.async_call("block");
  ASSERT_EQ(gate->started.get_future().wait_for(kLiveness), std::future_status::ready);
  server.stop();
  auto refused = std::async(std::launch::async, [&] { return channel.call("rpc.ping"); });
  ASSERT_EQ(refused.wait_for(kLiveness), std::future_status::ready)
      << "a request during the grace period waited instead of being refused";
  try {
    refused.get();
    ADD_FAILURE() << "a stopping peer ran a new request";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::server_stopping);
  }
  EXPECT_TRUE(server.serving());
  gate->open.set_value();
  ASSERT_EQ(running.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(running.get(), json("finished"));
  for (auto give_up = std::chrono::steady_clock::now() + kLiveness;
       server.serving() && std::chrono::steady_clock::now() < give_up;) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(server.serving());
}

// run_server_forever returns once the grace period is over, though a handler still runs.
TEST(PeerStop, RunServerForeverReturnsAfterTheGraceWhenAHandlerOutlastsIt) {
  PeerOptions options;
  options.stop_grace = 100ms;
  RPCPeer server(options);
  auto gate = std::make_shared<Gate>();
  server.register_function("block", [gate] {
    gate->started.set_value();
    gate->opened.wait();
    return true;
  });
  auto serving = std::async(std::launch::async, [&] { server.run_server_forever(); });
  RPCPeer client;
  auto running = client.talk_to(server.nl_pid()).with_timeout(10min).async_call("block");
  ASSERT_EQ(gate->started.get_future().wait_for(kLiveness), std::future_status::ready);
  server.stop();
  EXPECT_EQ(serving.wait_for(kLiveness), std::future_status::ready)
      << "run_server_forever waited for a handler past its grace period";
  EXPECT_TRUE(server.serving());
  gate->open.set_value();
  serving.get();
}

// A handler that finishes within the grace period: run_server_forever returns after it, with
// every thread joined.
TEST(PeerStop, RunServerForeverReturnsWhenTheRunningHandlersAreDone) {
  RPCPeer server;
  auto gate = std::make_shared<Gate>();
  server.register_function("block", [gate] {
    gate->started.set_value();
    gate->opened.wait();
    return true;
  });
  auto serving = std::async(std::launch::async, [&] { server.run_server_forever(); });
  RPCPeer client;
  auto running = client.talk_to(server.nl_pid()).with_timeout(10min).async_call("block");
  ASSERT_EQ(gate->started.get_future().wait_for(kLiveness), std::future_status::ready);
  server.stop();
  EXPECT_EQ(serving.wait_for(50ms), std::future_status::timeout)
      << "run_server_forever returned while a handler ran within its grace period";
  gate->open.set_value();
  EXPECT_EQ(running.get(), json(true));
  ASSERT_EQ(serving.wait_for(kLiveness), std::future_status::ready);
  EXPECT_FALSE(server.serving());
}

}  // namespace
}  // namespace procslink
