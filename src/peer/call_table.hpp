// call_table.hpp - the calls in flight: by request id, with their deadlines (asynchronous
// calls), matched with their replies, completed once, and failed when nobody is left to
// receive. Every `_locked` member runs under the peer's mutex; those that take the lock may
// unlock it to run a callback.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "clock.hpp"
#include "endpoints.hpp"
#include "procslink/jsonrpc.hpp"
#include "procslink/peer_options.hpp"

namespace procslink::detail {

// A call's request ids: one for a call (kept inline: no allocation), several for a batch.
class CallIds {
 public:
  CallIds() = default;
  explicit CallIds(std::int64_t id) : one_(id) {}
  explicit CallIds(std::vector<std::int64_t> ids) {
    if (ids.size() == 1) one_ = ids.front();
    else many_ = std::move(ids);
  }
  const std::int64_t* begin() const { return many_.empty() ? &one_ : many_.data(); }
  const std::int64_t* end() const { return begin() + size(); }
  std::size_t size() const { return many_.empty() ? 1 : many_.size(); }
  std::int64_t front() const { return *begin(); }

 private:
  std::int64_t one_ = 0;
  std::vector<std::int64_t> many_;
};

// One call in flight: what its reply must match, what came back, and who waits for it.
struct PendingCall {
  std::uint32_t target = 0;
  std::size_t endpoint = 0;
  std::optional<uid_t> require_uid;
  std::string method;
  CallIds ids;
  std::optional<JsonRpcResponse> response;  // a single call's
  std::vector<JsonRpcResponse> responses;   // a batch's
  std::exception_ptr error;
  bool done = false;
  // Its waker: a synchronous caller waiting on a condition variable, or (`leading`) the lead
  // caller, asleep in a receive for everybody; or else the callback of an asynchronous call.
  std::condition_variable* waiter = nullptr;
  bool leading = false;
  std::function<void(CallOutcome)> callback;
  std::optional<Clock::time_point> async_deadline;
};

CallOutcome failed_outcome(std::exception_ptr error);
TransportError timeout_error(std::uint32_t target, std::string_view method);

class CallTable {
 public:
  // `wake_lead`: wakes the lead caller from its receive (CallerLead's LeadWake).
  explicit CallTable(std::function<void()> wake_lead) : wake_lead_(std::move(wake_lead)) {}

  void add_locked(std::int64_t id, const std::shared_ptr<PendingCall>& call);
  void add_ids_locked(const std::shared_ptr<PendingCall>& call) {
    for (auto id : call->ids) add_locked(id, call);
  }
  void erase_ids_locked(const PendingCall& call) {
    for (auto id : call.ids) erase_locked(id);
  }
  bool empty_locked() const { return pending_.empty(); }

  // Matches a reply from `origin` with its call, and completes the call when it is answered.
  // A reply nobody waits for (late, unknown, or from another peer) is dropped with a log line.
  void take_response_locked(const Origin& origin, JsonRpcResponse&& response,
                            std::unique_lock<std::mutex>& lock);
  // Marks a call finished and wakes whoever waits for it. May unlock to run a callback.
  void complete_locked(const std::shared_ptr<PendingCall>& call,
                       std::unique_lock<std::mutex>& lock);

  // Asynchronous calls' deadlines. Returns whether `deadline` is now the earliest.
  bool push_async_deadline_locked(Clock::time_point deadline, std::int64_t id);
  std::optional<Clock::time_point> next_async_deadline_locked() const {
    if (async_deadlines_.empty()) return std::nullopt;
    return async_deadlines_.front().first;
  }
  // How many deadlines are kept, read without the lock (a drainer's streak ends when any are).
  std::size_t async_deadlines_count() const {
    return async_deadlines_count_.load(std::memory_order_relaxed);
  }
  // Fails the asynchronous calls whose deadline has passed.
  void expire_async_locked(std::unique_lock<std::mutex>& lock);

  // Asynchronous calls have nobody to receive their replies or enforce their deadlines once
  // the last serving thread leaves: they fail with `why`. Calls made meanwhile (even by a
  // callback) are failed too.
  void fail_async_locked(std::unique_lock<std::mutex>& lock, const std::string& why);
  // Every call still outstanding fails (the peer is being destroyed).
  void fail_all_locked(std::unique_lock<std::mutex>& lock, const std::string& why);
  // Wakes every synchronous caller (to look at how it should receive now).
  void wake_waiters_locked() const;

  // Moves the result out: each call's outcome is taken exactly once.
  static CallOutcome outcome_of(PendingCall& call);

 private:
  void erase_locked(std::int64_t id);
  std::shared_ptr<PendingCall> oldest_call_to_locked(const Origin& origin) const;
  // Whether the reply may answer `call`; fails the call if it came from the wrong uid.
  bool accept_locked(PendingCall& call, const Origin& origin, const JsonRpcResponse& response);

  using Map = std::unordered_map<std::int64_t, std::shared_ptr<PendingCall>>;
  Map pending_;
  // Map nodes are recycled: a call costs no node allocation.
  static constexpr std::size_t kSpareNodes = 1024;
  std::vector<Map::node_type> spare_nodes_;
  // Deadlines of asynchronous calls with their ids, a min-heap (std::greater). A call answered
  // in time leaves its entry behind, to be skipped when it comes up: no search per reply.
  std::vector<std::pair<Clock::time_point, std::int64_t>> async_deadlines_;
  std::atomic<std::size_t> async_deadlines_count_{0};
  std::function<void()> wake_lead_;
};

}  // namespace procslink::detail
