// serving_receiver.cpp - epoll, draining, hand-offs and spinning for the serving threads.
#include "serving_receiver.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "procslink/log.hpp"
#include "procslink/message.hpp"
#include "thread_state.hpp"

namespace procslink::detail {
namespace {

// How long after a waiting drainer last took a datagram the watcher keeps looking every
// PeerOptions::hand_off (then it sleeps until the drainer's next datagram kicks it).
constexpr std::chrono::milliseconds kWatchLinger{20};
// Request/response traffic: once this many datagrams in a row had nothing queued behind them,
// only every this-many-th read peeks for a burst (burst_behind).
constexpr std::uint32_t kQuietPeeks = 8;

// epoll_pwait2 (Linux 5.11) takes a timespec; older kernels, and valgrind, only know
// epoll_wait, whose millisecond timeout is rounded up so a deadline is never early.
int wait_for_event(int epoll, epoll_event& event, const timespec* timeout) {
  static std::atomic<bool> have_pwait2{true};
  if (have_pwait2.load(std::memory_order_relaxed)) {
    const int n = epoll_pwait2(epoll, &event, 1, timeout, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    have_pwait2.store(false, std::memory_order_relaxed);
  }
  int ms = -1;
  if (timeout) {
    const long long ns = timeout->tv_sec * 1000000000LL + timeout->tv_nsec;
    ms = static_cast<int>(std::min<long long>((ns + 999999) / 1000000, 1 << 30));
  }
  return epoll_wait(epoll, &event, 1, ms);
}

}  // namespace

ServingReceiver::ServingReceiver(const PeerOptions& options, Endpoints& endpoints, PoolState& pool)
    : options_(options),
      endpoints_(endpoints),
      pool_(pool),
      epoll_fd_(epoll_create1(EPOLL_CLOEXEC)),
      drain_state_(std::make_unique<std::atomic<std::int64_t>[]>(endpoints.size())),
      quiet_reads_(std::make_unique<std::atomic<std::uint32_t>[]>(endpoints.size())),
      in_epoll_(std::make_unique<std::atomic<bool>[]>(endpoints.size())),
      blocked_(std::make_unique<std::atomic<std::uint32_t>[]>(endpoints.size())),
      batches_(std::make_unique<ReceiveBatch[]>(endpoints.size())) {
  if (epoll_fd_.get() < 0) {
    throw TransportError(TransportError::Kind::other,
                         std::string("cannot create epoll: ") + std::strerror(errno));
  }
  // Sockets join the set when first armed (see arm()): only serving threads use it.
  add_to_epoll(kick_.fd(), kKickToken);
  for (std::size_t i = 0; i < endpoints.size(); ++i) drain_state_[i].store(kArmed);
}

void ServingReceiver::add_to_epoll(int fd, std::uint64_t token) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = token;
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    throw TransportError(TransportError::Kind::other,
                         std::string("epoll_ctl: ") + std::strerror(errno));
  }
}

void ServingReceiver::arm(std::size_t endpoint) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = endpoint;
  const int fd = endpoints_[endpoint].fd();
  int op = in_epoll_[endpoint].exchange(true) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  int rc = epoll_ctl(epoll_fd_.get(), op, fd, &ev);
  if (rc != 0 && (errno == EEXIST || errno == ENOENT)) {
    // The flag was behind an add or remove racing this one: the other operation fits.
    op = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    rc = epoll_ctl(epoll_fd_.get(), op, fd, &ev);
  }
  if (rc != 0) log(LogLevel::error, "epoll_ctl re-arm failed: ", std::strerror(errno));
}

bool ServingReceiver::rearm_if(std::size_t endpoint, std::int64_t expected) {
  if (!drain_state_[endpoint].compare_exchange_strong(expected, kArmed)) return false;
  arm(endpoint);
  return true;
}

std::optional<Incoming> ServingReceiver::read_drained(std::size_t i,
                                                      std::span<std::uint8_t> buffer, bool wait) {
  ReceiveBatch& batch = batches_[i];
  for (;;) {
    if (auto claimed = batch.claim()) {
      Incoming incoming{i, claimed->datagram};
      incoming.batch = &batch;
      incoming.more_in_batch = claimed->more_behind;
      return incoming;
    }
    const ReceiveBatch::Fill fill = batch.fill(endpoints_[i].fd(), wait);
    if (fill == ReceiveBatch::Fill::nothing) return std::nullopt;
    if (fill == ReceiveBatch::Fill::busy) break;
  }
  if (auto d = endpoints_[i].receive(buffer, wait)) return Incoming{i, *d};
  return std::nullopt;
}

bool ServingReceiver::has_orphans() const {
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    if (drain_state_[i].load() == kArmed && batches_[i].has_unclaimed()) return true;
  }
  return false;
}

std::optional<Incoming> ServingReceiver::claim_orphaned() {
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    if (drain_state_[i].load() != kArmed || !batches_[i].has_unclaimed()) continue;
    if (auto claimed = batches_[i].claim_orphan()) {
      Incoming incoming{i, claimed->datagram};
      incoming.batch = &batches_[i];
      incoming.orphan = true;
      return incoming;
    }
  }
  return std::nullopt;
}

void ServingReceiver::remove_from_epoll(std::size_t endpoint) {
  if (in_epoll_[endpoint].exchange(false)) {
    epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, endpoints_[endpoint].fd(), nullptr);
  }
}

void ServingReceiver::arm_all() {
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    drain_state_[i].store(kArmed);
    arm(i);
  }
}

void ServingReceiver::open_for_pool(bool arm) {
  add_to_epoll(wake_.fd(), kWakeToken);
  if (arm) arm_all();
}

void ServingReceiver::close_for_pool() {
  spin_watch_.retire();
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, wake_.fd(), nullptr);
  for (std::size_t i = 0; i < endpoints_.size(); ++i) remove_from_epoll(i);
  wake_.clear();
}

void ServingReceiver::signal_stop() noexcept {
  wake_.signal();
  wake_waiting_drainer();
}

void ServingReceiver::wake_waiting_drainer() noexcept {
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    if (blocked_[i].load() != 0) endpoints_.wake(i);
  }
}

bool ServingReceiver::drainer_waiting() const noexcept {
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    if (blocked_[i].load() != 0) return true;
  }
  return false;
}

std::optional<Incoming> ServingReceiver::receive(std::span<std::uint8_t> buffer,
                                                 std::optional<Clock::time_point> deadline,
                                                 std::optional<std::size_t>& drained,
                                                 std::int64_t& stamp, bool may_wait) {
  std::optional<Incoming> incoming;
  if (drained) {
    incoming =
        may_wait ? wait_on_drained(buffer, drained, stamp) : drain_next(buffer, drained, stamp);
  }
  if (!incoming) incoming = claim_orphaned();
  if (!incoming) {
    incoming = options_.spin.count() == 0
                   ? epoll_receive(buffer, deadline, false, &drained, &stamp, may_wait)
                   : receive_spinning(buffer, deadline);
  }
  if (incoming && drained && *drained == incoming->endpoint && !incoming->more_in_batch) {
    incoming->exclusive = true;
    incoming->drain_stamp = &stamp;
  }
  return incoming;
}

// Spin mode. One thread, the spinner, receives and runs what it receives itself. The others
// must not wait in epoll_wait: the kernel would wake one of them for every arrival, on the CPU
// the spinner needs. They park until the spin watch (SpinWatch) finds the spinner stuck in
// a handler for longer than spin_takeover, or gone, or the pool stopping; then they receive
// meanwhile, so a slow handler delays others by about spin_takeover.
std::optional<Incoming> ServingReceiver::receive_spinning(
    std::span<std::uint8_t> buffer, std::optional<Clock::time_point> deadline) {
  const auto me = std::this_thread::get_id();
  for (;;) {
    if (pool_.stopping.load()) return std::nullopt;
    std::thread::id none;
    if (spinner_id_.load() == me || spinner_id_.compare_exchange_strong(none, me)) {
      spinner_busy_since_.store(0);
      auto incoming = epoll_receive(buffer, deadline, true);
      if (incoming) spinner_busy_since_.store(ticks_now());
      return incoming;
    }
    park(deadline);
    if (spinner_stuck()) {
      auto limit = Clock::now() + options_.spin_takeover;
      if (deadline && *deadline < limit) limit = *deadline;
      if (auto incoming = epoll_receive(buffer, limit, false)) return incoming;
    }
    if (deadline && Clock::now() >= *deadline) return std::nullopt;
  }
}

bool ServingReceiver::spinner_stuck() const {
  const auto busy_since = spinner_busy_since_.load();
  return busy_since != 0 && ticks_now() - busy_since > ticks(options_.spin_takeover);
}

bool ServingReceiver::spinner_needs_help() const {
  return pool_.stopping.load() || spinner_id_.load() == std::thread::id{} || spinner_stuck();
}

void ServingReceiver::park(std::optional<Clock::time_point> deadline) {
  const bool watched = spin_watch_.ensure_running();
  std::unique_lock lock(park_mutex_);
  if (spinner_needs_help()) return;
  // Without a spin watch (no thread could be started) a parked thread looks for itself.
  std::optional<Clock::time_point> until = deadline;
  if (!watched) {
    const auto look = Clock::now() + options_.spin_takeover;
    if (!until || look < *until) until = look;
  }
  if (until) {
    park_cv_.wait_until(lock, *until);
  } else {
    park_cv_.wait(lock);
  }
}

void ServingReceiver::wake_parked() {
  // A thread between its look at the spinner and its wait holds park_mutex_: it is waiting
  // once this has the mutex, or it will see what changed.
  { std::lock_guard lock(park_mutex_); }
  park_cv_.notify_all();
}

void ServingReceiver::thread_leaves() {
  std::thread::id self = std::this_thread::get_id();
  if (spinner_id_.compare_exchange_strong(self, std::thread::id{})) wake_parked();
}

// The drain stamp for a datagram just taken. A fragment with more after it is only appended
// (with the fragments landed behind it): it is never handed off, which would let another
// thread take the next fragment before this one is appended (copied aside then, and
// reassembled later). Dated an hour ahead, it never looks slow. Should it complete a message
// whose fragments came out of order, mark_busy stamps it anew before the handler runs.
inline std::int64_t ServingReceiver::drain_stamp(const ReceivedDatagram& d, std::int64_t now) {
  if (!more_fragments_follow(d.bytes)) return now;
  return now + ticks(std::chrono::hours(1));
}

void ServingReceiver::hand_off_slow_drainers() {
  const auto now = ticks_now();
  const auto limit = ticks(options_.hand_off);
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    std::int64_t since = drain_state_[i].load();
    if (since < 0 || now - since <= limit) continue;  // armed, or waiting for a datagram
    rearm_if(i, since);
  }
}

// Whether the datagram just read has a burst behind it. The peek is a system call per
// datagram, a fifth of what a request/response exchange costs the server, and such traffic
// has no bursts: after kQuietPeeks reads in a row without one, only every kQuietPeeks-th read
// looks. A burst that starts meanwhile is found within that many datagrams (until then each
// of its datagrams is received as if alone: correct, only dearer).
bool ServingReceiver::burst_behind(std::size_t endpoint) {
  const std::uint32_t quiet = quiet_reads_[endpoint].load(std::memory_order_relaxed);
  if (quiet >= kQuietPeeks && quiet % kQuietPeeks != 0) {
    quiet_reads_[endpoint].store(quiet + 1, std::memory_order_relaxed);
    return false;
  }
  const bool more = endpoints_.more_queued(endpoint);
  // Wraps to 0 after 2^32 reads: kQuietPeeks more peeks then, no harm.
  quiet_reads_[endpoint].store(more ? 0 : quiet + 1, std::memory_order_relaxed);
  return more;
}

// Wakes a waiting serving thread, which then watches the drainers. One write until the kick
// is read: a drainer whose watcher is busy elsewhere (in a slow handler, say) would otherwise
// write for every datagram.
void ServingReceiver::kick_watcher() {
  if (watcher_kicked_.exchange(true)) return;
  kick_.signal();
}

// Whether a drainer may be in a slow handler: one is busy, or the waiting one took a
// datagram within kWatchLinger (the next may start a handler any moment, unannounced).
bool ServingReceiver::needs_watching() const {
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    const std::int64_t state = drain_state_[i].load(std::memory_order_relaxed);
    if (state >= 0) return true;
    if (state == kWaiting &&
        ticks_now() - waiter_took_.load(std::memory_order_relaxed) < ticks(kWatchLinger)) {
      return true;
    }
  }
  return false;
}

// Nullopt when the socket is empty (then it is re-armed) or was handed off; either way
// `drained` is reset.
std::optional<Incoming> ServingReceiver::drain_next(std::span<std::uint8_t> buffer,
                                                    std::optional<std::size_t>& drained,
                                                    std::int64_t& stamp) {
  const std::size_t i = *drained;
  if (drain_state_[i].load() != stamp) {
    // Handed off: what its batch still holds is claimed as orphans, one at a time, in order.
    drained.reset();
    return std::nullopt;
  }
  std::optional<Incoming> incoming;
  try {
    incoming = read_drained(i, buffer, false);
  } catch (...) {
    release_drained(drained, stamp);
    throw;
  }
  if (!incoming) {
    release_drained(drained, stamp);
    return std::nullopt;
  }
  const std::int64_t now = drain_stamp(incoming->datagram);
  // Handed off meanwhile: the datagram is ours to handle all the same, the socket is not.
  if (!drain_state_[i].compare_exchange_strong(stamp, now)) drained.reset();
  stamp = now;
  return incoming;
}

// For request/response traffic this makes serving a call cost one receive and one send, as in
// a plain recv loop: waiting in epoll_wait cost two more system calls per call (the wait, and
// the re-arm after the receive), and pinned to one core a third of the round trip. Only the
// watcher's look every hand_off, while calls come, and a kick when they start again after
// kWatchLinger, are added. stop() wakes the waiting drainer (wake_waiting_drainer).
std::optional<Incoming> ServingReceiver::wait_on_drained(std::span<std::uint8_t> buffer,
                                                         std::optional<std::size_t>& drained,
                                                         std::int64_t& stamp, bool in_streak) {
  const std::size_t i = *drained;
  // What the last receive took is still there: the next one costs no system call.
  if (batches_[i].has_unclaimed()) return drain_next(buffer, drained, stamp);
  if (!drain_state_[i].compare_exchange_strong(stamp, kWaiting)) {
    drained.reset();  // handed off meanwhile
    return std::nullopt;
  }
  struct Waiting {
    std::atomic<std::size_t>* count;
    std::atomic<std::uint32_t>& blocked;
    ~Waiting() {
      if (count != nullptr) count->store(0, std::memory_order_relaxed);
      blocked.fetch_sub(1);
    }
  } waiting{in_streak ? &pool_.streak_waiting : nullptr, blocked_[i]};
  if (in_streak) pool_.streak_waiting.store(1, std::memory_order_relaxed);
  blocked_[i].fetch_add(1);
  const auto give_up = [&] {
    drained.reset();
    drain_state_[i].store(kArmed);
    arm(i);
  };
  // Read after blocked_ is counted up; stop() writes `stopping` before it reads blocked_, so
  // either this sees the stop or stop() sees the waiting drainer and wakes it.
  if (pool_.stopping.load()) {
    give_up();
    return std::nullopt;
  }
  // Nobody else arms the socket while it is kWaiting; whoever arms it later adds it back.
  remove_from_epoll(i);
  std::optional<Incoming> incoming;
  try {
    incoming = read_drained(i, buffer, true);
  } catch (...) {
    give_up();
    throw;
  }
  if (!incoming) {
    give_up();
    return std::nullopt;
  }
  const std::int64_t now = ticks_now();  // one clock read per request for both
  stamp = drain_stamp(incoming->datagram, now);
  drain_state_[i].store(stamp);
  waiter_took_.store(now, std::memory_order_relaxed);
  if (watchers_.load() == 0) kick_watcher();
  return incoming;
}

void ServingReceiver::release_drained(std::optional<std::size_t>& drained, std::int64_t stamp) {
  if (!drained) return;
  const std::size_t i = *drained;
  drained.reset();
  rearm_if(i, stamp);
}

// Waits on the epoll set for one datagram; with `spin`, polls without sleeping for the spin
// budget first. With `drained` (normal mode), the socket the datagram came from is left
// disarmed for this thread to drain, and `drained` names it; with `may_wait` always, as the
// drainer then waits for the next datagram on the socket itself (wait_on_drained).
std::optional<Incoming> ServingReceiver::epoll_receive(std::span<std::uint8_t> buffer,
                                                       std::optional<Clock::time_point> deadline,
                                                       bool spin,
                                                       std::optional<std::size_t>* drained,
                                                       std::int64_t* stamp, bool may_wait) {
  const auto spin_until = Clock::now() + options_.spin;
  for (;;) {
    // A hand-off (by this thread, as the watcher) may have left datagrams unclaimed.
    if (auto orphan = claim_orphaned()) return orphan;
    const auto now = Clock::now();
    if (spin && now < spin_until) {
      // Poll the sockets themselves: a datagram is then read by the call that finds it, not
      // by epoll_wait, recvmsg and a re-arm. The sockets stay armed; an event for a datagram
      // read here makes a later receive find nothing, which is handled like any empty read.
      if (pool_.stopping.load(std::memory_order_relaxed)) return std::nullopt;
      if (deadline && now >= *deadline) return std::nullopt;
      if (auto incoming = endpoints_.receive_any(buffer)) return incoming;
      continue;
    }
    if (deadline && now >= *deadline) return std::nullopt;
    bool stop = false;
    const std::optional<std::uint64_t> token =
        wait_for_token(now, deadline, drained != nullptr, stop);
    if (stop) return std::nullopt;
    if (!token) continue;
    if (auto incoming = take_datagram(*token, buffer, drained, stamp, may_wait)) return incoming;
  }
}

std::optional<std::uint64_t> ServingReceiver::wait_for_token(
    Clock::time_point now, std::optional<Clock::time_point> deadline, bool serving, bool& stop) {
  timespec timeout{};
  const timespec* timeout_ptr = nullptr;
  if (deadline) {
    timeout = timeout_until(*deadline);
    timeout_ptr = &timeout;
  }
  // One waiting thread at a time watches the drainers (the others sleep on).
  bool watch = false;
  if (serving && needs_watching()) {
    int none = 0;
    watch = watchers_.compare_exchange_strong(none, 1);
  }
  if (watch && (!deadline || now + options_.hand_off < *deadline)) {
    timeout = timeout_until(now + options_.hand_off);
    timeout_ptr = &timeout;
  }
  epoll_event event;
  const int n = wait_for_event(epoll_fd_.get(), event, timeout_ptr);
  if (watch) watchers_.store(0);
  if (n < 0) {
    if (errno == EINTR) return std::nullopt;
    throw TransportError(TransportError::Kind::other,
                         std::string("epoll_wait: ") + std::strerror(errno));
  }
  if (serving) hand_off_slow_drainers();
  if (n == 0) return std::nullopt;
  const std::uint64_t token = event.data.u64;
  if (token == kWakeToken) {
    stop = true;
    return std::nullopt;
  }
  if (token == kKickToken) {
    // Read before the flag is cleared: a kick written in between would be read unseen and
    // leave the flag set with nothing to read, and no drainer would kick again.
    kick_.clear();
    watcher_kicked_.store(false);
    stop = true;
    return std::nullopt;
  }
  // Leaving to run a handler: pass the watch on to another waiting thread.
  if (watch && needs_watching()) kick_watcher();
  return token;
}

std::optional<Incoming> ServingReceiver::take_datagram(std::size_t endpoint,
                                                       std::span<std::uint8_t> buffer,
                                                       std::optional<std::size_t>* drained,
                                                       std::int64_t* stamp, bool may_wait) {
  // Datagrams a handed-off drainer's batch still holds came before anything in the socket:
  // the thread that takes the socket takes them first, and drains it after them.
  if (drained && batches_[endpoint].has_unclaimed()) {
    if (auto claimed = batches_[endpoint].claim_orphan()) {
      Incoming incoming{endpoint, claimed->datagram};
      incoming.batch = &batches_[endpoint];
      incoming.more_in_batch = claimed->more_behind;
      incoming.orphan = true;
      *stamp = drain_stamp(incoming.datagram);
      drain_state_[endpoint].store(*stamp);
      *drained = endpoint;
      if (watchers_.load() == 0) kick_watcher();
      return incoming;
    }
  }
  std::optional<ReceivedDatagram> d;
  try {
    d = endpoints_[endpoint].receive(buffer, false);
  } catch (...) {
    arm(endpoint);
    throw;
  }
  if (drained && d && (may_wait || more_fragments_follow(d->bytes) || burst_behind(endpoint))) {
    // A burst, or the rest of a fragmented message: drain it, in order. Make sure some
    // waiting thread watches the drainer.
    // The stamp is handed back as written, never read back from the state: by then a watcher
    // may have handed the socket off (kArmed), and a drainer holding a sentinel as its stamp
    // would take the socket back with a compare-exchange while it is in the epoll set.
    *stamp = drain_stamp(*d);
    drain_state_[endpoint].store(*stamp);
    *drained = endpoint;
    if (watchers_.load() == 0) kick_watcher();
    return Incoming{endpoint, *d};
  }
  arm(endpoint);
  if (d) return Incoming{endpoint, *d};
  return std::nullopt;
}

void ServingReceiver::mark_busy(const Incoming& incoming) {
  std::int64_t* const stamp = incoming.drain_stamp;
  if (stamp == nullptr) return;
  std::int64_t expected = *stamp;
  const std::int64_t now = ticks_now();
  if (drain_state_[incoming.endpoint].compare_exchange_strong(expected, now)) *stamp = now;
}

void ServingReceiver::hand_back_socket(bool only_for_requests) {
  DrainingNow* const d = t_thread.draining;
  if (d == nullptr || d->receiver != this || d->stamp == nullptr) return;
  if (only_for_requests && !d->request) return;
  std::int64_t expected = *d->stamp;
  // Datagrams its batch still holds would wait for this handler: a waiting thread takes them.
  if (rearm_if(d->endpoint, expected) && batches_[d->endpoint].has_unclaimed()) kick();
  d->stamp = nullptr;
}

}  // namespace procslink::detail
