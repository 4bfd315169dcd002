// message_sender.hpp - frames a message's body and sends it to a peer, in one datagram or in
// fragments, each gathered straight from the body's parts. Owns the sequence numbers.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <string_view>

#include "clock.hpp"
#include "endpoints.hpp"
#include "outgoing_text.hpp"
#include "procslink/message.hpp"

namespace procslink::detail {

class MessageSender {
 public:
  MessageSender(const Endpoints& endpoints, std::size_t max_message_size,
                std::size_t fragment_size)
      : endpoints_(endpoints), max_message_size_(max_message_size), fragment_size_(fragment_size) {}

  // Sends a message given as consecutive parts from socket `endpoint` to `dest`. `headroom`, if
  // not null: kDatagramHeadersSize bytes right before body[0] that the headers may be written
  // to (OutgoingText::headroom). `wait`: block while the receiver's buffer is full (up to the
  // socket's send timeout). Throws TransportError (too_large past max_message_size).
  void send(std::size_t endpoint, std::uint32_t dest, PayloadType type,
            std::span<const std::string_view> body, bool wait = true,
            std::uint8_t* headroom = nullptr) {
    const std::size_t size = total_size(body);
    if (size > max_message_size_) throw_too_large(size);
    const NetlinkSocket& socket = endpoints_[endpoint];
    const DatagramFields fields{socket.nl_pid(), type, next_seq_++, realtime_ns(), 0, 0};
    if (kDatagramHeadersSize + size > kReferenceMaxDatagram || body.size() != 1) {
      send_fragments(socket, dest, fields, body, wait);
    } else if (headroom != nullptr && headroom + kDatagramHeadersSize ==
                                          reinterpret_cast<const std::uint8_t*>(body[0].data())) {
      encode_datagram_headers(fields, size, headroom);
      const iovec whole{headroom, kDatagramHeadersSize + size};
      socket.send(dest, std::span<const iovec>(&whole, 1), wait);
    } else {
      std::uint8_t headers[kDatagramHeadersSize];
      encode_datagram_headers(fields, size, headers);
      const iovec parts[2] = {{headers, sizeof headers}, {const_cast<char*>(body[0].data()), size}};
      socket.send(dest, parts, wait);
    }
  }

  // Sends a message as written into `body`. One with an unchecked string goes out in
  // fragments, each slice of the string checked just before its fragment is sent; should the
  // string need escapes that take the message past max_message_size, the fragments sent by
  // then stay incomplete at the receiver (which drops them after its reassembly timeout) and
  // this throws TransportError(too_large).
  void send(std::size_t endpoint, std::uint32_t dest, PayloadType type, OutgoingText& body,
            bool wait = true) {
    if (!body.has_unchecked()) {
      send(endpoint, dest, type, body.parts(), wait, body.headroom());
      return;
    }
    const std::size_t size = body.size();
    if (size > max_message_size_) throw_too_large(size);
    const NetlinkSocket& socket = endpoints_[endpoint];
    TextStream stream = body.stream();
    send_streamed(socket, dest, {socket.nl_pid(), type, next_seq_++, realtime_ns(), 0, 0}, stream,
                  wait);
  }
  // An event to one subscriber: a message that fits one datagram carries `seq` (the
  // subscription's event counter) in procslinkhdr.seq; a larger one is fragmented as usual,
  // under the sender's message counter (fragments are reassembled by it). Never waits.
  void send_event(std::size_t endpoint, std::uint32_t dest, std::string_view body,
                  std::uint32_t seq) {
    if (kDatagramHeadersSize + body.size() > kReferenceMaxDatagram) {
      send(endpoint, dest, PayloadType::request, std::span<const std::string_view>(&body, 1), false);
      return;
    }
    const NetlinkSocket& socket = endpoints_[endpoint];
    const DatagramFields fields{socket.nl_pid(), PayloadType::request, seq, realtime_ns(), 0, 0};
    std::uint8_t headers[kDatagramHeadersSize];
    encode_datagram_headers(fields, body.size(), headers);
    const iovec parts[2] = {{headers, sizeof headers},
                            {const_cast<char*>(body.data()), body.size()}};
    socket.send(dest, parts, false);
  }

  std::size_t max_message_size() const { return max_message_size_; }

 private:
  [[noreturn]] void throw_too_large(std::size_t size) const;
  // A message that takes more than one datagram (or comes in several parts).
  void send_fragments(const NetlinkSocket& socket, std::uint32_t dest, const DatagramFields& fields,
                      std::span<const std::string_view> body, bool wait) const;

  static constexpr std::size_t kMaxFragments = 65536;  // indexes are 16 bits (PROTOCOL.md)
  void send_streamed(const NetlinkSocket& socket, std::uint32_t dest, DatagramFields fields,
                     TextStream& body, bool wait) const;

  const Endpoints& endpoints_;
  const std::size_t max_message_size_;
  const std::size_t fragment_size_;
  std::atomic<std::uint32_t> next_seq_{1};
};

}  // namespace procslink::detail
