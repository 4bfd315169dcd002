// A synchronous call on a peer that does not serve (one socket, no spinning) leads: it alone
// receives, and takes its plain success reply straight from the receive. Anything else that
// comes first must make it a registered call handled as usual. The far side here is a raw
// NetlinkSocket, so what reaches the caller, and in which order, is fixed by the test: each
// datagram is queued on the caller's socket before the next is sent.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "procslink/procslink.hpp"

namespace procslink {
namespace {

using namespace std::chrono_literals;

// Generous bound for anything that should happen "at once": the machine is shared and noisy.
constexpr auto kLiveness = 20s;

// A success reply in the layout peers write, the one a leading caller takes straight.
std::string usual_reply(std::int64_t id, const json& result) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"result":)" + to_text(result) +
         "}";
}

// The far side of a call, driven by hand.
class RawEnd {
 public:
  RawEnd() { socket_.set_receive_timeout(1s); }
  std::uint32_t nl_pid() const { return socket_.nl_pid(); }

  // The next request `from` sends, skipping anything else; nullopt if none comes in time.
  std::optional<JsonRpcRequest> next_request(std::uint32_t from) {
    while (auto body = next_body(from, PayloadType::request)) {
      ParsedRequestBody parsed = parse_request_body(*body);
      if (parsed.items.size() == 1) {
        if (auto* request = std::get_if<JsonRpcRequest>(&parsed.items[0].content)) {
          return std::move(*request);
        }
      }
    }
    return std::nullopt;
  }
  // The next response `from` sends, skipping anything else; nullopt if none comes in time.
  std::optional<JsonRpcResponse> next_response(std::uint32_t from) {
    while (auto body = next_body(from, PayloadType::response)) {
      auto responses = parse_response_body(*body);
      if (responses.size() == 1) return std::move(responses[0]);
    }
    return std::nullopt;
  }

  // The body of the next request `from` sends, batches included; nullopt if none comes in time.
  std::optional<std::string> next_request_body(std::uint32_t from) {
    return next_body(from, PayloadType::request);
  }

  // The bodies of the fragments of the next fragmented message of `type` from `from`, in the
  // order they come, up to the last; empty if none comes in time.
  std::vector<std::string> next_fragments(std::uint32_t from, PayloadType type) {
    std::vector<std::string> bodies;
    const auto give_up = std::chrono::steady_clock::now() + kLiveness;
    while (std::chrono::steady_clock::now() < give_up) {
      const auto d = socket_.receive(buffer_, true);
      if (!d || d->sender_nl_pid != from) continue;
      const ProcslinkMessage message = ProcslinkMessage::parse(d->bytes);
      if (message.payload_type() != type || !message.header.is_fragment()) continue;
      bodies.emplace_back(message.body);
      if ((message.header.flag & kFlagLastFragment) != 0) return bodies;
    }
    return {};
  }

  // One whole datagram; `claimed` goes into the header as the sender (default: the truth).
  void send(std::uint32_t dest, PayloadType type, std::string_view body,
            std::optional<std::uint32_t> claimed = std::nullopt, std::uint16_t flag = 0) {
    DatagramFields fields{claimed.value_or(nl_pid()), type, seq_++, 0, flag, 0,
                          static_cast<std::uint32_t>(2 * body.size())};
    send_bytes(dest, build_datagram(fields, body));
  }
  void send_bytes(std::uint32_t dest, const std::vector<std::uint8_t>& bytes) {
    const iovec part{const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
    socket_.send(dest, {&part, 1});
  }

 private:
  std::optional<std::string> next_body(std::uint32_t from, PayloadType type) {
    const auto give_up = std::chrono::steady_clock::now() + kLiveness;
    while (std::chrono::steady_clock::now() < give_up) {
      const auto d = socket_.receive(buffer_, true);
      if (!d || d->sender_nl_pid != from) continue;
      const ProcslinkMessage message = ProcslinkMessage::parse(d->bytes);
      if (message.payload_type() == type) return std::string(message.body);
    }
    return std::nullopt;
  }

  NetlinkSocket socket_;
  std::vector<std::uint8_t> buffer_;
  std::uint32_t seq_ = 1;
};

// A request for the caller's own peer comes before the reply: the caller serves it while its
// call waits (the raw end holds the reply back until it has the answer), then gets its result.
TEST(LeadingCall, ServesARequestThatComesBeforeItsReply) {
  RPCPeer client;  // never started: its caller leads
  RawEnd server;
  auto result = std::async(std::launch::async, [&] {
    return client.talk_to(server.nl_pid()).with_timeout(kLiveness).call_with("work", json::array({1}));
  });
  const auto request = server.next_request(client.nl_pid());
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->method, "work");
  server.send(client.nl_pid(), PayloadType::request,
              R"({"jsonrpc":"2.0","method":"rpc.ping","id":"raw-1"})");
  const auto pong = server.next_response(client.nl_pid());
  ASSERT_TRUE(pong.has_value()) << "the caller did not answer the request it received";
  EXPECT_EQ(pong->id, json("raw-1"));
  ASSERT_FALSE(pong->is_error()) << pong->error().message;
  EXPECT_EQ(pong->result(), json(true));
  server.send(client.nl_pid(), PayloadType::response,
              usual_reply(request->id->get<std::int64_t>(), "done"));
  ASSERT_EQ(result.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(result.get(), json("done"));
}

// Each of these comes first and is not the call's reply, though most look much like it: the
// call must still end with the real reply, sent right after.
TEST(LeadingCall, DatagramsThatAreNotItsReplyAreNotTakenForIt) {
  RPCPeer client;
  RawEnd server;
  RawEnd impostor;
  const std::uint32_t to = client.nl_pid();
  struct Decoy {
    const char* what;
    std::function<void(std::int64_t id)> send;
  };
  const std::vector<Decoy> decoys = {
      {"its id from another socket",
       [&](std::int64_t id) {
         impostor.send(to, PayloadType::response, usual_reply(id, "impostor"));
       }},
      {"a header claiming another sender",
       [&](std::int64_t id) {
         server.send(to, PayloadType::response, usual_reply(id, "spoofed"), impostor.nl_pid());
       }},
      {"another id (a late reply)",
       [&](std::int64_t id) { server.send(to, PayloadType::response, usual_reply(id + 1000, "late")); }},
      {"its id as a string",
       [&](std::int64_t id) {
         server.send(to, PayloadType::response,
                     R"({"jsonrpc":"2.0","id":")" + std::to_string(id) + R"(","result":"string id"})");
       }},
      {"its reply marked as a request",
       [&](std::int64_t id) { server.send(to, PayloadType::request, usual_reply(id, "a request")); }},
      {"its reply as the first fragment of a longer message",
       [&](std::int64_t id) {
         server.send(to, PayloadType::response, usual_reply(id, "fragment"), std::nullopt,
                     kFlagFragment);
       }},
      {"bytes that are no datagram",
       [&](std::int64_t) {
         server.send_bytes(to, std::vector<std::uint8_t>{'n', 'o', 't', ' ', 'a', ' ', 'd', 'g'});
       }},
      {"a datagram one byte longer than its headers say",
       [&](std::int64_t id) {
         auto bytes = build_datagram({server.nl_pid(), PayloadType::response, 1, 0, 0, 0, 0},
                                     usual_reply(id, "too long"));
         bytes.push_back('}');
         server.send_bytes(to, bytes);
       }},
      {"a body that is no JSON",
       [&](std::int64_t id) {
         server.send(to, PayloadType::response,
                     R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"result":)");
       }},
      {"a response with neither result nor error",
       [&](std::int64_t id) {
         server.send(to, PayloadType::response,
                     R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + "}");
       }},
  };
  const Channel channel = client.talk_to(server.nl_pid()).with_timeout(kLiveness);
  for (std::size_t k = 0; k < decoys.size(); ++k) {
    SCOPED_TRACE(decoys[k].what);
    auto result = std::async(std::launch::async, [&] {
      return channel.call_with("work", json::array({k}));
    });
    const auto request = server.next_request(to);
    ASSERT_TRUE(request.has_value());
    ASSERT_EQ(request->params, json::array({k}));
    const std::int64_t id = request->id->get<std::int64_t>();
    decoys[k].send(id);
    server.send(to, PayloadType::response, usual_reply(id, "real " + std::to_string(k)));
    ASSERT_EQ(result.wait_for(kLiveness), std::future_status::ready);
    EXPECT_EQ(result.get(), json("real " + std::to_string(k)));
  }
}

// The reply itself, written otherwise than peers write it: not taken straight, but still the
// call's outcome once handled as usual.
TEST(LeadingCall, ReplyInAnotherLayoutIsStillItsReply) {
  RPCPeer client;
  RawEnd server;
  const Channel channel = client.talk_to(server.nl_pid()).with_timeout(kLiveness);
  const std::vector<std::string> layouts = {
      R"({"result":"ok","id":ID,"jsonrpc":"2.0"})",
      R"({ "jsonrpc": "2.0", "id": ID, "result": "ok" })",
      R"([{"jsonrpc":"2.0","id":ID,"result":"ok"}])",
      R"({"jsonrpc":"2.0","id":ID,"error":{"code":-32000,"message":"refused","data":[7]}})",
  };
  for (const std::string& layout : layouts) {
    SCOPED_TRACE(layout);
    auto result = std::async(std::launch::async, [&] { return channel.call_with("work", nullptr); });
    const auto request = server.next_request(client.nl_pid());
    ASSERT_TRUE(request.has_value());
    std::string body = layout;
    body.replace(body.find("ID"), 2, to_text(*request->id));
    server.send(client.nl_pid(), PayloadType::response, body);
    ASSERT_EQ(result.wait_for(kLiveness), std::future_status::ready);
    if (layout.find("error") == std::string::npos) {
      EXPECT_EQ(result.get(), json("ok"));
      continue;
    }
    try {
      result.get();
      ADD_FAILURE() << "an error reply gave a result";
    } catch (const RemoteError& e) {
      EXPECT_EQ(e.code(), -32000);
      EXPECT_EQ(e.message(), "refused");
      ASSERT_TRUE(e.data().has_value());
      EXPECT_EQ(*e.data(), json::array({7}));
    }
  }
}

// Two threads call through one peer that does not serve: the first leads (and takes its reply
// straight when it comes first), the second follows. Answered in either order, each gets its
// own result; answered in reverse, the leader receives the follower's reply and hands it over.
TEST(LeadingCall, LeaderAndFollowerGetTheirOwnRepliesInEitherOrder) {
  for (const bool reverse : {true, false}) {
    SCOPED_TRACE(reverse ? "follower answered first" : "leader answered first");
    RPCPeer client;
    RawEnd server;
    const Channel channel = client.talk_to(server.nl_pid()).with_timeout(kLiveness);
    auto first = std::async(std::launch::async, [&] { return channel.call_with("first", nullptr); });
    const auto leader = server.next_request(client.nl_pid());
    ASSERT_TRUE(leader.has_value());
    ASSERT_EQ(leader->method, "first");
    // The first call is still waiting, so the second can only follow.
    auto second = std::async(std::launch::async, [&] { return channel.call_with("second", nullptr); });
    const auto follower = server.next_request(client.nl_pid());
    ASSERT_TRUE(follower.has_value());
    ASSERT_EQ(follower->method, "second");
    const std::string to_leader = usual_reply(leader->id->get<std::int64_t>(), "for first");
    const std::string to_follower = usual_reply(follower->id->get<std::int64_t>(), "for second");
    server.send(client.nl_pid(), PayloadType::response, reverse ? to_follower : to_leader);
    server.send(client.nl_pid(), PayloadType::response, reverse ? to_leader : to_follower);
    ASSERT_EQ(first.wait_for(kLiveness), std::future_status::ready);
    ASSERT_EQ(second.wait_for(kLiveness), std::future_status::ready);
    EXPECT_EQ(first.get(), json("for first"));
    EXPECT_EQ(second.get(), json("for second"));
  }
}

// A leading call that gets nothing times out naming the method and the target, and gives the
// lead up: the next call works, though its reply comes after the first call's late one.
TEST(LeadingCall, TimeoutGivesTheLeadUpAndTheLateReplyAnswersNothing) {
  RPCPeer client;
  RawEnd server;
  const Channel channel = client.talk_to(server.nl_pid());
  try {
    channel.with_timeout(100ms).call("slow.method");
    ADD_FAILURE() << "a call nobody answered returned";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::timeout);
    EXPECT_NE(std::string(e.what()).find("'slow.method'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(server.nl_pid())), std::string::npos)
        << e.what();
  }
  const auto unanswered = server.next_request(client.nl_pid());
  ASSERT_TRUE(unanswered.has_value());
  server.send(client.nl_pid(), PayloadType::response,
              usual_reply(unanswered->id->get<std::int64_t>(), "late"));
  auto result = std::async(std::launch::async, [&] {
    return channel.with_timeout(kLiveness).call_with("next", nullptr);
  });
  const auto request = server.next_request(client.nl_pid());
  ASSERT_TRUE(request.has_value());
  ASSERT_EQ(request->method, "next");
  server.send(client.nl_pid(), PayloadType::response,
              usual_reply(request->id->get<std::int64_t>(), "fresh"));
  ASSERT_EQ(result.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(result.get(), json("fresh"));
}

// An error reply with a null id (its server could not read the request far enough to find one)
// fails the call outstanding to that server at once, with that error, instead of leaving it to
// wait out its deadline.
constexpr auto kNullIdParseError =
    R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})";

TEST(NullIdErrorReply, FailsTheOneCallOutstandingToItsSenderAtOnce) {
  RPCPeer client;
  RawEnd server;
  const Channel channel = client.talk_to(server.nl_pid()).with_timeout(10min);
  auto result = std::async(std::launch::async, [&] { return channel.call_with("work", nullptr); });
  ASSERT_TRUE(server.next_request(client.nl_pid()).has_value());
  server.send(client.nl_pid(), PayloadType::response, kNullIdParseError);
  ASSERT_EQ(result.wait_for(kLiveness), std::future_status::ready)
      << "the call still waits for its deadline";
  try {
    result.get();
    ADD_FAILURE() << "a null-id error reply gave a result";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), -32700);
    EXPECT_EQ(e.message(), "Parse error");
  }
}

// With several outstanding, it fails the oldest (lowest id); the others go on to their replies.
TEST(NullIdErrorReply, FailsTheOldestOfSeveralAndLeavesTheOthers) {
  RPCPeer client;
  RawEnd server;
  const Channel channel = client.talk_to(server.nl_pid()).with_timeout(10min);
  auto first = channel.async_call_with("first", nullptr);
  ASSERT_TRUE(server.next_request(client.nl_pid()).has_value());
  auto second = channel.async_call_with("second", nullptr);
  const auto later = server.next_request(client.nl_pid());
  ASSERT_TRUE(later.has_value());
  server.send(client.nl_pid(), PayloadType::response, kNullIdParseError);
  ASSERT_EQ(first.wait_for(kLiveness), std::future_status::ready);
  EXPECT_THROW(first.get(), RemoteError);
  server.send(client.nl_pid(), PayloadType::response,
              usual_reply(later->id->get<std::int64_t>(), "for second"));
  ASSERT_EQ(second.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(second.get(), json("for second"));
}

// From anyone but the server a call went to, it answers nothing.
TEST(NullIdErrorReply, FromAnotherSocketFailsNothing) {
  RPCPeer client;
  RawEnd server;
  RawEnd stranger;
  const Channel channel = client.talk_to(server.nl_pid()).with_timeout(kLiveness);
  auto result = std::async(std::launch::async, [&] { return channel.call_with("work", nullptr); });
  const auto request = server.next_request(client.nl_pid());
  ASSERT_TRUE(request.has_value());
  stranger.send(client.nl_pid(), PayloadType::response, kNullIdParseError);
  server.send(client.nl_pid(), PayloadType::response,
              usual_reply(request->id->get<std::int64_t>(), "real"));
  ASSERT_EQ(result.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(result.get(), json("real"));
}

// A batch refused as a whole fails as a whole, with the server's error.
TEST(NullIdErrorReply, FailsABatchAsAWhole) {
  RPCPeer client;
  RawEnd server;
  const Channel channel = client.talk_to(server.nl_pid()).with_timeout(10min);
  auto outcomes = std::async(std::launch::async, [&] {
    return channel.call_batch({{"a", nullptr}, {"b", json::array({1})}});
  });
  ASSERT_TRUE(server.next_request_body(client.nl_pid()).has_value());
  server.send(client.nl_pid(), PayloadType::response,
              R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}})");
  ASSERT_EQ(outcomes.wait_for(kLiveness), std::future_status::ready);
  try {
    outcomes.get();
    ADD_FAILURE() << "a refused batch gave outcomes";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), -32600);
  }
}

// A long string lands at the front of its buffer from the first fragment on and is checked as
// its fragments land (inbound_reassembly.hpp): UTF-8 sequences cut by the fragments' ends read
// as they are, and a byte that is not UTF-8 in a later fragment earns the parse error the whole
// text would. Sent raw, as no peer writes such a byte.
TEST(SplitLanding, ReadsWhatTheWholeTextReads) {
  RPCPeer server;
  server.register_function("size", [](std::string text) { return text.size(); }, {"text"});
  server.start();
  RawEnd client;
  std::string text;
  while (text.size() < (std::size_t{2} << 20)) text += "\xE2\x82\xAC";  // 3 bytes: cut by ends
  const auto call = [&](std::string_view string, std::uint32_t id) {
    const std::string body = R"({"jsonrpc":"2.0","method":"size","params":[")" +
                             std::string(string) + R"("],"id":)" + std::to_string(id) + "}";
    const DatagramFields fields{client.nl_pid(), PayloadType::request, id, 0, 0, 0,
                                static_cast<std::uint32_t>(body.size())};
    for_each_datagram(fields, body, 131072, 131032,
                      [&](const DatagramFields& f, std::string_view chunk) {
                        client.send_bytes(server.nl_pid(), build_datagram(f, chunk));
                      });
    return client.next_response(server.nl_pid());
  };
  for (std::uint32_t id = 1; id <= 3; ++id) {  // a fresh buffer, then recycled ones
    SCOPED_TRACE(id);
    const auto reply = call(text, id);
    ASSERT_TRUE(reply);
    ASSERT_FALSE(reply->is_error()) << reply->error().message;
    EXPECT_EQ(reply->result(), json(text.size()));
  }
  RPCPeer probe;
  const json stats = probe.talk_to(server.nl_pid()).call("rpc.stats").at("reassembly");
  EXPECT_EQ(stats.at("split_messages"), 3) << "each string landed at its buffer's front";
  for (const std::size_t at : {std::size_t{131032 + 100}, std::size_t{131032 * 3 + 5}, text.size() - 2}) {
    SCOPED_TRACE(at);
    std::string broken = text;
    broken[at] = '\xFF';
    const auto reply = call(broken, 9);
    ASSERT_TRUE(reply);
    ASSERT_TRUE(reply->is_error());
    EXPECT_EQ(reply->error().code, error_code::parse_error);
    EXPECT_NE(reply->error().data.value_or(json()).dump().find("invalid UTF-8"), std::string::npos);
  }
  server.stop();
}

// A message announced as 1 MiB or more has its first fragment end where its long string
// starts (message_sender.cpp), so that a receiver lands the string's fragments at its buffer's
// front and copies none of it twice; a shorter one is cut into whole fragments as ever. Either
// way the fragments put together are the text, and the receiver reads it.
TEST(FirstFragment, EndsWhereALongStringStartsInALargeMessage) {
  RPCPeer server;
  server.register_function("echo", [](json value) { return value; }, {"value"});
  server.start();
  RawEnd client;
  const auto echo_fragments = [&](const std::string& text, std::uint32_t id) {
    const std::string body = R"({"jsonrpc":"2.0","method":"echo","params":[")" + text +
                             R"("],"id":)" + std::to_string(id) + "}";
    const DatagramFields fields{client.nl_pid(), PayloadType::request, id, 0, 0, 0,
                                static_cast<std::uint32_t>(body.size())};
    for_each_datagram(fields, body, 131072, 131032,
                      [&](const DatagramFields& f, std::string_view chunk) {
                        client.send_bytes(server.nl_pid(), build_datagram(f, chunk));
                      });
    return client.next_fragments(server.nl_pid(), PayloadType::response);
  };
  const std::string large((std::size_t{1} << 20) + 3, 'x');
  const std::vector<std::string> reply = echo_fragments(large, 41);
  ASSERT_GE(reply.size(), 2u);
  const std::string head = R"({"jsonrpc":"2.0","id":41,"result":")";
  EXPECT_EQ(reply[0].size(), head.size());
  EXPECT_TRUE(reply[0] == head);
  EXPECT_EQ(reply[1].size(), 131032u);
  std::string whole;
  for (const std::string& body : reply) whole += body;
  EXPECT_TRUE(whole == head + large + R"("})");

  const std::string medium(600u << 10, 'y');  // left unchecked, but announced as less
  const std::vector<std::string> shorter = echo_fragments(medium, 42);
  ASSERT_GE(shorter.size(), 2u);
  EXPECT_EQ(shorter[0].size(), 131032u);
  server.stop();

  // And a caller's request: the receiver reads it, split there.
  RPCPeer caller;
  caller.register_function("size", [](std::string text) { return text.size(); }, {"text"});
  caller.start();
  RPCPeer asker;
  EXPECT_EQ(asker.talk_to(caller.nl_pid()).with_timeout(kLiveness).call_with(
                "size", json::array({large})),
            json(large.size()));
  caller.stop();
}

}  // namespace
}  // namespace procslink
