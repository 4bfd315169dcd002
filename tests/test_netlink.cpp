// The netlink message layer: the 16-byte big-endian nlmsghdr and strict length checks.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

#include "procslink/error.hpp"
#include "procslink/netlink.hpp"

namespace procslink {
namespace {

NetlinkMessageHeader sample_header() {
  NetlinkMessageHeader h;
  h.length = 0x01020304u;
  h.type = 0x0506u;
  h.flags = 0x0708u;
  h.seq = 0x090a0b0cu;
  h.pid = 0x0d0e0f10u;
  return h;
}

// A datagram whose nlmsg_len claims `claimed` bytes follow and which really carries `actual`.
std::vector<std::uint8_t> datagram_with(std::uint32_t claimed, std::size_t actual) {
  NetlinkMessageHeader h;
  h.length = claimed;
  h.pid = 4242;
  std::vector<std::uint8_t> bytes(kNetlinkHeaderSize + actual, 0xab);
  h.encode(bytes.data());
  return bytes;
}

TEST(NetlinkMessageHeader, EncodeDecodeRoundTrip) {
  const NetlinkMessageHeader h = sample_header();
  std::array<std::uint8_t, kNetlinkHeaderSize> bytes{};
  h.encode(bytes.data());
  EXPECT_EQ(NetlinkMessageHeader::decode(bytes), h);
}

TEST(NetlinkMessageHeader, RoundTripsExtremeValues) {
  NetlinkMessageHeader h;
  h.length = 0xffffffffu;
  h.type = 0xffffu;
  h.flags = 0;
  h.seq = 0x80000000u;
  h.pid = 0xffffffffu;
  std::array<std::uint8_t, kNetlinkHeaderSize> bytes{};
  h.encode(bytes.data());
  EXPECT_EQ(NetlinkMessageHeader::decode(bytes), h);
}

TEST(NetlinkMessageHeader, EncodesEveryFieldBigEndianAtItsOffset) {
  std::array<std::uint8_t, kNetlinkHeaderSize> bytes{};
  sample_header().encode(bytes.data());
  // len @0, type @4, flags @6, seq @8, pid @12, each most significant byte first.
  const std::array<std::uint8_t, kNetlinkHeaderSize> expected = {
      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
      0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};
  EXPECT_EQ(bytes, expected);
}

TEST(NetlinkMessageHeader, DecodesBigEndianBytes) {
  const std::array<std::uint8_t, kNetlinkHeaderSize> bytes = {
      0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x92};
  const NetlinkMessageHeader h = NetlinkMessageHeader::decode(bytes);
  EXPECT_EQ(h.length, 0x60u);
  EXPECT_EQ(h.type, 0u);
  EXPECT_EQ(h.flags, 0u);
  EXPECT_EQ(h.seq, 0u);
  EXPECT_EQ(h.pid, 4242u);
}

TEST(NetlinkMessageHeader, DecodeReadsOnlyTheFirstSixteenBytes) {
  std::vector<std::uint8_t> bytes(kNetlinkHeaderSize + 8, 0xff);
  sample_header().encode(bytes.data());
  EXPECT_EQ(NetlinkMessageHeader::decode(bytes), sample_header());
}

TEST(NetlinkMessageHeader, RejectsFewerThanSixteenBytes) {
  for (std::size_t n = 0; n < kNetlinkHeaderSize; ++n) {
    SCOPED_TRACE(n);
    const std::vector<std::uint8_t> bytes(n, 0);
    EXPECT_THROW(NetlinkMessageHeader::decode(bytes), FramingError);
  }
}

TEST(NetlinkMessage, ParsesHeaderAndPayloadInPlace) {
  std::vector<std::uint8_t> bytes = datagram_with(5, 5);
  for (std::size_t i = 0; i < 5; ++i) bytes[kNetlinkHeaderSize + i] = static_cast<std::uint8_t>('a' + i);
  const NetlinkMessage m = NetlinkMessage::parse(bytes);
  EXPECT_EQ(m.header.length, 5u);
  EXPECT_EQ(m.header.pid, 4242u);
  ASSERT_EQ(m.payload.size(), 5u);
  EXPECT_EQ(m.payload.data(), bytes.data() + kNetlinkHeaderSize);  // a view, not a copy
  EXPECT_EQ(m.payload[0], 'a');
  EXPECT_EQ(m.payload[4], 'e');
}

TEST(NetlinkMessage, AcceptsEmptyPayload) {
  const auto bytes = datagram_with(0, 0);
  const NetlinkMessage m = NetlinkMessage::parse(bytes);
  EXPECT_TRUE(m.payload.empty());
}

TEST(NetlinkMessage, RejectsDatagramShorterThanHeader) {
  const std::vector<std::uint8_t> bytes(kNetlinkHeaderSize - 1, 0);
  EXPECT_THROW(NetlinkMessage::parse(bytes), FramingError);
  EXPECT_THROW(NetlinkMessage::parse(ByteView{}), FramingError);
}

TEST(NetlinkMessage, RejectsLengthLongerThanDatagram) {
  EXPECT_THROW(NetlinkMessage::parse(datagram_with(11, 10)), FramingError);
  EXPECT_THROW(NetlinkMessage::parse(datagram_with(0xffffffffu, 10)), FramingError);
}

TEST(NetlinkMessage, RejectsLengthShorterThanDatagram) {
  EXPECT_THROW(NetlinkMessage::parse(datagram_with(9, 10)), FramingError);
  EXPECT_THROW(NetlinkMessage::parse(datagram_with(0, 1)), FramingError);
}

// The kernel convention counts the header in nlmsg_len; the reference does not, so a length
// that includes the header must be treated as a lie rather than silently accepted.
TEST(NetlinkMessage, RejectsKernelStyleLengthThatCountsTheHeader) {
  EXPECT_THROW(NetlinkMessage::parse(datagram_with(kNetlinkHeaderSize + 10, 10)), FramingError);
}

TEST(NetlinkMessage, ErrorMessageNamesBothLengths) {
  try {
    NetlinkMessage::parse(datagram_with(20, 10));
    FAIL() << "expected FramingError";
  } catch (const FramingError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("20"), std::string::npos) << what;
    EXPECT_NE(what.find("10"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace procslink
