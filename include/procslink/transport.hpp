// transport.hpp - the socket: bind, send, receive, credentials, network namespaces, names.
//
// A thin RAII layer over one AF_NETLINK/SOCK_RAW/NETLINK_USERSOCK socket. It does not hide
// netlink: it binds a port id (autobound or chosen), sends datagrams to a port id, and reads
// whole datagrams with the sender's address and the credentials the kernel attaches
// (SO_PASSCRED). It can open the socket inside another network namespace. Errors become
// TransportError with a message that says what to check.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "procslink/error.hpp"

namespace procslink {

// The longest datagram a procslink socket reads (PROTOCOL.md): a fragment's headers and body
// must fit. A fixed bound lets every datagram be read with one recvmsg instead of a peek for
// its size and then the read.
inline constexpr std::size_t kMaxDatagramSize = 256u << 10;

// The sender as the kernel reports it. uid and gid are translated into the receiver's user
// namespace; pid is the number the sender's own PID namespace gives it (see README, "Trust").
struct Credentials {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  bool operator==(const Credentials&) const = default;
};

struct ReceivedDatagram {
  std::uint32_t sender_nl_pid = 0;  // from the kernel, not from the bytes
  Credentials credentials;
  std::span<const std::uint8_t> bytes;  // valid until the next receive into the same buffer
};

struct SocketOptions {
  std::uint32_t nl_pid = 0;  // 0: let the kernel autobind one
  std::string netns;          // empty: this thread's network namespace; else a path like
                              // /run/netns/NAME or /proc/PID/ns/net
  int receive_buffer = 4 << 20;  // bytes; forced past rmem_max when privileged
  int send_buffer = 4 << 20;
  std::chrono::milliseconds send_timeout{2000};  // how long a send waits for a full receiver
};

class NetlinkSocket {
 public:
  // Opens and binds. Throws TransportError (address_in_use names the holder when it can).
  explicit NetlinkSocket(const SocketOptions& options = {});
  ~NetlinkSocket();
  NetlinkSocket(NetlinkSocket&& other) noexcept;
  NetlinkSocket& operator=(NetlinkSocket&& other) noexcept;
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  int fd() const { return fd_; }
  std::uint32_t nl_pid() const { return nl_pid_; }
  const std::string& netns() const { return netns_; }

  // Sends one datagram gathered from `parts`. Blocks at most the send timeout while the
  // receiver's buffer is full, or not at all when `wait` is false. Throws TransportError:
  // no_peer when nobody is bound at `dest` (the kernel answers ECONNREFUSED), timeout when the
  // receiver stayed full.
  void send(std::uint32_t dest, std::span<const iovec> parts, bool wait = true) const;

  // Reads one whole datagram into `buffer` (grown to kMaxDatagramSize) with a single recvmsg.
  // A longer datagram cannot be framed by any procslink peer: it is dropped with a log line
  // and the next one is read. Returns nullopt when none is queued and `wait` is false.
  // Throws TransportError on socket errors.
  std::optional<ReceivedDatagram> receive(std::vector<std::uint8_t>& buffer, bool wait) const;
  // The same into caller-provided memory; a datagram longer than `buffer` is dropped likewise.
  std::optional<ReceivedDatagram> receive(std::span<std::uint8_t> buffer, bool wait) const;
  // How long a waiting receive blocks before it returns nullopt (SO_RCVTIMEO); zero: for
  // ever. Taken when a receive starts. Throws TransportError.
  void set_receive_timeout(std::chrono::microseconds timeout) const;

 private:
  void close_fd() noexcept;
  int fd_ = -1;
  std::uint32_t nl_pid_ = 0;
  std::string netns_;
};

// Runs `fn` with the calling thread moved into the network namespace at `netns_path`. The
// switch happens on a dedicated short-lived thread, so the caller's namespace never changes.
// Throws TransportError if the namespace cannot be entered.
void run_in_network_namespace(const std::string& netns_path, const std::function<void()>& fn);

// Service names. A name maps to a port id by FNV-1a (32-bit) of its UTF-8 bytes, folded into
// [kNamedPortFirst, kNamedPortLast]. The kernel's autobind hands out either the process id
// (at most 2^22) or numbers from 0x80000000 up, so this range never collides with it.
inline constexpr std::uint32_t kNamedPortFirst = 0x40000000u;
inline constexpr std::uint32_t kNamedPortLast = 0x7fffffffu;
std::uint32_t port_id_for_name(std::string_view name);

// A peer as a user names it (the CLI's TARGET): a decimal that fits 32 bits is a port id, any
// other text a service name. Throws std::invalid_argument for an empty string, a decimal out
// of range, and 0 (the kernel's own port, never a peer):
//   parse_target("1234")  -> {1234, ""}
//   parse_target("calc")  -> {port_id_for_name("calc"), "calc"}
struct Target {
  std::uint32_t nl_pid = 0;  // the port id given, or the name's
  std::string name;          // empty when given as a number
};
Target parse_target(std::string_view text);
// parse_target(text).nl_pid.
std::uint32_t resolve_target(std::string_view target);

// Who holds a NETLINK_USERSOCK port id in the calling thread's network namespace, e.g.
// "pid 1234 (procslink)", found through /proc/thread-self/net/netlink and /proc/*/fd; "a
// process this PID namespace cannot see (socket inode N)" when no /proc/PID/fd readable here
// holds the socket; empty when the port is not in the table.
std::string describe_port_holder(std::uint32_t nl_pid);

}  // namespace procslink
