// caller_lead.hpp - callers that receive their own replies while no serving thread does.
//
// A synchronous call on a peer without serving threads must receive its reply itself. One
// caller at a time leads: it receives for everybody and handles what it gets (requests too);
// the others follow, waiting on their condition variables until their reply is handled for
// them or the lead passes to them. With one socket the lead caller receives on the socket
// itself (receives_directly: spinning on it in spin mode, then blocking in recvmsg); else it
// polls every socket and an eventfd.
// Its state lives under the peer's mutex (`_locked` members). Used by Caller and WorkerPool.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <iterator>
#include <list>
#include <mutex>
#include <optional>
#include <span>

#include "clock.hpp"
#include "endpoints.hpp"
#include "file_descriptors.hpp"
#include "pool_state.hpp"
#include "procslink/message.hpp"
#include "serving_receiver.hpp"

namespace procslink::detail {

class CallerLead {
 public:
  CallerLead(const PeerOptions& options, Endpoints& endpoints, ServingReceiver& receiver,
             const PoolState& pool)
      : options_(options), endpoints_(endpoints), receiver_(receiver), pool_(pool) {}

  // A caller waiting for the lead (or for its reply, handled by the lead caller).
  struct Follower {
    std::condition_variable cv;
    bool queued = false;
    std::list<Follower*>::iterator position;
  };

  // With one socket the lead caller receives on the socket itself (spinning on it first in
  // spin mode, then blocking in recvmsg): a call then costs a send and a receive, as with a
  // plain socket, where ppoll on the socket and the wake-up eventfd cost a third system call
  // (a tenth of a round trip pinned to one core). wake() wakes it through the socket instead.
  bool receives_directly() const { return endpoints_.size() == 1; }

  // Takes the lead if nobody leads and no pool serves. `unregistered`: for a call that is not
  // in the call table (Caller::call_leading), which must also find no earlier lead caller
  // still landing fragments (it could be handed the reply there).
  bool try_take_locked(bool unregistered) {
    if (pool_.running || busy_ || (unregistered && landing_after_lead_ != 0)) return false;
    busy_ = true;
    return true;
  }
  bool busy_locked() const { return busy_; }
  // Gives the lead up. `received`: the datagram it took last, to be handled next; a fragment
  // with more behind it is counted as landing until landed_locked().
  void end_locked(const Incoming* received = nullptr);
  void landed_locked() { --landing_after_lead_; }

  // The lead caller's next datagram on any socket, or nullopt at `deadline` (or when woken).
  // `now`, if known: the time, read a moment ago.
  std::optional<Incoming> receive(std::span<std::uint8_t> buffer, Clock::time_point deadline,
                                  Clock::time_point now = kUnknownTime);
  std::optional<Incoming> receive_directly(std::span<std::uint8_t> buffer,
                                           Clock::time_point deadline, Clock::time_point now);
  // Wakes the lead caller (its call was completed by another thread).
  void wake() const;

  // Waits as a follower: `until(cv, lock)` does the waiting.
  template <typename Until>
  void follow(std::unique_lock<std::mutex>& lock, Follower& me, Until until) {
    me.queued = true;
    followers_.push_back(&me);
    me.position = std::prev(followers_.end());
    until(me.cv, lock);
    if (me.queued) {
      followers_.erase(me.position);
      me.queued = false;
    }
  }
  // Passes the lead to the first follower.
  void promote_locked();
  // Wakes every follower, to look again at how to receive (a pool started or stopped).
  void wake_followers_locked() {
    for (Follower* f : followers_) f->cv.notify_one();
  }
  // The pool starts: a receive timeout the lead caller left would end a waiting drainer's
  // receive (ServingReceiver::wait_on_drained).
  void clear_receive_timeout_locked();

 private:
  const PeerOptions& options_;
  Endpoints& endpoints_;
  ServingReceiver& receiver_;
  const PoolState& pool_;
  // Wakes the lead caller from its ppoll (when it does not receive directly).
  EventFd wake_fd_;
  bool busy_ = false;
  // Callers that gave the lead up and are handling a fragment with more behind it, which they
  // may receive themselves: while there are any, calls do not lead unregistered.
  std::size_t landing_after_lead_ = 0;
  // The receive timeout set on socket 0 for the lead caller receiving directly (0: not set).
  std::chrono::microseconds timeout_{0};
  std::list<Follower*> followers_;
};

// Inline: on the hot path of a plain client's call.
inline void CallerLead::end_locked(const Incoming* received) {
  busy_ = false;
  if (pool_.running) receiver_.arm_all();  // serving threads started meanwhile: hand over
  promote_locked();
  if (received != nullptr && more_fragments_follow(received->datagram.bytes)) {
    ++landing_after_lead_;
  }
}

inline void CallerLead::promote_locked() {
  if (followers_.empty()) return;
  Follower* next = followers_.front();
  followers_.pop_front();
  next->queued = false;
  next->cv.notify_one();
}

inline std::optional<Incoming> CallerLead::receive_directly(std::span<std::uint8_t> buffer,
                                                     Clock::time_point deadline,
                                                     Clock::time_point now) {
  if (options_.spin.count() > 0) {
    // Polls the socket itself for the spin budget before blocking on it.
    const auto until = std::min(deadline, Clock::now() + options_.spin);
    do {
      if (auto d = endpoints_[0].receive(buffer, false)) return Incoming{0, *d};
    } while (Clock::now() < until);
    now = kUnknownTime;
  }
  for (;;) {
    const auto left = deadline - (now != kUnknownTime ? now : Clock::now());
    now = kUnknownTime;
    if (left <= Clock::duration::zero()) return std::nullopt;
    // SO_RCVTIMEO is set only when the one in force could outlast the deadline or is far
    // shorter than it (idle wake-ups): then to three quarters of what is left, so the next
    // calls with the same timeout find it fitting and pay no system call for it.
    const auto left_us = std::chrono::ceil<std::chrono::microseconds>(left);
    if (timeout_.count() == 0 || timeout_ > left_us || timeout_ < left_us / 2) {
      timeout_ = std::max(std::chrono::microseconds(1), left_us * 3 / 4);
      endpoints_[0].set_receive_timeout(timeout_);
    }
    if (auto d = endpoints_[0].receive(buffer, true)) return Incoming{0, *d};
  }
}

}  // namespace procslink::detail
