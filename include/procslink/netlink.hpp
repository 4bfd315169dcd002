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

namespace procslink {

using ByteView = std::span<const std::uint8_t>;

inline constexpr std::size_t kNetlinkHeaderSize = 16;

struct NetlinkMessageHeader {
  std::uint32_t length = 0;  // bytes after this header
  std::uint16_t type = 0;
  std::uint16_t flags = 0;
  std::uint32_t seq = 0;
  std::uint32_t pid = 0;     // sender's port id

  void encode(std::uint8_t* out) const;  // writes kNetlinkHeaderSize bytes
  // Reads the header from the first kNetlinkHeaderSize bytes. Throws FramingError if short.
  static NetlinkMessageHeader decode(ByteView bytes);

  bool operator==(const NetlinkMessageHeader&) const = default;
};

// A netlink message viewed in place: the header and the payload it frames.
struct NetlinkMessage {
  NetlinkMessageHeader header;
  ByteView payload;  // points into the datagram it was parsed from

  // Strict: the datagram must be exactly header + header.length bytes (a length that lies
  // either way is an error, not something to guess around). Throws FramingError.
  static NetlinkMessage parse(ByteView datagram);
};

}  // namespace procslink
