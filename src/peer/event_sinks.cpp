// event_sinks.cpp - the subscriber's callbacks: adding, removing (saying what is left), and
// delivering an event to those of its publisher.
#include "event_sinks.hpp"

#include <vector>

#include "procslink/log.hpp"

namespace procslink::detail {

std::size_t EventSinks::count_locked(std::string_view event,
                                     const SubscriberAddress* publisher) const {
  std::size_t n = 0;
  for (const auto& [id, sink] : sinks_) {
    if (sink.event == event && (publisher == nullptr || sink.publisher == *publisher)) ++n;
  }
  return n;
}

EventSinks::Added EventSinks::add(std::string event, SubscriberAddress publisher,
                                  EventCallback callback,
                                  const std::function<void()>& on_first_for_name) {
  std::lock_guard lock(mutex_);
  const bool first = count_locked(event, nullptr) == 0;
  if (first) on_first_for_name();
  const std::uint64_t id = next_id_++;
  auto runner = std::make_shared<Runner>();
  runner->callback = std::move(callback);
  sinks_.emplace(id, Sink{std::move(event), publisher, std::move(runner)});
  return {id, first};
}

EventSinks::Removed EventSinks::remove(
    std::uint64_t id, const std::function<void(const std::string&)>& on_last_for_name) {
  std::lock_guard lock(mutex_);
  Removed removed;
  const auto it = sinks_.find(id);
  if (it == sinks_.end()) return removed;
  removed.found = true;
  removed.event = std::move(it->second.event);
  removed.publisher = it->second.publisher;
  {
    std::lock_guard runner_lock(it->second.runner->mutex);
    it->second.runner->removed = true;
    it->second.runner->queue.clear();
  }
  it->second.runner->arrived.notify_all();  // a runner holding at a gap stops holding
  sinks_.erase(it);
  removed.last_for_publisher = count_locked(removed.event, &removed.publisher) == 0;
  removed.last_for_name = count_locked(removed.event, nullptr) == 0;
  if (removed.last_for_name) on_last_for_name(removed.event);
  return removed;
}

bool EventSinks::deliver(std::string_view event, SubscriberAddress publisher,
                         const json& params, std::uint32_t seq) {
  std::vector<std::shared_ptr<Runner>> runners;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, sink] : sinks_) {
      if (sink.event == event && sink.publisher == publisher) runners.push_back(sink.runner);
    }
  }
  for (const auto& runner : runners) run(*runner, params, seq);
  return !runners.empty();
}

std::uint64_t EventSinks::missed(std::uint64_t id) const {
  std::shared_ptr<Runner> runner;
  {
    std::lock_guard lock(mutex_);
    const auto it = sinks_.find(id);
    if (it == sinks_.end()) return 0;
    runner = it->second.runner;
  }
  std::lock_guard lock(runner->mutex);
  return runner->running ? runner->missed_run : runner->missed_run + runner->lost.count();
}

EventSinks::Arrival EventSinks::count_gap_locked(Runner& runner, std::uint32_t seq) {
  if (seq == 0) {
    runner.last_seq = 0;  // a fragmented event carries no number: count afresh after it
    runner.counted_from = 0;
    return Arrival::newest;
  }
  // Numbered before the first one seen since counting (re)started: no gap counted it missed.
  const bool uncounted = runner.counted_from != 0 && runner.counted_from - seq - 1 < (1u << 31);
  if (uncounted) runner.counted_from = seq;
  if (runner.last_run != 0 && seq - runner.last_run - 1 >= (1u << 31)) {
    // Late: an event numbered after it ran already, and counted it missed then (or, if it
    // came before counting started, it is counted now).
    if (uncounted) runner.lost.add(seq, seq);
    return Arrival::late;
  }
  const std::uint32_t ahead = seq - runner.last_seq;  // modulo 2^32
  if (runner.last_seq == 0 || (ahead != 0 && ahead < (1u << 31))) {
    // A number past the next one: the publisher numbered events it could not send here.
    if (runner.last_seq != 0 && ahead > 1) runner.lost.add(runner.last_seq + 1, seq - 1);
    if (runner.last_seq == 0) runner.counted_from = seq;
    runner.last_seq = seq;
    return Arrival::newest;
  }
  // Behind: overtaken by a later one that has not run yet (two serving threads, or emits
  // from two threads at once), which counted it missed, unless counting started after it.
  if (ahead != 0 && !uncounted) runner.lost.take_back(seq);
  return Arrival::behind;
}

bool EventSinks::enqueue_locked(Runner& runner, json params, std::uint32_t seq) {
  if (runner.queue.size() >= kMaxQueued) {
    if (seq == 0) {
      runner.lost.add_unnumbered();
    } else {
      runner.lost.add(seq, seq);
    }
    if (!runner.dropping) {
      runner.dropping = true;
      log(LogLevel::warning, "an event callback is ", kMaxQueued,
          " events behind its publisher: dropping events (counted missed)");
    }
    return false;
  }
  auto at = runner.queue.end();
  if (seq != 0) {
    while (at != runner.queue.begin() && std::prev(at)->seq != 0 &&
           seq - std::prev(at)->seq >= (1u << 31)) {
      --at;  // queued events numbered after this one go behind it
    }
  }
  runner.queue.insert(at, Runner::Queued{seq, std::move(params)});
  return true;
}

bool EventSinks::take_next_locked(Runner& runner, std::unique_lock<std::mutex>& lock,
                                  json& params) {
  const auto next_is_due = [&] {
    if (runner.removed || runner.queue.empty()) return true;
    const std::uint32_t seq = runner.queue.front().seq;
    const std::uint32_t ahead = seq - runner.last_run;
    return seq == 0 || runner.last_run == 0 || ahead <= 1 || ahead >= (1u << 31);
  };
  if (!next_is_due()) runner.arrived.wait_for(lock, kGapHold, next_is_due);
  if (runner.removed || runner.queue.empty()) {
    runner.dropping = false;
    return false;
  }
  auto& next = runner.queue.front();
  if (next.seq == 0 || runner.last_run == 0 || next.seq - runner.last_run < (1u << 31)) {
    runner.last_run = next.seq;
  }
  params = std::move(next.params);
  runner.missed_run += runner.lost.take_before(next.seq);  // before it, and not run
  runner.queue.pop_front();
  return true;
}

void EventSinks::run(Runner& runner, json params, std::uint32_t seq) {
  std::unique_lock lock(runner.mutex);
  if (runner.removed) return;
  const Arrival arrival = count_gap_locked(runner, seq);
  if (arrival == Arrival::late) return;
  if (!enqueue_locked(runner, std::move(params), seq)) return;
  runner.arrived.notify_all();
  if (runner.running) return;  // the running thread takes it
  runner.running = true;
  while (take_next_locked(runner, lock, params)) {
    lock.unlock();
    try {
      runner.callback(params);
    } catch (const std::exception& e) {
      log(LogLevel::warning, "an event callback threw: ", e.what());
    } catch (...) {
      log(LogLevel::warning, "an event callback threw a non-standard exception");
    }
    lock.lock();
  }
  runner.running = false;
}

}  // namespace procslink::detail
