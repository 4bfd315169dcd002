// message_sender.cpp - the sender's slow paths: fragmenting, and refusing what is too large.
#include "message_sender.hpp"

#include <string>
#include <vector>

namespace procslink::detail {

void MessageSender::throw_too_large(std::size_t size) const {
  throw TransportError(TransportError::Kind::too_large,
                       "message of " + std::to_string(size) + " bytes exceeds max_message_size " +
                           std::to_string(max_message_size_));
}

void MessageSender::send_fragments(const NetlinkSocket& socket, std::uint32_t dest,
                                   const DatagramFields& fields,
                                   std::span<const std::string_view> body, bool wait) const {
  try {
    std::vector<iovec> parts;
    for_each_datagram(fields, body, kReferenceMaxDatagram, fragment_size_,
                      [&](const DatagramFields& f, std::span<const std::string_view> chunk) {
                        std::uint8_t headers[kDatagramHeadersSize];
                        encode_datagram_headers(f, total_size(chunk), headers);
                        parts.assign(1, {headers, sizeof headers});
                        for (const std::string_view piece : chunk) {
                          parts.push_back({const_cast<char*>(piece.data()), piece.size()});
                        }
                        socket.send(dest, parts, wait);
                      });
  } catch (const FramingError& e) {
    throw TransportError(TransportError::Kind::too_large, e.what());
  }
}

}  // namespace procslink::detail
