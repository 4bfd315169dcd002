// Fuzz target: the procslink message (nlmsghdr + procslinkhdr + body), ProcslinkMessage::parse.
//
// Any byte string either parses or throws FramingError. What parses obeys the documented rules
// (version 1, payload type 1 or 2, known flags only, consistent fragment flags, exact lengths)
// and round-trips: encoding both headers and appending the body rebuilds the input byte for
// byte, and when the fields are ones a procslink sender writes, build_datagram does too.
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"
#include "procslink/error.hpp"
#include "procslink/message.hpp"

using namespace procslink;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView datagram(data, size);
  ProcslinkMessage message;
  try {
    message = ProcslinkMessage::parse(datagram);
  } catch (const FramingError&) {
    return 0;
  }
  const ProcslinkHeader& h = message.header;
  FUZZ_CHECK(size >= kDatagramHeadersSize);
  FUZZ_CHECK(message.netlink.length == size - kNetlinkHeaderSize);
  FUZZ_CHECK(h.length == size - kDatagramHeadersSize);
  FUZZ_CHECK(h.version == kProcslinkVersion);
  FUZZ_CHECK(message.payload_type() == PayloadType::request ||
             message.payload_type() == PayloadType::response);
  FUZZ_CHECK((h.flag & ~kKnownFlags) == 0);
  FUZZ_CHECK((h.flag & kFlagLastFragment) == 0 || h.is_fragment());
  FUZZ_CHECK(message.body.size() == h.length);
  FUZZ_CHECK(reinterpret_cast<const std::uint8_t*>(message.body.data()) ==
             data + kDatagramHeadersSize);

  std::vector<std::uint8_t> rebuilt(size);
  message.netlink.encode(rebuilt.data());
  h.encode(rebuilt.data() + kNetlinkHeaderSize);
  std::memcpy(rebuilt.data() + kDatagramHeadersSize, message.body.data(), message.body.size());
  FUZZ_CHECK(std::memcmp(rebuilt.data(), data, size) == 0);

  // procslink senders leave nlmsg_type and nlmsg_flags at 0, and put in nlmsg_seq the seq
  // (a whole message) or the whole body's length (a fragment).
  if (message.netlink.type == 0 && message.netlink.flags == 0 &&
      (h.is_fragment() || message.netlink.seq == h.seq)) {
    const DatagramFields fields{message.netlink.pid, message.payload_type(), h.seq,
                                h.timestamp,         h.flag,                 h.reserved,
                                message.netlink.seq};
    const std::vector<std::uint8_t> built = build_datagram(fields, message.body);
    FUZZ_CHECK(built.size() == size);
    FUZZ_CHECK(std::memcmp(built.data(), data, size) == 0);
  }
  return 0;
}
