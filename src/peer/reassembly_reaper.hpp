// reassembly_reaper.hpp - the thread that drops expired incomplete messages on time (internal).
//
// A fragmented message whose sender stops half way must not hold its memory until that sender,
// or anyone, sends again. While a peer has incomplete messages, this thread sleeps until the
// oldest one expires, drops what has expired, and hands freed memory back to the system
// (malloc_trim: freed heap pages would otherwise stay with the allocator, counted in the RSS),
// and gives the pages of a large buffer kept for the next message back lazily once it idles.
// It starts with the first fragment a peer receives and ends with the peer.
#pragma once

#include <malloc.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "procslink/log.hpp"
#include "procslink/message.hpp"
#include "../reassembly_hooks.hpp"

namespace procslink::detail {

class ReassemblyReaper {
 public:
  // `mutex` guards `reassembler`, here and wherever else it is used.
  ReassemblyReaper(std::mutex& mutex, FragmentReassembler& reassembler)
      : mutex_(mutex), reassembler_(reassembler) {}
  ReassemblyReaper(const ReassemblyReaper&) = delete;
  ReassemblyReaper& operator=(const ReassemblyReaper&) = delete;
  ~ReassemblyReaper() {
    {
      std::lock_guard lock(mutex_);
      quit_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  // After a fragment was added, with `mutex` held: makes sure the thread runs and waits for the
  // oldest message's expiry. A newer message expires later, so a waiting thread is left alone.
  // It also trims the heap (on its own thread) once dropped messages have freed enough: under
  // a flood of messages that are dropped to make room, freed memory would otherwise pile up
  // in the allocator's per-thread arenas.
  void poke_locked() {
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    bool wake = !armed_;
    armed_ = true;
    const std::size_t released = reassembler_.released_bytes();
    if (released - trimmed_at_ >= kTrimAfter) {
      trimmed_at_ = released;
      trim_ = wake = true;
    }
    if (wake) cv_.notify_one();
  }

 private:
  // Below this much freed, trimming the heap is not worth its system calls.
  static constexpr std::size_t kTrimAbove = 1u << 20;
  // How much dropped messages free between trims while messages keep coming.
  static constexpr std::size_t kTrimAfter = 8u << 20;
  // How long the buffer kept for the next large message stays as it is while none comes.
  static constexpr std::chrono::seconds kSpareIdle{1};

  void run() {
    std::unique_lock lock(mutex_);
    while (!quit_) {
      if (trim_) {
        trim_ = false;
        lock.unlock();
        (void)malloc_trim(0);
        lock.lock();
        continue;
      }
      const auto next = reassembler_.next_expiry();
      if (!next && reassembler_.released_bytes() != trimmed_at_) {
        trimmed_at_ = reassembler_.released_bytes();
        trim_ = true;  // nothing is left incomplete: all that was freed goes back now
        continue;
      }
      if (!next) {
        armed_ = false;
        // A large buffer kept for the next message is given back once no message came for
        // kSpareIdle (giving it back at once would fault in every page of the next one).
        if (!cv_.wait_for(lock, kSpareIdle, [this] { return quit_ || armed_ || trim_; })) {
          ReassemblyHooks::release_spare(reassembler_);
          cv_.wait(lock, [this] { return quit_ || armed_ || trim_; });
        }
        continue;
      }
      armed_ = true;
      if (!cv_.wait_until(lock, *next, [this] { return quit_ || trim_; })) reap(lock);
    }
  }

  void reap(std::unique_lock<std::mutex>& lock) {
    const std::size_t held = reassembler_.pending_bytes();
    const std::size_t dropped = reassembler_.expire();
    const std::size_t freed = held - reassembler_.pending_bytes();
    if (dropped == 0 && freed < kTrimAbove) return;
    lock.unlock();
    if (dropped != 0) {
      log(LogLevel::warning, "dropped ", dropped, " incomplete fragmented message(s) (", freed,
          " bytes): not completed within the reassembly timeout");
    }
    lock.lock();
    if (freed >= kTrimAbove) {
      trimmed_at_ = reassembler_.released_bytes();
      trim_ = true;
    }
  }

  std::mutex& mutex_;
  FragmentReassembler& reassembler_;
  std::condition_variable cv_;
  bool armed_ = false;  // the thread waits for an expiry, or is about to look for one
  bool quit_ = false;
  bool trim_ = false;            // trim the heap next
  std::size_t trimmed_at_ = 0;   // released_bytes() at the last trim
  std::thread thread_;
};

}  // namespace procslink::detail
