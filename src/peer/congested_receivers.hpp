// congested_receivers.hpp - receivers that stopped reading their replies, remembered for a
// while so that replies to them no longer cost a serving thread a whole send timeout each.
//
// A caller that stops reading would otherwise cost a serving thread send_timeout per reply,
// and with enough of its requests queued, every thread of the pool: nobody else would be
// answered. So once a reply to it has waited a whole send_timeout in vain, replies to it no
// longer wait for kHold; those that fit its buffer are still delivered.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "clock.hpp"

namespace procslink::detail {

class CongestedReceivers {
 public:
  static constexpr std::chrono::seconds kHold{10};
  static constexpr std::size_t kMaxRemembered = 4096;

  // Whether replies to `receiver` (sender_key) should not wait now.
  bool congested(std::uint64_t receiver) {
    if (count_.load(std::memory_order_relaxed) == 0) return false;  // the usual case
    return congested_locked_up(receiver);
  }
  // `receiver` did not read a reply for a whole send timeout.
  void mark(std::uint64_t receiver);

 private:
  bool congested_locked_up(std::uint64_t receiver);

  std::mutex mutex_;
  std::unordered_map<std::uint64_t, Clock::time_point> until_;
  // until_.size(), read without the lock: a reply needs the lock only when some receiver is
  // congested. (Relaxed: a reply racing a new mark may wait once more, as it could anyway.)
  std::atomic<std::size_t> count_{0};
};

}  // namespace procslink::detail
