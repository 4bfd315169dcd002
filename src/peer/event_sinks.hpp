// event_sinks.hpp - a subscriber's side of events: the callbacks its Channel::subscribe calls
// registered, keyed by event name and publisher (the socket and the publisher's port id), and
// handing an arriving event to the callbacks of exactly that publisher. Socket-free; used by
// RPCPeer and Channel (peer.cpp), which register one method per event name that calls
// deliver().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "lost_events.hpp"
#include "procslink/peer_options.hpp"
#include "subscriptions.hpp"

namespace procslink::detail {

class EventSinks {
 public:
  struct Added {
    std::uint64_t id;
    bool first_for_name;  // no other sink has this event name: its method is to be registered
  };
  // `on_first_for_name` runs under the lock when no other sink has `event` (to register its
  // method); if it throws, nothing is added.
  Added add(std::string event, SubscriberAddress publisher, EventCallback callback,
            const std::function<void()>& on_first_for_name);

  struct Removed {
    bool found = false;
    bool last_for_publisher = false;  // then the publisher is to be told (rpc.unsubscribe)
    bool last_for_name = false;       // then the event's method is to be unregistered
    std::string event;
    SubscriberAddress publisher;
  };
  // `on_last_for_name` runs under the lock when no sink is left for the event's name (to
  // unregister its method).
  Removed remove(std::uint64_t id, const std::function<void(const std::string&)>& on_last_for_name);

  // Hands an event to the callbacks `publisher` has for `event`; false when there are none
  // (the sender is not that publisher). One sink's callback runs one event at a time, in the
  // order of the events' numbers: a thread that finds the sink's callback running elsewhere
  // queues the event for that thread and returns. An event whose number is past the next one
  // waits up to kGapHold for the ones before it, which another serving thread may have
  // received first and not handed over yet (they never come if the publisher could not send
  // them); one that comes after a later one ran is not run, and counts as missed. A
  // callback that throws is logged (warning).
  // `seq`: the event's number in its subscription (procslinkhdr.seq; 0 unknown): a gap
  // between two numbers counts the events the publisher could not send as missed, as does an
  // event dropped because kMaxQueued wait already.
  bool deliver(std::string_view event, SubscriberAddress publisher, const json& params,
               std::uint32_t seq = 0);
  // The events sink `id` learnt it missed (0 for an unknown id). While its callback runs, those
  // before the event it runs: each loss counts with the first event numbered after it that
  // runs.
  std::uint64_t missed(std::uint64_t id) const;

  static constexpr std::chrono::microseconds kGapHold{2000};
  // Events one sink holds behind its running callback; more are dropped and counted missed
  // (a warning is logged when a sink starts dropping), so a publisher faster than the callback
  // cannot grow the subscriber's memory without bound.
  static constexpr std::size_t kMaxQueued = 1024;

 private:
  // The callback and its queue live apart from the table, so that a sink removed while its
  // callback runs finishes that event (and drops the rest).
  struct Runner {
    EventCallback callback;
    std::mutex mutex;
    struct Queued {
      std::uint32_t seq;
      json params;
    };
    std::deque<Queued> queue;  // by number
    std::condition_variable arrived;  // an event was queued (for a runner holding at a gap)
    bool running = false;
    bool removed = false;
    std::uint32_t last_seq = 0;  // the last event number seen (0: none, or unknown)
    // The lowest number seen since counting started (0: none): gaps are counted from there,
    // so an event numbered before it was never counted missed.
    std::uint32_t counted_from = 0;
    std::uint32_t last_run = 0;  // the number of the last event run (0: none, or unknown)
    std::uint64_t missed_run = 0;      // losses before the events handed to the callback
    LostEvents lost;  // losses not yet counted with an event run
    bool dropping = false;  // the queue was full; logged once until it empties again
  };
  struct Sink {
    std::string event;
    SubscriberAddress publisher;
    std::shared_ptr<Runner> runner;
  };
  static void run(Runner& runner, json params, std::uint32_t seq);
  enum class Arrival {
    newest,  // numbered past every event seen (or unnumbered)
    behind,  // overtaken by a later one that has not run yet
    late,    // overtaken by a later one that ran: not run, and counted missed
  };
  // Counts the gap before event `seq` as missed; an event behind the last one seen (its gap
  // was counted when the later one came) takes its count back. Under the runner's lock.
  static Arrival count_gap_locked(Runner& runner, std::uint32_t seq);
  // Queues an event behind the running callback, before any queued event numbered after it.
  // False (dropped, counted lost) when kMaxQueued wait already.
  static bool enqueue_locked(Runner& runner, json params, std::uint32_t seq);
  // The next queued event to run, after holding at a gap, counting the losses before it;
  // false when there is none.
  static bool take_next_locked(Runner& runner, std::unique_lock<std::mutex>& lock, json& params);
  std::size_t count_locked(std::string_view event, const SubscriberAddress* publisher) const;

  mutable std::mutex mutex_;
  std::map<std::uint64_t, Sink> sinks_;  // by id: in the order they were added
  std::uint64_t next_id_ = 1;
};

}  // namespace procslink::detail
