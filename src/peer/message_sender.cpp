// message_sender.cpp - the sender's slow paths: fragmenting (a text in parts, or one checked as
// it goes), and refusing what is too large.
#include "message_sender.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "../json_reader.hpp"

namespace procslink::detail {

void MessageSender::throw_too_large(std::size_t size) const {
  throw TransportError(TransportError::Kind::too_large,
                       "message of " + std::to_string(size) + " bytes exceeds max_message_size " +
                           std::to_string(max_message_size_));
}

namespace {

// One datagram: its headers, then the body's pieces as they lie. `parts`: reused storage.
void send_datagram(const NetlinkSocket& socket, std::uint32_t dest, const DatagramFields& fields,
                   std::span<const std::string_view> body, bool wait, std::vector<iovec>& parts) {
  std::uint8_t headers[kDatagramHeadersSize];
  encode_datagram_headers(fields, total_size(body), headers);
  parts.assign(1, {headers, sizeof headers});
  for (const std::string_view piece : body) {
    parts.push_back({const_cast<char*>(piece.data()), piece.size()});
  }
  socket.send(dest, parts, wait);
}

}  // namespace

void MessageSender::send_fragments(const NetlinkSocket& socket, std::uint32_t dest,
                                   const DatagramFields& fields,
                                   std::span<const std::string_view> body, bool wait) const {
  try {
    std::vector<iovec> parts;
    for_each_datagram(fields, body, kReferenceMaxDatagram, fragment_size_,
                      [&](const DatagramFields& f, std::span<const std::string_view> chunk) {
                        send_datagram(socket, dest, f, chunk, wait, parts);
                      });
  } catch (const FramingError& e) {
    throw TransportError(TransportError::Kind::too_large, e.what());
  }
}

// Each fragment's slice is taken (and so checked) just before it is sent. The total length in
// nlmsg_seq is the text's as written, a hint that escapes found later make short.
//
// A message announced as kAdoptMin bytes or more has its first fragment end where its first
// unchecked string starts. A receiver keeps that fragment (the envelope) apart and lands the
// string's fragments at the front of its buffer (InboundReassembly::split_point): none of the
// string is copied there twice, and the receiver starts on it while this side checks the
// first slice.
void MessageSender::send_streamed(const NetlinkSocket& socket, std::uint32_t dest,
                                  DatagramFields fields, TextStream& body, bool wait) const {
  const std::size_t announced = body.left();
  fields.message_length = announced <= std::numeric_limits<std::uint32_t>::max()
                              ? static_cast<std::uint32_t>(announced)
                              : 0;
  std::size_t first = fragment_size_;
  if (const std::size_t lead = body.lead(); announced >= kAdoptMin && lead > 0) {
    first = std::min(first, lead);
  }
  std::vector<std::string_view> slice;
  std::vector<iovec> parts;
  for (std::size_t index = 0; !body.done(); ++index) {
    slice.clear();
    body.take(index == 0 ? first : fragment_size_, slice);
    if (body.taken() > max_message_size_ || index >= kMaxFragments) {
      throw_too_large(body.taken() + body.left());
    }
    fields.flag = kFlagFragment | (body.done() ? kFlagLastFragment : 0);
    fields.reserved = static_cast<std::uint16_t>(index);
    send_datagram(socket, dest, fields, slice, wait, parts);
  }
}

}  // namespace procslink::detail
