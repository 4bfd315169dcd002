// lost_events.cpp - the losses a sink has not yet counted with an event: adding them as
// ranges of numbers, taking out those before an event, and taking back one that came after all.
#include "lost_events.hpp"

#include <iterator>

namespace procslink::detail {
namespace {

bool at_or_before(std::uint32_t a, std::uint32_t b) { return a == b || LostEvents::before(a, b); }

}  // namespace

void LostEvents::add(std::uint32_t first, std::uint32_t last) {
  const Range range{first, last, std::uint64_t{last - first} + 1};
  count_ += range.lost;
  insert(range);
}

void LostEvents::insert(Range range) {
  auto at = ranges_.end();
  while (at != ranges_.begin() && before(range.first, std::prev(at)->first)) --at;
  if (at != ranges_.begin()) {
    Range& prev = *std::prev(at);
    if (prev.exact() && range.exact() && prev.last + 1 == range.first) {
      prev.last = range.last;  // the usual case: the losses go on where the last ones ended
      prev.lost += range.lost;
      return;
    }
  }
  ranges_.insert(at, range);
  bound();
}

void LostEvents::bound() {
  while (ranges_.size() > kMaxRanges) {
    const Range merged{ranges_[0].first, ranges_[1].last, ranges_[0].lost + ranges_[1].lost};
    ranges_.pop_front();
    ranges_.front() = merged;
  }
}

std::uint64_t LostEvents::take_before(std::uint32_t seq) {
  std::uint64_t taken = unnumbered_;
  unnumbered_ = 0;
  while (!ranges_.empty()) {
    Range& r = ranges_.front();
    if (seq != 0 && !before(r.first, seq)) break;
    if (seq == 0 || before(r.last, seq)) {
      taken += r.lost;
      ranges_.pop_front();
      continue;
    }
    if (!r.exact()) break;  // a merged range that reaches past `seq`: counts with a later one
    const std::uint64_t n = seq - r.first;
    taken += n;
    r.lost -= n;
    r.first = seq;
    break;
  }
  count_ -= taken;
  return taken;
}

bool LostEvents::take_back(std::uint32_t seq) {
  // From the newest: an overtaken event is seldom far behind the one that overtook it.
  for (auto rit = ranges_.rbegin(); rit != ranges_.rend(); ++rit) {
    const auto it = std::prev(rit.base());
    if (!at_or_before(it->first, seq) || !at_or_before(seq, it->last)) continue;
    --count_;
    if (!it->exact()) {  // merged: which numbers in it were lost is not known
      if (--it->lost == 0) ranges_.erase(it);
    } else if (it->first == it->last) {
      ranges_.erase(it);
    } else if (seq == it->first) {
      ++it->first;
      --it->lost;
    } else if (seq == it->last) {
      --it->last;
      --it->lost;
    } else {
      const Range after{seq + 1, it->last, std::uint64_t{it->last - seq}};
      it->last = seq - 1;
      it->lost = std::uint64_t{it->last - it->first} + 1;
      ranges_.insert(std::next(it), after);
      bound();
    }
    return true;
  }
  return false;
}

}  // namespace procslink::detail
