#include "procslink/netlink.hpp"

#include <string>

#include "procslink/byteorder.hpp"
#include "procslink/error.hpp"

namespace procslink {

using namespace detail;

void NetlinkMessageHeader::encode(std::uint8_t* out) const {
  store_be32(out, length);
  store_be16(out + 4, type);
  store_be16(out + 6, flags);
  store_be32(out + 8, seq);
  store_be32(out + 12, pid);
}

NetlinkMessageHeader NetlinkMessageHeader::decode(ByteView bytes) {
  if (bytes.size() < kNetlinkHeaderSize) {
    throw FramingError("datagram of " + std::to_string(bytes.size()) +
                       " bytes is shorter than the 16-byte nlmsghdr");
  }
  const std::uint8_t* p = bytes.data();
  return {load_be32(p), load_be16(p + 4), load_be16(p + 6), load_be32(p + 8), load_be32(p + 12)};
}

NetlinkMessage NetlinkMessage::parse(ByteView datagram) {
  NetlinkMessage message{NetlinkMessageHeader::decode(datagram), {}};
  const std::size_t available = datagram.size() - kNetlinkHeaderSize;
  if (message.header.length != available) {
    throw FramingError("nlmsg_len says " + std::to_string(message.header.length) +
                       " bytes follow the nlmsghdr but the datagram has " +
                       std::to_string(available));
  }
  message.payload = datagram.subspan(kNetlinkHeaderSize);
  return message;
}

}  // namespace procslink
