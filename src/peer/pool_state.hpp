// pool_state.hpp - the serving pool's counts and the stop request: written by WorkerPool (and
// RPCPeer::stop), read by the units that decide how to receive (ServingReceiver, CallerLead,
// Caller) and by the request server (a stopping peer runs no new requests).
#pragma once

#include <atomic>
#include <cstddef>

#include "clock.hpp"

namespace procslink::detail {

struct PoolState {
  // Under the peer's mutex.
  bool running = false;        // serving threads exist (or are starting)
  std::size_t threads = 0;     // serving threads, including a caller of run_server_forever
  std::size_t idle = 0;        // of those, waiting for a datagram
  bool stop_answerer = false;  // a leaving thread answers for the peer (WorkerPool)

  // Mirrors of `threads` and `idle`, written under the mutex, read without it by a drainer's
  // streak: a stale one only ends a streak a datagram early or late.
  std::atomic<std::size_t> threads_count{0};
  std::atomic<std::size_t> idle_count{0};
  // 1 while the drainer's streak waits in a blocking receive (it counts as idle then).
  std::atomic<std::size_t> streak_waiting{0};

  std::atomic<bool> stopping{false};
  std::atomic<Clock::rep> stop_requested{0};  // when stop() was last called (ticks)

  void set_idle_locked(std::size_t n) {
    idle = n;
    idle_count.store(n, std::memory_order_relaxed);
  }
  void set_threads_locked(std::size_t n) {
    threads = n;
    threads_count.store(n, std::memory_order_relaxed);
  }
  // Threads waiting for a datagram, a waiting streak included.
  std::size_t waiting_locked() const {
    return idle + streak_waiting.load(std::memory_order_relaxed);
  }
};

}  // namespace procslink::detail
