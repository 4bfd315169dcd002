#include "procslink/netlink.hpp"

#include <string>

#include "procslink/byteorder.hpp"
#include "procslink/error.hpp"

namespace procslink {

using namespace detail;

NetlinkMessageHeader NetlinkMessageHeader::decode(ByteView bytes) {
  if (bytes.size() < kNetlinkHeaderSize) throw_short_netlink_header(bytes.size());
  return decode_unchecked(bytes.data());
}

void detail::throw_short_netlink_header(std::size_t size) {
  throw FramingError("datagram of " + std::to_string(size) +
                     " bytes is shorter than the 16-byte nlmsghdr");
}

void detail::throw_netlink_length_mismatch(std::uint32_t claimed, std::size_t available) {
  throw FramingError("nlmsg_len says " + std::to_string(claimed) +
                     " bytes follow the nlmsghdr but the datagram has " +
                     std::to_string(available));
}

}  // namespace procslink
