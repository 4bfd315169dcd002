// lost_events.hpp - the events a subscriber's sink knows it lost but has not yet counted with
// an event, kept by number, so that each loss counts with the first event numbered after it
// that runs, whatever order the events came in, and one counted lost that comes after all
// (overtaken by a later one) is taken back.
#pragma once

#include <cstdint>
#include <deque>

namespace procslink::detail {

class LostEvents {
 public:
  // Event numbers are modulo 2^32 (procslinkhdr.seq); a number is before another when it is
  // less than 2^31 behind it.
  static bool before(std::uint32_t a, std::uint32_t b) { return a != b && b - a < (1u << 31); }

  // Events `first`..`last` (in number order, `last` not before `first`) were lost.
  void add(std::uint32_t first, std::uint32_t last);
  // An event without a number (0: sent in fragments) was lost.
  void add_unnumbered() {
    ++unnumbered_;
    ++count_;
  }
  // Takes the losses numbered before `seq`, and those without a number, out: the event `seq`
  // counts them. Unnumbered (0), it takes every loss.
  std::uint64_t take_before(std::uint32_t seq);
  // Event `seq`, counted lost, came after all: true when it was here, and is taken out.
  bool take_back(std::uint32_t seq);
  std::uint64_t count() const { return count_; }

  // Ranges kept apart at most: room for a loss between each two events of a full queue
  // (EventSinks::kMaxQueued), twice over. Beyond, the oldest two are merged into one that
  // counts the same losses but no longer knows which numbers between them were lost (those
  // count with the first event after the merged range), so that a publisher numbering its
  // events erratically cannot grow a subscriber's memory.
  static constexpr std::size_t kMaxRanges = 2048;

 private:
  struct Range {
    std::uint32_t first;
    std::uint32_t last;
    std::uint64_t lost;  // last - first + 1, unless merged
    bool exact() const { return lost == std::uint64_t{last - first} + 1; }
  };
  void insert(Range range);
  void bound();

  std::deque<Range> ranges_;  // in number order, apart
  std::uint64_t unnumbered_ = 0;
  std::uint64_t count_ = 0;  // all of them
};

}  // namespace procslink::detail
