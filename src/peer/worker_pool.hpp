// worker_pool.hpp - the serving threads: started on demand, grown while handlers run (up to
// max_workers), retired when idle, and stopped with a grace period for running handlers.
// Each thread receives (ServingReceiver) and handles (InboundRouter) in a loop; between
// datagrams it enforces asynchronous calls' deadlines (CallTable). Its counts live in
// PoolState under the peer's mutex. Used by RPCPeer (start, stop, run_server_forever) and
// Caller (an asynchronous call starts threads to receive its reply).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "call_table.hpp"
#include "caller_lead.hpp"
#include "inbound_router.hpp"
#include "pool_state.hpp"
#include "request_server.hpp"
#include "serving_receiver.hpp"

namespace procslink::detail {

class WorkerPool {
 public:
  WorkerPool(const PeerOptions& options, PoolState& pool, std::mutex& mutex, Endpoints& endpoints,
             ServingReceiver& receiver, InboundRouter& router, CallTable& calls, CallerLead& lead,
             RequestServer& server)
      : options_(options),
        pool_(pool),
        mutex_(mutex),
        endpoints_(endpoints),
        receiver_(receiver),
        router_(router),
        calls_(calls),
        lead_(lead),
        server_(server) {}

  // Starts serving threads unless they run already; `caller_joins` counts the calling thread,
  // which then runs run_thread itself. `for_replies`: started only to receive replies of
  // asynchronous calls, not to serve.
  void start(std::size_t threads_to_add, bool caller_joins, bool for_replies = false);
  // Asks every serving thread to end (async-signal-safe); see RPCPeer::stop.
  void stop() noexcept;
  // Waits until no serving thread is left, or `until`; false at `until`.
  bool wait_stopped(Clock::time_point until);
  // When running handlers stop being waited for: stop_grace after the last stop().
  Clock::time_point stop_deadline() const {
    return Clock::time_point(Clock::duration(pool_.stop_requested.load())) + options_.stop_grace;
  }
  // Joins every thread (but the calling one).
  void join_all();

 private:
  // What a serving thread drains (see ServingReceiver).
  struct Drain {
    std::optional<std::size_t> socket;
    std::int64_t stamp = 0;
    bool may_wait = false;
  };

  // Runs the router on a received datagram, then gives its batch slot back.
  void handle(const Incoming& incoming);
  // A serving thread. `spawned`: a pool thread (not a caller of run_server_forever), which
  // may retire early.
  void run_thread(bool spawned);
  // Receives the next datagram (unlocked meanwhile); deadlines are enforced on the way back.
  std::optional<Incoming> next_locked(std::unique_lock<std::mutex>& lock,
                                      std::span<std::uint8_t> buffer, Drain& drain);
  // Handles `incoming`, and the datagrams of a drainer's streak after it.
  void handle_locked(std::unique_lock<std::mutex>& lock, std::span<std::uint8_t> buffer,
                     std::optional<Incoming> incoming, Drain& drain);
  std::optional<Incoming> drain_streak(std::span<std::uint8_t> buffer, Drain& drain);
  bool should_retire_locked(const Drain& drain) const;
  void leave_locked(std::unique_lock<std::mutex>& lock, std::span<std::uint8_t> buffer,
                    Drain& drain);
  void answer_while_stopping(std::unique_lock<std::mutex>& lock, std::span<std::uint8_t> buffer);
  void spawn_locked();
  void join_finished_locked();

  const PeerOptions& options_;
  PoolState& pool_;
  std::mutex& mutex_;
  Endpoints& endpoints_;
  ServingReceiver& receiver_;
  InboundRouter& router_;
  CallTable& calls_;
  CallerLead& lead_;
  RequestServer& server_;
  std::vector<std::thread> threads_;
  std::vector<std::thread::id> retired_;  // threads that left early, to be joined
  std::condition_variable stopped_cv_;
};

}  // namespace procslink::detail
