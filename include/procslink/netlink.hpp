// netlink.hpp - the netlink message: nlmsghdr framing as procslink puts it on the wire.
//
// A procslink datagram starts with a 16-byte nlmsghdr. procslink follows the reference
// implementation (procslink 0.1.2 for Python), not the kernel convention: the fields are
// big-endian and nlmsg_len counts only the bytes after this header. nlmsg_pid carries the
// sender's port id, which receivers compare with the address the kernel reports.
// This layer knows nothing about what the payload holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "procslink/byteorder.hpp"

namespace procslink {

using ByteView = std::span<const std::uint8_t>;

inline constexpr std::size_t kNetlinkHeaderSize = 16;

namespace detail {
// The FramingErrors of the inline parsers below, out of line (they build a message).
[[noreturn]] void throw_short_netlink_header(std::size_t size);
[[noreturn]] void throw_netlink_length_mismatch(std::uint32_t claimed, std::size_t available);
}  // namespace detail

struct NetlinkMessageHeader {
  std::uint32_t length = 0;  // bytes after this header
  std::uint16_t type = 0;
  std::uint16_t flags = 0;
  std::uint32_t seq = 0;
  std::uint32_t pid = 0;     // sender's port id

  // Writes kNetlinkHeaderSize bytes. (Inline, as are the parsers here: every datagram sent or
  // received goes through them.)
  void encode(std::uint8_t* out) const {
    detail::store_be32(out, length);
    detail::store_be16(out + 4, type);
    detail::store_be16(out + 6, flags);
    detail::store_be32(out + 8, seq);
    detail::store_be32(out + 12, pid);
  }
  // Reads the header from the first kNetlinkHeaderSize bytes. Throws FramingError if short.
  static NetlinkMessageHeader decode(ByteView bytes);
  // The same from at least kNetlinkHeaderSize bytes at p.
  static NetlinkMessageHeader decode_unchecked(const std::uint8_t* p) {
    return {detail::load_be32(p), detail::load_be16(p + 4), detail::load_be16(p + 6),
            detail::load_be32(p + 8), detail::load_be32(p + 12)};
  }

  bool operator==(const NetlinkMessageHeader&) const = default;
};

// A netlink message viewed in place: the header and the payload it frames.
struct NetlinkMessage {
  NetlinkMessageHeader header;
  ByteView payload;  // points into the datagram it was parsed from

  // Strict: the datagram must be exactly header + header.length bytes (a length that lies
  // either way is an error, not something to guess around). Throws FramingError.
  static NetlinkMessage parse(ByteView datagram) {
    if (datagram.size() < kNetlinkHeaderSize) detail::throw_short_netlink_header(datagram.size());
    const NetlinkMessageHeader header = NetlinkMessageHeader::decode_unchecked(datagram.data());
    const std::size_t available = datagram.size() - kNetlinkHeaderSize;
    if (header.length != available) detail::throw_netlink_length_mismatch(header.length, available);
    return {header, datagram.subspan(kNetlinkHeaderSize)};
  }
};

}  // namespace procslink
