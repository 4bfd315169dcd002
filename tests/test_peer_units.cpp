// The peer's units that need no socket, tested alone: the call table (matching replies,
// completion, deadlines), the method table (policies and the per-thread cache), the batch
// runner, and inbound reassembly (fragments to whole messages, landing room).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../src/peer/batch_runner.hpp"
#include "../src/peer/call_table.hpp"
#include "../src/peer/inbound_reassembly.hpp"
#include "../src/peer/method_table.hpp"
#include "../src/reassembly_hooks.hpp"
#include "procslink/message.hpp"

namespace procslink::detail {
namespace {

using namespace std::chrono_literals;

Credentials uid(uid_t u) { return Credentials{1234, u, u}; }

// ---- CallTable ----

struct CallTableTest : ::testing::Test {
  std::mutex mutex;
  int lead_wakes = 0;
  CallTable table{[this] { ++lead_wakes; }};

  std::shared_ptr<PendingCall> add(std::int64_t id, std::uint32_t target = 100) {
    auto call = std::make_shared<PendingCall>();
    call->target = target;
    call->method = "m";
    call->ids = CallIds(id);
    std::lock_guard lock(mutex);
    table.add_ids_locked(call);
    return call;
  }
  void reply(JsonRpcResponse response, std::uint32_t from = 100, uid_t from_uid = 1000) {
    std::unique_lock lock(mutex);
    table.take_response_locked(Origin{0, from, uid(from_uid)}, std::move(response), lock);
  }
};

TEST_F(CallTableTest, ReplyCompletesItsCallAndWakesItsWaiter) {
  auto call = add(7);
  std::condition_variable cv;
  call->waiter = &cv;
  std::atomic<bool> woken{false};
  std::thread waiter([&] {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return call->done; });
    woken = true;
  });
  reply(JsonRpcResponse::success(7, "x"));
  waiter.join();
  EXPECT_TRUE(woken);
  ASSERT_TRUE(call->response);
  EXPECT_EQ(call->response->result(), "x");
  std::lock_guard lock(mutex);
  EXPECT_TRUE(table.empty_locked());
}

TEST_F(CallTableTest, ReplyFromAnotherPeerOrUnknownIdIsDropped) {
  auto call = add(7, 100);
  reply(JsonRpcResponse::success(7, "x"), 101);
  reply(JsonRpcResponse::success(8, "x"), 100);
  EXPECT_FALSE(call->done);
  reply(JsonRpcResponse::success(7, "y"), 100);
  EXPECT_TRUE(call->done);
  EXPECT_EQ(call->response->result(), "y");
}

TEST_F(CallTableTest, NullIdErrorFailsTheOldestCallToThatSender) {
  auto first = add(3);
  auto second = add(5);
  auto elsewhere = add(1, 200);
  reply(JsonRpcResponse::failure(nullptr, {error_code::parse_error, "Parse error", std::nullopt}));
  EXPECT_TRUE(first->done);
  EXPECT_FALSE(second->done);
  EXPECT_FALSE(elsewhere->done);
  CallOutcome outcome = CallTable::outcome_of(*first);
  EXPECT_THROW(outcome.get(), RemoteError);
}

TEST_F(CallTableTest, ReplyFromTheWrongUidFailsTheCallAsWrongPeer) {
  auto call = add(7);
  call->require_uid = 0;
  reply(JsonRpcResponse::success(7, "x"), 100, 1000);
  ASSERT_TRUE(call->done);
  try {
    CallTable::outcome_of(*call).get();
    FAIL() << "no error";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::wrong_peer);
  }
}

TEST_F(CallTableTest, BatchCompletesOnceEveryReplyCame) {
  auto call = std::make_shared<PendingCall>();
  call->target = 100;
  call->ids = CallIds(std::vector<std::int64_t>{10, 11});
  {
    std::lock_guard lock(mutex);
    table.add_ids_locked(call);
  }
  reply(JsonRpcResponse::success(11, 1));
  EXPECT_FALSE(call->done);
  reply(JsonRpcResponse::success(10, 0));
  EXPECT_TRUE(call->done);
  EXPECT_EQ(call->responses.size(), 2u);
}

TEST_F(CallTableTest, CompletingTheLeadCallersCallWakesTheLead) {
  auto call = add(7);
  call->leading = true;
  reply(JsonRpcResponse::success(7, "x"));
  EXPECT_EQ(lead_wakes, 1);
  auto other = add(8);
  reply(JsonRpcResponse::success(8, "x"));
  EXPECT_EQ(lead_wakes, 1);
}

TEST_F(CallTableTest, AsyncDeadlineFailsTheCallOnceWithTimeout) {
  auto call = add(7);
  std::vector<CallOutcome> outcomes;
  call->callback = [&](CallOutcome o) { outcomes.push_back(std::move(o)); };
  call->async_deadline = Clock::now() - 1ms;
  std::unique_lock lock(mutex);
  EXPECT_TRUE(table.push_async_deadline_locked(*call->async_deadline, 7));
  EXPECT_EQ(table.async_deadlines_count(), 1u);
  table.expire_async_locked(lock);
  table.expire_async_locked(lock);
  ASSERT_EQ(outcomes.size(), 1u);
  try {
    outcomes[0].get();
    FAIL() << "no error";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::timeout);
  }
  EXPECT_FALSE(table.next_async_deadline_locked());
}

TEST_F(CallTableTest, AnsweredAsyncCallIsNotExpiredLater) {
  auto call = add(7);
  int callbacks = 0;
  call->callback = [&](CallOutcome o) {
    EXPECT_EQ(o.get(), "x");
    ++callbacks;
  };
  {
    std::lock_guard lock(mutex);
    table.push_async_deadline_locked(Clock::now() + 5ms, 7);
  }
  reply(JsonRpcResponse::success(7, "x"));
  std::this_thread::sleep_for(10ms);
  std::unique_lock lock(mutex);
  table.expire_async_locked(lock);
  EXPECT_EQ(callbacks, 1);
}

TEST_F(CallTableTest, EarliestDeadlineIsReported) {
  std::lock_guard lock(mutex);
  const auto now = Clock::now();
  EXPECT_TRUE(table.push_async_deadline_locked(now + 10s, 1));
  EXPECT_FALSE(table.push_async_deadline_locked(now + 20s, 2));
  EXPECT_TRUE(table.push_async_deadline_locked(now + 5s, 3));
  EXPECT_EQ(table.next_async_deadline_locked(), now + 5s);
}

TEST_F(CallTableTest, FailAsyncEndsOnlyAsynchronousCalls) {
  auto sync = add(1);
  auto async = add(2);
  async->async_deadline = Clock::now() + 1s;
  bool failed = false;
  async->callback = [&](CallOutcome o) { failed = o.value.index() == 1; };
  std::unique_lock lock(mutex);
  table.fail_async_locked(lock, "serving stopped");
  EXPECT_TRUE(failed);
  EXPECT_FALSE(sync->done);
  table.fail_all_locked(lock, "the calling peer was destroyed");
  EXPECT_TRUE(sync->done);
  EXPECT_TRUE(table.empty_locked());
}

// ---- MethodTable ----

RawHandler returning(json value) {
  return [value](json&&, const CallContext&) { return value; };
}

json run(const MethodLease& lease) { return lease->handler(json(), CallContext{}); }

TEST(MethodTable, FindsMethodsAndChecksBothPolicies) {
  MethodTable table;
  table.add("open", returning(1), {}, json::object());
  table.add("closed", returning(2), {}, json::object());
  table.set_method_policy("closed", AccessPolicy{{0}, {}});
  {
    MethodLease lease;
    table.find("open", uid(1000), lease);
    ASSERT_TRUE(lease);
    EXPECT_TRUE(lease.allowed());
    EXPECT_EQ(run(lease), 1);
  }
  {
    MethodLease lease;
    table.find("closed", uid(1000), lease);
    ASSERT_TRUE(lease);
    EXPECT_FALSE(lease.allowed());
  }
  {
    MethodLease lease;
    table.find("missing", uid(1000), lease);
    EXPECT_FALSE(lease);
    EXPECT_TRUE(lease.allowed());  // unknown, not refused: "Method not found"
  }
  table.set_policy(AccessPolicy{{0}, {}});
  MethodLease lease;
  table.find("open", uid(1000), lease);
  EXPECT_FALSE(lease.allowed());
  EXPECT_THROW(table.set_method_policy("missing", {}), std::invalid_argument);
}

TEST(MethodTable, ReplacedMethodKeepsItsPolicy) {
  MethodTable table;
  table.add("m", returning(1), {}, json::object());
  table.set_method_policy("m", AccessPolicy{{0}, {}});
  table.add("m", returning(2), {}, json::object());
  MethodLease lease;
  table.find("m", uid(1000), lease);
  EXPECT_FALSE(lease.allowed());
  EXPECT_EQ(run(lease), 2);
}

// A serving thread's cache: filled by a lookup, lent to each request and taken back after.
struct CachedThread {
  MethodCache cache;
  MethodCache* outer = std::exchange(t_thread.method_cache, &cache);
  ~CachedThread() { t_thread.method_cache = outer; }
};

TEST(MethodTable, CacheServesRepeatedLookupsAndIsRefilledOnChange) {
  MethodTable table;
  table.add("m", returning(1), {}, json::object());
  CachedThread thread;
  for (int i = 0; i < 3; ++i) {
    MethodLease lease;
    table.find("m", uid(1000), lease);
    EXPECT_EQ(run(lease), 1);
    EXPECT_FALSE(thread.cache.method) << "lent to the request";
  }
  EXPECT_TRUE(thread.cache.method) << "given back";
  EXPECT_EQ(thread.cache.fills, 1u) << "one lookup under the lock, then the cache";
  table.add("m", returning(2), {}, json::object());
  MethodLease lease;
  table.find("m", uid(1000), lease);
  EXPECT_EQ(run(lease), 2);
  EXPECT_EQ(thread.cache.fills, 2u);
}

TEST(MethodTable, PolicyChangeIsSeenThroughTheCache) {
  MethodTable table;
  table.add("m", returning(1), {}, json::object());
  CachedThread thread;
  {
    MethodLease lease;
    table.find("m", uid(1000), lease);
    EXPECT_TRUE(lease.allowed());
  }
  table.set_policy(AccessPolicy{{0}, {}});
  MethodLease lease;
  table.find("m", uid(1000), lease);
  EXPECT_FALSE(lease.allowed());
}

TEST(MethodTable, NestedLookupOnTheSameThreadDoesNotLoseTheCache) {
  MethodTable table;
  table.add("a", returning(1), {}, json::object());
  table.add("b", returning(2), {}, json::object());
  CachedThread thread;
  std::optional<MethodLease> outer(std::in_place);
  table.find("a", uid(1000), *outer);
  {
    MethodLease inner;  // a handler serving while it calls: refills the cache with "b"
    table.find("b", uid(1000), inner);
  }
  EXPECT_EQ(thread.cache.name, "b");
  outer.reset();  // "a" does not push "b" out
  EXPECT_EQ(thread.cache.name, "b");
  ASSERT_TRUE(thread.cache.method);
  EXPECT_EQ(thread.cache.method->handler(json(), CallContext{}), 2);
}

TEST(MethodTable, NamesAndDescriptionsAreSorted) {
  MethodTable table;
  table.add("zeta", returning(1), {}, json{{"params", json::array()}});
  table.add("alpha", returning(1), {}, json{{"params", json::array()}});
  EXPECT_EQ(table.names(), (std::vector<std::string>{"alpha", "zeta"}));
  const json described = table.describe();
  ASSERT_EQ(described.size(), 2u);
  EXPECT_EQ(described[0]["name"], "alpha");
  EXPECT_EQ(described[1]["params"], json::array());
}

// ---- BatchRunner ----

TEST(BatchRunner, RunsEveryElementOnceOnAtMostEightThreads) {
  BatchRunner runner;
  constexpr std::size_t kItems = 2000;
  std::vector<std::atomic<int>> runs(kItems);
  std::atomic<std::size_t> next{0};
  std::mutex ids_mutex;
  std::vector<std::thread::id> ids;
  const std::function<void()> work = [&] {
    {
      std::lock_guard lock(ids_mutex);
      if (std::find(ids.begin(), ids.end(), std::this_thread::get_id()) == ids.end()) {
        ids.push_back(std::this_thread::get_id());
      }
    }
    for (std::size_t i = next++; i < kItems; i = next++) {
      runs[i]++;
      if (i % 100 == 0) std::this_thread::sleep_for(100us);
    }
  };
  runner.run(kBatchParallelism - 1, work);
  for (const auto& r : runs) EXPECT_EQ(r.load(), 1);
  EXPECT_LE(ids.size(), kBatchParallelism);
  EXPECT_LE(runner.helpers(), kBatchParallelism - 1);
}

TEST(BatchRunner, ReturnsOnlyOnceEveryHelperThatTookTheWorkIsDone) {
  BatchRunner runner;
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> inside{0};
    const std::function<void()> work = [&] {
      ++inside;
      std::this_thread::sleep_for(200us);
      --inside;
    };
    runner.run(3, work);
    EXPECT_EQ(inside.load(), 0);
  }
}

TEST(BatchRunner, ThrowingWorkStillWaitsForHelpers) {
  BatchRunner runner;
  std::atomic<int> inside{0};
  std::atomic<bool> first{true};
  const std::function<void()> work = [&] {
    ++inside;
    const bool me = first.exchange(false);
    std::this_thread::sleep_for(1ms);
    --inside;
    if (me) throw std::runtime_error("element failed");
  };
  try {
    runner.run(2, work);
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(inside.load(), 0);
}

// ---- InboundReassembly ----

// The datagrams a peer sends for `body` in fragments of `fragment` bytes.
std::vector<std::vector<std::uint8_t>> datagrams_for(const std::string& body, std::size_t fragment,
                                                     std::uint32_t sender, std::uint32_t seq) {
  std::vector<std::vector<std::uint8_t>> out;
  DatagramFields fields{sender, PayloadType::request, seq, 0, 0, 0};
  fields.message_length = static_cast<std::uint32_t>(body.size());
  for_each_datagram(fields, body, kReferenceMaxDatagram, fragment,
                    [&](const DatagramFields& f, std::string_view chunk) {
                      out.push_back(build_datagram(f, chunk));
                    });
  return out;
}

PeerOptions reassembly_options() {
  PeerOptions options;
  options.max_message_size = 1 << 20;
  return options;
}

TEST(InboundReassembly, FragmentsBecomeTheWholeMessage) {
  InboundReassembly reassembly(reassembly_options());
  const std::string body = "[" + std::string(20000, 'x') + "]";
  const auto datagrams = datagrams_for(body, 4096, 42, 9);
  ASSERT_GT(datagrams.size(), 4u);
  std::optional<InboundReassembly::Complete> complete;
  for (const auto& d : datagrams) {
    ASSERT_FALSE(complete) << "completed early";
    Incoming incoming{0, ReceivedDatagram{42, uid(1000), d}};
    complete = reassembly.add(incoming, ProcslinkMessage::parse(d)).complete;
  }
  ASSERT_TRUE(complete);
  EXPECT_EQ(complete->body, body);
  EXPECT_EQ(complete->payload_type, PayloadType::request);
  const json stats = reassembly.stats();
  EXPECT_EQ(stats["completed"], 1);
  EXPECT_EQ(stats["pending_messages"], 0);
}

// Room to land the next fragment in place is a recycled buffer's (which keeps its size), and
// only for a receiver that alone reads the socket.
TEST(InboundReassembly, RoomBehindForAnExclusiveReceiverWithARecycledBuffer) {
  const auto datagrams = datagrams_for(std::string(20000, 'y'), 4096, 42, 9);
  const auto& first = datagrams.front();
  for (const bool exclusive : {false, true}) {
    for (const bool recycled : {false, true}) {
      InboundReassembly reassembly(reassembly_options());
      if (recycled) reassembly.recycle(std::string(64 << 10, '\0'));
      Incoming incoming{0, ReceivedDatagram{42, uid(1000), first}, exclusive};
      EXPECT_EQ(reassembly.add(incoming, ProcslinkMessage::parse(first)).room_behind,
                exclusive && recycled)
          << "exclusive " << exclusive << ", recycled " << recycled;
    }
  }
}

// The buffer kept for the next message keeps its pages until the peer's reaper finds it idle;
// then a large one gives them back, once, until a buffer is handed back again.
TEST(InboundReassembly, AKeptLargeBufferGivesItsPagesBackOnceWhenAskedAfterIdling) {
  FragmentReassembler small;
  ReassemblyHooks::recycle(small, std::string(1 << 20, '\0'));
  EXPECT_FALSE(ReassemblyHooks::release_spare(small)) << "at most kKeptCapacity stays as is";
  FragmentReassembler large;
  EXPECT_FALSE(ReassemblyHooks::release_spare(large)) << "nothing kept yet";
  ReassemblyHooks::recycle(large, std::string(ReassemblyHooks::kKeptCapacity + 1, '\0'));
  EXPECT_TRUE(ReassemblyHooks::release_spare(large));
  EXPECT_FALSE(ReassemblyHooks::release_spare(large)) << "already given back";
  ReassemblyHooks::recycle(large, std::string(2 * ReassemblyHooks::kKeptCapacity, '\0'));
  EXPECT_TRUE(ReassemblyHooks::release_spare(large)) << "a buffer handed back since";
}

// With the fragments queued on a socket the receiver alone reads, land() receives each one
// straight into the message's buffer, and rpc.stats counts them.
TEST(InboundReassembly, QueuedFragmentsLandInTheirBufferAndAreCounted) {
  NetlinkSocket receiver;
  NetlinkSocket sender;
  const std::string body = "[\"" + std::string(20000, 'q') + "\"]";
  const auto datagrams = datagrams_for(body, 4096, sender.nl_pid(), 9);
  ASSERT_GT(datagrams.size(), 3u);
  for (const auto& d : datagrams) {
    const iovec part{const_cast<std::uint8_t*>(d.data()), d.size()};
    sender.send(receiver.nl_pid(), std::span(&part, 1));
  }
  InboundReassembly reassembly(reassembly_options());
  reassembly.recycle(std::string(64 << 10, '\0'));
  std::vector<std::uint8_t> buffer(kMaxDatagramSize);
  const std::optional<ReceivedDatagram> first = receiver.receive(buffer, true);
  ASSERT_TRUE(first);
  const Incoming incoming{0, *first, true};
  const auto added = reassembly.add(incoming, ProcslinkMessage::parse(first->bytes));
  ASSERT_TRUE(added.room_behind);
  Origin origin{0, sender.nl_pid(), {}};
  auto landed = reassembly.land(receiver, 0, sender.nl_pid(), 9, origin);
  ASSERT_TRUE(landed.complete);
  EXPECT_FALSE(landed.stray);
  EXPECT_EQ(landed.complete->body, body);
  const json stats = reassembly.stats();
  EXPECT_EQ(stats["landed_fragments"], datagrams.size() - 1);
  EXPECT_EQ(stats["split_messages"], 0) << "announced as less than kAdoptMin";
}

// A message announced as kAdoptMin bytes or more whose first fragment ends inside a string
// completes in two pieces, the string at the buffer's front, and rpc.stats counts it.
TEST(InboundReassembly, ALongStringCompletesAtTheBuffersFrontAndIsCounted) {
  PeerOptions options;
  options.max_message_size = 4 << 20;
  InboundReassembly reassembly(options);
  const std::string text(kAdoptMin, 's');
  const std::string body = R"({"text":")" + text + R"("})";
  std::optional<InboundReassembly::Complete> complete;
  for (const auto& d : datagrams_for(body, 131032, 42, 9)) {
    Incoming incoming{0, ReceivedDatagram{42, uid(1000), d}};
    if (auto done = reassembly.add(incoming, ProcslinkMessage::parse(d)).complete) complete = done;
  }
  ASSERT_TRUE(complete);
  EXPECT_EQ(complete->head, R"({"text":")");
  EXPECT_EQ(complete->head + complete->body, body);
  const json stats = reassembly.stats();
  EXPECT_EQ(stats["split_messages"], 1);
  EXPECT_EQ(stats["landed_fragments"], 0) << "added, not landed";
}

TEST(InboundReassembly, SendersOnDifferentSocketsAreKeptApart) {
  InboundReassembly reassembly(reassembly_options());
  const std::string a(9000, 'a'), b(9000, 'b');
  const auto from_a = datagrams_for(a, 4096, 42, 1);
  const auto from_b = datagrams_for(b, 4096, 42, 1);  // same nl_pid and seq, other socket
  std::optional<InboundReassembly::Complete> done_a, done_b;
  for (std::size_t i = 0; i < from_a.size(); ++i) {
    Incoming ia{0, ReceivedDatagram{42, uid(1000), from_a[i]}};
    Incoming ib{1, ReceivedDatagram{42, uid(1000), from_b[i]}};
    if (auto c = reassembly.add(ia, ProcslinkMessage::parse(from_a[i])).complete) done_a = c;
    if (auto c = reassembly.add(ib, ProcslinkMessage::parse(from_b[i])).complete) done_b = c;
  }
  ASSERT_TRUE(done_a && done_b);
  EXPECT_EQ(done_a->body, a);
  EXPECT_EQ(done_b->body, b);
}

TEST(InboundReassembly, MessagePastTheLimitIsDroppedAndCounted) {
  PeerOptions options;
  options.max_message_size = 8192;
  InboundReassembly reassembly(options);
  const auto datagrams = datagrams_for(std::string(20000, 'z'), 4096, 42, 9);
  for (const auto& d : datagrams) {
    Incoming incoming{0, ReceivedDatagram{42, uid(1000), d}};
    EXPECT_FALSE(reassembly.add(incoming, ProcslinkMessage::parse(d)).complete);
  }
  const json stats = reassembly.stats();
  EXPECT_EQ(stats["dropped"], 1);
  EXPECT_EQ(stats["completed"], 0);
  EXPECT_EQ(stats["pending_bytes"], 0);
}

}  // namespace
}  // namespace procslink::detail
