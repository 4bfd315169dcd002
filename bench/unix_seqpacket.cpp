// unix_seqpacket.cpp - the other kernel limit: raw netlink's datagrams over AF_UNIX.
//
// A connected pair of SOCK_SEQPACKET sockets carrying exactly the datagrams raw netlink carries
// (procslink's request and reply sizes), one send and one recv per datagram, buffers made once.
// What a user who needs no namespaces or netlink addressing would write for message passing.
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "echo_peers.hpp"

namespace procslink::bench {
namespace {

void send_datagram(int fd, const std::vector<std::uint8_t>& datagram) {
  while (::send(fd, datagram.data(), datagram.size(), 0) < 0) {
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "send");
  }
}

std::size_t receive_datagram(int fd, std::vector<std::uint8_t>& buffer) {
  for (;;) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) throw std::runtime_error("AF_UNIX peer closed the connection");
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "recv");
  }
}

}  // namespace

EchoPeer unix_seqpacket_peer(const EchoWork& work) {
  EchoPeer peer;
  peer.name = "AF_UNIX seqpacket";
  peer.description =
      "a connected SOCK_SEQPACKET socket pair carrying raw netlink's datagrams (the same "
      "sizes), one send and one recv each, buffers made once";
  peer.link = [] { return Link::socket_pair(SOCK_SEQPACKET); };
  peer.serve = [reply_size = work.reply_size](const Link& link, int out_fd) {
    const std::vector<std::uint8_t> reply(reply_size, 'r');
    std::vector<std::uint8_t> buffer(1 << 16);
    announce_nl_pid(out_fd, 0);
    for (;;) {
      receive_datagram(link.server_fd(), buffer);
      send_datagram(link.server_fd(), reply);
    }
  };
  peer.round_trips = [work](const Link& link, const Gate& gate, std::size_t warmup,
                            std::size_t count) {
    const std::vector<std::uint8_t> request(work.request_size, 'q');
    std::vector<std::uint8_t> buffer(1 << 16);
    gate.wait_open();
    return time_round_trips(warmup, count, Clock::duration::max(), [&] {
      send_datagram(link.client_fd(), request);
      if (receive_datagram(link.client_fd(), buffer) != work.reply_size) {
        throw std::runtime_error("AF_UNIX reply of the wrong size");
      }
    });
  };
  return peer;
}

}  // namespace procslink::bench
