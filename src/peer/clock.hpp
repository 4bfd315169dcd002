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

// What is left until `deadline`, as a wait's timeout (zero once it has passed).
inline timespec timeout_until(Clock::time_point deadline) {
  const auto left = std::max(Clock::duration::zero(), deadline - Clock::now());
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

}  // namespace procslink::detail
