// thread_share.hpp - how many serving threads each uid's requests occupy at once (internal).
//
// Any process in the network namespace can send a peer requests that take long (or many
// notifications of one): without a limit one uid could occupy every serving thread, and nobody
// else would be answered. A uid may run at most `share` handlers at a time; the peer refuses
// requests beyond it (-32004 Server busy) while other uids' requests still run. The uid is the
// kernel's word on the sender, so opening more sockets does not widen the share.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

namespace procslink::detail {

class ThreadShare {
 public:
  explicit ThreadShare(std::size_t share) : share_(share) {}

  // One handler of `uid` running, for as long as it lives; empty when refused.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(ThreadShare* owner, uid_t uid) : owner_(owner), uid_(uid) {}
    Ticket(Ticket&& other) noexcept : owner_(other.owner_), uid_(other.uid_) {
      other.owner_ = nullptr;
    }
    Ticket& operator=(Ticket&& other) noexcept {
      std::swap(owner_, other.owner_);
      std::swap(uid_, other.uid_);
      return *this;  // what this held is released by `other`
    }
    ~Ticket() {
      if (owner_ != nullptr) owner_->release(uid_);
    }
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    ThreadShare* owner_ = nullptr;
    uid_t uid_ = 0;
  };

  // Counts a handler for `uid` unless it already runs `share` of them.
  Ticket take(uid_t uid) {
    std::lock_guard lock(mutex_);
    auto it = find(uid);
    if (it == running_.end()) {
      running_.emplace_back(uid, 0);  // no allocation once the vector has grown
      it = std::prev(running_.end());
    }
    if (it->second >= share_) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return {};
    }
    ++it->second;
    return {this, uid};
  }

  std::size_t share() const { return share_; }
  std::size_t refused() const { return refused_.load(std::memory_order_relaxed); }
  // Handlers running now, and how many uids they run for.
  std::pair<std::size_t, std::size_t> running() const {
    std::lock_guard lock(mutex_);
    std::size_t total = 0;
    for (const auto& [uid, n] : running_) total += n;
    return {total, running_.size()};
  }

 private:
  using Running = std::vector<std::pair<uid_t, std::size_t>>;

  Running::iterator find(uid_t uid) {
    auto it = running_.begin();
    while (it != running_.end() && it->first != uid) ++it;
    return it;
  }
  void release(uid_t uid) {
    std::lock_guard lock(mutex_);
    const auto it = find(uid);
    if (--it->second != 0) return;
    *it = running_.back();
    running_.pop_back();
  }

  const std::size_t share_;
  mutable std::mutex mutex_;
  Running running_;  // the uids with handlers running, and how many each (a few, mostly)
  std::atomic<std::size_t> refused_{0};
};

}  // namespace procslink::detail
