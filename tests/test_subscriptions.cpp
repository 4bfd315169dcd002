// The subscriber tables without sockets: a publisher's Subscriptions (adding, limits and who
// gives way, removing, counting, declared events and their policies) and a subscriber's
// EventSinks (delivery to exactly one publisher's callbacks, one event at a time, in order).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "../src/peer/event_sinks.hpp"
#include "../src/peer/lost_events.hpp"
#include "../src/peer/subscriptions.hpp"

namespace procslink::detail {
namespace {

using Added = Subscriptions::Added;

std::vector<SubscriberAddress> addresses(const std::vector<Subscriber>& subscribers) {
  std::vector<SubscriberAddress> out;
  for (const Subscriber& s : subscribers) out.push_back(s.who);
  return out;
}

TEST(Subscriptions, AddsOncePerSubscriberAndEventAndListsInOrder) {
  Subscriptions table(10, 10);
  EXPECT_EQ(table.add("tick", {0, 7}, 1000), Added::added);
  EXPECT_EQ(table.add("tick", {0, 7}, 1000), Added::already);
  EXPECT_EQ(table.add("tick", {1, 7}, 1000), Added::added);  // another socket: another one
  EXPECT_EQ(table.add("tock", {0, 7}, 1000), Added::added);
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(addresses(table.subscribers("tick")), (std::vector<SubscriberAddress>{{0, 7}, {1, 7}}));
  EXPECT_TRUE(table.subscribers("none").empty());
}

TEST(Subscriptions, RemoveAndRemoveAll) {
  Subscriptions table(10, 10);
  table.add("tick", {0, 7}, 1);
  table.add("tock", {0, 7}, 1);
  table.add("tick", {0, 8}, 1);
  EXPECT_TRUE(table.remove("tick", {0, 8}));
  EXPECT_FALSE(table.remove("tick", {0, 8}));
  EXPECT_EQ(table.remove_all({0, 7}), 2u);
  EXPECT_EQ(table.size(), 0u);
  // Freed places count again.
  for (std::uint32_t p = 0; p < 10; ++p) EXPECT_EQ(table.add("tick", {0, p}, 1), Added::added);
}

TEST(Subscriptions, ASubscriptionFromAnotherSocketAtThePortIdIsStale) {
  Subscriptions table(10, 10);
  table.add("a", {0, 7}, 1, 100);
  table.add("b", {0, 7}, 1, 100);
  table.add("c", {0, 7}, 1, 0);  // inode unknown: never judged stale
  EXPECT_EQ(table.remove_stale({0, 7}, 100), 0u);
  // A later socket at port 7 subscribes to "b": the subscription is its own now.
  EXPECT_EQ(table.add("b", {0, 7}, 1, 200), Added::already);
  EXPECT_EQ(table.remove_stale({0, 7}, 200), 1u);  // "a" was the old socket's
  ASSERT_EQ(table.subscribers("b").size(), 1u);
  EXPECT_EQ(table.subscribers("b")[0].inode, 200u);
  EXPECT_EQ(table.remove_stale({0, 7}, 0), 1u);  // nothing bound: "b" goes, "c" stays
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.stats().at("stale"), 2);
}

TEST(Subscriptions, AUidAtItsLimitIsRefused) {
  Subscriptions table(10, 2);
  EXPECT_EQ(table.add("e", {0, 1}, 5), Added::added);
  EXPECT_EQ(table.add("e", {0, 2}, 5), Added::added);
  EXPECT_EQ(table.add("e", {0, 3}, 5), Added::refused);
  EXPECT_EQ(table.add("e", {0, 3}, 6), Added::added);
  EXPECT_EQ(table.stats().at("refused"), 1);
}

TEST(Subscriptions, WhenFullTheLargestUidGivesWayOldestFirst) {
  Subscriptions table(4, 4);
  for (std::uint32_t p = 1; p <= 4; ++p) ASSERT_EQ(table.add("e", {0, p}, 5), Added::added);
  // The flooding uid cannot push itself further, but another uid takes a place from it.
  EXPECT_EQ(table.add("e", {0, 9}, 5), Added::refused);
  EXPECT_EQ(table.add("e", {0, 20}, 6), Added::added);
  EXPECT_EQ(addresses(table.subscribers("e")),
            (std::vector<SubscriberAddress>{{0, 2}, {0, 3}, {0, 4}, {0, 20}}));
  EXPECT_EQ(table.add("e", {0, 21}, 6), Added::added);  // 3 against 1: uid 5 gives way again
  // 2 against 2: neither holds more, so a third subscription of uid 6 is refused.
  EXPECT_EQ(table.add("e", {0, 22}, 6), Added::refused);
  EXPECT_EQ(table.stats().at("evicted"), 2);
}

TEST(Subscriptions, CountsSentAndMissedPerEvent) {
  Subscriptions table(10, 10);
  table.add("e", {0, 1}, 1);
  table.add("e", {0, 2}, 1);
  table.count("e", {0, 1}, true);
  table.count("e", {0, 2}, false);
  table.count("e", {0, 2}, true);
  table.count("e", {0, 3}, true);  // not a subscriber: ignored
  const json e = table.stats().at("by_event").at("e");
  EXPECT_EQ(e.at("subscribers"), 2);
  EXPECT_EQ(e.at("sent"), 2);
  EXPECT_EQ(e.at("missed"), 1);
}

TEST(Subscriptions, DeclaredEventsAndTheirPolicies) {
  Subscriptions table(10, 10);
  table.declare("open", std::nullopt, json::object());
  table.declare("closed", AccessPolicy{{0}, {}}, json{{"x-restricted", true}});
  Credentials root;
  root.uid = 0;
  Credentials user;
  user.uid = 1000;
  user.gid = 1000;
  EXPECT_TRUE(table.allows("open", user));
  EXPECT_TRUE(table.allows("undeclared", user));
  EXPECT_FALSE(table.allows("closed", user));
  EXPECT_TRUE(table.allows("closed", root));
  const json described = table.describe();
  ASSERT_EQ(described.size(), 2u);
  EXPECT_EQ(described[0].at("name"), "closed");
  EXPECT_EQ(described[0].at("x-restricted"), true);
  EXPECT_EQ(described[1].at("name"), "open");
}

TEST(EventSinks, DeliversOnlyToThatPublishersCallbacks) {
  EventSinks sinks;
  std::vector<json> got;
  int registered = 0;
  const auto a = sinks.add("tick", {0, 7}, [&](const json& p) { got.push_back(p); },
                           [&] { ++registered; });
  const auto b = sinks.add("tick", {0, 8}, [&](const json& p) { got.push_back(p); },
                           [&] { ++registered; });
  EXPECT_TRUE(a.first_for_name);
  EXPECT_FALSE(b.first_for_name);
  EXPECT_EQ(registered, 1);
  EXPECT_TRUE(sinks.deliver("tick", {0, 7}, 1));
  EXPECT_FALSE(sinks.deliver("tick", {0, 9}, 2));  // a stranger
  EXPECT_FALSE(sinks.deliver("tock", {0, 7}, 3));
  EXPECT_EQ(got, std::vector<json>{1});

  std::vector<std::string> unregistered;
  const auto unregister = [&](const std::string& e) { unregistered.push_back(e); };
  const auto ra = sinks.remove(a.id, unregister);
  EXPECT_TRUE(ra.found);
  EXPECT_TRUE(ra.last_for_publisher);
  EXPECT_FALSE(ra.last_for_name);
  EXPECT_FALSE(sinks.deliver("tick", {0, 7}, 4));
  const auto rb = sinks.remove(b.id, unregister);
  EXPECT_TRUE(rb.last_for_name);
  EXPECT_EQ(unregistered, std::vector<std::string>{"tick"});
  EXPECT_FALSE(sinks.remove(b.id, unregister).found);
}

TEST(EventSinks, AGapInTheEventNumbersCountsMissedEvents) {
  EventSinks sinks;
  const auto a = sinks.add("e", {0, 1}, [](const json&) {}, [] {});
  sinks.deliver("e", {0, 1}, 1, 1);
  sinks.deliver("e", {0, 1}, 2, 2);
  EXPECT_EQ(sinks.missed(a.id), 0u);
  sinks.deliver("e", {0, 1}, 5, 5);  // 3 and 4 missed, so far
  EXPECT_EQ(sinks.missed(a.id), 2u);
  sinks.deliver("e", {0, 1}, 4, 4);  // came after 5 ran: stays missed, not run
  EXPECT_EQ(sinks.missed(a.id), 2u);
  sinks.deliver("e", {0, 1}, 7, 7);  // 6 missed
  EXPECT_EQ(sinks.missed(a.id), 3u);
  sinks.deliver("e", {0, 1}, 0, 0);  // unnumbered (fragmented): counting starts afresh
  sinks.deliver("e", {0, 1}, 9, 9);
  EXPECT_EQ(sinks.missed(a.id), 3u);
  sinks.deliver("e", {0, 1}, 11, 11);
  EXPECT_EQ(sinks.missed(a.id), 4u);
  EXPECT_EQ(sinks.missed(a.id + 1), 0u);
}

// The first event seen need not be the first sent: one numbered before it that comes after it
// ran is not run, and counts as missed, though no gap counted it.
TEST(EventSinks, AnEventOvertakenByTheFirstOneSeenCountsAsMissed) {
  EventSinks sinks;
  std::vector<json> got;
  const auto a = sinks.add("e", {0, 1}, [&](const json& p) { got.push_back(p); }, [] {});
  sinks.deliver("e", {0, 1}, 3, 3);
  sinks.deliver("e", {0, 1}, 2, 2);
  sinks.deliver("e", {0, 1}, 1, 1);
  EXPECT_EQ(sinks.missed(a.id), 2u);
  sinks.deliver("e", {0, 1}, 4, 4);
  EXPECT_EQ(sinks.missed(a.id), 2u);
  sinks.deliver("e", {0, 1}, 2, 2);  // a duplicate of one counted already
  EXPECT_EQ(sinks.missed(a.id), 2u);
  EXPECT_EQ(got, (std::vector<json>{3, 4}));
}

// Events queued behind a running callback run in the order of their numbers.
// A callback that records each event's params and holds on event 1 until released, so that
// the events delivered meanwhile queue behind it. Event 1 is delivered on a thread of its own.
struct HeldFirstEvent {
  std::mutex mutex;
  std::condition_variable changed;
  bool released = false;
  bool first_running = false;
  std::vector<int> order;
  std::thread first;

  EventCallback callback() {
    return [this](const json& p) {
      std::unique_lock lock(mutex);
      order.push_back(p.get<int>());
      if (p != 1) return;
      first_running = true;
      changed.notify_all();
      changed.wait(lock, [&] { return released; });
    };
  }
  void deliver_first(EventSinks& sinks) {
    first = std::thread([&sinks] { sinks.deliver("e", {0, 1}, 1, 1); });
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return first_running; });
  }
  void release() {
    {
      std::lock_guard lock(mutex);
      released = true;
    }
    changed.notify_all();
    first.join();
  }
};

// An event overtaken by a later one that has not run yet is not missed after all.
TEST(EventSinks, QueuedEventsRunInTheOrderOfTheirNumbers) {
  EventSinks sinks;
  HeldFirstEvent held;
  const auto a = sinks.add("e", {0, 1}, held.callback(), [] {});
  held.deliver_first(sinks);
  sinks.deliver("e", {0, 1}, 3, 3);  // both queued behind 1, 3 before 2
  sinks.deliver("e", {0, 1}, 2, 2);
  held.release();
  EXPECT_EQ(held.order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(sinks.missed(a.id), 0u);
}

TEST(EventSinks, AFailedRegistrationAddsNothing) {
  EventSinks sinks;
  EXPECT_THROW(sinks.add("tick", {0, 7}, [](const json&) {}, [] { throw std::invalid_argument("taken"); }),
               std::invalid_argument);
  EXPECT_FALSE(sinks.deliver("tick", {0, 7}, 1));
}

// Events delivered from several threads at once run one at a time, none lost: each one runs
// or, past the queue's bound, is counted missed.
TEST(EventSinks, OneSinksCallbackRunsOneEventAtATime) {
  EventSinks sinks;
  std::atomic<int> running{0};
  std::atomic<int> overlapped{0};
  std::atomic<int> count{0};
  const auto added = sinks.add("e", {0, 1},
            [&](const json&) {
              if (running.fetch_add(1) != 0) overlapped.fetch_add(1);
              std::this_thread::yield();
              running.fetch_sub(1);
              count.fetch_add(1);
            },
            [] {});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) sinks.deliver("e", {0, 1}, i);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(count.load() + static_cast<int>(sinks.missed(added.id)), 2000);
  EXPECT_EQ(overlapped.load(), 0);
}

// A publisher faster than the callback: kMaxQueued events wait, the rest are dropped and
// counted missed, and the queue takes events again once it has room.
TEST(EventSinks, EventsBeyondTheQueuesBoundAreDroppedAndCountedMissed) {
  EventSinks sinks;
  HeldFirstEvent held;
  const auto added = sinks.add("e", {0, 1}, held.callback(), [] {});
  held.deliver_first(sinks);
  const std::uint32_t extra = 10;
  const auto last = static_cast<std::uint32_t>(1 + EventSinks::kMaxQueued + extra);
  for (std::uint32_t seq = 2; seq <= last; ++seq) sinks.deliver("e", {0, 1}, seq, seq);
  EXPECT_EQ(sinks.missed(added.id), 0u);  // while event 1 runs: none was lost before it
  held.release();
  EXPECT_EQ(held.order.size(), 1 + EventSinks::kMaxQueued);
  EXPECT_EQ(held.order.back(), static_cast<int>(1 + EventSinks::kMaxQueued));
  EXPECT_TRUE(sinks.deliver("e", {0, 1}, last + 1, last + 1));  // room again
  EXPECT_EQ(held.order.size(), 2 + EventSinks::kMaxQueued);
  EXPECT_EQ(sinks.missed(added.id), extra);
}

// A callback asking missed() learns the events lost before the one it runs, not those lost
// while it ran: each loss counts with the first event that came after it.
TEST(EventSinks, ACallbackSeesTheLossesBeforeItsEventOnly) {
  EventSinks sinks;
  std::vector<std::uint64_t> seen;
  std::uint64_t id = 0;
  id = sinks.add("e", {0, 1}, [&](const json&) { seen.push_back(sinks.missed(id)); }, [] {}).id;
  sinks.deliver("e", {0, 1}, 1, 1);
  sinks.deliver("e", {0, 1}, 2, 2);
  sinks.deliver("e", {0, 1}, 5, 5);  // 3 and 4 were not sent
  sinks.deliver("e", {0, 1}, 6, 6);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 0, 2, 2}));
  sinks.deliver("e", {0, 1}, 9, 9);  // 7 and 8
  EXPECT_EQ(sinks.missed(id), 4u);
}

// An overtaken event dropped at the queue's bound counts with the first event queued after it,
// not with a later one.
TEST(EventSinks, ADroppedOvertakenEventCountsWithTheEventAfterIt) {
  EventSinks sinks;
  HeldFirstEvent held;
  std::vector<std::uint64_t> seen;  // missed() as each event ran
  std::uint64_t id = 0;
  id = sinks.add("e", {0, 1},
                 [&, inner = held.callback()](const json& p) {
                   inner(p);
                   seen.push_back(sinks.missed(id));
                 },
                 [] {}).id;
  held.deliver_first(sinks);
  const auto last = static_cast<std::uint32_t>(2 + EventSinks::kMaxQueued);
  for (std::uint32_t seq = 3; seq <= last; ++seq) sinks.deliver("e", {0, 1}, seq, seq);
  sinks.deliver("e", {0, 1}, 2, 2);  // overtaken by 3, and the queue is full
  held.release();
  ASSERT_EQ(seen.size(), 1 + EventSinks::kMaxQueued);
  EXPECT_EQ(seen[0], 0u);
  EXPECT_EQ(seen[1], 1u);  // event 3: 2 was lost before it
  EXPECT_EQ(seen.back(), 1u);
}

// A callback that records missed() as each event runs and runs an event only when the test
// lets it (one permit each), so that the test decides how much room the queue has.
struct SteppedCallback {
  EventSinks* sinks = nullptr;
  std::uint64_t id = 0;
  std::mutex mutex;
  std::condition_variable changed;
  int permits = 0;
  int started = 0;
  std::map<int, std::uint64_t> missed_at;  // event -> missed() as it ran

  EventCallback callback() {
    return [this](const json& p) {
      const std::uint64_t missed = sinks->missed(id);
      std::unique_lock lock(mutex);
      missed_at[p.get<int>()] = missed;
      ++started;
      changed.notify_all();
      changed.wait(lock, [&] { return permits > 0; });
      --permits;
    };
  }
  void allow(int n) {
    std::lock_guard lock(mutex);
    permits += n;
    changed.notify_all();
  }
  void wait_started(int n) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return started >= n; });
  }
};

// Losses count with the first event numbered after them that is queued, even one that was
// overtaken and queued after the later one was dropped: no event runs before the losses
// numbered before it are counted.
TEST(EventSinks, ALossCountsWithTheFirstEventAfterItEvenAnOvertakenOne) {
  EventSinks sinks;
  SteppedCallback stepped;
  stepped.sinks = &sinks;
  stepped.id = sinks.add("e", {0, 1}, stepped.callback(), [] {}).id;
  std::thread runner([&] { sinks.deliver("e", {0, 1}, 1, 1); });
  stepped.wait_started(1);
  const auto full = static_cast<std::uint32_t>(1 + EventSinks::kMaxQueued);
  for (std::uint32_t seq = 2; seq <= full; ++seq) sinks.deliver("e", {0, 1}, seq, seq);
  sinks.deliver("e", {0, 1}, full + 2, full + 2);  // full + 1 not (yet) seen; both lost
  sinks.deliver("e", {0, 1}, full + 4, full + 4);  // full + 3 not (yet) seen; both lost
  stepped.allow(1);
  stepped.wait_started(2);  // event 2 runs: the queue has room for one
  sinks.deliver("e", {0, 1}, full + 3, full + 3);  // overtaken by full + 4, and queued
  stepped.allow(1 << 20);
  runner.join();
  sinks.deliver("e", {0, 1}, full + 5, full + 5);
  EXPECT_EQ(stepped.missed_at.size(), 3 + EventSinks::kMaxQueued);
  EXPECT_EQ(stepped.missed_at.at(static_cast<int>(full)), 0u);
  EXPECT_EQ(stepped.missed_at.at(static_cast<int>(full + 3)), 2u);  // full + 1 and + 2
  EXPECT_EQ(stepped.missed_at.at(static_cast<int>(full + 5)), 3u);  // and full + 4
}

TEST(LostEvents, AnEventTakesTheLossesBeforeItAndOneThatCameIsTakenBack) {
  LostEvents lost;
  lost.add(3, 5);
  lost.add(8, 8);
  lost.add_unnumbered();
  EXPECT_EQ(lost.count(), 5u);
  EXPECT_TRUE(lost.take_back(4));
  EXPECT_FALSE(lost.take_back(6));
  EXPECT_EQ(lost.take_before(5), 2u);  // 3 and the unnumbered one
  EXPECT_EQ(lost.count(), 2u);
  EXPECT_EQ(lost.take_before(7), 1u);  // 5
  EXPECT_EQ(lost.take_before(0), 1u);  // unnumbered: all of them
  EXPECT_EQ(lost.count(), 0u);
}

TEST(LostEvents, NumbersWrapAroundModulo2To32) {
  LostEvents lost;
  lost.add(0xFFFFFFFEu, 1);
  EXPECT_EQ(lost.count(), 4u);
  EXPECT_EQ(lost.take_before(1), 3u);  // 0xFFFFFFFE, 0xFFFFFFFF and 0
  EXPECT_EQ(lost.take_before(2), 1u);
}

// A publisher numbering erratically cannot grow the ranges kept: the oldest merge, and every
// loss still counts once.
TEST(LostEvents, ScatteredLossesStayBoundedAndAllCount) {
  LostEvents lost;
  const auto n = static_cast<std::uint32_t>(2 * LostEvents::kMaxRanges);
  for (std::uint32_t seq = 2; seq <= 2 * n; seq += 2) lost.add(seq, seq);
  EXPECT_EQ(lost.count(), n);
  const std::uint64_t first = lost.take_before(n);
  EXPECT_LT(first, n / 2 - 1);  // apart, 2, 4 .. n - 2 would be; merged, they count later
  EXPECT_EQ(first + lost.take_before(2 * n + 1), n);
  EXPECT_EQ(lost.count(), 0u);
}

TEST(EventSinks, ACallbackThatThrowsDoesNotStopTheNextEvents) {
  EventSinks sinks;
  int seen = 0;
  sinks.add("e", {0, 1},
            [&](const json& p) {
              ++seen;
              if (p == 1) throw std::runtime_error("bad event");
            },
            [] {});
  sinks.deliver("e", {0, 1}, 1);
  sinks.deliver("e", {0, 1}, 2);
  EXPECT_EQ(seen, 2);
}

}  // namespace
}  // namespace procslink::detail
