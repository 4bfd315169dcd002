#include "procslink/peer.hpp"

#include <linux/netlink.h>
#include <sys/epoll.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "json_reader.hpp"
#include "json_writer.hpp"
#include "jsonrpc_text.hpp"
#include "procslink/log.hpp"
#include "procslink/version.hpp"
#include "procslink/message.hpp"
#include "reassembly_reaper.hpp"
#include "thread_share.hpp"

namespace procslink {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kWakeToken = ~std::uint64_t{0};
constexpr std::uint64_t kKickToken = ~std::uint64_t{0} - 1;
constexpr std::size_t kBatchParallelism = 8;
// "Read the clock yourself", where a time a caller read a moment ago may be passed on.
constexpr Clock::time_point kUnknownTime = Clock::time_point::min();
// Draining states of an endpoint (besides a handler's start time in steady clock ticks).
constexpr std::int64_t kArmed = -1;   // in the epoll set, armed: nobody drains it
constexpr std::int64_t kWaiting = -2;  // its drainer waits in a blocking receive on it
// How long after a waiting drainer last took a datagram the watcher keeps looking every
// PeerOptions::hand_off (then it sleeps until the drainer's next datagram kicks it).
constexpr std::chrono::milliseconds kWatchLinger{20};
// Request/response traffic: once this many datagrams in a row had nothing queued behind them,
// only every this-many-th read peeks for a burst (burst_behind).
constexpr std::uint32_t kQuietPeeks = 8;
// How long replies to a receiver that stayed full for a whole send_timeout are not waited for,
// and how many such receivers are remembered at most.
constexpr std::chrono::seconds kCongestionHold{10};
constexpr std::size_t kMaxCongested = 4096;

// Threads that run the elements of batch requests beside the serving thread that received
// them. Made on first need, at most kBatchParallelism - 1 for the whole peer, and kept until it
// is destroyed: a thread started per batch (as before) cost more than most of its elements.
class BatchHelpers {
 public:
  BatchHelpers() { threads_.reserve(kBatchParallelism - 1); }  // spawning never reallocates
  BatchHelpers(const BatchHelpers&) = delete;
  BatchHelpers& operator=(const BatchHelpers&) = delete;
  ~BatchHelpers() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // Calls work() here and offers it to up to `extra` helpers as well; returns once every helper
  // that took the offer has returned from it (also when work() throws here). work() must be
  // fine to call when there is nothing left to do (a helper may come late). Helpers busy with
  // other batches do not hold this one up: offers not taken by the time work() returns here
  // are withdrawn, and this thread does the rest.
  void run(std::size_t extra, const std::function<void()>& work) {
    if (extra == 0) {
      work();
      return;
    }
    Job job;
    job.work = &work;
    job.offers = extra;
    // Whatever happens from here on, the job leaves the queue and its helpers finish with it
    // before it goes out of scope.
    struct Withdraw {
      BatchHelpers& self;
      Job& job;
      ~Withdraw() {
        std::unique_lock lock(self.mutex_);
        job.closed = true;
        std::erase(self.queue_, &job);
        job.done.wait(lock, [this] { return job.active == 0; });
      }
    };
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(&job);
    }
    Withdraw withdraw{*this, job};
    spawn_for(extra);
    work_cv_.notify_all();
    work();
  }

 private:
  struct Job {
    const std::function<void()>* work = nullptr;
    std::size_t offers = 0;  // not yet taken
    std::size_t active = 0;
    bool closed = false;
    std::condition_variable done;
  };

  // Makes sure `extra` helpers are idle or coming, as far as the limit allows.
  void spawn_for(std::size_t extra) {
    std::lock_guard lock(mutex_);
    for (std::size_t idle = idle_; idle < extra && threads_.size() < kBatchParallelism - 1;
         ++idle) {
      try {
        threads_.emplace_back(&BatchHelpers::serve, this);
      } catch (const std::exception& e) {  // no thread: this one does the work itself
        log(LogLevel::warning, "cannot start a batch helper thread: ", e.what());
        return;
      }
    }
  }

  void serve() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ++idle_;
      work_cv_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      --idle_;
      if (closing_) return;
      Job* job = queue_.front();
      if (--job->offers == 0) queue_.pop_front();
      ++job->active;
      lock.unlock();
      try {
        (*job->work)();
      } catch (const std::exception& e) {  // dispatch answers every failure; this is memory
        log(LogLevel::error, "batch helper thread: ", e.what());
      }
      lock.lock();
      if (--job->active == 0 && job->closed) job->done.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable work_cv_;
  std::deque<Job*> queue_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool closing_ = false;
};

// The socket the calling thread drains while it runs a handler (set by handle()), so that a
// synchronous call the handler makes through the same peer can hand the socket back first.
struct DrainingNow {
  const void* peer;
  std::size_t endpoint;
  std::int64_t* stamp;  // the drainer's stamp; null once handed back
  bool request = false;  // running a request's handler, not a reply's callback
};
thread_local DrainingNow* t_draining = nullptr;

// An object each thread keeps for reuse (a buffer, a spare record). get() is null once the
// thread's thread_local objects are being destroyed, so that a call made from a destructor
// that runs then (a goodbye from an object living as long as its thread) does without it
// rather than touching a destroyed one. `Tag` keeps each use apart.
template <typename Tag, typename T>
class ThreadScratch {
 public:
  static T* get() {
    if (gone_) return nullptr;
    thread_local Holder holder;
    return &holder.value;
  }

 private:
  struct Holder {
    T value{};
    ~Holder() { gone_ = true; }
  };
  // Trivially destructible: still readable after every other thread_local is gone.
  static inline thread_local bool gone_ = false;
};

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// An outgoing message: its text, with strings of kBorrowMin bytes or more left where they are
// (json_writer.hpp) and sent from there by a gathering sendmsg, so a large string is never
// copied into the message. The text goes into a buffer its thread keeps (up to kKeptCapacity
// bytes), so small messages need no allocation either. Nested use on one thread (a caller
// that serves while it waits) gets buffers of its own.
class SendText {
 public:
  static constexpr std::size_t kKeptCapacity = 1u << 20;
  SendText() : kept_(ThreadScratch<SendText, Kept>::get()) {
    if (kept_ != nullptr && kept_->busy) kept_ = nullptr;
    if (kept_ != nullptr) kept_->busy = true;
    clear();
  }
  ~SendText() {
    if (kept_ == nullptr) return;
    if (kept_->message.text.capacity() > kKeptCapacity) std::string().swap(kept_->message.text);
    kept_->busy = false;
  }
  SendText(const SendText&) = delete;
  SendText& operator=(const SendText&) = delete;

  // Where the message is written: append to it (what is there already is the headroom).
  std::string& text() { return message().text; }
  std::vector<detail::BorrowedRun>* borrowed() { return &message().borrowed; }
  // Forgets what was written. The headroom keeps whatever bytes it had: the headers are
  // written over them before anything is sent.
  void clear() {
    Message& m = message();
    m.text.resize(kDatagramHeadersSize);
    m.borrowed.clear();
    m.parts.clear();
  }
  // The whole message as consecutive parts, once written.
  std::span<const std::string_view> parts() {
    Message& m = message();
    m.parts.clear();
    detail::gather(m.text, m.borrowed, m.parts);
    m.parts.front().remove_prefix(kDatagramHeadersSize);  // no run is borrowed at offset 0
    return m.parts;
  }
  // Room for the datagram headers right in front of parts()[0]: a message of one datagram
  // then goes out as one piece (a second iovec costs the kernel more than copying 40 bytes).
  std::uint8_t* headroom() { return reinterpret_cast<std::uint8_t*>(message().text.data()); }

 private:
  struct Message {
    std::string text;
    std::vector<detail::BorrowedRun> borrowed;
    std::vector<std::string_view> parts;
  };
  struct Kept {
    Message message;
    bool busy = false;
  };
  Message& message() { return kept_ != nullptr ? kept_->message : own_; }
  Kept* kept_;
  Message own_;
};

std::size_t total_size(std::span<const std::string_view> parts) {
  std::size_t size = 0;
  for (const std::string_view part : parts) size += part.size();
  return size;
}

// The header's send time, to the kernel's tick (a few ms): the field is informational, and the
// coarse clock costs ~4 ns where the precise one costs ~17 (in a VM), twice per round trip.
std::uint64_t realtime_ns() {
  timespec ts{};
  if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0) clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// The start of a call, for its deadline. With a timeout of a second or more the coarse clock
// does (~4 ns a read against ~18 ns for the precise one in a VM): moved forward by its
// resolution (a few ms), it is never earlier than the precise time, so a deadline is never
// early, at most that much late. Used only when the coarse clock is the steady clock's.
Clock::time_point call_start(std::chrono::milliseconds timeout) {
  static const Clock::duration resolution = [] {
    timespec res{}, coarse{};
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) != 0 ||
        clock_gettime(CLOCK_MONOTONIC_COARSE, &coarse) != 0) {
      return Clock::duration::zero();
    }
    const auto step = std::chrono::seconds(res.tv_sec) + std::chrono::nanoseconds(res.tv_nsec);
    const auto now = Clock::now().time_since_epoch();
    const auto seen = std::chrono::seconds(coarse.tv_sec) + std::chrono::nanoseconds(coarse.tv_nsec);
    // Another epoch (steady_clock is not CLOCK_MONOTONIC here), or too coarse to matter less.
    if (now - seen > std::chrono::milliseconds(100) || seen - now > std::chrono::milliseconds(100) ||
        step > std::chrono::milliseconds(10)) {
      return Clock::duration::zero();
    }
    return std::chrono::duration_cast<Clock::duration>(step);
  }();
  timespec ts{};
  if (timeout < std::chrono::seconds(1) || resolution == Clock::duration::zero() ||
      clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0) {
    return Clock::now();
  }
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
             std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec))) +
         resolution;
}

std::size_t default_workers() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : n;
}

CallOutcome failed_outcome(std::exception_ptr error) {
  CallOutcome outcome;
  outcome.value.emplace<1>(std::move(error));
  return outcome;
}

std::string describe_sender(std::uint32_t nl_pid, const Credentials& c) {
  return "nl_pid " + std::to_string(nl_pid) + " (pid " + std::to_string(c.pid) + ", uid " +
         std::to_string(c.uid) + ")";
}

}  // namespace

struct RPCPeer::Impl {
  struct Method {
    RawHandler handler;
    std::vector<std::string> param_names;
    std::optional<AccessPolicy> policy;
    json description;  // OpenRPC: params, result, paramStructure
  };
  // A call's request ids: one for a call (kept inline: no allocation), several for a batch.
  class Ids {
   public:
    Ids() = default;
    explicit Ids(std::int64_t id) : one_(id) {}
    explicit Ids(std::vector<std::int64_t> ids) {
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
  struct Pending {
    std::uint32_t target = 0;
    std::size_t endpoint = 0;
    std::optional<uid_t> require_uid;
    std::string method;
    Ids ids;
    std::optional<JsonRpcResponse> response;  // a single call's
    std::vector<JsonRpcResponse> responses;   // a batch's
    std::exception_ptr error;
    bool done = false;
    std::condition_variable* waiter = nullptr;
    std::function<void(CallOutcome)> callback;
    std::optional<Clock::time_point> async_deadline;
  };
  struct Waiter {
    std::condition_variable cv;
    bool queued = false;
    std::list<Waiter*>::iterator position;
  };
  struct Incoming {
    std::size_t endpoint;
    ReceivedDatagram datagram;
    // Set when the receiving thread alone reads this endpoint's socket for now (a serving
    // thread draining it, or the caller receiving for everybody): the fragments behind this one
    // may then be received straight into their message (land_fragments).
    bool exclusive = false;
    // For a draining thread: its drain stamp (see drain_next), refreshed when a handler is
    // about to run, so a slow one is handed off as usual.
    std::int64_t* drain_stamp = nullptr;
  };
  struct Origin {
    std::size_t endpoint;
    std::uint32_t nl_pid;
    Credentials credentials;
  };

  explicit Impl(PeerOptions opts) : options(std::move(opts)) {
    if (options.workers == 0) options.workers = default_workers();
    options.hand_off = std::max(options.hand_off, std::chrono::microseconds(1));
    options.max_workers = std::max(options.max_workers, options.workers);
    if (options.fragment_size == 0 ||
        options.fragment_size > kMaxDatagramSize - kDatagramHeadersSize) {
      throw std::invalid_argument("PeerOptions::fragment_size must be 1.." +
                                  std::to_string(kMaxDatagramSize - kDatagramHeadersSize) +
                                  " bytes: a fragment's datagram must fit kMaxDatagramSize");
    }
    policy = options.policy;
    FragmentReassembler::Limits limits;
    limits.max_message = options.max_message_size;
    limits.max_pending_bytes = 2 * options.max_message_size;
    limits.timeout = options.reassembly_timeout;
    limits.max_total_bytes = options.reassembly_budget != 0 ? options.reassembly_budget
                                                            : 2 * options.max_message_size;
    reassembler = FragmentReassembler(limits);
    std::uint32_t port = options.nl_pid;
    if (port == 0 && !options.name.empty()) port = port_id_for_name(options.name);
    SocketOptions main;
    main.nl_pid = port;
    main.netns = options.netns;
    main.send_timeout = options.send_timeout;
    // A name is taken per network namespace, so it must be free in every one the peer serves.
    auto open_endpoint = [this](const SocketOptions& socket_options) {
      try {
        endpoints.emplace_back(socket_options);
      } catch (const TransportError& e) {
        if (options.name.empty() || e.kind() != TransportError::Kind::address_in_use) throw;
        throw TransportError(e.kind(), "cannot take service name '" + options.name + "': " +
                                           e.what());
      }
    };
    open_endpoint(main);
    for (const auto& netns : options.extra_netns) {
      SocketOptions extra = main;
      extra.netns = netns;
      extra.nl_pid = endpoints.front().nl_pid();
      try {
        open_endpoint(extra);
      } catch (const TransportError& e) {
        // Named or fixed ports must be the same everywhere; an autobound one may differ.
        if (e.kind() != TransportError::Kind::address_in_use || port != 0) throw;
        extra.nl_pid = 0;
        endpoints.emplace_back(extra);
      }
    }
    epoll_fd = std::make_unique<UniqueFd>(epoll_create1(EPOLL_CLOEXEC));
    wake_fd = std::make_unique<UniqueFd>(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    kick_fd = std::make_unique<UniqueFd>(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    leader_wake_fd = std::make_unique<UniqueFd>(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    stop_fd = std::make_unique<UniqueFd>(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (epoll_fd->get() < 0 || wake_fd->get() < 0 || kick_fd->get() < 0 ||
        leader_wake_fd->get() < 0 || stop_fd->get() < 0) {
      throw TransportError(TransportError::Kind::other,
                           std::string("cannot create epoll/eventfd: ") + std::strerror(errno));
    }
    // Sockets join the set when first armed (see arm()): only serving threads use it.
    watch(kick_fd->get(), kKickToken);
    drain_state = std::make_unique<std::atomic<std::int64_t>[]>(endpoints.size());
    quiet_reads = std::make_unique<std::atomic<std::uint32_t>[]>(endpoints.size());
    in_epoll = std::make_unique<std::atomic<bool>[]>(endpoints.size());
    for (std::size_t i = 0; i < endpoints.size(); ++i) drain_state[i].store(kArmed);
  }

  // Left uninitialized: zeroing 256 KiB for every thread would cost more than most calls, and
  // only the pages a datagram lands in are ever touched.
  static std::unique_ptr<std::uint8_t[]> receive_buffer() {
    return std::unique_ptr<std::uint8_t[]>(new std::uint8_t[kMaxDatagramSize]);
  }

  void watch(int fd, std::uint64_t token, std::uint32_t events = EPOLLIN) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    if (epoll_ctl(epoll_fd->get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      throw TransportError(TransportError::Kind::other,
                           std::string("epoll_ctl: ") + std::strerror(errno));
    }
  }

  static void drain(int fd) {
    std::uint64_t value;
    while (::read(fd, &value, sizeof value) > 0) {
    }
  }

  // ---- receiving ----
  //
  // Serving threads all wait in epoll_wait on the same set. Sockets are registered
  // EPOLLONESHOT: the thread that gets a socket's event owns it until it has read one datagram
  // and re-armed it. Then it runs the handler itself, with no hand-off. When more datagrams
  // are queued, it drains them itself instead, see drain_next; with one socket it keeps it and
  // waits on it, see wait_on_drained. A caller making a synchronous call on a peer without
  // serving threads receives for itself (leader/follower among such callers); sockets are
  // armed only while serving threads exist and no caller is receiving.

  void arm_endpoints() {
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      drain_state[i].store(kArmed);
      arm(i);
    }
  }

  void arm(std::size_t endpoint) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = endpoint;
    const int fd = endpoints[endpoint].fd();
    int op = in_epoll[endpoint].exchange(true) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = epoll_ctl(epoll_fd->get(), op, fd, &ev);
    if (rc != 0 && (errno == EEXIST || errno == ENOENT)) {
      // The flag was behind an add or remove racing this one: the other operation fits.
      op = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
      rc = epoll_ctl(epoll_fd->get(), op, fd, &ev);
    }
    if (rc != 0) log(LogLevel::error, "epoll_ctl re-arm failed: ", std::strerror(errno));
  }

  // Takes a socket out of the epoll set: its drainer, or the last serving thread leaving.
  // arm() puts it back.
  void unwatch(std::size_t endpoint) {
    if (in_epoll[endpoint].exchange(false)) {
      epoll_ctl(epoll_fd->get(), EPOLL_CTL_DEL, endpoints[endpoint].fd(), nullptr);
    }
  }

  // epoll_pwait2 (Linux 5.11) takes a timespec; older kernels, and valgrind, only know
  // epoll_wait, whose millisecond timeout is rounded up so a deadline is never early.
  static int wait_for_event(int epoll, epoll_event& event, const timespec* timeout) {
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

  static timespec timeout_until(Clock::time_point deadline) {
    const auto left = std::max(Clock::duration::zero(), deadline - Clock::now());
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  }

  // For serving threads: the next datagram, or nullopt at `deadline`, on stop, or when kicked
  // to recompute deadlines. In normal mode the thread that takes a socket's event then drains
  // that socket (`drained` names it, see worker_main).
  std::optional<Incoming> worker_receive(std::span<std::uint8_t> buffer,
                                         std::optional<Clock::time_point> deadline,
                                         std::optional<std::size_t>& drained, bool may_wait) {
    if (options.spin.count() == 0) {
      return epoll_receive(buffer, deadline, false, &drained, may_wait);
    }
    // Low-latency mode. One thread, the spinner, receives and runs what it receives itself.
    // The others must not wait in epoll_wait: the kernel would wake one of them for every
    // arrival, on the CPU the spinner needs. They park, and look every spin_takeover: when the
    // spinner has been inside a handler longer than that, one of them receives meanwhile, so
    // a slow handler delays others by at most about spin_takeover.
    const auto me = std::this_thread::get_id();
    for (;;) {
      if (stopping.load()) return std::nullopt;
      std::thread::id none;
      if (spinner_id.load() == me || spinner_id.compare_exchange_strong(none, me)) {
        spinner_busy_since.store(0);
        auto incoming = epoll_receive(buffer, deadline, true);
        if (incoming) spinner_busy_since.store(Clock::now().time_since_epoch().count());
        return incoming;
      }
      {
        std::unique_lock lock(park_mutex);
        park_cv.wait_for(lock, options.spin_takeover);
      }
      const auto busy_since = spinner_busy_since.load();
      if (busy_since != 0 &&
          Clock::now().time_since_epoch().count() - busy_since >
              std::chrono::duration_cast<Clock::duration>(options.spin_takeover).count()) {
        auto limit = Clock::now() + options.spin_takeover;
        if (deadline && *deadline < limit) limit = *deadline;
        if (auto incoming = epoll_receive(buffer, limit, false)) return incoming;
      }
      if (deadline && Clock::now() >= *deadline) return std::nullopt;
    }
  }

  static std::int64_t ticks_now() { return Clock::now().time_since_epoch().count(); }
  // The drain stamp for a datagram just taken. A fragment with more after it is only appended
  // (with the fragments landed behind it): it is never handed off, which would let another
  // thread take the next fragment before this one is appended (copied aside then, and
  // reassembled later). Dated an hour ahead, it never looks slow. Should it complete a message
  // whose fragments came out of order, handle() stamps it anew before the handler runs.
  static std::int64_t drain_stamp(const ReceivedDatagram& d, std::int64_t now = ticks_now()) {
    if (!more_fragments_follow(d.bytes)) return now;
    return now + std::chrono::duration_cast<Clock::duration>(std::chrono::hours(1)).count();
  }

  // Draining (normal mode). A thread that gets a socket's event and finds more datagrams
  // queued behind the one it read (a burst) does not re-arm the socket: it keeps reading it
  // without blocking between its handlers and re-arms it only once it is empty. A re-arm with
  // datagrams still queued would wake another thread for each of them: a context switch per
  // datagram and, with all threads so busy, a pool grown to max_workers. (Without a burst the
  // socket is re-armed at once, as before, so a reply a handler waits for is read by another
  // thread without delay.) drain_state[i] holds when the drainer took its current datagram.
  // One thread waiting in epoll_wait watches meanwhile (watchers; the drainer kicks one into
  // it when none does) and looks every hand_off: when the drainer has been on one datagram
  // (its handler, say) longer than that, it re-arms the socket for it, so a slow handler
  // delays the datagrams behind it by about hand_off. The drainer notices the hand-off when
  // its compare-exchange fails and stops draining.
  void hand_off_slow_drainers() {
    const auto now = ticks_now();
    const auto limit = std::chrono::duration_cast<Clock::duration>(options.hand_off).count();
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      std::int64_t since = drain_state[i].load();
      if (since < 0 || now - since <= limit) continue;  // armed, or waiting for a datagram
      if (drain_state[i].compare_exchange_strong(since, kArmed)) arm(i);
    }
  }

  // Whether another datagram waits on the endpoint's socket (a one-byte peek).
  bool more_queued(std::size_t endpoint) const {
    std::uint8_t byte;
    return ::recv(endpoints[endpoint].fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) >= 0;
  }

  // Whether the datagram just read has a burst behind it. The peek is a system call per
  // datagram, a fifth of what a request/response exchange costs the server, and such traffic
  // has no bursts: after kQuietPeeks reads in a row without one, only every kQuietPeeks-th
  // read looks. A burst that starts meanwhile is found within that many datagrams (until then
  // each of its datagrams is received as if alone: correct, only dearer).
  bool burst_behind(std::size_t endpoint) {
    const std::uint32_t quiet = quiet_reads[endpoint].load(std::memory_order_relaxed);
    if (quiet >= kQuietPeeks && quiet % kQuietPeeks != 0) {
      quiet_reads[endpoint].store(quiet + 1, std::memory_order_relaxed);
      return false;
    }
    const bool more = more_queued(endpoint);
    // Wraps to 0 after 2^32 reads: kQuietPeeks more peeks then, no harm.
    quiet_reads[endpoint].store(more ? 0 : quiet + 1, std::memory_order_relaxed);
    return more;
  }

  // Wakes a waiting serving thread, which then watches the drainers.
  // One write until the kick is read: a drainer whose watcher is busy elsewhere (in a slow
  // handler, say) would otherwise write for every datagram.
  void kick_watcher() {
    if (watcher_kicked.exchange(true)) return;
    const std::uint64_t one = 1;
    (void)::write(kick_fd->get(), &one, sizeof one);
  }

  // Whether a drainer may be in a slow handler: one is busy, or the waiting one took a
  // datagram within kWatchLinger (the next may start a handler any moment, unannounced).
  bool needs_watching() const {
    const auto linger = std::chrono::duration_cast<Clock::duration>(kWatchLinger).count();
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      const std::int64_t state = drain_state[i].load(std::memory_order_relaxed);
      if (state >= 0) return true;
      if (state == kWaiting && ticks_now() - waiter_took.load(std::memory_order_relaxed) < linger) {
        return true;
      }
    }
    return false;
  }

  // Whether the drainer of this peer's socket may wait for its next datagram in a blocking
  // receive (wait_on_drained). Only with one socket (a blocking receive watches one), without
  // spinning, and with another serving thread in epoll_wait to watch it and to run timeouts.
  bool drainer_may_wait_locked() const {
    return endpoints.size() == 1 && options.spin.count() == 0 && pool_threads >= 2;
  }

  // The drainer's next datagram from its socket, without blocking. Nullopt when the socket is
  // empty (then it is re-armed) or was handed off; either way `drained` is reset.
  std::optional<Incoming> drain_next(std::span<std::uint8_t> buffer,
                                     std::optional<std::size_t>& drained, std::int64_t& stamp,
                                     bool may_wait) {
    if (may_wait) return wait_on_drained(buffer, drained, stamp);
    const std::size_t i = *drained;
    std::optional<ReceivedDatagram> d;
    try {
      d = endpoints[i].receive(buffer, false);
    } catch (...) {
      release_drained(drained, stamp);
      throw;
    }
    if (!d) {
      release_drained(drained, stamp);
      return std::nullopt;
    }
    const std::int64_t now = drain_stamp(*d);
    // Handed off meanwhile: the datagram is ours to handle all the same, the socket is not.
    if (!drain_state[i].compare_exchange_strong(stamp, now)) drained.reset();
    stamp = now;
    return Incoming{i, *d};
  }

  // The drainer's next datagram, waited for in a blocking receive on the socket itself. For
  // request/response traffic this makes serving a call cost one receive and one send, as in
  // a plain recv loop: waiting in epoll_wait cost two more system calls per call (the wait,
  // and the re-arm after the receive), and pinned to one core a third of the round trip. Only
  // the watcher's look every hand_off, while calls come, and a kick when they start again
  // after kWatchLinger, are added. stop() wakes the waiting drainer (wake_waiting_drainer).
  // `in_streak`: called by drain_streak, whose thread counts as idle (streak_waiting) while it
  // waits here, and only then (the socket is its alone while kWaiting).
  std::optional<Incoming> wait_on_drained(std::span<std::uint8_t> buffer,
                                          std::optional<std::size_t>& drained,
                                          std::int64_t& stamp, bool in_streak = false) {
    const std::size_t i = *drained;
    if (!drain_state[i].compare_exchange_strong(stamp, kWaiting)) {
      drained.reset();  // handed off meanwhile
      return std::nullopt;
    }
    struct Waiting {
      std::atomic<std::size_t>* count;
      ~Waiting() {
        if (count != nullptr) count->store(0, std::memory_order_relaxed);
      }
    } waiting{in_streak ? &streak_waiting : nullptr};
    if (in_streak) streak_waiting.store(1, std::memory_order_relaxed);
    const auto give_up = [&] {
      drained.reset();
      drain_state[i].store(kArmed);
      arm(i);
    };
    // Read after kWaiting is written; stop() writes stopping before it reads the state, so
    // either this sees the stop or stop() sees the waiting drainer and wakes it.
    if (stopping.load()) {
      give_up();
      return std::nullopt;
    }
    // Nobody else arms the socket while it is kWaiting; whoever arms it later adds it back.
    unwatch(i);
    std::optional<ReceivedDatagram> d;
    try {
      d = endpoints[i].receive(buffer, true);
    } catch (...) {
      give_up();
      throw;
    }
    if (!d) {
      give_up();
      return std::nullopt;
    }
    const std::int64_t now = ticks_now();  // one clock read per request for both
    stamp = drain_stamp(*d, now);
    drain_state[i].store(stamp);
    waiter_took.store(now, std::memory_order_relaxed);
    if (watchers.load() == 0) kick_watcher();
    return Incoming{i, *d};
  }

  // After a handler, a drainer that may wait (wait_on_drained) goes on receiving and handling
  // its socket's datagrams without taking `mu` in between: worker_main's two lock rounds per
  // request cost, with more than one thread in the process, four atomic operations. It stops as
  // soon as worker_main's bookkeeping is needed: the socket was handed off, stop(), fewer than
  // two serving threads (nobody would watch it), an asynchronous call's deadline to enforce, or
  // a datagram taken while no other serving thread is idle (returned, for worker_main to spawn
  // one before its handler runs). Meanwhile idle_threads counts it as busy, and streak_waiting
  // as idle while it waits. The counts it reads without `mu` are mirrors (the *_count fields):
  // a stale one only ends a streak a datagram early or late.
  std::optional<Incoming> drain_streak(std::span<std::uint8_t> buffer,
                                       std::optional<std::size_t>& drained, std::int64_t& stamp) {
    constexpr auto relaxed = std::memory_order_relaxed;
    for (;;) {
      if (!drained || stopping.load() || pool_threads_count.load(relaxed) < 2 ||
          async_deadlines_count.load(relaxed) != 0) {
        return std::nullopt;
      }
      std::optional<Incoming> incoming;
      try {
        incoming = wait_on_drained(buffer, drained, stamp, true);
      } catch (const std::exception& e) {
        log(LogLevel::error, "serving thread: ", e.what());
        return std::nullopt;
      }
      if (!incoming) return std::nullopt;
      incoming->exclusive = true;  // its socket is still this thread's (wait_on_drained)
      incoming->drain_stamp = &stamp;
      if (idle_threads_count.load(relaxed) == 0) return incoming;
      handle(*incoming);
    }
  }

  void set_idle_threads_locked(std::size_t n) {
    idle_threads = n;
    idle_threads_count.store(n, std::memory_order_relaxed);
  }
  void set_pool_threads_locked(std::size_t n) {
    pool_threads = n;
    pool_threads_count.store(n, std::memory_order_relaxed);
  }

  // Wakes a drainer waiting in wait_on_drained. Nothing is sent when none waits.
  void wake_waiting_drainer() noexcept {
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      if (drain_state[i].load() == kWaiting) wake_receiver(i);
    }
  }

  // Wakes a thread blocked in a receive on an endpoint's socket: a bare netlink header sent
  // to the socket itself, which handle() drops unread. Should the receive buffer be full, it
  // is dropped: the receiver then has datagrams to read and looks again after the next one.
  // Async-signal-safe (stop() may run in a signal handler).
  void wake_receiver(std::size_t endpoint) noexcept {
    std::uint8_t header[kNetlinkHeaderSize];
    const std::uint32_t self_pid = endpoints[endpoint].nl_pid();
    NetlinkMessageHeader{0, NLMSG_NOOP, 0, 0, self_pid}.encode(header);
    sockaddr_nl self{};
    self.nl_family = AF_NETLINK;
    self.nl_pid = self_pid;
    (void)::sendto(endpoints[endpoint].fd(), header, sizeof header, MSG_DONTWAIT,
                   reinterpret_cast<const sockaddr*>(&self), sizeof self);
  }

  void release_drained(std::optional<std::size_t>& drained, std::int64_t stamp) {
    if (!drained) return;
    const std::size_t i = *drained;
    drained.reset();
    if (drain_state[i].compare_exchange_strong(stamp, kArmed)) arm(i);
  }

  // Waits on the epoll set for one datagram; with `spin`, polls without sleeping for the spin
  // budget first. With `drained` (normal mode), the socket the datagram came from is left
  // disarmed for this thread to drain, and `drained` names it; with `may_wait` always, as the
  // drainer then waits for the next datagram on the socket itself (wait_on_drained).
  std::optional<Incoming> epoll_receive(std::span<std::uint8_t> buffer,
                                        std::optional<Clock::time_point> deadline, bool spin,
                                        std::optional<std::size_t>* drained = nullptr,
                                        bool may_wait = false) {
    const auto spin_until = Clock::now() + options.spin;
    for (;;) {
      const auto now = Clock::now();
      timespec timeout{};
      const timespec* timeout_ptr = &timeout;
      if (spin && now < spin_until) {
        // Poll the sockets themselves: a datagram is then read by the call that finds it, not
        // by epoll_wait, recvmsg and a re-arm. The sockets stay armed; an event for a datagram
        // read here makes a later receive find nothing, which is handled like any empty read.
        if (stopping.load(std::memory_order_relaxed)) return std::nullopt;
        if (deadline && now >= *deadline) return std::nullopt;
        for (std::size_t i = 0; i < endpoints.size(); ++i) {
          if (auto d = endpoints[i].receive(buffer, false)) return Incoming{i, *d};
        }
        continue;
      } else if (deadline) {
        if (now >= *deadline) return std::nullopt;
        timeout = timeout_until(*deadline);
      } else {
        timeout_ptr = nullptr;
      }
      // One waiting thread at a time watches the drainers (the others sleep on).
      bool watch = false;
      if (drained && needs_watching()) {
        int none = 0;
        watch = watchers.compare_exchange_strong(none, 1);
      }
      if (watch) {
        const auto check = now + options.hand_off;
        if (!timeout_ptr || !deadline || check < *deadline) {
          timeout = timeout_until(check);
          timeout_ptr = &timeout;
        }
      }
      epoll_event event;
      const int n = wait_for_event(epoll_fd->get(), event, timeout_ptr);
      if (watch) watchers.store(0);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw TransportError(TransportError::Kind::other,
                             std::string("epoll_wait: ") + std::strerror(errno));
      }
      if (drained) hand_off_slow_drainers();
      if (n == 0) continue;
      const std::uint64_t token = event.data.u64;
      if (token == kWakeToken) return std::nullopt;
      if (token == kKickToken) {
        // Read before the flag is cleared: a kick written in between would be read unseen and
        // leave the flag set with nothing to read, and no drainer would kick again.
        drain(kick_fd->get());
        watcher_kicked.store(false);
        return std::nullopt;
      }
      // Leaving to run a handler: pass the watch on to another waiting thread.
      if (watch && needs_watching()) kick_watcher();
      std::optional<ReceivedDatagram> d;
      try {
        d = endpoints[token].receive(buffer, false);
      } catch (...) {
        arm(token);
        throw;
      }
      if (drained && d && (may_wait || more_fragments_follow(d->bytes) || burst_behind(token))) {
        // A burst, or the rest of a fragmented message: drain it, in order. Make sure some
        // waiting thread watches the drainer.
        drain_state[token].store(drain_stamp(*d));
        *drained = token;
        if (watchers.load() == 0) kick_watcher();
        return Incoming{token, *d};
      }
      arm(token);
      if (d) return Incoming{token, *d};
    }
  }

  // For a caller receiving its own reply (no serving threads): the next datagram on any
  // endpoint, or nullopt at `deadline`.
  // `now`, if known: the time, read a moment ago.
  std::optional<Incoming> caller_receive(std::span<std::uint8_t> buffer,
                                         Clock::time_point deadline,
                                         Clock::time_point now = kUnknownTime) {
    if (leader_receives_directly()) return caller_receive_directly(buffer, deadline, now);
    if (options.spin.count() > 0) {
      const auto until = std::min(deadline, Clock::now() + options.spin);
      do {
        for (std::size_t i = 0; i < endpoints.size(); ++i) {
          if (auto d = endpoints[i].receive(buffer, false)) return Incoming{i, *d};
        }
      } while (Clock::now() < until);
    }
    return poll_endpoints(buffer, deadline, leader_wake_fd->get());
  }

  // The next datagram on any endpoint, or nullopt at `deadline` or when `wake` (an eventfd;
  // -1 for none) is written.
  std::optional<Incoming> poll_endpoints(std::span<std::uint8_t> buffer, Clock::time_point deadline,
                                         int wake) {
    // Usually one socket and the wake-up: no allocation for them.
    std::array<pollfd, 4> few;
    std::vector<pollfd> many;
    const std::size_t sockets = endpoints.size();
    if (sockets + 1 > few.size()) many.resize(sockets + 1);
    const std::span<pollfd> fds = many.empty() ? std::span<pollfd>(few.data(), sockets + 1)
                                               : std::span<pollfd>(many);
    for (std::size_t i = 0; i < sockets; ++i) fds[i] = {endpoints[i].fd(), POLLIN, 0};
    fds[sockets] = {wake, POLLIN, 0};  // last: not an endpoint
    for (;;) {
      if (Clock::now() >= deadline) return std::nullopt;
      const timespec timeout = timeout_until(deadline);
      const int n = ppoll(fds.data(), fds.size(), &timeout, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw TransportError(TransportError::Kind::other,
                             std::string("ppoll: ") + std::strerror(errno));
      }
      if (fds[sockets].revents != 0) {
        drain(wake);
        return std::nullopt;  // the caller looks at its call again
      }
      // Rotate so one busy namespace cannot starve the others.
      const std::size_t first = rotation++;
      for (std::size_t k = 0; k < sockets; ++k) {
        const std::size_t i = (first + k) % sockets;
        if (fds[i].revents == 0) continue;
        if (auto d = endpoints[i].receive(buffer, false)) return Incoming{i, *d};
      }
    }
  }

  // With one socket and no spinning, the caller receiving for everybody blocks in recvmsg on
  // the socket itself: a call then costs a send and a receive, as with a plain socket, where
  // ppoll on the socket and the wake-up eventfd cost a third system call (a tenth of a round
  // trip pinned to one core). wake_leader_locked wakes it through the socket instead.
  bool leader_receives_directly() const {
    return endpoints.size() == 1 && options.spin.count() == 0;
  }

  std::optional<Incoming> caller_receive_directly(std::span<std::uint8_t> buffer,
                                                  Clock::time_point deadline,
                                                  Clock::time_point now) {
    for (;;) {
      const auto left = deadline - (now != kUnknownTime ? now : Clock::now());
      now = kUnknownTime;
      if (left <= Clock::duration::zero()) return std::nullopt;
      // SO_RCVTIMEO is set only when the one in force could outlast the deadline or is far
      // shorter than it (idle wake-ups): then to three quarters of what is left, so the next
      // calls with the same timeout find it fitting and pay no system call for it.
      const auto left_us = std::chrono::ceil<std::chrono::microseconds>(left);
      if (leader_timeout.count() == 0 || leader_timeout > left_us ||
          leader_timeout < left_us / 2) {
        leader_timeout = std::max(std::chrono::microseconds(1), left_us * 3 / 4);
        endpoints[0].set_receive_timeout(leader_timeout);
      }
      if (auto d = endpoints[0].receive(buffer, true)) return Incoming{0, *d};
    }
  }

  // A handler that waits for a reply on the peer whose socket its thread drains would wait
  // behind itself until the watcher hands the socket off (hand_off): it hands it back at once.
  // Safe from any thread: only the drainer itself finds its own socket in t_draining.
  // `only_for_requests`: only from a request's handler; a reply's callback that chains the next
  // call with a callback of its own (pipelining) keeps the socket and drains that reply too.
  void hand_back_socket(bool only_for_requests = false) {
    DrainingNow* const d = t_draining;
    if (d == nullptr || d->peer != this || d->stamp == nullptr) return;
    if (only_for_requests && !d->request) return;
    std::int64_t expected = *d->stamp;
    if (drain_state[d->endpoint].compare_exchange_strong(expected, kArmed)) arm(d->endpoint);
    d->stamp = nullptr;
  }

  // Wakes the caller receiving for everybody (its call was completed by another thread).
  void wake_leader_locked() {
    if (leader_receives_directly()) {
      wake_receiver(0);
    } else {
      const std::uint64_t one = 1;
      (void)::write(leader_wake_fd->get(), &one, sizeof one);
    }
  }

  void promote_locked() {
    if (followers.empty()) return;
    Waiter* next = followers.front();
    followers.pop_front();
    next->queued = false;
    next->cv.notify_one();
  }

  template <typename Until>
  void follow(std::unique_lock<std::mutex>& lock, Waiter& me, Until until) {
    me.queued = true;
    followers.push_back(&me);
    me.position = std::prev(followers.end());
    until(me.cv, lock);
    if (me.queued) {
      followers.erase(me.position);
      me.queued = false;
    }
  }

  // `spawned`: a pool thread (not a caller of run_server_forever), which may retire early.
  void worker_main(bool spawned = false) {
    MethodCache cache;
    struct Install {
      MethodCache* outer;
      ~Install() { t_method_cache = outer; }
    } install{std::exchange(t_method_cache, &cache)};
    const auto storage = receive_buffer();
    const std::span<std::uint8_t> buffer(storage.get(), kMaxDatagramSize);
    std::optional<std::size_t> drained;  // the socket this thread drains, see drain_next
    std::int64_t stamp = 0;              // what drain_state holds for it
    std::unique_lock lock(mu);
    set_idle_threads_locked(idle_threads + 1);
    while (!stopping.load()) {
      std::optional<Clock::time_point> deadline;
      if (!async_deadlines.empty()) deadline = async_deadlines.front().first;
      const bool may_wait = drainer_may_wait_locked();
      lock.unlock();
      std::optional<Incoming> incoming;
      try {
        if (drained) incoming = drain_next(buffer, drained, stamp, may_wait);
        if (!incoming) {
          incoming = worker_receive(buffer, deadline, drained, may_wait);
          if (drained) stamp = drain_state[*drained].load();
        }
        if (incoming && drained && *drained == incoming->endpoint) {
          incoming->exclusive = true;
          incoming->drain_stamp = &stamp;
        }
      } catch (const std::exception& e) {
        log(LogLevel::error, "serving thread: ", e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      lock.lock();
      expire_async_locked(lock);
      if (!incoming) continue;
      set_idle_threads_locked(idle_threads - 1);
      for (;;) {
        // Keep one thread receiving while this one runs a handler, up to max_workers.
        if (idle_threads + streak_waiting.load(std::memory_order_relaxed) == 0 &&
            pool_threads < options.max_workers && !stopping.load()) {
          spawn_locked();
        }
        lock.unlock();
        handle(*incoming);
        incoming.reset();
        if (may_wait && drained) incoming = drain_streak(buffer, drained, stamp);
        lock.lock();
        if (!incoming) break;
        expire_async_locked(lock);
      }
      // A thread spawned beyond `workers` leaves once two others are waiting again: threads
      // added while handlers merely overlapped would otherwise stay, and take turns at every
      // arrival. One waiting thread is not enough: the next arrival would have it spawn a
      // replacement for the one leaving now, a thread per call or two.
      if (spawned && options.spin.count() == 0 && !drained &&
          idle_threads + streak_waiting.load(std::memory_order_relaxed) > 1 &&
          pool_threads > options.workers) {
        set_pool_threads_locked(pool_threads - 1);
        retired.push_back(std::this_thread::get_id());
        return;
      }
      set_idle_threads_locked(idle_threads + 1);
    }
    release_drained(drained, stamp);
    if (!stop_answerer && handlers_running_locked() > 0) {
      stop_answerer = true;
      answer_while_stopping(lock, buffer);
      stop_answerer = false;
    }
    set_idle_threads_locked(idle_threads - 1);
    std::thread::id self = std::this_thread::get_id();
    spinner_id.compare_exchange_strong(self, std::thread::id{});
    if (pool_threads == 1) fail_async_calls_locked(lock);
    set_pool_threads_locked(pool_threads - 1);
    if (pool_threads == 0) {
      // The last one out lets callers receive for themselves again, alone: no socket stays in
      // the set (armed, it would hand the next pool's threads datagrams a caller is reading).
      epoll_ctl(epoll_fd->get(), EPOLL_CTL_DEL, wake_fd->get(), nullptr);
      for (std::size_t i = 0; i < endpoints.size(); ++i) unwatch(i);
      drain(wake_fd->get());
      stopping.store(false);
      pool_running = false;
      for (auto& [id, call] : pending) {
        if (call->waiter) call->waiter->notify_one();
      }
      for (Waiter* w : followers) w->cv.notify_one();
      stopped_cv.notify_all();
    }
  }

  // After stop(), while handlers that were running finish (for up to stop_grace), one leaving
  // thread goes on receiving for the peer: a new request is then answered -32003 "Server
  // stopping" at once (dispatch) instead of waiting unread, and replies to the handlers' own
  // calls still arrive. Returns when no handler runs or the grace period is over.
  void answer_while_stopping(std::unique_lock<std::mutex>& lock, std::span<std::uint8_t> buffer) {
    constexpr auto kLook = std::chrono::milliseconds(50);  // how soon it sees the last one end
    const auto until = stop_deadline();
    while (handlers_running_locked() > 0 && Clock::now() < until) {
      lock.unlock();
      if (streak_waiting.load() != 0) {
        // A drainer still blocked in recvmsg (wait_on_drained) leaves on the wake-up stop()
        // sent to its socket: read nothing until it has, or this thread might take that
        // wake-up. No drainer starts waiting once `stopping` is set.
        wake_waiting_drainer();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        lock.lock();
        continue;
      }
      std::optional<Incoming> incoming;
      try {
        incoming = poll_endpoints(buffer, std::min(until, Clock::now() + kLook), -1);
      } catch (const std::exception& e) {
        log(LogLevel::error, "stopping: ", e.what());
      }
      if (incoming) handle(*incoming);
      lock.lock();
      expire_async_locked(lock);
    }
    if (const std::size_t running = handlers_running_locked(); running > 0) {
      log(LogLevel::warning, running, " handler(s) still running ",
          options.stop_grace.count(), " ms after stop(); no longer receiving for them");
    }
  }

  // Serving threads running a request's handler (each counted once in thread_share); reply
  // callbacks and threads waiting for datagrams do not count.
  std::size_t handlers_running_locked() const { return thread_share.running().first; }

  Clock::time_point stop_deadline() const {
    return Clock::time_point(Clock::duration(stop_requested.load())) + options.stop_grace;
  }

  // Asynchronous calls have nobody to receive their replies or enforce their deadlines once
  // the last serving thread leaves, so they fail now instead of waiting forever. Runs while
  // this thread still counts as serving, so no new pool starts while callbacks run unlocked;
  // calls made meanwhile (even by a callback) are found by the next pass.
  void fail_async_calls_locked(std::unique_lock<std::mutex>& lock) {
    for (;;) {
      auto it = std::find_if(pending.begin(), pending.end(),
                             [](const auto& entry) { return entry.second->async_deadline.has_value(); });
      if (it == pending.end()) return;
      auto call = it->second;
      call->error = std::make_exception_ptr(TransportError(
          TransportError::Kind::other,
          "serving stopped before the reply from nl_pid " + std::to_string(call->target) +
              " to '" + call->method + "' arrived (RPCPeer::stop ends asynchronous calls too)"));
      complete_locked(call, lock);
    }
  }

  void spawn_locked() {
    set_pool_threads_locked(pool_threads + 1);
    // Join the threads that retired (they only have to return, which needs no lock).
    if (!retired.empty()) {
      std::erase_if(threads, [this](std::thread& t) {
        if (std::find(retired.begin(), retired.end(), t.get_id()) == retired.end()) return false;
        t.join();
        return true;
      });
      retired.clear();
    }
    threads.emplace_back(&Impl::worker_main, this, true);
  }

  // Starts serving threads unless they run already; `caller_joins` counts the calling thread,
  // which then runs worker_main itself.
  // `for_replies`: started only to receive replies of asynchronous calls, not to serve.
  void start(std::size_t threads_to_add, bool caller_joins, bool for_replies = false) {
    std::lock_guard lock(mu);
    if (caller_joins) set_pool_threads_locked(pool_threads + 1);
    if (pool_running) return;
    if (for_replies) {
      // A stop() that came while nothing served (a repeated stop, say) is not meant for these
      // threads; left pending it would end them at once and strand the call.
      stopping.store(false);
      drain(wake_fd->get());
    }
    join_finished_locked();
    // A receive timeout a caller left would end a waiting drainer's receive (wait_on_drained).
    if (!leader_busy && leader_timeout.count() != 0) {
      leader_timeout = std::chrono::microseconds(0);
      endpoints[0].set_receive_timeout(leader_timeout);
    }
    pool_running = true;
    watch(wake_fd->get(), kWakeToken);
    // A caller receiving right now hands the sockets over when it finishes (see wait()).
    if (!leader_busy) arm_endpoints();
    for (std::size_t i = 0; i < threads_to_add; ++i) spawn_locked();
    // Callers waiting as followers should stop leading: wake them to re-check.
    for (Waiter* w : followers) w->cv.notify_one();
  }

  void join_finished_locked() {
    // Threads of an earlier run that have all exited (pool_running is false).
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
    threads.clear();
    retired.clear();
  }

  void join_all() {
    std::vector<std::thread> to_join;
    {
      std::lock_guard lock(mu);
      to_join.swap(threads);
      retired.clear();
    }
    for (auto& t : to_join) {
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
  }

  // ---- handling one datagram ----

  void handle(const Incoming& incoming) {
    const ReceivedDatagram& d = incoming.datagram;
    // A bare header from this very socket is stop() waking a waiting drainer.
    if (d.bytes.size() == kNetlinkHeaderSize &&
        d.sender_nl_pid == endpoints[incoming.endpoint].nl_pid()) {
      return;
    }
    ProcslinkMessage message;
    try {
      message = ProcslinkMessage::parse(d.bytes);
    } catch (const FramingError& e) {
      log(LogLevel::warning, "dropped ", d.bytes.size(), "-byte datagram from ",
          describe_sender(d.sender_nl_pid, d.credentials), ": ", e.what());
      return;
    }
    if (message.netlink.pid != d.sender_nl_pid || d.sender_nl_pid == 0) {
      log(LogLevel::warning, "dropped datagram claiming nl_pid ", message.netlink.pid,
          " but sent from ", describe_sender(d.sender_nl_pid, d.credentials));
      return;
    }
    Origin origin{incoming.endpoint, d.sender_nl_pid, d.credentials};
    DrainingNow draining{this, incoming.endpoint, incoming.drain_stamp,
                         message.payload_type() == PayloadType::request};
    DrainingNow* const outer = t_draining;
    // A datagram handled while this thread lands another message's fragments (a stray) drains
    // the same socket: it shares that stamp, but is a request or a reply of its own.
    if (!draining.stamp && outer && outer->peer == this && outer->endpoint == incoming.endpoint) {
      draining.stamp = outer->stamp;
    }
    if (draining.stamp) t_draining = &draining;
    struct Restore {
      DrainingNow* outer;
      ~Restore() { t_draining = outer; }
    } restore{outer};
    if (!message.header.is_fragment()) {
      dispatch_body(origin, message.payload_type(), message.body, nullptr);
      return;
    }
    const std::uint64_t key = (std::uint64_t{incoming.endpoint} << 32) | d.sender_nl_pid;
    std::optional<FragmentReassembler::Complete> complete;
    bool room_behind = false;  // for the next fragment: without it, peeking at it is wasted
    {
      std::lock_guard lock(reassembly_mutex);
      if (!add_fragment_locked(key, message, d.sender_nl_pid, d.credentials, complete)) return;
      const auto next_index = static_cast<std::uint16_t>(message.header.reserved + 1u);
      room_behind = !complete && incoming.exclusive && more_fragments_follow(d.bytes) &&
                    reassembler.landing_room(key, message.header.seq, next_index, 1) != nullptr;
    }
    if (room_behind) {
      complete = land_fragments(incoming.endpoint, d.sender_nl_pid, message.header.seq, origin);
    }
    if (!complete) return;
    // A handler runs now: a draining thread must look busy again, so it is handed off if slow.
    if (std::int64_t* stamp = incoming.drain_stamp) {
      std::int64_t expected = *stamp;
      const std::int64_t now = ticks_now();
      if (drain_state[incoming.endpoint].compare_exchange_strong(expected, now)) *stamp = now;
    }
    draining.request = complete->payload_type == PayloadType::request;
    dispatch_body(origin, complete->payload_type, complete->body, &complete->body);
    if (!complete->body.empty()) {
      std::lock_guard lock(reassembly_mutex);
      reassembler.recycle(std::move(complete->body));
    }
  }

  // With reassembly_mutex held: adds a fragment, counted towards its sender's uid, and logs
  // what it dropped (itself, or other senders' messages it made room by). False when dropped.
  bool add_fragment_locked(std::uint64_t key, const ProcslinkMessage& message,
                           std::uint32_t sender, const Credentials& credentials,
                           std::optional<FragmentReassembler::Complete>& complete) {
    bool added = true;
    try {
      complete = reassembler.add(key, static_cast<std::uint32_t>(credentials.uid), message);
    } catch (const FramingError& e) {
      log(LogLevel::warning, "dropped fragment from ", describe_sender(sender, credentials), ": ",
          e.what());
      added = false;
    }
    if (const auto evicted = reassembler.take_evictions(); !evicted.empty()) {
      log_evictions_locked(evicted, credentials);
    }
    if (!complete) reaper.poke_locked();  // what is left incomplete expires on time
    return added;
  }

  // A line for the first message dropped to make room, then one a second at most (counting
  // those in between): a flood makes room by the thousand.
  void log_evictions_locked(const std::vector<FragmentReassembler::Eviction>& evicted,
                            const Credentials& credentials) {
    unlogged_evictions += evicted.size();
    const auto now = Clock::now();
    if (now - last_eviction_log < std::chrono::seconds(1)) return;
    last_eviction_log = now;
    const auto& last = evicted.back();
    log(LogLevel::warning, "reassembly budget full: dropped ", unlogged_evictions,
        " incomplete message(s), the last one of ", last.bytes, " bytes from nl_pid ",
        static_cast<std::uint32_t>(last.sender), " (uid ", last.uid, "), for uid ",
        credentials.uid, " that holds less");
    unlogged_evictions = 0;
  }

  // `owned`: the reassembled buffer `body` lies in, if any, which a large string may take.
  void dispatch_body(const Origin& origin, PayloadType type, std::string_view body,
                     std::string* owned) {
    if (type == PayloadType::request) {
      serve(origin, body, owned);
    } else {
      deliver(origin, body, owned);
    }
  }

  // After a fragment with more of its message behind it, on a socket this thread alone reads:
  // receives the fragments that follow, as long as they are the next ones of that message and
  // the message's buffer has room for them, straight into that buffer (a peek at each one's
  // headers first, then one read with the headers apart and the body in place). The copy out
  // of a receive buffer is saved: for a large message, one pass over its bytes. Stops before
  // a last fragment, so no handler runs in here (unless fragments came out of order and one of
  // these completes the message: it is returned, as are its sender's latest credentials).
  // Anything else, it leaves queued for the usual receive.
  std::optional<FragmentReassembler::Complete> land_fragments(std::size_t endpoint,
                                                              std::uint32_t sender,
                                                              std::uint32_t seq, Origin& origin) {
    const NetlinkSocket& socket = endpoints[endpoint];
    const std::uint64_t key = (std::uint64_t{endpoint} << 32) | sender;
    std::array<std::uint8_t, kDatagramHeadersSize> headers;
    std::array<std::uint8_t, kDatagramHeadersSize> peeked_bytes;
    for (;;) {
      const std::optional<PeekedDatagram> peeked = socket.peek(peeked_bytes);
      // One longer than any receive buffer is left to the usual receive, which drops it.
      if (!peeked || peeked->sender_nl_pid != sender || peeked->length <= kDatagramHeadersSize ||
          peeked->length > kMaxDatagramSize || !more_fragments_follow(peeked->head)) {
        return std::nullopt;
      }
      const std::size_t length = peeked->length - kDatagramHeadersSize;
      // Which fragment it says it is; the parse below checks everything once it is in place.
      const ProcslinkHeader next = ProcslinkHeader::decode(peeked->head.subspan(kNetlinkHeaderSize));
      if (next.seq != seq) return std::nullopt;
      std::optional<FragmentReassembler::Complete> complete;
      std::vector<std::uint8_t> stray;  // a datagram other than the one peeked at (a race)
      std::optional<ScatteredDatagram> got;
      bool matched = false;
      {
        std::lock_guard lock(reassembly_mutex);
        char* room = reassembler.landing_room(key, seq, next.reserved, length);
        if (room == nullptr) return std::nullopt;
        const std::span<std::uint8_t> body(reinterpret_cast<std::uint8_t*>(room), length);
        got = socket.receive_scattered(headers, body, false);
        if (!got) return std::nullopt;
        if (got->sender_nl_pid != sender || got->length != peeked->length ||
            headers != peeked_bytes) {
          const std::size_t kept = std::min(got->length, headers.size() + length);
          stray.assign(headers.begin(), headers.begin() + std::min(kept, headers.size()));
          if (kept > headers.size()) {
            stray.insert(stray.end(), body.begin(), body.begin() + (kept - headers.size()));
          }
          if (got->length > kept) stray.clear();  // cut off: cannot be framed
        } else {
          matched = true;
          try {
            const ProcslinkMessage message =
                ProcslinkMessage::parse(headers, std::string_view(room, length));
            if (message.netlink.pid != sender) throw FramingError("nl_pid in the header differs");
            if (!add_fragment_locked(key, message, sender, got->credentials, complete)) {
              return std::nullopt;
            }
          } catch (const FramingError& e) {
            log(LogLevel::warning, "dropped fragment from ",
                describe_sender(sender, got->credentials), ": ", e.what());
            return std::nullopt;
          }
        }
      }
      if (!matched) {
        if (stray.empty()) {
          log(LogLevel::warning, "dropped a ", got->length, "-byte datagram from nl_pid ",
              got->sender_nl_pid, ": it changed under a peek");
        } else {
          handle(Incoming{endpoint, ReceivedDatagram{got->sender_nl_pid, got->credentials, stray}});
        }
        return std::nullopt;
      }
      origin.credentials = got->credentials;
      if (complete) return complete;
    }
  }

  // `owned`: the reassembled buffer `body` lies in, which the request's largest string may
  // take over (see read_json_members), and a large string reply gives back.
  void serve(const Origin& origin, std::string_view body, std::string* owned) {
    // A request as peers write it: read with the layout's bytes matched (read_request_layout),
    // answered without a list or an item around it.
    if (!owned) {
      JsonRpcRequest request;
      if (detail::read_request_layout(body, request, spare_params(), spare_string())) {
        std::optional<JsonRpcResponse> reply;
        dispatch(request, origin, reply);
        if (reply) {
          send_replies(origin, &*reply, false, {}, nullptr);
          if (!reply->is_error()) keep_string(std::get<0>(reply->outcome));
        }
        return;
      }
    }
    // The usual single request is read and answered without a list around it.
    std::optional<JsonRpcResponse> single_reply;
    std::vector<JsonRpcResponse> replies;
    bool batch = false;
    if (auto single = owned ? detail::parse_single_request_taking(*owned)
                            : detail::parse_single_request(body)) {
      if (auto* request = std::get_if<JsonRpcRequest>(&single->content)) {
        dispatch(*request, origin, single_reply);
      } else {
        single_reply = std::move(std::get<JsonRpcResponse>(single->content));
      }
      if (!single_reply) return;  // a notification
    } else {
      ParsedRequestBody parsed = parse_request_body(body);
      batch = parsed.batch;
      if (parsed.whole_body_error) {
        replies.push_back(std::move(*parsed.whole_body_error));
      } else {
        replies = dispatch_batch(parsed.items, origin);
      }
    }
    send_replies(origin, single_reply ? &*single_reply : nullptr, batch, replies, owned);
  }

  // Sends the reply to a single request (`single_reply`), or else `replies`, an array if
  // `batch`. `owned`: as for serve.
  void send_replies(const Origin& origin, JsonRpcResponse* single_reply, bool batch,
                    const std::vector<JsonRpcResponse>& replies, std::string* owned) {
    SendText buffer;
    std::size_t replaced = 0;
    if (single_reply) {
      replaced = !detail::append_response_or_error(buffer.text(), buffer.borrowed(), *single_reply);
    } else if (!detail::append_replies(buffer.text(), buffer.borrowed(), batch, replies,
                                       &replaced)) {
      return;
    }
    if (replaced != 0) {
      log(LogLevel::warning, replaced, " result(s) to ",
          describe_sender(origin.nl_pid, origin.credentials), " nest deeper than ", kMaxJsonDepth,
          " levels; answered with internal errors instead");
    }
    std::span<const std::string_view> text = buffer.parts();
    if (const std::size_t size = total_size(text); size > options.max_message_size) {
      log(LogLevel::warning, "reply of ", size, " bytes to ",
          describe_sender(origin.nl_pid, origin.credentials), " exceeds max_message_size ",
          options.max_message_size, "; answering with an error instead");
      json id = single_reply ? single_reply->id : batch ? json(nullptr) : replies.front().id;
      buffer.clear();
      JsonRpcResponse::failure(id, {error_code::message_too_large, "Message too large",
                                    "the reply exceeds the peer's max_message_size"})
          .append_to(buffer.text());
      text = buffer.parts();
    }
    const std::uint64_t receiver = (std::uint64_t{origin.endpoint} << 32) | origin.nl_pid;
    const bool wait = !receiver_congested(receiver);
    try {
      send_message(origin.endpoint, origin.nl_pid, PayloadType::response, text, wait,
                   buffer.headroom());
    } catch (const std::exception& e) {
      log(LogLevel::warning, "gave up reply to ", describe_sender(origin.nl_pid, origin.credentials),
          ": ", e.what());
      const auto* transport = dynamic_cast<const TransportError*>(&e);
      if (wait && transport != nullptr && transport->kind() == TransportError::Kind::timeout) {
        mark_congested(receiver);
        log(LogLevel::warning, describe_sender(origin.nl_pid, origin.credentials),
            " does not read its replies; for ", kCongestionHold.count(),
            " s replies to it that do not fit its receive buffer are dropped at once");
      }
    }
    // A large string result, sent now, becomes the buffer the next large message is assembled
    // in: an echo-like service then handles a stream of them in the same pages.
    if (owned && single_reply && !single_reply->is_error()) {
      if (json& result = std::get<0>(single_reply->outcome);
          result.is_string() && result.get_ref<const std::string&>().size() >= detail::kAdoptMin) {
        std::lock_guard lock(reassembly_mutex);
        reassembler.recycle(std::move(result.get_ref<std::string&>()));
      }
    }
  }

  // A caller that stops reading would otherwise cost a serving thread send_timeout per reply,
  // and with enough of its requests queued, every thread of the pool: nobody else would be
  // answered. So once a reply to it has waited a whole send_timeout in vain, replies to it no
  // longer wait for a while; those that fit its buffer are still delivered.
  bool receiver_congested(std::uint64_t receiver) {
    if (congested_count.load(std::memory_order_relaxed) == 0) return false;  // the usual case
    std::lock_guard lock(congestion_mutex);
    auto it = congested.find(receiver);
    if (it == congested.end()) return false;
    if (Clock::now() < it->second) return true;
    congested.erase(it);
    congested_count.store(congested.size(), std::memory_order_relaxed);
    return false;
  }

  void mark_congested(std::uint64_t receiver) {
    std::lock_guard lock(congestion_mutex);
    const auto now = Clock::now();
    if (congested.size() >= kMaxCongested) {
      std::erase_if(congested, [now](const auto& entry) { return entry.second <= now; });
      if (congested.size() >= kMaxCongested) congested.clear();  // forget rather than grow
    }
    congested[receiver] = now + kCongestionHold;
    congested_count.store(congested.size(), std::memory_order_relaxed);
  }

  std::vector<JsonRpcResponse> dispatch_batch(std::vector<ParsedRequestBody::Item>& items,
                                              const Origin& origin) {
    std::vector<std::optional<JsonRpcResponse>> out(items.size());
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      for (std::size_t i = next++; i < items.size(); i = next++) {
        if (auto* request = std::get_if<JsonRpcRequest>(&items[i].content)) {
          dispatch(*request, origin, out[i]);
        } else {
          out[i] = std::move(std::get<JsonRpcResponse>(items[i].content));
        }
      }
    };
    // Elements are independent by the specification, so they may run at the same time.
    batch_helpers.run(std::min(items.size(), kBatchParallelism) - 1, work);
    std::vector<JsonRpcResponse> replies;
    for (auto& reply : out) {
      if (reply) replies.push_back(std::move(*reply));
    }
    return replies;
  }

  // A serving thread's params array, emptied after a handler and read into by its next
  // request (read_request_layout): two allocations and releases less per request. Kept only
  // while small, so a thread holds no more than a few hundred bytes for it.
  static constexpr std::size_t kSpareParamsMax = 16;
  struct SpareParamsTag {};
  static json* spare_params() { return ThreadScratch<SpareParamsTag, json>::get(); }
  static void keep_params_array(json& params) {
    json* const spare = spare_params();
    if (spare != nullptr && params.is_array() && spare->is_null() &&
        params.get_ref<const json::array_t&>().capacity() <= kSpareParamsMax) {
      for (json& element : params.get_ref<json::array_t&>()) {
        if (keep_string(element)) break;
      }
      params.get_ref<json::array_t&>().clear();
      spare->swap(params);  // no temporary (json's operator= takes its argument by value)
    } else {
      detail::release(params);
    }
  }

  // A serving thread's string value, taken over by the next request's first string param
  // (read_request_layout): its two allocations and releases are saved when a request's string
  // param or a reply's string result is done with. Kept only up to kSpareStringMax bytes.
  static constexpr std::size_t kSpareStringMax = 4096;
  struct SpareStringTag {};
  static json* spare_string() { return ThreadScratch<SpareStringTag, json>::get(); }
  // Keeps `value` (left null) as the spare string if it is a short string and none is kept.
  static bool keep_string(json& value) {
    json* const spare = spare_string();
    if (spare == nullptr || !spare->is_null() || !value.is_string() ||
        value.get_ref<const std::string&>().capacity() > kSpareStringMax) {
      return false;
    }
    spare->swap(value);
    return true;
  }

  // Runs a request's handler; `reply` (empty on entry) gets the reply, unless it is a
  // notification. An out parameter, so that the reply is built where it stays.
  // A serving thread's turn running a handler for the request's uid (thread_share). A request
  // this thread handles while it already runs one of this peer's handlers (one that serves
  // while it calls) takes no second turn: it occupies no other thread.
  class ThreadTurn {
   public:
    ThreadTurn(Impl& peer, const Origin& origin) : outer_(t_running_for) {
      if (outer_ == &peer) return;
      ticket_ = peer.thread_share.take(origin.credentials.uid);
      if (!ticket_) {
        peer.log_busy(origin);
        throw JsonRpcError(error_code::server_busy, "Server busy",
                           "uid " + std::to_string(origin.credentials.uid) + " already runs " +
                               std::to_string(peer.thread_share.share()) + " requests here");
      }
      t_running_for = &peer;
    }
    ThreadTurn(const ThreadTurn&) = delete;
    ThreadTurn& operator=(const ThreadTurn&) = delete;
    ~ThreadTurn() {
      if (ticket_) t_running_for = outer_;
    }

   private:
    const Impl* outer_;
    detail::ThreadShare::Ticket ticket_;
  };

  // What the limits a hostile neighbour meets hold and did (rpc.stats).
  json stats() {
    json reassembly;
    {
      std::lock_guard lock(reassembly_mutex);
      const FragmentReassembler::Stats& done = reassembler.stats();
      reassembly = {{"pending_messages", reassembler.pending_messages()},
                    {"pending_bytes", reassembler.pending_bytes()},
                    {"budget_bytes", reassembler.limits().max_total_bytes},
                    {"completed", done.completed},
                    {"expired", done.expired},
                    {"dropped", done.dropped},
                    {"evicted", done.evicted}};
    }
    const auto [running, uids] = thread_share.running();
    json threads = {{"max_workers", options.max_workers},
                    {"per_uid", thread_share.share()},
                    {"running_handlers", running},
                    {"running_uids", uids},
                    {"refused_busy", thread_share.refused()}};
    return {{"reassembly", std::move(reassembly)}, {"threads", std::move(threads)}};
  }

  // One line a second at most: a flood is refused by the thousand.
  void log_busy(const Origin& origin) {
    const std::int64_t now = ticks_now();
    std::int64_t last = last_busy_log.load(std::memory_order_relaxed);
    if (now - last < std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)).count() ||
        !last_busy_log.compare_exchange_strong(last, now)) {
      return;
    }
    log(LogLevel::warning, "refusing requests from ",
        describe_sender(origin.nl_pid, origin.credentials), ": uid ", origin.credentials.uid,
        " already runs ", thread_share.share(), " of ", options.max_workers,
        " serving threads (", thread_share.refused(), " refused so far)");
  }

  void dispatch(JsonRpcRequest& request, const Origin& origin,
                std::optional<JsonRpcResponse>& reply) {
    // The request's id and params are moved where they go (never a copy or a temporary: each
    // json temporary costs a call to nlohmann's destroy). Once a request is known not to be a
    // notification its id is there, and the reply takes it (is_notification() still holds).
    try {
      if (stopping.load(std::memory_order_relaxed)) {
        throw JsonRpcError(error_code::server_stopping, "Server stopping",
                           "the peer is stopping and runs no new requests");
      }
      std::shared_ptr<const Method> method;
      bool peer_allows;
      MethodCache* const cache = t_method_cache;
      std::uint64_t fill = 0;
      bool lent = false;
      std::shared_ptr<const Method> stale;  // a cached method replaced: released unlocked
      if (cache != nullptr && cache->peer == this && cache->method &&
          cache->generation == methods_generation.load(std::memory_order_acquire) &&
          cache->name == request.method) {
        method = std::move(cache->method);  // lent to this request, given back below
        fill = cache->fills;
        peer_allows = true;  // cached only while the peer's policy allows everybody
        lent = true;
      } else {
        std::shared_lock lock(methods_mutex);
        peer_allows = policy.allows(origin.credentials);
        if (auto it = methods.find(request.method); it != methods.end()) method = it->second;
        if (cache != nullptr && method && policy.uids.empty() && policy.gids.empty()) {
          cache->peer = this;
          cache->generation = methods_generation.load(std::memory_order_relaxed);
          cache->name = request.method;
          stale = std::move(cache->method);
          fill = ++cache->fills;
          lent = true;
        }
      }
      const bool allowed = peer_allows &&
                           (!method || !method->policy || method->policy->allows(origin.credentials));
      if (!allowed) {
        log(LogLevel::warning, "refused '", request.method, "' from ",
            describe_sender(origin.nl_pid, origin.credentials), " (gid ",
            origin.credentials.gid, "): not allowed by policy");
        throw JsonRpcError(error_code::access_denied, "Access denied",
                           "uid " + std::to_string(origin.credentials.uid) +
                               " may not call '" + request.method + "'");
      }
      if (!method) throw JsonRpcError(error_code::method_not_found, "Method not found");
      const ThreadTurn turn(*this, origin);
      CallContext context{origin.nl_pid, origin.credentials,
                          endpoints[origin.endpoint].netns(), request.method};
      json result = request.params ? method->handler(std::move(*request.params), context)
                                   : method->handler(json(), context);
      // Back to the cache, unless a request handled meanwhile on this thread (a handler that
      // serves while it calls) filled it anew.
      if (lent && cache->fills == fill && !cache->method) cache->method = std::move(method);
      if (request.params) keep_params_array(*request.params);
      if (request.is_notification()) return;
      JsonRpcResponse& success = reply.emplace();
      success.id.swap(*request.id);
      std::get<0>(success.outcome).swap(result);
    } catch (const JsonRpcError& e) {
      if (request.is_notification()) {
        log(LogLevel::debug, "notification '", request.method, "' failed: ", e.what());
        return;
      }
      reply = JsonRpcResponse::failure(std::move(*request.id), e.error());
    } catch (const std::exception& e) {
      if (request.is_notification()) {
        log(LogLevel::debug, "notification '", request.method, "' failed: ", e.what());
        return;
      }
      reply = JsonRpcResponse::failure(std::move(*request.id),
                                       {error_code::internal_error, "Internal error", e.what()});
    } catch (...) {
      if (request.is_notification()) return;
      reply = JsonRpcResponse::failure(
          std::move(*request.id), {error_code::internal_error, "Internal error", "unknown exception"});
    }
  }

  // `owned`: the reassembled buffer `body` lies in, which a large result string may take over.
  void deliver(const Origin& origin, std::string_view body, std::string* owned) {
    // The usual single response is read without a list around it.
    std::optional<JsonRpcResponse> single;
    if (!owned && detail::read_success_layout(body, single)) {
      std::unique_lock lock(mu);
      take_response(origin, std::move(*single), lock);
      return;
    }
    std::vector<JsonRpcResponse> responses;
    try {
      single = owned ? detail::parse_single_response_taking(*owned)
                     : detail::parse_single_response(body);
      if (!single) responses = parse_response_body(body);
    } catch (const FramingError& e) {
      log(LogLevel::warning, "dropped reply from ", describe_sender(origin.nl_pid, origin.credentials),
          ": ", e.what());
      return;
    }
    std::unique_lock lock(mu);
    if (single) {
      take_response(origin, std::move(*single), lock);
    } else {
      for (auto& response : responses) take_response(origin, std::move(response), lock);
    }
  }

  void take_response(const Origin& origin, JsonRpcResponse&& response,
                     std::unique_lock<std::mutex>& lock) {
    std::shared_ptr<Pending> call;
    if (response.id.is_number_integer()) {
      if (auto it = pending.find(response.id.get<std::int64_t>()); it != pending.end()) {
        call = it->second;
      }
    } else if (response.id.is_null() && response.is_error()) {
      call = oldest_call_to_locked(origin);
      if (call && call->ids.size() > 1) {
        // The batch as a whole was refused (unreadable, or empty): it fails as one.
        call->error = std::make_exception_ptr(RemoteError(response.error()));
        complete_locked(call, lock);
        return;
      }
    }
    if (!call) {
      log(LogLevel::debug, "dropped late or unknown reply id ", to_text(response.id), " from ",
          describe_sender(origin.nl_pid, origin.credentials));
      return;
    }
    if (call->target != origin.nl_pid || call->endpoint != origin.endpoint) {
      log(LogLevel::warning, "dropped reply id ", to_text(response.id), " from ",
          describe_sender(origin.nl_pid, origin.credentials), ": the call went to nl_pid ",
          call->target);
      return;
    }
    if (call->require_uid && origin.credentials.uid != *call->require_uid) {
      call->error = std::make_exception_ptr(TransportError(
          TransportError::Kind::wrong_peer,
          "the reply from nl_pid " + std::to_string(origin.nl_pid) + " came from uid " +
              std::to_string(origin.credentials.uid) + ", not the required uid " +
              std::to_string(*call->require_uid)));
    } else if (call->ids.size() == 1) {
      if (call->response) return;  // a duplicate
      call->response = std::move(response);
    } else {
      call->responses.push_back(std::move(response));
    }
    const bool all = call->ids.size() == 1 ? call->response.has_value()
                                           : call->responses.size() == call->ids.size();
    if (call->error || all) complete_locked(call, lock);
  }

  // An error reply whose id is null answers a request its server could not read far enough to
  // find the id (a parse error, say). It fails the oldest call outstanding to that sender on
  // that socket (the lowest id): with one outstanding, the one it answers; with several, the
  // first sent, so each such reply fails one call at once instead of letting it wait out its
  // deadline. Null if none is outstanding there.
  std::shared_ptr<Pending> oldest_call_to_locked(const Origin& origin) {
    std::shared_ptr<Pending> oldest;
    std::int64_t oldest_id = 0;
    for (const auto& [id, call] : pending) {
      if (call->done || call->target != origin.nl_pid || call->endpoint != origin.endpoint) continue;
      if (!oldest || id < oldest_id) {
        oldest = call;
        oldest_id = id;
      }
    }
    return oldest;
  }

  // Marks a call finished and wakes whoever waits for it. May unlock to run a callback.
  void complete_locked(const std::shared_ptr<Pending>& call, std::unique_lock<std::mutex>& lock) {
    if (call->done) return;
    call->done = true;
    for (auto id : call->ids) erase_pending_locked(id);
    // Its entry in async_deadlines stays: it is skipped when it comes up, or swept out.
    if (call->waiter) call->waiter->notify_one();
    // Its caller may be receiving for everybody just now, while the previous one handles
    // this reply: it sleeps in a receive, not on its condition variable.
    if (call.get() == leader_call) wake_leader_locked();
    if (call->callback) {
      auto callback = std::move(call->callback);
      CallOutcome outcome = outcome_of(*call);
      lock.unlock();
      try {
        callback(std::move(outcome));
      } catch (const std::exception& e) {
        log(LogLevel::error, "async call callback threw: ", e.what());
      }
      lock.lock();
    }
  }

  // Calls in flight by id. Their map nodes are recycled: a call costs no node allocation.
  void add_pending_locked(std::int64_t id, const std::shared_ptr<Pending>& call) {
    if (spare_pending_nodes.empty()) {
      pending[id] = call;
      return;
    }
    auto node = std::move(spare_pending_nodes.back());
    spare_pending_nodes.pop_back();
    node.key() = id;
    node.mapped() = call;
    pending.insert(std::move(node));
  }

  void erase_pending_locked(std::int64_t id) {
    auto node = pending.extract(id);
    if (node.empty()) return;
    node.mapped().reset();
    if (spare_pending_nodes.size() < kSparePendingNodes) spare_pending_nodes.push_back(std::move(node));
  }

  void push_async_deadline_locked(Clock::time_point deadline, std::int64_t id) {
    // Entries of answered calls pile up when replies come quicker than deadlines pass:
    // sweep them out once they are most of the heap.
    if (async_deadlines.size() >= 1024 && async_deadlines.size() > 2 * pending.size()) {
      std::erase_if(async_deadlines, [this](const auto& entry) {
        return !pending.contains(entry.second);
      });
      std::make_heap(async_deadlines.begin(), async_deadlines.end(), std::greater<>());
    }
    async_deadlines.emplace_back(deadline, id);
    std::push_heap(async_deadlines.begin(), async_deadlines.end(), std::greater<>());
    async_deadlines_count.store(async_deadlines.size(), std::memory_order_relaxed);
  }

  void expire_async_locked(std::unique_lock<std::mutex>& lock) {
    if (async_deadlines.empty()) return;  // no clock read per datagram for a plain server
    const auto now = Clock::now();
    while (!async_deadlines.empty() && async_deadlines.front().first <= now) {
      const std::int64_t id = async_deadlines.front().second;
      std::pop_heap(async_deadlines.begin(), async_deadlines.end(), std::greater<>());
      async_deadlines.pop_back();
      async_deadlines_count.store(async_deadlines.size(), std::memory_order_relaxed);
      auto it = pending.find(id);
      if (it == pending.end()) continue;  // answered in time
      auto call = it->second;
      call->async_deadline.reset();
      call->error = std::make_exception_ptr(timeout_error(*call));
      complete_locked(call, lock);
    }
  }

  static TransportError timeout_error(const Pending& call) {
    return timeout_error(call.target, call.method);
  }
  static TransportError timeout_error(std::uint32_t target, std::string_view method) {
    return TransportError(TransportError::Kind::timeout,
                          "no reply from nl_pid " + std::to_string(target) + " to '" +
                              std::string(method) +
                              "' before the deadline (is the peer alive and serving?)");
  }

  // Moves the result out: each call's outcome is taken exactly once.
  static CallOutcome outcome_of(Pending& call) {
    if (call.error) return failed_outcome(call.error);
    JsonRpcResponse& r = call.response ? *call.response : call.responses.front();
    if (r.is_error()) return failed_outcome(std::make_exception_ptr(RemoteError(r.error())));
    return {std::move(std::get<0>(r.outcome))};
  }

  // ---- calling ----

  // Sends a message given as consecutive parts, each datagram gathered straight from them.
  // `headroom`, if not null: kDatagramHeadersSize bytes right before body[0] that the headers
  // may be written to (SendText::headroom).
  void send_message(std::size_t endpoint, std::uint32_t dest, PayloadType type,
                    std::span<const std::string_view> body, bool wait = true,
                    std::uint8_t* headroom = nullptr) {
    const std::size_t size = total_size(body);
    if (size > options.max_message_size) {
      throw TransportError(TransportError::Kind::too_large,
                           "message of " + std::to_string(size) +
                               " bytes exceeds max_message_size " +
                               std::to_string(options.max_message_size));
    }
    const NetlinkSocket& socket = endpoints[endpoint];
    DatagramFields fields{socket.nl_pid(), type, next_seq++, realtime_ns(), 0, 0};
    if (kDatagramHeadersSize + size <= kReferenceMaxDatagram && body.size() == 1) {
      // The common case, without for_each_datagram's std::function.
      if (headroom != nullptr &&
          headroom + kDatagramHeadersSize == reinterpret_cast<const std::uint8_t*>(body[0].data())) {
        encode_datagram_headers(fields, size, headroom);
        const iovec whole{headroom, kDatagramHeadersSize + size};
        socket.send(dest, std::span<const iovec>(&whole, 1), wait);
        return;
      }
      std::uint8_t headers[kDatagramHeadersSize];
      encode_datagram_headers(fields, size, headers);
      const iovec parts[2] = {{headers, sizeof headers},
                              {const_cast<char*>(body[0].data()), size}};
      socket.send(dest, parts, wait);
      return;
    }
    try {
      std::vector<iovec> parts;
      for_each_datagram(fields, body, kReferenceMaxDatagram, options.fragment_size,
                        [&](const DatagramFields& f, std::span<const std::string_view> chunk) {
                          std::uint8_t headers[kDatagramHeadersSize];
                          encode_datagram_headers(f, total_size(chunk), headers);
                          parts.assign(1, {headers, sizeof headers});
                          for (const std::string_view piece : chunk) {
                            parts.push_back({const_cast<char*>(piece.data()), piece.size()});
                          }
                          socket.send(dest, parts, wait);
                        });
    } catch (const FramingError& e) {
      throw TransportError(TransportError::Kind::too_large, e.what());
    }
  }

  // What a call's reply must match: where it went, the uid required of the answer, its ids.
  static void address_call(Pending& call, const Channel& channel, std::string_view method,
                           Ids ids) {
    call.target = channel.target_;
    call.endpoint = channel.endpoint_;
    call.require_uid = channel.options_.require_uid;
    call.method = std::string(method);
    call.ids = std::move(ids);
  }

  // `record`: a finished call's record to reuse (see spare_pending), else a new one is made.
  std::shared_ptr<Pending> begin_call(const Channel& channel, std::string_view method, Ids ids,
                                      std::span<const std::string_view> body,
                                      std::uint8_t* headroom = nullptr,
                                      std::shared_ptr<Pending> record = nullptr) {
    std::shared_ptr<Pending> call = record ? std::move(record) : std::make_shared<Pending>();
    address_call(*call, channel, method, std::move(ids));
    {
      std::lock_guard lock(mu);
      for (auto id : call->ids) add_pending_locked(id, call);
    }
    try {
      send_message(channel.endpoint_, channel.target_, PayloadType::request, body, true, headroom);
    } catch (...) {
      std::lock_guard lock(mu);
      for (auto id : call->ids) erase_pending_locked(id);
      throw;
    }
    return call;
  }

  Clock::time_point deadline_for(const Channel& channel) const {
    return Clock::now() + channel.options_.timeout.value_or(options.timeout);
  }

  // Waits for a synchronous call, receiving for itself when no serving thread does.
  // `started`: when the call's deadline was computed, which stands in for the clock on the
  // first round (a clock read costs ~16 ns in a VM; the call was sent microseconds ago).
  void wait(const std::shared_ptr<Pending>& call, Clock::time_point deadline,
            Clock::time_point started = kUnknownTime) {
    std::unique_ptr<std::uint8_t[]> own;
    const std::span<std::uint8_t> buffer = caller_buffer(own);
    Waiter me;
    std::unique_lock lock(mu);
    call->waiter = &me.cv;
    while (!call->done && (started != kUnknownTime ? started : Clock::now()) < deadline) {
      const Clock::time_point now = std::exchange(started, kUnknownTime);
      if (!pool_running && !leader_busy) {
        leader_busy = true;
        leader_call = call.get();
        lock.unlock();
        std::optional<Incoming> incoming;
        std::exception_ptr error;
        try {
          incoming = caller_receive(buffer, deadline, now);
        } catch (...) {
          error = std::current_exception();
        }
        lock.lock();
        end_lead_locked(incoming ? &*incoming : nullptr);
        if (error) {
          call->waiter = nullptr;
          for (auto id : call->ids) erase_pending_locked(id);
          std::rethrow_exception(error);
        }
        if (incoming) {
          lock.unlock();
          handle_after_lead(*incoming);
          lock.lock();
        }
      } else if (!pool_running) {
        follow(lock, me, [deadline](std::condition_variable& cv, std::unique_lock<std::mutex>& l) {
          cv.wait_until(l, deadline);
        });
      } else {
        hand_back_socket();
        me.cv.wait_until(lock, deadline);
      }
    }
    call->waiter = nullptr;
    if (!leader_busy) promote_locked();
    if (!call->done) {
      for (auto id : call->ids) erase_pending_locked(id);
      throw timeout_error(*call);
    }
  }

  // A request's params: a json value (`value`), or else the positional arguments `args`.
  struct Params {
    const json* value = nullptr;
    std::span<const detail::ParamArg> args;
  };

  // Null params are left out of the request, as the specification allows.
  static std::span<const std::string_view> request_text(SendText& buffer,
                                                        std::string_view method,
                                                        const Params& params,
                                                        std::optional<std::int64_t> id) {
    if (params.value == nullptr) {
      detail::append_positional_request(buffer.text(), buffer.borrowed(), method, params.args,
                                        id ? &*id : nullptr);
    } else {
      const json id_value = id ? json(*id) : json();  // a number: nothing of it is borrowed
      detail::append_request(buffer.text(), buffer.borrowed(), method,
                             params.value->is_null() ? nullptr : params.value,
                             id ? &id_value : nullptr);
    }
    return buffer.parts();
  }
  static std::span<const std::string_view> request_text(SendText& buffer,
                                                        std::string_view method,
                                                        const json& params,
                                                        std::optional<std::int64_t> id) {
    return request_text(buffer, method, Params{&params, {}}, id);
  }

  // A synchronous call's record, kept by its thread for the next one: an allocation and a
  // release less per call. Kept only when nobody else holds it any more (use_count() 1: its
  // ids left the pending map under `mu` before the caller saw it done).
  struct SparePendingTag {};
  static std::shared_ptr<Pending>* spare_pending() {
    return ThreadScratch<SparePendingTag, std::shared_ptr<Pending>>::get();
  }

  // The buffer a caller receives into: its thread's, else (in a late destructor) `own`.
  static std::span<std::uint8_t> caller_buffer(std::unique_ptr<std::uint8_t[]>& own) {
    struct ReceiveBufferTag {};
    auto* const kept = ThreadScratch<ReceiveBufferTag, std::unique_ptr<std::uint8_t[]>>::get();
    std::unique_ptr<std::uint8_t[]>& storage = kept != nullptr ? *kept : own;
    if (!storage) storage = receive_buffer();
    return {storage.get(), kMaxDatagramSize};
  }

  // A finished call's record for the general path: the thread's spare one, else a new one.
  static std::shared_ptr<Pending> fresh_pending() {
    std::shared_ptr<Pending>* const spare = spare_pending();
    std::shared_ptr<Pending> record = spare != nullptr ? std::move(*spare) : nullptr;
    if (!record) return std::make_shared<Pending>();
    *record = Pending{};
    return record;
  }

  // Gives up the lead of a caller receiving for everybody (under `mu`). `received`: the
  // datagram it took last, to be handled next (handle_after_lead).
  void end_lead_locked(const Incoming* received = nullptr) {
    leader_busy = false;
    leader_call = nullptr;
    if (pool_running) arm_endpoints();  // serving threads started meanwhile: hand over
    promote_locked();
    if (received != nullptr && more_fragments_follow(received->datagram.bytes)) {
      ++landing_after_lead;
    }
  }

  // The result, if `incoming` is the success reply to call `id` on `channel` as peers write it
  // (one datagram, the usual layout) and nothing about it needs the general path.
  bool own_result(const Incoming& incoming, const Channel& channel, std::int64_t id,
                  json& result) {
    const ReceivedDatagram& d = incoming.datagram;
    if (d.sender_nl_pid != channel.target_ || incoming.endpoint != channel.endpoint_ ||
        d.bytes.size() <= kDatagramHeadersSize) {
      return false;
    }
    if (const auto& uid = channel.options_.require_uid; uid && d.credentials.uid != *uid) {
      return false;
    }
    ProcslinkMessage message;
    try {
      message = ProcslinkMessage::parse(d.bytes);
    } catch (const FramingError&) {
      return false;  // handle() logs it
    }
    return message.netlink.pid == d.sender_nl_pid && !message.header.is_fragment() &&
           message.payload_type() == PayloadType::response &&
           detail::read_result_layout(message.body, id, result);
  }

  // A synchronous call by the caller receiving for everybody, which it became on entry (one
  // socket, no spinning, no serving threads). While it leads, nobody else reads the socket, so
  // its own reply can only come to it: the call is not registered, and its reply is taken
  // straight from the receive (own_result). Whatever else arrives meanwhile (a request, a
  // reply for a follower, an error, a fragment) turns it into a registered call handled as
  // usual from there. Half the work of the general path: no record, no map entry, one lock
  // round on each side of the exchange.
  json call_leading(const Channel& channel, std::string_view method, const Params& params,
                    std::int64_t id, Clock::time_point started, Clock::time_point deadline) {
    // Whatever throws (a send, a receive, an allocation) gives the lead up on the way out.
    struct Lead {
      Impl* impl;
      ~Lead() {
        if (impl == nullptr) return;
        std::lock_guard lock(impl->mu);
        impl->end_lead_locked();
      }
    } lead{this};
    {
      SendText buffer;
      const std::span<const std::string_view> text = request_text(buffer, method, params, id);
      send_message(channel.endpoint_, channel.target_, PayloadType::request, text, true,
                   buffer.headroom());
    }
    std::unique_ptr<std::uint8_t[]> own;
    const std::span<std::uint8_t> buffer = caller_buffer(own);
    std::optional<Incoming> incoming = caller_receive_directly(buffer, deadline, started);
    if (!incoming) throw timeout_error(channel.target_, method);
    if (json result; own_result(*incoming, channel, id, result)) return result;
    std::shared_ptr<Pending> call = fresh_pending();
    address_call(*call, channel, method, Ids(id));
    {
      std::lock_guard lock(mu);
      add_pending_locked(id, call);
      lead.impl = nullptr;
      end_lead_locked(&*incoming);
    }
    handle_after_lead(*incoming);
    wait(call, deadline);
    return finish_call(std::move(call));
  }

  // Handles a datagram received while leading, once the lead is given up (under `mu` by the
  // caller, which counted it in landing_after_lead then if it is a fragment with more to come).
  // It may land the fragments behind it (Incoming::exclusive) while another caller leads: such
  // a caller must be registered, as it could be handed its reply here (see call()).
  void handle_after_lead(Incoming& incoming) {
    const bool lands = more_fragments_follow(incoming.datagram.bytes);
    incoming.exclusive = true;
    struct Landed {
      Impl* impl;
      bool lands;
      ~Landed() {
        if (!lands) return;
        std::lock_guard lock(impl->mu);
        --impl->landing_after_lead;
      }
    } landed{this, lands};
    handle(incoming);
  }

  json call(const Channel& channel, std::string_view method, const Params& params) {
    const std::int64_t id = next_id++;
    const auto timeout = channel.options_.timeout.value_or(options.timeout);
    const auto started = call_start(timeout);
    const auto deadline = started + timeout;
    if (leader_receives_directly()) {
      std::unique_lock lock(mu);
      if (!pool_running && !leader_busy && landing_after_lead == 0) {
        leader_busy = true;
        leader_call = nullptr;  // its call completes nowhere else (see call_leading)
        lock.unlock();
        return call_leading(channel, method, params, id, started, deadline);
      }
    }
    std::shared_ptr<Pending> call;
    {
      std::shared_ptr<Pending> record = fresh_pending();
      SendText buffer;
      const std::span<const std::string_view> text = request_text(buffer, method, params, id);
      call = begin_call(channel, method, Ids(id), text, buffer.headroom(), std::move(record));
    }
    wait(call, deadline, started);
    return finish_call(std::move(call));
  }

  // A synchronous call's outcome, once waited for.
  json finish_call(std::shared_ptr<Pending> call) {
    if (!call->error && call->response && !call->response->is_error()) {
      json result = std::move(std::get<0>(call->response->outcome));
      if (call.use_count() == 1) {
        if (std::shared_ptr<Pending>* const spare = spare_pending()) *spare = std::move(call);
      }
      return result;
    }
    CallOutcome outcome = outcome_of(*call);
    if (outcome.value.index() == 1) std::rethrow_exception(std::get<1>(outcome.value));
    return std::move(std::get<0>(outcome.value));
  }

  // `awaited`: the caller gets a future, which it may wait for right away.
  void call_async(const Channel& channel, std::string_view method, const json& params,
                  std::function<void(CallOutcome)> done, bool awaited = false) {
    // Whoever may wait for this call's outcome must not keep its reply queued behind itself:
    // a future's holder, or a request's handler (which may wait for its callback's effect).
    hand_back_socket(!awaited);
    const std::int64_t id = next_id++;
    SendText buffer;
    const std::span<const std::string_view> text = request_text(buffer, method, params, id);
    const auto deadline = deadline_for(channel);
    auto call = std::make_shared<Pending>();
    address_call(*call, channel, method, Ids(id));
    call->callback = std::move(done);
    call->async_deadline = deadline;
    bool earliest, serving;
    {
      std::lock_guard lock(mu);
      add_pending_locked(id, call);
      earliest = async_deadlines.empty() || deadline < async_deadlines.front().first;
      push_async_deadline_locked(deadline, id);
      serving = pool_running;
    }
    // Someone has to receive the reply while the caller is away: serve in the background.
    // Only after the call is registered, so a pool that is just stopping fails it rather than
    // leaving it without a receiver.
    if (!serving) start(options.workers, false, true);
    if (earliest) {
      const std::uint64_t one = 1;
      (void)::write(kick_fd->get(), &one, sizeof one);  // the leader must re-arm its timeout
    }
    try {
      send_message(channel.endpoint_, channel.target_, PayloadType::request, text, true,
                   buffer.headroom());
    } catch (...) {
      std::unique_lock lock(mu);
      if (!call->done) {
        call->error = std::current_exception();
        complete_locked(call, lock);
      }
    }
  }

  PeerOptions options;
  std::vector<NetlinkSocket> endpoints;
  std::unique_ptr<UniqueFd> epoll_fd, wake_fd, kick_fd;
  std::unique_ptr<UniqueFd> stop_fd;  // written by stop(), for run_server_forever
  // Wakes a caller that receives for everybody (no serving threads) from its ppoll when its
  // own call was completed by another caller handling the reply outside the lead (with more
  // than one socket or spinning; else it waits in recvmsg, see wake_leader_locked).
  std::unique_ptr<UniqueFd> leader_wake_fd;
  // Per endpoint: kArmed, kWaiting, or since when (ticks) its drainer has had its current
  // datagram.
  std::unique_ptr<std::atomic<std::int64_t>[]> drain_state;
  std::unique_ptr<std::atomic<std::uint32_t>[]> quiet_reads;  // see burst_behind
  // Whether each socket is in the epoll set. Every datagram that arrives on a socket in a set
  // costs the sender's kernel a look at the set (~40 ns), armed or not; so a socket is added
  // when first armed and taken out while a drainer waits on it alone (wait_on_drained).
  std::unique_ptr<std::atomic<bool>[]> in_epoll;
  std::atomic<int> watchers{0};  // 1 while a thread waiting in epoll_wait watches drainers
  std::atomic<bool> watcher_kicked{false};  // a kick is written and not yet read
  std::atomic<std::int64_t> waiter_took{0};  // when (ticks) a waiting drainer last took one
  std::atomic<bool> stopping{false};
  std::atomic<Clock::rep> stop_requested{0};  // when stop() was last called (Clock ticks)
  bool stop_answerer = false;  // a leaving thread answers for the peer (answer_while_stopping)
  std::atomic<std::int64_t> next_id{1};
  std::atomic<std::uint32_t> next_seq{1};
  std::atomic<std::size_t> rotation{0};
  // Low-latency mode: the thread that spins, and since when (steady clock ticks) it has been
  // running a handler instead (0: it is receiving).
  std::atomic<std::thread::id> spinner_id{};
  std::atomic<Clock::rep> spinner_busy_since{0};
  std::mutex park_mutex;
  std::condition_variable park_cv;

  // Hashed, not ordered: a lookup per request is the one use on the hot path. Listings sort.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept {
      return std::hash<std::string_view>{}(name);
    }
  };
  mutable std::shared_mutex methods_mutex;
  // Changes, under methods_mutex (unique), with every change of `methods` or `policy`: a
  // value drawn from a process-wide counter, so no two states of any two peers share one.
  std::atomic<std::uint64_t> methods_generation{next_methods_generation()};
  static std::uint64_t next_methods_generation() {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
  }
  void methods_changed_locked() {
    methods_generation.store(next_methods_generation(), std::memory_order_release);
  }
  // A serving thread's last looked-up method (the one it runs most often, as a rule): a
  // request for it then needs neither methods_mutex nor a shared_ptr copy, each two atomic
  // operations. Valid while `generation` is the peer's; only when the peer's policy allows
  // everybody. It lives on worker_main's stack (t_method_cache), so the handler it holds is not
  // kept past the thread's serving.
  struct MethodCache {
    const Impl* peer = nullptr;
    std::uint64_t generation = 0;
    std::string name;
    std::shared_ptr<const Method> method;
    std::uint64_t fills = 0;  // how often it was filled: a request lends and takes back its fill
  };
  static inline thread_local MethodCache* t_method_cache = nullptr;
  static inline thread_local const Impl* t_running_for = nullptr;  // see ThreadTurn
  std::unordered_map<std::string, std::shared_ptr<const Method>, NameHash, std::equal_to<>> methods;

  // The registered methods by name, sorted; under methods_mutex.
  std::vector<std::pair<std::string_view, const Method*>> sorted_methods_locked() const {
    std::vector<std::pair<std::string_view, const Method*>> sorted;
    sorted.reserve(methods.size());
    for (const auto& [name, method] : methods) sorted.emplace_back(name, method.get());
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return sorted;
  }
  AccessPolicy policy;

  std::mutex mu;
  bool leader_busy = false;
  // Callers that gave the lead up and are handling a fragment with more behind it, which they
  // may receive themselves (handle_after_lead): while there are any, calls do not lead
  // unregistered (call_leading).
  std::size_t landing_after_lead = 0;
  const Pending* leader_call = nullptr;  // the call of the caller in caller_receive
  // The receive timeout set on endpoint 0 for the caller receiving directly (0: not set).
  std::chrono::microseconds leader_timeout{0};
  std::list<Waiter*> followers;
  bool pool_running = false;
  std::size_t pool_threads = 0;
  std::size_t idle_threads = 0;
  // Mirrors of pool_threads, idle_threads and async_deadlines.size(), written under `mu`, read
  // without it by a drainer's streak (drain_streak); streak_waiting: 1 while it waits.
  std::atomic<std::size_t> pool_threads_count{0};
  std::atomic<std::size_t> idle_threads_count{0};
  std::atomic<std::size_t> async_deadlines_count{0};
  std::atomic<std::size_t> streak_waiting{0};
  std::vector<std::thread> threads;
  std::vector<std::thread::id> retired;  // threads that left early, to be joined
  std::condition_variable stopped_cv;
  std::unordered_map<std::int64_t, std::shared_ptr<Pending>> pending;
  static constexpr std::size_t kSparePendingNodes = 1024;
  std::vector<std::unordered_map<std::int64_t, std::shared_ptr<Pending>>::node_type>
      spare_pending_nodes;
  // Deadlines of asynchronous calls with their ids, a min-heap (std::greater). A call answered
  // in time leaves its entry behind, to be skipped when it comes up: no search per reply.
  std::vector<std::pair<Clock::time_point, std::int64_t>> async_deadlines;

  std::mutex reassembly_mutex;
  std::mutex congestion_mutex;
  // Receivers (endpoint << 32 | nl_pid) that stopped reading, and until when.
  std::unordered_map<std::uint64_t, Clock::time_point> congested;
  // congested.size(), read without the lock: a reply needs the lock only when some receiver
  // is congested. (Relaxed: a reply racing a new mark may wait once more, as it could anyway.)
  std::atomic<std::size_t> congested_count{0};
  FragmentReassembler reassembler;
  std::size_t unlogged_evictions = 0;   // under reassembly_mutex
  Clock::time_point last_eviction_log;  // under reassembly_mutex
  detail::ReassemblyReaper reaper{reassembly_mutex, reassembler};  // after what it uses
  detail::ThreadShare thread_share{options.max_workers_per_uid != 0
                                       ? options.max_workers_per_uid
                                       : std::max<std::size_t>(1, options.max_workers * 3 / 4)};
  std::atomic<std::int64_t> last_busy_log{0};  // ticks
  // Its threads are idle whenever no batch is being served: every batch waits for its helpers.
  BatchHelpers batch_helpers;
};

// ---- RPCPeer ----

RPCPeer::RPCPeer(PeerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  register_described("rpc.ping", [](const json&, const CallContext&) { return json(true); }, {},
                     detail::describe_method<bool>({}));
  register_raw("rpc.identity", [this](const json&, const CallContext&) {
    return json{{"name", impl_->options.name}, {"nl_pid", nl_pid()},
                {"pid", static_cast<long>(::getpid())}, {"uid", static_cast<long>(::getuid())}};
  });
  register_described("rpc.stats", [this](const json&, const CallContext&) { return impl_->stats(); },
                     {}, detail::describe_method<json>({}));
  // An OpenRPC document (https://spec.open-rpc.org), so OpenRPC tools work on a peer.
  register_described(
      "rpc.discover",
      [this](const json&, const CallContext&) {
        json methods = json::array();
        std::shared_lock lock(impl_->methods_mutex);
        for (const auto& [name, method] : impl_->sorted_methods_locked()) {
          json entry = method->description;
          entry["name"] = name;
          methods.push_back(std::move(entry));
        }
        const std::string& title = impl_->options.name;
        return json{{"openrpc", "1.2.6"},
                    {"info", {{"title", title.empty() ? "procslink peer" : title},
                              {"version", std::string(kVersion)}}},
                    {"methods", std::move(methods)}};
      },
      {}, detail::describe_method<json>({}));
}

RPCPeer::~RPCPeer() {
  stop();
  impl_->join_all();
  // Asynchronous calls still waiting would otherwise vanish with their callbacks (a future
  // would only report a broken promise): give each its outcome now that no thread receives.
  std::unique_lock lock(impl_->mu);
  std::vector<std::shared_ptr<Impl::Pending>> outstanding;
  for (const auto& [id, call] : impl_->pending) {
    if (std::find(outstanding.begin(), outstanding.end(), call) == outstanding.end()) {
      outstanding.push_back(call);
    }
  }
  for (const auto& call : outstanding) {
    call->error = std::make_exception_ptr(TransportError(
        TransportError::Kind::other, "the calling peer was destroyed before the reply from nl_pid " +
                                         std::to_string(call->target) + " to '" + call->method +
                                         "' arrived"));
    impl_->complete_locked(call, lock);
  }
}

std::uint32_t RPCPeer::nl_pid() const { return impl_->endpoints.front().nl_pid(); }

int RPCPeer::socket_fd() const { return impl_->endpoints.front().fd(); }

std::uint32_t RPCPeer::nl_pid(const std::string& netns) const {
  for (const auto& socket : impl_->endpoints) {
    if (socket.netns() == netns) return socket.nl_pid();
  }
  throw TransportError(TransportError::Kind::other,
                       "this peer has no socket in network namespace '" + netns + "'");
}

const std::string& RPCPeer::name() const { return impl_->options.name; }

void RPCPeer::register_raw(std::string name, RawHandler handler,
                           std::vector<std::string> param_names) {
  json description = detail::describe_raw_method(param_names);
  register_described(std::move(name), std::move(handler), std::move(param_names),
                     std::move(description));
}

void RPCPeer::register_described(std::string name, RawHandler handler,
                                 std::vector<std::string> param_names, json description) {
  std::unique_lock lock(impl_->methods_mutex);
  std::optional<AccessPolicy> policy;
  if (auto it = impl_->methods.find(name); it != impl_->methods.end()) policy = it->second->policy;
  impl_->methods[std::move(name)] = std::make_shared<const Impl::Method>(Impl::Method{
      std::move(handler), std::move(param_names), std::move(policy), std::move(description)});
  impl_->methods_changed_locked();
}

void RPCPeer::unregister(const std::string& name) {
  std::unique_lock lock(impl_->methods_mutex);
  impl_->methods.erase(name);
  impl_->methods_changed_locked();
}

std::vector<std::string> RPCPeer::method_names() const {
  std::shared_lock lock(impl_->methods_mutex);
  std::vector<std::string> names;
  for (const auto& [name, method] : impl_->sorted_methods_locked()) names.emplace_back(name);
  return names;
}

void RPCPeer::set_policy(AccessPolicy policy) {
  std::unique_lock lock(impl_->methods_mutex);
  impl_->policy = std::move(policy);
  impl_->methods_changed_locked();
}

void RPCPeer::set_method_policy(const std::string& method, AccessPolicy policy) {
  std::unique_lock lock(impl_->methods_mutex);
  auto it = impl_->methods.find(method);
  if (it == impl_->methods.end()) {
    throw std::invalid_argument("set_method_policy: no method '" + method + "' is registered");
  }
  Impl::Method copy = *it->second;
  copy.policy = std::move(policy);
  it->second = std::make_shared<const Impl::Method>(std::move(copy));
  impl_->methods_changed_locked();
}

void RPCPeer::run_server_forever() {
  impl_->start(impl_->options.workers, false);
  // This thread only waits: for stop(), then for the handlers still running (stop_grace).
  pollfd stop{impl_->stop_fd->get(), POLLIN, 0};
  while (::poll(&stop, 1, -1) < 0 && errno == EINTR) {
  }
  impl_->drain(impl_->stop_fd->get());
  std::unique_lock lock(impl_->mu);
  const auto until = impl_->stop_deadline() + std::chrono::milliseconds(100);
  if (!impl_->stopped_cv.wait_until(lock, until, [&] { return !impl_->pool_running; })) {
    return;  // a handler outlasts the grace period: its thread ends with it (~RPCPeer joins)
  }
  lock.unlock();
  impl_->join_all();
}

void RPCPeer::give_back(json&& value) {
  std::string* largest = nullptr;
  auto consider = [&](json& v) {
    if (v.is_string() && v.get_ref<std::string&>().size() >= detail::kAdoptMin &&
        (!largest || v.get_ref<std::string&>().size() > largest->size())) {
      largest = &v.get_ref<std::string&>();
    }
  };
  consider(value);
  if (value.is_array() || value.is_object()) {
    for (json& element : value) consider(element);
  }
  if (largest) {
    std::lock_guard lock(impl_->reassembly_mutex);
    impl_->reassembler.recycle(std::move(*largest));
  }
  detail::release(value);
}

void RPCPeer::start() { impl_->start(impl_->options.workers, false); }

void RPCPeer::stop() noexcept {
  impl_->stop_requested.store(Clock::now().time_since_epoch().count());
  impl_->stopping.store(true);
  const std::uint64_t one = 1;
  (void)::write(impl_->wake_fd->get(), &one, sizeof one);
  (void)::write(impl_->stop_fd->get(), &one, sizeof one);
  impl_->wake_waiting_drainer();
}

bool RPCPeer::serving() const {
  std::lock_guard lock(impl_->mu);
  return impl_->pool_running;
}

Channel RPCPeer::talk_to(std::uint32_t nl_pid) { return Channel(this, nl_pid, 0); }

Channel RPCPeer::talk_to(std::uint32_t nl_pid, const std::string& netns) {
  for (std::size_t i = 0; i < impl_->endpoints.size(); ++i) {
    if (impl_->endpoints[i].netns() == netns) return Channel(this, nl_pid, i);
  }
  throw TransportError(TransportError::Kind::other,
                       "this peer has no socket in network namespace '" + netns +
                           "' (open it with PeerOptions::extra_netns)");
}

Channel RPCPeer::talk_to(std::string_view service_name) {
  Channel channel(this, port_id_for_name(service_name), 0);
  json identity;
  try {
    identity = channel.call("rpc.identity");
  } catch (const RemoteError& e) {
    // A service whose policy refuses this caller refuses rpc.identity too; that refusal is the
    // answer the caller needs, not a suspicion of squatting.
    if (e.code() == error_code::access_denied) throw;
    identity = nullptr;
  } catch (const TransportError& e) {
    if (e.kind() != TransportError::Kind::no_peer) throw;
    throw TransportError(TransportError::Kind::no_peer,
                         "no peer serves the name '" + std::string(service_name) + "' (nl_pid " +
                             std::to_string(channel.target()) + ") in this network namespace");
  }
  const json* name = identity.is_object() ? &identity["name"] : nullptr;
  if (name == nullptr || !name->is_string() || *name != service_name) {
    throw TransportError(
        TransportError::Kind::wrong_peer,
        "nl_pid " + std::to_string(channel.target()) + " (the port for name '" +
            std::string(service_name) + "') answers as " +
            (name && name->is_string() && !name->get<std::string>().empty()
                 ? "'" + name->get<std::string>() + "'"
                 : std::string("an unnamed peer")) +
            ": a hash collision or a squatter, not the service asked for");
  }
  return channel;
}

// ---- Channel ----

json Channel::call_with(std::string_view method, const json& params) const {
  return peer_->impl_->call(*this, method, {&params, {}});
}

json Channel::call_positional(std::string_view method,
                              std::span<const detail::ParamArg> args) const {
  return peer_->impl_->call(*this, method, {nullptr, args});
}

void Channel::notify_with(std::string_view method, const json& params) const {
  SendText buffer;
  const std::span<const std::string_view> text =
      RPCPeer::Impl::request_text(buffer, method, params, std::nullopt);
  peer_->impl_->send_message(endpoint_, target_, PayloadType::request, text, true,
                             buffer.headroom());
}

void Channel::notify_positional(std::string_view method,
                                std::span<const detail::ParamArg> args) const {
  SendText buffer;
  const std::span<const std::string_view> text =
      RPCPeer::Impl::request_text(buffer, method, {nullptr, args}, std::nullopt);
  peer_->impl_->send_message(endpoint_, target_, PayloadType::request, text, true,
                             buffer.headroom());
}

std::future<json> Channel::async_call_with(std::string_view method, const json& params) const {
  auto promise = std::make_shared<std::promise<json>>();
  auto future = promise->get_future();
  // A future is there to be waited on, maybe by the thread draining the socket its reply comes to.
  peer_->impl_->call_async(
      *this, method, params,
      [promise](CallOutcome outcome) {
        if (outcome.value.index() == 1) promise->set_exception(std::get<1>(outcome.value));
        else promise->set_value(std::move(std::get<0>(outcome.value)));
      },
      true);
  return future;
}

void detail::throw_result_type_error(std::string_view method, const json& result,
                                     const char* why) {
  constexpr std::size_t kShown = 200;
  std::string text = to_text(result);
  if (text.size() > kShown) text = text.substr(0, kShown) + "... (" + std::to_string(text.size()) + " bytes)";
  std::string what = "result of '" + std::string(method) +
                     "' does not convert to the requested type (" + why + "): " + text;
  throw ResultTypeError(std::string(method), std::move(text), what);
}

void Channel::async_call_with(std::string_view method, const json& params,
                              std::function<void(CallOutcome)> done) const {
  peer_->impl_->call_async(*this, method, params, std::move(done));
}

std::vector<CallOutcome> Channel::call_batch(
    const std::vector<std::pair<std::string, json>>& calls) const {
  if (calls.empty()) throw std::invalid_argument("call_batch: a batch needs at least one call");
  RPCPeer::Impl& impl = *peer_->impl_;
  std::vector<std::int64_t> ids;
  json array = json::array();
  for (const auto& [method, params] : calls) {
    const std::int64_t id = impl.next_id++;
    ids.push_back(id);
    JsonRpcRequest request{method, std::nullopt, id};
    if (!params.is_null()) request.params = params;
    array.push_back(request.to_json());
  }
  const auto deadline = impl.deadline_for(*this);
  const std::string text = to_text(array);
  const std::string_view whole[1] = {text};
  auto call = impl.begin_call(*this, "batch", RPCPeer::Impl::Ids(ids), whole);
  impl.wait(call, deadline);
  if (call->error) std::rethrow_exception(call->error);
  // A batch of one is answered like a single call.
  if (call->response) call->responses.push_back(std::move(*call->response));
  std::vector<CallOutcome> outcomes;
  for (auto id : ids) {
    auto it = std::find_if(call->responses.begin(), call->responses.end(),
                           [id](const JsonRpcResponse& r) { return r.id == id; });
    if (it == call->responses.end()) {
      outcomes.push_back(failed_outcome(std::make_exception_ptr(TransportError(
          TransportError::Kind::malformed_reply,
          "the batch reply has no response for id " + std::to_string(id)))));
    } else if (it->is_error()) {
      outcomes.push_back(failed_outcome(std::make_exception_ptr(RemoteError(it->error()))));
    } else {
      outcomes.push_back({it->result()});
    }
  }
  return outcomes;
}

Channel Channel::with_timeout(std::chrono::milliseconds timeout) const {
  Channel copy = *this;
  copy.options_.timeout = timeout;
  return copy;
}

Channel Channel::requiring_uid(uid_t uid) const {
  Channel copy = *this;
  copy.options_.require_uid = uid;
  return copy;
}

}  // namespace procslink
