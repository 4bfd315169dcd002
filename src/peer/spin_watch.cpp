// spin_watch.cpp - the spin watch's thread, started, retired and joined.
#include "spin_watch.hpp"

#include <pthread.h>
#include <sched.h>

#include <system_error>
#include <utility>

namespace procslink::detail {

SpinWatch::SpinWatch(std::chrono::microseconds period, std::function<bool()> needs_help,
                     std::function<void()> wake)
    : period_(period), needs_help_(std::move(needs_help)), wake_(std::move(wake)) {}

bool SpinWatch::ensure_running() {
  std::thread retired;
  bool running = true;
  {
    std::lock_guard lock(mutex_);
    if (running_.joinable()) return true;
    retired = std::move(retired_);
    try {
      running_ = std::thread([this, round = round_] { run(round); });
    } catch (const std::system_error&) {
      running = false;
    }
  }
  if (retired.joinable()) retired.join();
  return running;
}

void SpinWatch::retire() {
  std::thread retired;
  {
    std::lock_guard lock(mutex_);
    ++round_;
    // Only ensure_running() starts a watch, and it first takes the retired one: at most one
    // is ever retired. The join below is for safety, and never waits.
    retired = std::exchange(retired_, std::move(running_));
  }
  cv_.notify_all();
  if (retired.joinable()) retired.join();
}

void SpinWatch::join() {
  std::thread running, retired;
  {
    std::lock_guard lock(mutex_);
    ++round_;
    running = std::move(running_);
    retired = std::move(retired_);
  }
  cv_.notify_all();
  if (running.joinable()) running.join();
  if (retired.joinable()) retired.join();
}

void SpinWatch::run(std::uint64_t round) {
  // Any thread may lower its own priority; without it, the looks still work, preempting.
  const sched_param lowest{};
  (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &lowest);
  std::unique_lock lock(mutex_);
  while (round_ == round) {
    cv_.wait_for(lock, period_);
    if (round_ != round) break;
    lock.unlock();
    if (needs_help_()) wake_();
    lock.lock();
  }
}

}  // namespace procslink::detail
