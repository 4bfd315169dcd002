// clock.hpp - the peer's time reads: steady-clock ticks for stamps, time points for deadlines,
// the coarse clocks where a few milliseconds of resolution are enough, timespecs for waits.
// Header-only: every function here is on the hot path.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace procslink::detail {

using Clock = std::chrono::steady_clock;

// "Read the clock yourself", where a time a caller read a moment ago may be passed on.
inline constexpr Clock::time_point kUnknownTime = Clock::time_point::min();

inline std::int64_t ticks_now() { return Clock::now().time_since_epoch().count(); }

// A duration in steady-clock ticks.
template <typename Rep, typename Period>
constexpr std::int64_t ticks(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<Clock::duration>(d).count();
}

// The header's send time, to the kernel's tick (a few ms): the field is informational, and the
// coarse clock costs ~4 ns where the precise one costs ~17 (in a VM), twice per round trip.
inline std::uint64_t realtime_ns() {
  timespec ts{};
  if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0) clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// The coarse monotonic clock's resolution, when it runs on the steady clock's epoch and is
// fine enough to stand in for it (zero otherwise).
inline Clock::duration coarse_resolution() {
  static const Clock::duration resolution = [] {
    timespec res{}, coarse{};
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) != 0 ||
        clock_gettime(CLOCK_MONOTONIC_COARSE, &coarse) != 0) {
      return Clock::duration::zero();
    }
    const auto step = std::chrono::seconds(res.tv_sec) + std::chrono::nanoseconds(res.tv_nsec);
    const auto now = Clock::now().time_since_epoch();
    const auto seen =
        std::chrono::seconds(coarse.tv_sec) + std::chrono::nanoseconds(coarse.tv_nsec);
    // Another epoch (steady_clock is not CLOCK_MONOTONIC here), or too coarse to matter less.
    if (now - seen > std::chrono::milliseconds(100) ||
        seen - now > std::chrono::milliseconds(100) || step > std::chrono::milliseconds(10)) {
      return Clock::duration::zero();
    }
    return std::chrono::duration_cast<Clock::duration>(step);
  }();
  return resolution;
}

// The start of a call, for its deadline. With a timeout of a second or more the coarse clock
// does (~4 ns a read against ~18 ns for the precise one in a VM): moved forward by its
// resolution (a few ms), it is never earlier than the precise time, so a deadline is never
// early, at most that much late.
inline Clock::time_point call_start(std::chrono::milliseconds timeout) {
  const Clock::duration resolution = coarse_resolution();
  timespec ts{};
  if (timeout < std::chrono::seconds(1) || resolution == Clock::duration::zero() ||
      clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0) {
    return Clock::now();
  }
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
             std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec))) +
         resolution;
}

// What is left until `deadline`, as a wait's timeout (zero once it has passed).
inline timespec timeout_until(Clock::time_point deadline) {
  const auto left = std::max(Clock::duration::zero(), deadline - Clock::now());
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

}  // namespace procslink::detail
