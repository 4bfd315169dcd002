#include "procslink/transport.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <thread>

#include "procslink/discovery.hpp"
#include "procslink/log.hpp"
#include "socket_receive.hpp"

namespace procslink {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

timeval to_timeval(std::chrono::microseconds timeout) {
  const auto us = std::max<std::int64_t>(timeout.count(), 0);
  return timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
}

[[noreturn]] void fail(TransportError::Kind kind, const std::string& what) {
  throw TransportError(kind, what);
}

void set_buffer(int fd, int force_option, int option, int bytes) {
  // The *FORCE variants pass rmem_max/wmem_max but need CAP_NET_ADMIN; fall back quietly.
  if (setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
  }
}

int open_bound_socket(const SocketOptions& options, std::uint32_t& bound) {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_USERSOCK);
  if (fd < 0) {
    const int err = errno;
    fail(err == EACCES || err == EPERM ? TransportError::Kind::permission_denied
                                       : TransportError::Kind::other,
         "cannot open a NETLINK_USERSOCK socket: " + errno_text(err));
  }
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, options.receive_buffer);
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, options.send_buffer);
  const int on = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  const timeval send_timeout = to_timeval(options.send_timeout);
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_pid = options.nl_pid;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EADDRINUSE) {
      std::string holder = describe_port_holder(options.nl_pid);
      fail(TransportError::Kind::address_in_use,
           "nl_pid " + std::to_string(options.nl_pid) + " is already bound in " +
               (options.netns.empty() ? std::string("this network namespace") : options.netns) +
               (holder.empty() ? std::string() : " by " + holder));
    }
    fail(err == EPERM || err == EACCES ? TransportError::Kind::permission_denied
                                       : TransportError::Kind::other,
         "cannot bind nl_pid " + std::to_string(options.nl_pid) + ": " + errno_text(err));
  }
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    fail(TransportError::Kind::other, "getsockname on netlink socket: " + errno_text(err));
  }
  bound = addr.nl_pid;
  return fd;
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define PROCSLINK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer) || \
    __has_feature(memory_sanitizer)
#define PROCSLINK_SANITIZED 1
#endif
#endif

// sendmsg and recvmsg without libc's wrappers. Those are cancellation points: in a process with
// more than one thread each call flips the thread's cancellation state with two atomic
// exchanges, four per request a server answers. (So pthread_cancel does not act inside them;
// nothing here uses it.) Under the sanitizers the wrappers stay: they see the buffers a
// receive fills, and what a send publishes to its receiver, only through them.
ssize_t send_message(int fd, const msghdr* msg, int flags) {
#ifdef PROCSLINK_SANITIZED
  return ::sendmsg(fd, msg, flags);
#else
  return static_cast<ssize_t>(::syscall(SYS_sendmsg, fd, msg, flags));
#endif
}
ssize_t receive_message(int fd, msghdr* msg, int flags) {
#ifdef PROCSLINK_SANITIZED
  return ::recvmsg(fd, msg, flags);
#else
  return static_cast<ssize_t>(::syscall(SYS_recvmsg, fd, msg, flags));
#endif
}

}  // namespace

NetlinkSocket::NetlinkSocket(const SocketOptions& options) : netns_(options.netns) {
  if (options.netns.empty()) {
    fd_ = open_bound_socket(options, nl_pid_);
  } else {
    // A socket keeps the network namespace it was created in, so creating it inside is enough.
    run_in_network_namespace(options.netns, [&] { fd_ = open_bound_socket(options, nl_pid_); });
  }
}

NetlinkSocket::~NetlinkSocket() { close_fd(); }

NetlinkSocket::NetlinkSocket(NetlinkSocket&& other) noexcept
    : fd_(other.fd_), nl_pid_(other.nl_pid_), netns_(std::move(other.netns_)) {
  other.fd_ = -1;
}

NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&& other) noexcept {
  if (this != &other) {
    close_fd();
    fd_ = other.fd_;
    nl_pid_ = other.nl_pid_;
    netns_ = std::move(other.netns_);
    other.fd_ = -1;
  }
  return *this;
}

void NetlinkSocket::close_fd() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void NetlinkSocket::send(std::uint32_t dest, std::span<const iovec> parts, bool wait) const {
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_pid = dest;
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = sizeof addr;
  msg.msg_iov = const_cast<iovec*>(parts.data());
  msg.msg_iovlen = parts.size();
  while (send_message(fd_, &msg, wait ? 0 : MSG_DONTWAIT) < 0) {
    const int err = errno;
    if (err == EINTR) continue;
    const std::string where = "nl_pid " + std::to_string(dest) +
                              (netns_.empty() ? " in this network namespace" : " in " + netns_);
    switch (err) {
      case ECONNREFUSED:
        fail(TransportError::Kind::no_peer, "no peer bound at " + where);
      case EAGAIN:
        fail(TransportError::Kind::timeout,
             "peer at " + where + (wait ? " did not drain its full receive buffer in time"
                                        : " has a full receive buffer"));
      case EMSGSIZE:
        fail(TransportError::Kind::too_large, "datagram too large for the socket buffer");
      case EPERM:
      case EACCES:
        fail(TransportError::Kind::permission_denied, "not permitted to send to " + where);
      default:
        fail(TransportError::Kind::other, "send to " + where + " failed: " + errno_text(err));
    }
  }
}

std::optional<ReceivedDatagram> NetlinkSocket::receive(std::vector<std::uint8_t>& buffer,
                                                       bool wait) const {
  if (buffer.size() < kMaxDatagramSize) buffer.resize(kMaxDatagramSize);
  return receive(std::span<std::uint8_t>(buffer), wait);
}

std::optional<ReceivedDatagram> NetlinkSocket::receive(std::span<std::uint8_t> buffer,
                                                       bool wait) const {
  iovec iov{buffer.data(), buffer.size()};
  for (;;) {
    std::optional<detail::ScatteredDatagram> got =
        detail::receive_datagram(fd_, {&iov, 1}, wait ? 0 : MSG_DONTWAIT);
    if (!got) return std::nullopt;
    if (got->length <= buffer.size()) {
      return ReceivedDatagram{got->sender_nl_pid, got->credentials, buffer.first(got->length)};
    }
    log(LogLevel::warning, "dropped a ", got->length, "-byte datagram from nl_pid ",
        got->sender_nl_pid, ": longer than the ", buffer.size(), "-byte datagram limit");
  }
}

void NetlinkSocket::set_receive_timeout(std::chrono::microseconds timeout) const {
  const timeval tv = to_timeval(timeout);
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
    fail(TransportError::Kind::other, "cannot set the receive timeout: " + errno_text(errno));
  }
}

std::optional<detail::ScatteredDatagram> detail::receive_datagram(int fd, std::span<iovec> iov,
                                                                 int flags) {
  ScatteredDatagram datagram;
  sockaddr_nl addr{};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
  msghdr msg{};
  ssize_t size;
  for (;;) {
    msg = {};
    msg.msg_name = &addr;
    msg.msg_namelen = sizeof addr;
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    // MSG_TRUNC makes the kernel return the real length, so an oversized datagram is noticed.
    size = receive_message(fd, &msg, MSG_TRUNC | flags);
    if (size >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
    if (errno == ENOBUFS) continue;  // the kernel dropped something for us; the queue is fine
    fail(TransportError::Kind::other, "receive on netlink socket failed: " + errno_text(errno));
  }
  // The buffer has room for the credentials alone (the only control message asked for), so
  // there is no next one to look for.
  if (const cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c != nullptr && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
      c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
    ucred cred;
    std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
    datagram.credentials = {cred.pid, cred.uid, cred.gid};
  }
  datagram.sender_nl_pid = addr.nl_pid;
  datagram.length = static_cast<std::size_t>(size);
  return datagram;
}

void run_in_network_namespace(const std::string& netns_path, const std::function<void()>& fn) {
  std::exception_ptr error;
  // setns affects only the calling thread; a throwaway thread keeps every other thread, and
  // the caller, where they were.
  std::thread worker([&] {
    try {
      const int nsfd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (nsfd < 0) {
        const int err = errno;
        fail(err == EACCES || err == EPERM ? TransportError::Kind::permission_denied
                                           : TransportError::Kind::other,
             "cannot open network namespace " + netns_path + ": " + errno_text(err));
      }
      const int rc = setns(nsfd, CLONE_NEWNET);
      const int err = errno;
      ::close(nsfd);
      if (rc != 0) {
        fail(err == EPERM ? TransportError::Kind::permission_denied : TransportError::Kind::other,
             "cannot enter network namespace " + netns_path + ": " + errno_text(err) +
                 (err == EPERM ? " (needs CAP_SYS_ADMIN)" : ""));
      }
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  worker.join();
  if (error) std::rethrow_exception(error);
}

std::uint32_t port_id_for_name(std::string_view name) {
  std::uint32_t hash = 2166136261u;
  for (unsigned char c : name) {
    hash ^= c;
    hash *= 16777619u;
  }
  return kNamedPortFirst | (hash & (kNamedPortLast - kNamedPortFirst));
}

Target parse_target(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("empty target: give an nl_pid or a service name");
  if (text.find_first_not_of("0123456789") != std::string_view::npos) {
    return {port_id_for_name(text), std::string(text)};
  }
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw std::invalid_argument("target " + std::string(text) +
                                " is out of range: an nl_pid is at most 4294967295");
  }
  if (value == 0) throw std::invalid_argument("target 0 is the kernel's port, not a peer");
  return {value, {}};
}

std::uint32_t resolve_target(std::string_view target) { return parse_target(target).nl_pid; }

std::string describe_port_holder(std::uint32_t nl_pid) {
  std::vector<UsersockSocket> sockets;
  try {
    sockets = usersock_sockets();
  } catch (const TransportError&) {
    return {};
  }
  for (const UsersockSocket& s : sockets) {
    if (s.nl_pid != nl_pid) continue;
    if (s.pid) return "pid " + std::to_string(*s.pid) + " (" + s.process.value_or("?") + ")";
    // A socket of a process in another PID namespace (a container's, seen from inside another)
    // is in the network namespace's table but in no /proc/PID/fd this process can read.
    return "a process this PID namespace cannot see (socket inode " + std::to_string(s.inode) + ")";
  }
  return {};
}

}  // namespace procslink
