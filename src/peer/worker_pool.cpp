// worker_pool.cpp - the serving threads' loop, growth, retirement and stop.
#include "worker_pool.hpp"

#include <algorithm>

#include "method_table.hpp"
#include "procslink/log.hpp"
#include "thread_state.hpp"

namespace procslink::detail {
namespace {

// Left uninitialized: zeroing 256 KiB for every thread would cost more than most calls, and
// only the pages a datagram lands in are ever touched.
std::unique_ptr<std::uint8_t[]> serving_buffer() {
  return std::unique_ptr<std::uint8_t[]>(new std::uint8_t[kMaxDatagramSize]);
}

}  // namespace

void WorkerPool::run_thread(bool spawned) {
  MethodCache cache;
  struct Install {
    MethodCache* outer;
    ~Install() { t_thread.method_cache = outer; }
  } install{std::exchange(t_thread.method_cache, &cache)};
  const auto storage = serving_buffer();
  const std::span<std::uint8_t> buffer(storage.get(), kMaxDatagramSize);
  Drain drain;
  std::unique_lock lock(mutex_);
  pool_.set_idle_locked(pool_.idle + 1);
  while (!pool_.stopping.load()) {
    std::optional<Incoming> incoming = next_locked(lock, buffer, drain);
    if (!incoming) continue;
    pool_.set_idle_locked(pool_.idle - 1);
    handle_locked(lock, buffer, std::move(incoming), drain);
    if (spawned && should_retire_locked(drain)) {
      pool_.set_threads_locked(pool_.threads - 1);
      retired_.push_back(std::this_thread::get_id());
      return;
    }
    pool_.set_idle_locked(pool_.idle + 1);
  }
  leave_locked(lock, buffer, drain);
}

std::optional<Incoming> WorkerPool::next_locked(std::unique_lock<std::mutex>& lock,
                                                std::span<std::uint8_t> buffer, Drain& drain) {
  const std::optional<Clock::time_point> deadline = calls_.next_async_deadline_locked();
  drain.may_wait = receiver_.drainer_may_wait(pool_.threads);
  lock.unlock();
  std::optional<Incoming> incoming;
  try {
    incoming = receiver_.receive(buffer, deadline, drain.socket, drain.stamp, drain.may_wait);
  } catch (const std::exception& e) {
    log(LogLevel::error, "serving thread: ", e.what());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  lock.lock();
  calls_.expire_async_locked(lock);
  return incoming;
}

void WorkerPool::handle_locked(std::unique_lock<std::mutex>& lock, std::span<std::uint8_t> buffer,
                               std::optional<Incoming> incoming, Drain& drain) {
  for (;;) {
    // Keep one thread receiving while this one runs a handler, up to max_workers.
    if (pool_.waiting_locked() == 0 && pool_.threads < options_.max_workers &&
        !pool_.stopping.load()) {
      spawn_locked();
    }
    lock.unlock();
    handle(*incoming);
    incoming.reset();
    if (drain.may_wait && drain.socket) incoming = drain_streak(buffer, drain);
    lock.lock();
    if (!incoming) return;
    calls_.expire_async_locked(lock);
  }
}

// After a handler, a drainer that may wait (wait_on_drained) goes on receiving and handling
// its socket's datagrams without taking the peer's mutex in between: run_thread's two lock
// rounds per request cost, with more than one thread in the process, four atomic operations.
// It stops as soon as run_thread's bookkeeping is needed: the socket was handed off, stop(),
// fewer than two serving threads (nobody would watch it), an asynchronous call's deadline to
// enforce, or a datagram taken while no other serving thread is idle (returned, for run_thread
// to spawn one before its handler runs). Meanwhile PoolState::idle counts it as busy, and
// streak_waiting as idle while it waits. The counts it reads without the mutex are mirrors.
std::optional<Incoming> WorkerPool::drain_streak(std::span<std::uint8_t> buffer, Drain& drain) {
  constexpr auto relaxed = std::memory_order_relaxed;
  for (;;) {
    if (!drain.socket || pool_.stopping.load() || pool_.threads_count.load(relaxed) < 2 ||
        calls_.async_deadlines_count() != 0) {
      return std::nullopt;
    }
    std::optional<Incoming> incoming;
    try {
      incoming = receiver_.wait_on_drained(buffer, drain.socket, drain.stamp, true);
    } catch (const std::exception& e) {
      log(LogLevel::error, "serving thread: ", e.what());
      return std::nullopt;
    }
    if (!incoming) return std::nullopt;
    // Its socket is still this thread's (wait_on_drained); the socket's next datagram is the
    // one behind it, unless its batch holds more.
    incoming->exclusive = !incoming->more_in_batch;
    incoming->drain_stamp = &drain.stamp;
    if (pool_.idle_count.load(relaxed) == 0) return incoming;
    handle(*incoming);
  }
}

void WorkerPool::handle(const Incoming& incoming) {
  struct Handled {
    const Incoming& incoming;
    ~Handled() {
      // Its slot may be filled again.
      if (incoming.batch != nullptr) incoming.batch->handled(incoming.orphan);
    }
  } handled{incoming};
  router_.handle(incoming);
}

// A thread spawned beyond `workers` leaves once two others are waiting again: threads added
// while handlers merely overlapped would otherwise stay, and take turns at every arrival. One
// waiting thread is not enough: the next arrival would have it spawn a replacement for the one
// leaving now, a thread per call or two.
bool WorkerPool::should_retire_locked(const Drain& drain) const {
  return options_.spin.count() == 0 && !drain.socket && pool_.waiting_locked() > 1 &&
         pool_.threads > options_.workers && !receiver_.has_orphans();
}

void WorkerPool::leave_locked(std::unique_lock<std::mutex>& lock, std::span<std::uint8_t> buffer,
                              Drain& drain) {
  receiver_.release_drained(drain.socket, drain.stamp);
  // What a batch still holds would stay unread with nobody serving (a lead caller reads the
  // socket itself): it is handled now, before leaving.
  while (std::optional<Incoming> leftover = receiver_.take_leftover()) {
    lock.unlock();
    handle(*leftover);
    lock.lock();
  }
  // This thread may have read the wake-up stop() sent a drainer still blocked in recvmsg (a
  // socket re-armed under it is also in the epoll set): send it another.
  receiver_.wake_waiting_drainer();
  if (!pool_.stop_answerer && server_.handlers_running() > 0) {
    pool_.stop_answerer = true;
    answer_while_stopping(lock, buffer);
    pool_.stop_answerer = false;
  }
  pool_.set_idle_locked(pool_.idle - 1);
  receiver_.thread_leaves();
  if (pool_.threads == 1) {
    // Runs while this thread still counts as serving, so no new pool starts while callbacks
    // run unlocked.
    calls_.fail_async_locked(lock, "serving stopped");
  }
  pool_.set_threads_locked(pool_.threads - 1);
  if (pool_.threads != 0) return;
  // The last one out lets callers receive for themselves again, alone.
  receiver_.close_for_pool();
  pool_.stopping.store(false);
  pool_.running = false;
  calls_.wake_waiters_locked();
  lead_.wake_followers_locked();
  stopped_cv_.notify_all();
}

// After stop(), while handlers that were running finish (for up to stop_grace), one leaving
// thread goes on receiving for the peer: a new request is then answered -32003 "Server
// stopping" at once instead of waiting unread, and replies to the handlers' own calls still
// arrive. Returns when no handler runs or the grace period is over.
void WorkerPool::answer_while_stopping(std::unique_lock<std::mutex>& lock,
                                       std::span<std::uint8_t> buffer) {
  constexpr auto kLook = std::chrono::milliseconds(50);  // how soon it sees the last one end
  const auto until = stop_deadline();
  while (server_.handlers_running() > 0 && Clock::now() < until) {
    lock.unlock();
    if (receiver_.drainer_waiting()) {
      // A drainer still blocked in recvmsg (wait_on_drained: in a streak, or an idle thread)
      // leaves on the wake-up stop() sent to its socket: read nothing until it has, or this
      // thread might take that wake-up, and the drainer would wait on for good. No drainer
      // starts waiting once `stopping` is set.
      receiver_.wake_waiting_drainer();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      lock.lock();
      continue;
    }
    std::optional<Incoming> incoming;
    try {
      incoming = endpoints_.poll(buffer, std::min(until, Clock::now() + kLook), -1);
    } catch (const std::exception& e) {
      log(LogLevel::error, "stopping: ", e.what());
    }
    if (incoming) router_.handle(*incoming);
    lock.lock();
    calls_.expire_async_locked(lock);
  }
  if (const std::size_t running = server_.handlers_running(); running > 0) {
    log(LogLevel::warning, running, " handler(s) still running ", options_.stop_grace.count(),
        " ms after stop(); no longer receiving for them");
  }
}

void WorkerPool::spawn_locked() {
  pool_.set_threads_locked(pool_.threads + 1);
  // Join the threads that retired (they only have to return, which needs no lock).
  if (!retired_.empty()) {
    std::erase_if(threads_, [this](std::thread& t) {
      if (std::find(retired_.begin(), retired_.end(), t.get_id()) == retired_.end()) return false;
      t.join();
      return true;
    });
    retired_.clear();
  }
  threads_.emplace_back(&WorkerPool::run_thread, this, true);
}

void WorkerPool::start(std::size_t threads_to_add, bool caller_joins, bool for_replies) {
  std::lock_guard lock(mutex_);
  if (caller_joins) pool_.set_threads_locked(pool_.threads + 1);
  if (pool_.running) return;
  if (for_replies) {
    // A stop() that came while nothing served (a repeated stop, say) is not meant for these
    // threads; left pending it would end them at once and strand the call.
    pool_.stopping.store(false);
    receiver_.clear_stop_signal();
  }
  join_finished_locked();
  lead_.clear_receive_timeout_locked();
  pool_.running = true;
  // A lead caller receiving right now hands the sockets over when it finishes.
  receiver_.open_for_pool(!lead_.busy_locked());
  for (std::size_t i = 0; i < threads_to_add; ++i) spawn_locked();
  // Callers waiting as followers should stop leading: wake them to look again.
  lead_.wake_followers_locked();
}

void WorkerPool::stop() noexcept {
  pool_.stop_requested.store(ticks_now());
  pool_.stopping.store(true);
  receiver_.signal_stop();
}

bool WorkerPool::wait_stopped(Clock::time_point until) {
  std::unique_lock lock(mutex_);
  return stopped_cv_.wait_until(lock, until, [&] { return !pool_.running; });
}

// Threads of an earlier run that have all exited (the pool is not running).
void WorkerPool::join_finished_locked() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  retired_.clear();
}

void WorkerPool::join_all() {
  std::vector<std::thread> to_join;
  {
    std::lock_guard lock(mutex_);
    to_join.swap(threads_);
    retired_.clear();
  }
  for (auto& t : to_join) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
  receiver_.join_spin_watch();
}

}  // namespace procslink::detail
