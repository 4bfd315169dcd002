// serving_receiver.hpp - which serving thread reads which socket, and how it waits.
//
// Serving threads all wait in epoll_wait on one set. Sockets are registered EPOLLONESHOT: the
// thread that gets a socket's event owns it until it has read one datagram and re-armed it;
// then it runs the handler itself, with no hand-off. When more datagrams are queued behind the
// one it read (a burst), it keeps the socket and reads on without blocking (it drains it,
// drain_next) and re-arms it only once it is empty: a re-arm with datagrams still queued would
// wake another thread for each of them. With one socket, the drainer waits for its next
// datagram in a blocking receive on the socket itself (wait_on_drained): a call then costs the
// server one receive and one send, as a plain recv loop does.
//
// While a socket is drained, one thread waiting in epoll_wait watches (the watcher; a drainer
// kicks one into it when none does) and looks every PeerOptions::hand_off: when the drainer
// has been on one datagram (its handler, say) longer than that, the watcher hands the socket
// off (re-arms it), so a slow handler delays the datagrams behind it by about hand_off. The
// drainer notices when its compare-exchange on the socket's state fails.
//
// A drainer reads its socket in batches (ReceiveBatch, one per socket): one recvmmsg takes the
// datagram it waits for and those queued behind it, and it claims them one by one before it
// reads again. When its socket is handed off or back, the datagrams it has not claimed yet go
// to whichever serving thread looks first (claim_orphaned; the hand-back kicks one).
//
// In spin mode (PeerOptions::spin) one thread, the spinner, polls the sockets without sleeping
// and runs what it receives; the others park and take over when it has been in a handler
// longer than spin_takeover, which a thread of the lowest priority looks at (the spin watch).
//
// Used by WorkerPool (its threads' receives), CallerLead (sockets go back to the pool when a
// lead caller stops receiving), InboundRouter (a handler about to run marks its drainer busy)
// and Caller (a handler that waits for a reply hands its socket back first).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include "clock.hpp"
#include "endpoints.hpp"
#include "file_descriptors.hpp"
#include "pool_state.hpp"
#include "procslink/peer_options.hpp"
#include "receive_batch.hpp"
#include "spin_watch.hpp"

namespace procslink::detail {

class ServingReceiver {
 public:
  ServingReceiver(const PeerOptions& options, Endpoints& endpoints, PoolState& pool);
  ServingReceiver(const ServingReceiver&) = delete;
  ServingReceiver& operator=(const ServingReceiver&) = delete;

  // A serving thread's next datagram, or nullopt at `deadline`, on stop, or when kicked to
  // look at deadlines again. `drained` names the socket the thread drains, if any (kept
  // between calls; `stamp` is its drain state); `may_wait`: see drainer_may_wait.
  std::optional<Incoming> receive(std::span<std::uint8_t> buffer,
                                  std::optional<Clock::time_point> deadline,
                                  std::optional<std::size_t>& drained, std::int64_t& stamp,
                                  bool may_wait);
  // The drainer's next datagram, waited for in a blocking receive on its socket. `in_streak`:
  // the caller counts as idle (PoolState::streak_waiting) while it waits here.
  std::optional<Incoming> wait_on_drained(std::span<std::uint8_t> buffer,
                                          std::optional<std::size_t>& drained,
                                          std::int64_t& stamp, bool in_streak = false);
  // Gives a drained socket back to the epoll set (unless it was handed off meanwhile).
  void release_drained(std::optional<std::size_t>& drained, std::int64_t stamp);
  // A serving thread about to leave takes the datagrams still unclaimed in the batches of
  // sockets nobody drains, one at a time, so none stays unread when the pool stops.
  std::optional<Incoming> take_leftover() { return claim_orphaned(); }
  // Whether a socket nobody drains has datagrams left unclaimed in its batch: a serving
  // thread that would retire stays to take them (the others may sleep in epoll_wait, which
  // they do not wake it for).
  bool has_orphans() const;
  // Whether the drainer may wait for its next datagram in a blocking receive: only with one
  // socket (a blocking receive watches one), without spinning, and with another serving thread
  // in epoll_wait to watch it and to run timeouts (`pool_threads` >= 2).
  bool drainer_may_wait(std::size_t pool_threads) const {
    return endpoints_.size() == 1 && options_.spin.count() == 0 && pool_threads >= 2;
  }

  // A handler is about to run for `incoming`: its draining thread must look busy again, so it
  // is handed off if slow.
  void mark_busy(const Incoming& incoming);
  // A handler that waits for a reply on the peer whose socket its thread drains would wait
  // behind itself until the watcher hands the socket off: it hands it back at once. Safe from
  // any thread: only the drainer itself finds its own socket in ThreadContext::draining.
  // `only_for_requests`: only from a request's handler; a reply's callback that chains the
  // next call with a callback of its own (pipelining) keeps the socket and drains that reply.
  void hand_back_socket(bool only_for_requests = false);

  // The pool starts: sockets go into the epoll set armed (`arm`: unless a lead caller still
  // receives, which hands them over later with arm_all), and stop signals reach its threads.
  void open_for_pool(bool arm);
  void arm_all();
  // The last serving thread leaves: no socket stays in the set (armed, it would hand the next
  // pool's threads datagrams a caller is reading), and a stop signal left unread is cleared.
  void close_for_pool();
  // stop(): every waiting serving thread returns. Async-signal-safe.
  void signal_stop() noexcept;
  void clear_stop_signal() { wake_.clear(); }
  // Wakes a serving thread in epoll_wait so it looks at the deadlines again.
  void kick() { kick_.signal(); }
  // A serving thread leaves: it spins no more (a parked thread takes over).
  void thread_leaves();
  // Waits for the spin watch to end, once the pool has stopped (close_for_pool only tells it
  // to, as it holds the pool's lock).
  void join_spin_watch() { spin_watch_.join(); }
  // Wakes a drainer waiting in wait_on_drained's receive. Nothing is sent when none waits.
  void wake_waiting_drainer() noexcept;
  // Whether a drainer waits in wait_on_drained's receive (in a streak or idle).
  bool drainer_waiting() const noexcept;

 private:
  static constexpr std::uint64_t kWakeToken = ~std::uint64_t{0};
  static constexpr std::uint64_t kKickToken = ~std::uint64_t{0} - 1;
  // Drain states of a socket besides a handler's start time in ticks.
  static constexpr std::int64_t kArmed = -1;    // in the epoll set, armed: nobody drains it
  static constexpr std::int64_t kWaiting = -2;  // its drainer waits in a blocking receive on it

  void add_to_epoll(int fd, std::uint64_t token);
  void arm(std::size_t endpoint);
  // Takes a socket from its drainer back into the epoll set, unless its state is no longer
  // `expected` (the drainer moved on, or someone else took it). Whether it did.
  bool rearm_if(std::size_t endpoint, std::int64_t expected);
  // The drainer's next datagram from socket `i`: the next one its batch holds, or else a new
  // batch's first (waiting for it with `wait`); read alone into `buffer` while a datagram of
  // the last batch is still being handled elsewhere.
  std::optional<Incoming> read_drained(std::size_t i, std::span<std::uint8_t> buffer, bool wait);
  // A datagram left unclaimed in the batch of a socket nobody drains any more.
  std::optional<Incoming> claim_orphaned();
  void remove_from_epoll(std::size_t endpoint);
  std::optional<Incoming> receive_spinning(std::span<std::uint8_t> buffer,
                                           std::optional<Clock::time_point> deadline);
  // Spin mode: whether the spinner has been in a handler longer than spin_takeover; whether
  // parked threads must act (it is stuck, there is none, or the pool stops).
  bool spinner_stuck() const;
  bool spinner_needs_help() const;
  // A thread that does not spin waits until the spin watch finds the spinner needs help, or
  // `deadline`; the first one starts the spin watch.
  void park(std::optional<Clock::time_point> deadline);
  void wake_parked();
  std::optional<Incoming> drain_next(std::span<std::uint8_t> buffer,
                                     std::optional<std::size_t>& drained, std::int64_t& stamp);
  std::optional<Incoming> epoll_receive(std::span<std::uint8_t> buffer,
                                        std::optional<Clock::time_point> deadline, bool spin,
                                        std::optional<std::size_t>* drained = nullptr,
                                        std::int64_t* stamp = nullptr, bool may_wait = false);
  // One epoll_wait, watching the drainers meanwhile if no other waiting thread does: the
  // event's token, or nullopt (timeout, interrupted, or a wake-up or kick, already handled:
  // then `stop` is set).
  std::optional<std::uint64_t> wait_for_token(Clock::time_point now,
                                              std::optional<Clock::time_point> deadline,
                                              bool serving, bool& stop);
  // Reads the datagram behind a socket's event, keeping the socket to drain it when more
  // follow (a burst, or the rest of a fragmented message): then `drained` names it and
  // `stamp` is its drain state as written.
  std::optional<Incoming> take_datagram(std::size_t endpoint, std::span<std::uint8_t> buffer,
                                        std::optional<std::size_t>* drained,
                                        std::int64_t* stamp, bool may_wait);
  static std::int64_t drain_stamp(const ReceivedDatagram& d, std::int64_t now = ticks_now());
  void hand_off_slow_drainers();
  bool burst_behind(std::size_t endpoint);
  void kick_watcher();
  bool needs_watching() const;

  const PeerOptions& options_;
  Endpoints& endpoints_;
  PoolState& pool_;
  UniqueFd epoll_fd_;
  EventFd wake_;  // stop(): in the set while the pool runs
  EventFd kick_;  // a watcher wanted, or deadlines changed
  // Per socket: kArmed, kWaiting, or since when (ticks) its drainer has had its datagram.
  std::unique_ptr<std::atomic<std::int64_t>[]> drain_state_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> quiet_reads_;  // see burst_behind
  // Whether each socket is in the epoll set. Every datagram that arrives on a socket in a set
  // costs the sender's kernel a look at the set (~40 ns), armed or not; so a socket is added
  // when first armed and taken out while a drainer waits on it alone (wait_on_drained).
  std::unique_ptr<std::atomic<bool>[]> in_epoll_;
  // Per socket: threads inside wait_on_drained's blocking receive (or about to enter it). What
  // stop() wakes, counted apart from drain_state_: a state another thread rewrote (re-armed)
  // must not hide a thread blocked in recvmsg from the wake-up, or RPCPeer's destructor waits
  // for it for good.
  std::unique_ptr<std::atomic<std::uint32_t>[]> blocked_;
  std::unique_ptr<ReceiveBatch[]> batches_;  // per socket
  std::atomic<int> watchers_{0};             // 1 while a waiting thread watches drainers
  std::atomic<bool> watcher_kicked_{false};  // a kick is written and not yet read
  std::atomic<std::int64_t> waiter_took_{0};  // when (ticks) a waiting drainer last took one
  // Spin mode: the thread that spins, and since when (ticks) it has been running a handler
  // instead (0: it is receiving).
  std::atomic<std::thread::id> spinner_id_{};
  std::atomic<Clock::rep> spinner_busy_since_{0};
  std::mutex park_mutex_;
  std::condition_variable park_cv_;
  // Started by the first thread to park, retired when the pool closes; after all it uses, so
  // that it ends first.
  SpinWatch spin_watch_{options_.spin_takeover, [this] { return spinner_needs_help(); },
                        [this] { wake_parked(); }};
};

}  // namespace procslink::detail
