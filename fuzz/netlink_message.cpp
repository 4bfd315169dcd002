// Fuzz target: the netlink message (nlmsghdr framing), NetlinkMessage::parse.
//
// Any byte string either parses or throws FramingError, and what parses is exactly what the
// header says: re-encoding the header gives back the input's first 16 bytes, and the payload
// is the rest of the datagram, in place.
#include <cstring>

#include "fuzz_support.hpp"
#include "procslink/error.hpp"
#include "procslink/netlink.hpp"

using namespace procslink;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView datagram(data, size);
  NetlinkMessage message;
  try {
    message = NetlinkMessage::parse(datagram);
  } catch (const FramingError&) {
    // Only two reasons are allowed: too short for the header, or a length that lies.
    if (size >= kNetlinkHeaderSize) {
      FUZZ_CHECK(NetlinkMessageHeader::decode(datagram).length != size - kNetlinkHeaderSize);
    }
    return 0;
  }
  FUZZ_CHECK(size >= kNetlinkHeaderSize);
  FUZZ_CHECK(message.header.length == size - kNetlinkHeaderSize);
  FUZZ_CHECK(message.payload.data() == data + kNetlinkHeaderSize);
  FUZZ_CHECK(message.payload.size() == size - kNetlinkHeaderSize);

  std::uint8_t encoded[kNetlinkHeaderSize];
  message.header.encode(encoded);
  FUZZ_CHECK(std::memcmp(encoded, data, kNetlinkHeaderSize) == 0);
  FUZZ_CHECK(NetlinkMessageHeader::decode(ByteView(encoded, sizeof encoded)) == message.header);
  return 0;
}
