// file_descriptors.hpp - the peer's own file descriptors besides its sockets: an owning
// handle, and eventfds used to wake a thread that sleeps in epoll_wait, ppoll or poll.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "procslink/error.hpp"

namespace procslink::detail {

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// A non-blocking eventfd. signal() and clear() are async-signal-safe.
class EventFd {
 public:
  EventFd() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_.get() < 0) {
      throw TransportError(TransportError::Kind::other,
                           std::string("cannot create an eventfd: ") + std::strerror(errno));
    }
  }
  int fd() const { return fd_.get(); }
  // Makes the descriptor readable (until clear()).
  void signal() const noexcept {
    const std::uint64_t one = 1;
    (void)::write(fd_.get(), &one, sizeof one);
  }
  // Reads every signal there is, so the descriptor is no longer readable.
  void clear() const noexcept {
    std::uint64_t value;
    while (::read(fd_.get(), &value, sizeof value) > 0) {
    }
  }

 private:
  UniqueFd fd_;
};

}  // namespace procslink::detail
