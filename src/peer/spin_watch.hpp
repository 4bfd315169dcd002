// spin_watch.hpp - the spin watch: a thread of the lowest priority (SCHED_IDLE) that looks, every
// period, whether spin mode's spinning serving thread needs help, and then wakes the parked
// ones (ServingReceiver::receive_spinning).
//
// Its wake-ups do not preempt the spinner on a CPU they share, as a look by a thread of normal
// priority would each time (docs/performance.md, spinning). The price: on a CPU kept busy by
// threads of normal priority it looks only when the scheduler gives it a turn, a few
// milliseconds late.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace procslink::detail {

class SpinWatch {
 public:
  // Every `period` the watch asks `needs_help` and, when it says so, calls `wake`; both run
  // on the watch's thread.
  SpinWatch(std::chrono::microseconds period, std::function<bool()> needs_help,
            std::function<void()> wake);
  ~SpinWatch() { join(); }
  SpinWatch(const SpinWatch&) = delete;
  SpinWatch& operator=(const SpinWatch&) = delete;

  // Starts the watch unless it runs (waiting first for a retired one to end). False when no
  // thread could be started: then nobody looks.
  bool ensure_running();
  // Tells the running watch to end without waiting for it, which may take a scheduler turn:
  // for a caller that holds locks. ensure_running() or join() waits for it later.
  void retire();
  // Ends the watch and waits for it, and for a retired one.
  void join();

 private:
  void run(std::uint64_t round);

  const std::chrono::microseconds period_;
  const std::function<bool()> needs_help_;
  const std::function<void()> wake_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t round_ = 0;  // under mutex_: a watch runs while this is the round it began in
  std::thread running_;      // under mutex_
  std::thread retired_;      // under mutex_: told to end, not joined yet
};

}  // namespace procslink::detail
