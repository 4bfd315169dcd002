// caller_lead.cpp - the lead caller's receives and hand-overs.
#include "caller_lead.hpp"

#include <algorithm>

#include "procslink/message.hpp"

namespace procslink::detail {

std::optional<Incoming> CallerLead::receive(std::span<std::uint8_t> buffer,
                                            Clock::time_point deadline, Clock::time_point now) {
  if (receives_directly()) return receive_directly(buffer, deadline, now);
  if (options_.spin.count() > 0) {
    const auto until = std::min(deadline, Clock::now() + options_.spin);
    do {
      if (auto incoming = endpoints_.receive_any(buffer)) return incoming;
    } while (Clock::now() < until);
  }
  return endpoints_.poll(buffer, deadline, wake_fd_.fd());
}

void CallerLead::wake() const {
  if (receives_directly()) {
    endpoints_.wake(0);
  } else {
    wake_fd_.signal();
  }
}

void CallerLead::clear_receive_timeout_locked() {
  if (busy_ || timeout_.count() == 0) return;
  timeout_ = std::chrono::microseconds(0);
  endpoints_[0].set_receive_timeout(timeout_);
}

}  // namespace procslink::detail
