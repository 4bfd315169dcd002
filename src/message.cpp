#include "procslink/message.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "bulk_memory.hpp"
#include "procslink/byteorder.hpp"
#include "procslink/error.hpp"

namespace procslink {

using namespace detail;

void detail::throw_short_procslink_header(std::size_t size) {
  throw FramingError("netlink payload of " + std::to_string(size) +
                     " bytes is shorter than the 24-byte procslinkhdr");
}

void detail::throw_invalid_procslink_header(const ProcslinkHeader& h, std::size_t available) {
  if (h.version != kProcslinkVersion) {
    throw FramingError("unsupported procslink version " + std::to_string(h.version));
  }
  if (h.payload_type != static_cast<std::uint16_t>(PayloadType::request) &&
      h.payload_type != static_cast<std::uint16_t>(PayloadType::response)) {
    throw FramingError("unknown payload type " + std::to_string(h.payload_type));
  }
  if ((h.flag & ~kKnownFlags) != 0) {
    throw FramingError("unknown flag bits " + std::to_string(h.flag & ~kKnownFlags));
  }
  if ((h.flag & kFlagLastFragment) != 0 && (h.flag & kFlagFragment) == 0) {
    throw FramingError("last-fragment flag without fragment flag");
  }
  throw FramingError("procslinkhdr length says " + std::to_string(h.length) +
                     " body bytes but the datagram carries " + std::to_string(available));
}

ProcslinkMessage ProcslinkMessage::parse(ByteView headers, std::string_view body) {
  if (headers.size() != kDatagramHeadersSize) {
    throw FramingError("expected " + std::to_string(kDatagramHeadersSize) + " header bytes, got " +
                       std::to_string(headers.size()));
  }
  ProcslinkMessage message{NetlinkMessageHeader::decode(headers),
                           ProcslinkHeader::decode(headers.subspan(kNetlinkHeaderSize)), body};
  if (message.netlink.length != kProcslinkHeaderSize + body.size()) {
    throw_netlink_length_mismatch(message.netlink.length, kProcslinkHeaderSize + body.size());
  }
  validate_header(message.header, body.size());
  return message;
}

std::vector<std::uint8_t> build_datagram(const DatagramFields& fields, std::string_view body) {
  std::vector<std::uint8_t> out(kDatagramHeadersSize + body.size());
  encode_datagram_headers(fields, body.size(), out.data());
  body.copy(reinterpret_cast<char*>(out.data() + kDatagramHeadersSize), body.size());
  return out;
}

void for_each_datagram(DatagramFields fields, std::string_view body, std::size_t max_datagram,
                       std::size_t fragment_body,
                       const std::function<void(const DatagramFields&, std::string_view)>& emit) {
  const std::string_view whole[1] = {body};
  for_each_datagram(fields, whole, max_datagram, fragment_body,
                    [&](const DatagramFields& f, std::span<const std::string_view> chunk) {
                      emit(f, chunk.empty() ? std::string_view() : chunk.front());
                    });
}

void for_each_datagram(
    DatagramFields fields, std::span<const std::string_view> body, std::size_t max_datagram,
    std::size_t fragment_body,
    const std::function<void(const DatagramFields&, std::span<const std::string_view>)>& emit) {
  std::size_t size = 0;
  for (const std::string_view part : body) size += part.size();
  if (kDatagramHeadersSize + size <= max_datagram) {
    fields.flag = 0;
    fields.reserved = 0;
    emit(fields, body);
    return;
  }
  if (fragment_body == 0) throw FramingError("fragment size must be positive");
  const std::size_t count = (size + fragment_body - 1) / fragment_body;
  if (count > 65536) {
    throw FramingError("message of " + std::to_string(size) +
                       " bytes needs more than 65536 fragments");
  }
  fields.message_length =
      size <= std::numeric_limits<std::uint32_t>::max() ? static_cast<std::uint32_t>(size) : 0;
  std::vector<std::string_view> chunk;
  std::size_t part = 0, offset = 0;  // where the next fragment starts
  for (std::size_t i = 0; i < count; ++i) {
    chunk.clear();
    for (std::size_t want = fragment_body; want > 0 && part < body.size();) {
      const std::string_view rest = body[part].substr(offset);
      const std::size_t take = std::min(want, rest.size());
      if (take > 0) chunk.push_back(rest.substr(0, take));
      want -= take;
      offset += take;
      if (offset == body[part].size()) {
        ++part;
        offset = 0;
      }
    }
    fields.flag = kFlagFragment | (i + 1 == count ? kFlagLastFragment : 0);
    fields.reserved = static_cast<std::uint16_t>(i);
    emit(fields, chunk);
  }
}

}  // namespace procslink
