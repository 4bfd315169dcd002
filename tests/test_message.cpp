// The procslink message layer: the procslinkhdr, the reference's golden datagrams, splitting a
// body into datagrams, and reassembling fragments with bounded memory.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "procslink/error.hpp"
#include "procslink/message.hpp"
#include "procslink/jsonrpc.hpp"
#include "support/vectors.hpp"
#include "../src/reassembly_hooks.hpp"

namespace procslink {
namespace {

// The peer's own uses of a reassembler: buffer reuse and landing fragments in place.
using Hooks = detail::ReassemblyHooks;

TEST(ReferenceDatagrams, AllSixArePresent) { EXPECT_EQ(test::load_wire_vectors().size(), 6u); }

TEST(ReferenceDatagrams, DecodeAndReframeGivesIdenticalBytes) {
  for (const auto& v : test::load_wire_vectors()) {
    SCOPED_TRACE(v.name);
    const ProcslinkMessage m = ProcslinkMessage::parse(v.datagram);
    EXPECT_EQ(m.netlink.pid, v.sender_nl_pid);
    EXPECT_EQ(m.header.payload_type, v.payload_type);
    EXPECT_EQ(m.body, v.json_body);
    DatagramFields fields{m.netlink.pid, m.payload_type(), m.header.seq, m.header.timestamp,
                          m.header.flag, m.header.reserved};
    EXPECT_EQ(build_datagram(fields, m.body), v.datagram);
  }
}

TEST(ReferenceDatagrams, DecodesReferenceHelloRequest) {
  const auto vectors = test::load_wire_vectors();
  const ProcslinkMessage m = ProcslinkMessage::parse(vectors.at(0).datagram);
  const auto request = JsonRpcRequest::from_json(parse_json(m.body));
  EXPECT_EQ(request.method, "hello");
  EXPECT_EQ(request.id, json(1));
  EXPECT_EQ(request.params, json::array({"Rayson Zhu"}));
}

// ---------------------------------------------------------------------------------------------
// Golden datagrams: each decodes to exactly the message its description names.

test::WireVector vector_named(const std::string& name) {
  for (auto& v : test::load_wire_vectors()) {
    if (v.name == name) return v;
  }
  ADD_FAILURE() << "no wire vector named " << name;
  return {};
}

TEST(ReferenceDatagrams, HeadersCarryWhatTheReferenceSends) {
  for (const auto& v : test::load_wire_vectors()) {
    SCOPED_TRACE(v.name);
    const ProcslinkMessage m = ProcslinkMessage::parse(v.datagram);
    EXPECT_EQ(m.netlink.length, v.datagram.size() - kNetlinkHeaderSize);
    EXPECT_EQ(m.netlink.type, 0u);
    EXPECT_EQ(m.netlink.flags, 0u);
    EXPECT_EQ(m.netlink.seq, 0u);
    EXPECT_EQ(m.header.version, kProcslinkVersion);
    EXPECT_EQ(m.header.flag, 0u);
    EXPECT_EQ(m.header.reserved, 0u);
    EXPECT_EQ(m.header.seq, 0u);
    EXPECT_EQ(m.header.timestamp, 0u);
    EXPECT_EQ(m.header.length, v.json_body.size());
    EXPECT_FALSE(m.header.is_fragment());
  }
}

TEST(ReferenceDatagrams, DecodesReferenceHelloResponse) {
  const auto v = vector_named("hello_response");
  const ProcslinkMessage m = ProcslinkMessage::parse(v.datagram);
  EXPECT_EQ(m.payload_type(), PayloadType::response);
  EXPECT_EQ(m.netlink.pid, 1000u);
  const auto responses = parse_response_body(m.body);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].id, json(1));
  ASSERT_FALSE(responses[0].is_error());
  EXPECT_EQ(responses[0].result(), json("Hello, Rayson Zhu!"));
}

TEST(ReferenceDatagrams, DecodesReferenceNamedParamsRequest) {
  const auto v = vector_named("subtract_named_request");
  const ProcslinkMessage m = ProcslinkMessage::parse(v.datagram);
  EXPECT_EQ(m.payload_type(), PayloadType::request);
  const auto request = JsonRpcRequest::from_json(parse_json(m.body));
  EXPECT_EQ(request.method, "subtract");
  EXPECT_EQ(request.id, json(7));
  EXPECT_EQ(request.params, json({{"minuend", 42}, {"subtrahend", 23}}));
}

TEST(ReferenceDatagrams, DecodesReferenceMethodNotFoundResponse) {
  const auto v = vector_named("method_not_found_response");
  const ProcslinkMessage m = ProcslinkMessage::parse(v.datagram);
  EXPECT_EQ(m.payload_type(), PayloadType::response);
  const auto responses = parse_response_body(m.body);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].id, json(7));
  ASSERT_TRUE(responses[0].is_error());
  EXPECT_EQ(responses[0].error().code, error_code::method_not_found);
  EXPECT_EQ(responses[0].error().code, -32601);
  EXPECT_EQ(responses[0].error().message, "Method not found");
  EXPECT_FALSE(responses[0].error().data.has_value());
}

TEST(ReferenceDatagrams, DecodesReferenceNotificationWithoutId) {
  const auto v = vector_named("update_notification");
  const ProcslinkMessage m = ProcslinkMessage::parse(v.datagram);
  EXPECT_EQ(m.payload_type(), PayloadType::request);
  EXPECT_EQ(m.netlink.pid, 4242u);
  const auto request = JsonRpcRequest::from_json(parse_json(m.body));
  EXPECT_TRUE(request.is_notification());
  EXPECT_FALSE(request.id.has_value());
  EXPECT_EQ(request.method, "update");
  EXPECT_EQ(request.params, json::array({1, 2}));
}

TEST(ReferenceDatagrams, DecodesReferenceInternalErrorWithData) {
  const auto v = vector_named("internal_error_response");
  const ProcslinkMessage m = ProcslinkMessage::parse(v.datagram);
  const auto responses = parse_response_body(m.body);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].id, json(3));
  ASSERT_TRUE(responses[0].is_error());
  EXPECT_EQ(responses[0].error().code, error_code::internal_error);
  EXPECT_EQ(responses[0].error().message, "Internal error");
  EXPECT_EQ(responses[0].error().data, json("division by zero"));
}

// ---------------------------------------------------------------------------------------------
// The procslinkhdr and validation of whole datagrams.

TEST(ProcslinkHeader, EncodesEveryFieldBigEndianAtItsOffset) {
  ProcslinkHeader h;
  h.version = 0x0102;
  h.flag = 0x0304;
  h.length = 0x05060708u;
  h.payload_type = 0x090a;
  h.reserved = 0x0b0c;
  h.seq = 0x0d0e0f10u;
  h.timestamp = 0x1112131415161718ull;
  std::array<std::uint8_t, kProcslinkHeaderSize> bytes{};
  h.encode(bytes.data());
  std::array<std::uint8_t, kProcslinkHeaderSize> expected{};
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<std::uint8_t>(i + 1);
  EXPECT_EQ(bytes, expected);
  EXPECT_EQ(ProcslinkHeader::decode(bytes), h);
}

TEST(ProcslinkHeader, RejectsFewerThanTwentyFourBytes) {
  const std::vector<std::uint8_t> bytes(kProcslinkHeaderSize - 1, 0);
  EXPECT_THROW(ProcslinkHeader::decode(bytes), FramingError);
}

TEST(BuildDatagram, CountsOnlyFollowingBytesInBothLengths) {
  const DatagramFields fields{77, PayloadType::response, 5, 123456789, 0, 0};
  const auto bytes = build_datagram(fields, "hello");
  ASSERT_EQ(bytes.size(), kDatagramHeadersSize + 5);
  const ProcslinkMessage m = ProcslinkMessage::parse(bytes);
  EXPECT_EQ(m.netlink.length, kProcslinkHeaderSize + 5);
  EXPECT_EQ(m.netlink.pid, 77u);
  EXPECT_EQ(m.netlink.seq, 5u);
  EXPECT_EQ(m.header.length, 5u);
  EXPECT_EQ(m.header.seq, 5u);
  EXPECT_EQ(m.header.timestamp, 123456789u);
  EXPECT_EQ(m.payload_type(), PayloadType::response);
  EXPECT_EQ(m.body, "hello");
}

TEST(BuildDatagram, AcceptsEmptyBody) {
  const auto bytes = build_datagram({1, PayloadType::request, 0, 0, 0, 0}, "");
  const ProcslinkMessage m = ProcslinkMessage::parse(bytes);
  EXPECT_TRUE(m.body.empty());
}

// The hello request with one header field overwritten (offsets count from the datagram start).
std::vector<std::uint8_t> hello_with_be16(std::size_t offset, std::uint16_t value) {
  auto bytes = vector_named("hello_request").datagram;
  bytes.at(offset) = static_cast<std::uint8_t>(value >> 8);
  bytes.at(offset + 1) = static_cast<std::uint8_t>(value);
  return bytes;
}
constexpr std::size_t kVersionOffset = 16;
constexpr std::size_t kFlagOffset = 18;
constexpr std::size_t kLengthOffset = 20;
constexpr std::size_t kPayloadTypeOffset = 24;

TEST(ProcslinkMessage, RejectsWrongVersion) {
  EXPECT_THROW(ProcslinkMessage::parse(hello_with_be16(kVersionOffset, 0)), FramingError);
  EXPECT_THROW(ProcslinkMessage::parse(hello_with_be16(kVersionOffset, 2)), FramingError);
  EXPECT_THROW(ProcslinkMessage::parse(hello_with_be16(kVersionOffset, 0x0100)), FramingError);
}

TEST(ProcslinkMessage, RejectsUnknownPayloadType) {
  for (std::uint16_t type : {0, 3, 0x0100, 0xffff}) {
    SCOPED_TRACE(type);
    EXPECT_THROW(ProcslinkMessage::parse(hello_with_be16(kPayloadTypeOffset, type)), FramingError);
  }
  EXPECT_NO_THROW(ProcslinkMessage::parse(hello_with_be16(kPayloadTypeOffset, 2)));
}

TEST(ProcslinkMessage, RejectsBodyLengthLongerOrShorterThanDatagram) {
  const auto good = vector_named("hello_request").datagram;
  const std::size_t body = good.size() - kDatagramHeadersSize;
  auto longer = good;
  longer[kLengthOffset + 3] = static_cast<std::uint8_t>(body + 1);
  auto shorter = good;
  shorter[kLengthOffset + 3] = static_cast<std::uint8_t>(body - 1);
  auto huge = good;
  huge[kLengthOffset] = 0xff;
  EXPECT_THROW(ProcslinkMessage::parse(longer), FramingError);
  EXPECT_THROW(ProcslinkMessage::parse(shorter), FramingError);
  EXPECT_THROW(ProcslinkMessage::parse(huge), FramingError);
}

TEST(ProcslinkMessage, RejectsNetlinkLengthThatLies) {
  auto bytes = vector_named("hello_request").datagram;
  bytes[3] = static_cast<std::uint8_t>(bytes[3] + 1);
  EXPECT_THROW(ProcslinkMessage::parse(bytes), FramingError);
  auto truncated = vector_named("hello_request").datagram;
  truncated.pop_back();
  EXPECT_THROW(ProcslinkMessage::parse(truncated), FramingError);
}

TEST(ProcslinkMessage, RejectsPayloadShorterThanProcslinkHeader) {
  NetlinkMessageHeader nl;
  nl.length = kProcslinkHeaderSize - 1;
  std::vector<std::uint8_t> bytes(kNetlinkHeaderSize + nl.length, 0);
  nl.encode(bytes.data());
  EXPECT_THROW(ProcslinkMessage::parse(bytes), FramingError);
}

TEST(ProcslinkMessage, RejectsUnknownFlagBits) {
  for (std::uint16_t flag : {0x0004, 0x0008, 0x8000, 0x0005, 0xffff}) {
    SCOPED_TRACE(flag);
    EXPECT_THROW(ProcslinkMessage::parse(hello_with_be16(kFlagOffset, flag)), FramingError);
  }
}

TEST(ProcslinkMessage, RejectsLastFragmentFlagWithoutFragmentFlag) {
  EXPECT_THROW(ProcslinkMessage::parse(hello_with_be16(kFlagOffset, kFlagLastFragment)),
               FramingError);
}

TEST(ProcslinkMessage, AcceptsFragmentFlags) {
  const auto middle = ProcslinkMessage::parse(hello_with_be16(kFlagOffset, kFlagFragment));
  EXPECT_TRUE(middle.header.is_fragment());
  const auto last =
      ProcslinkMessage::parse(hello_with_be16(kFlagOffset, kFlagFragment | kFlagLastFragment));
  EXPECT_TRUE(last.header.is_fragment());
}

// ---------------------------------------------------------------------------------------------
// for_each_datagram: whole when it fits the reference's 4 KiB, fragments otherwise.

struct Emitted {
  DatagramFields fields;
  std::string chunk;
};

std::vector<Emitted> split(std::string_view body, std::size_t max_datagram, std::size_t fragment,
                           DatagramFields fields = {4242, PayloadType::request, 9, 0, 0, 0}) {
  std::vector<Emitted> out;
  for_each_datagram(fields, body, max_datagram, fragment,
                    [&](const DatagramFields& f, std::string_view chunk) {
                      out.push_back({f, std::string(chunk)});
                    });
  return out;
}

std::string patterned(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return s;
}

TEST(ForEachDatagram, SendsReferenceSizedMessageWholeAndByteIdentical) {
  for (const auto& v : test::load_wire_vectors()) {
    SCOPED_TRACE(v.name);
    const DatagramFields fields{v.sender_nl_pid, static_cast<PayloadType>(v.payload_type), 0, 0,
                                0, 0};
    const auto out = split(v.json_body, kReferenceMaxDatagram, 1024, fields);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].fields.flag, 0u);
    EXPECT_EQ(out[0].fields.reserved, 0u);
    EXPECT_EQ(build_datagram(out[0].fields, out[0].chunk), v.datagram);
  }
}

TEST(ForEachDatagram, BodyFillingExactlyFourKiBIsNotFragmented) {
  const std::string body = patterned(kReferenceMaxDatagram - kDatagramHeadersSize);
  DatagramFields fields{1, PayloadType::request, 3, 0, kFlagFragment, 17};  // stale flag/index
  const auto out = split(body, kReferenceMaxDatagram, 1000, fields);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].fields.flag, 0u);
  EXPECT_EQ(out[0].fields.reserved, 0u);
  EXPECT_EQ(out[0].chunk, body);
  EXPECT_EQ(build_datagram(out[0].fields, out[0].chunk).size(), kReferenceMaxDatagram);
}

TEST(ForEachDatagram, OneByteOverFourKiBIsFragmented) {
  const std::string body = patterned(kReferenceMaxDatagram - kDatagramHeadersSize + 1);
  const auto out = split(body, kReferenceMaxDatagram, 1000);
  ASSERT_EQ(out.size(), 5u);  // 4057 bytes: 4 x 1000 + 57
  std::string joined;
  for (std::size_t i = 0; i < out.size(); ++i) {
    SCOPED_TRACE(i);
    const bool last = i + 1 == out.size();
    EXPECT_EQ(out[i].fields.flag, last ? (kFlagFragment | kFlagLastFragment) : kFlagFragment);
    EXPECT_EQ(out[i].fields.reserved, i);
    EXPECT_EQ(out[i].fields.seq, 9u);
    EXPECT_EQ(out[i].fields.sender_nl_pid, 4242u);
    EXPECT_EQ(out[i].chunk.size(), last ? 57u : 1000u);
    joined += out[i].chunk;
  }
  EXPECT_EQ(joined, body);
}

// A fragment's nlmsg_seq announces the whole body's length, so the receiver can allocate it
// once; a whole message's keeps the sender's counter, as the reference's does.
TEST(ForEachDatagram, FragmentsAnnounceTheWholeLengthInNlmsgSeq) {
  const std::string body = patterned(10000);
  const auto out = split(body, kReferenceMaxDatagram, 3000);
  ASSERT_EQ(out.size(), 4u);
  for (const auto& e : out) {
    const auto bytes = build_datagram(e.fields, e.chunk);
    const ProcslinkMessage m = ProcslinkMessage::parse(bytes);
    EXPECT_EQ(m.netlink.seq, 10000u);
    EXPECT_EQ(m.header.seq, 9u);
  }
  const auto whole = split("{}", kReferenceMaxDatagram, 3000);
  ASSERT_EQ(whole.size(), 1u);
  const auto bytes = build_datagram(whole[0].fields, whole[0].chunk);
  EXPECT_EQ(ProcslinkMessage::parse(bytes).netlink.seq, 9u);
}

TEST(ForEachDatagram, OnlyFragmentsBeforeTheLastSayMoreFollow) {
  const auto out = split(patterned(10000), kReferenceMaxDatagram, 3000);
  ASSERT_EQ(out.size(), 4u);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto bytes = build_datagram(out[i].fields, out[i].chunk);
    EXPECT_EQ(more_fragments_follow(bytes), i + 1 < out.size()) << i;
    // Too short to hold both headers: no claim is read from it.
    EXPECT_FALSE(more_fragments_follow(ByteView(bytes).first(kDatagramHeadersSize - 1)));
  }
  const auto whole = split("{}", kReferenceMaxDatagram, 3000);
  EXPECT_FALSE(more_fragments_follow(build_datagram(whole[0].fields, whole[0].chunk)));
}

TEST(ProcslinkMessageParse, AcceptsADatagramReceivedInTwoParts) {
  for (const auto& e : split(patterned(10000), kReferenceMaxDatagram, 3000)) {
    const auto bytes = build_datagram(e.fields, e.chunk);
    const std::string body(e.chunk);  // elsewhere than the headers
    const ProcslinkMessage whole = ProcslinkMessage::parse(bytes);
    const ProcslinkMessage parts =
        ProcslinkMessage::parse(ByteView(bytes).first(kDatagramHeadersSize), body);
    EXPECT_EQ(parts.netlink, whole.netlink);
    EXPECT_EQ(parts.header, whole.header);
    EXPECT_EQ(parts.body.data(), body.data());
    EXPECT_EQ(parts.body, whole.body);
    // The lengths must still agree with the body it is given.
    EXPECT_THROW(ProcslinkMessage::parse(ByteView(bytes).first(kDatagramHeadersSize),
                                         std::string_view(body).substr(1)),
                 FramingError);
    EXPECT_THROW(ProcslinkMessage::parse(ByteView(bytes).first(kDatagramHeadersSize - 1), body),
                 FramingError);
  }
}

TEST(ForEachDatagram, ExactMultipleOfFragmentSizeHasNoEmptyTail) {
  const std::string body = patterned(3000);
  const auto out = split(body, 100, 1000);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].fields.flag, kFlagFragment | kFlagLastFragment);
  EXPECT_EQ(out[2].chunk.size(), 1000u);
}

TEST(ForEachDatagram, FragmentsParseAsValidDatagrams) {
  const std::string body = patterned(10000);
  for (const auto& e : split(body, kReferenceMaxDatagram, 4096 - kDatagramHeadersSize)) {
    const auto bytes = build_datagram(e.fields, e.chunk);
    EXPECT_LE(bytes.size(), kReferenceMaxDatagram);
    const ProcslinkMessage m = ProcslinkMessage::parse(bytes);
    EXPECT_TRUE(m.header.is_fragment());
    EXPECT_EQ(m.header.reserved, e.fields.reserved);
    EXPECT_EQ(m.body, e.chunk);
  }
}

// A body given in parts (text around borrowed strings) goes out exactly as the same body
// given whole: the same datagrams, each gathered from the parts its slice touches.
TEST(ForEachDatagram, BodyInPartsIsCutExactlyLikeTheWholeBody) {
  std::mt19937 random(7);
  for (int round = 0; round < 200; ++round) {
    const std::size_t size = random() % 300000;
    const std::string body = patterned(size);
    std::vector<std::string_view> parts;
    for (std::size_t at = 0; at < size;) {
      const std::size_t take = std::min<std::size_t>(size - at, random() % 3 == 0 ? random() % 5 : random() % 90000);
      parts.push_back(std::string_view(body).substr(at, take));  // empty parts included
      at += take;
    }
    const std::size_t fragment = 1 + random() % 70000;
    std::vector<Emitted> gathered;
    for_each_datagram({4242, PayloadType::request, 9, 0, 0, 0}, parts, kReferenceMaxDatagram,
                      fragment, [&](const DatagramFields& f, std::span<const std::string_view> chunk) {
                        std::string joined;
                        for (const auto piece : chunk) joined.append(piece);
                        gathered.push_back({f, joined});
                      });
    const auto whole = split(body, kReferenceMaxDatagram, fragment);
    ASSERT_EQ(gathered.size(), whole.size()) << "size " << size << " fragment " << fragment;
    for (std::size_t i = 0; i < whole.size(); ++i) {
      EXPECT_EQ(gathered[i].chunk, whole[i].chunk);
      EXPECT_EQ(gathered[i].fields.flag, whole[i].fields.flag);
      EXPECT_EQ(gathered[i].fields.reserved, whole[i].fields.reserved);
    }
  }
}

TEST(ForEachDatagram, AllowsUpTo65536FragmentsAndRejectsMore) {
  const std::string fits = patterned(65536);
  const auto out = split(fits, 16, 1);
  ASSERT_EQ(out.size(), 65536u);
  EXPECT_EQ(out.back().fields.reserved, 65535u);
  EXPECT_EQ(out.back().fields.flag, kFlagFragment | kFlagLastFragment);
  std::size_t emitted = 0;
  EXPECT_THROW(for_each_datagram({}, patterned(65537), 16, 1,
                                 [&](const DatagramFields&, std::string_view) { ++emitted; }),
               FramingError);
  EXPECT_EQ(emitted, 0u);  // refused before anything went out
}

// ---------------------------------------------------------------------------------------------
// FragmentReassembler. Time is injected through `now`; nothing sleeps.

using Clock = FragmentReassembler::Clock;
using std::chrono::milliseconds;

struct FragmentSpec {
  std::uint32_t seq;
  std::uint16_t index;
  bool last;
  std::string chunk;
  PayloadType type = PayloadType::request;
};

std::optional<FragmentReassembler::Complete> feed(FragmentReassembler& r, std::uint64_t sender,
                                                  const FragmentSpec& f,
                                                  Clock::time_point now) {
  const DatagramFields fields{static_cast<std::uint32_t>(sender), f.type, f.seq, 0,
                              static_cast<std::uint16_t>(kFlagFragment |
                                                         (f.last ? kFlagLastFragment : 0)),
                              f.index};
  const auto bytes = build_datagram(fields, f.chunk);  // the reassembler copies what it keeps
  return r.add(sender, ProcslinkMessage::parse(bytes), now);
}

const Clock::time_point t0{};  // any fixed point: the reassembler only compares differences

TEST(FragmentReassembler, ReassemblesInOrder) {
  FragmentReassembler r;
  EXPECT_FALSE(feed(r, 1, {5, 0, false, "ab"}, t0));
  EXPECT_FALSE(feed(r, 1, {5, 1, false, "cd"}, t0));
  EXPECT_EQ(r.pending_messages(), 1u);
  EXPECT_EQ(r.pending_bytes(), 4u);
  const auto done = feed(r, 1, {5, 2, true, "e"}, t0);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->body, "abcde");
  EXPECT_EQ(done->seq, 5u);
  EXPECT_EQ(done->payload_type, PayloadType::request);
  EXPECT_EQ(r.pending_messages(), 0u);
  EXPECT_EQ(r.pending_bytes(), 0u);
}

TEST(FragmentReassembler, SingleFragmentThatIsAlsoLastCompletesAtOnce) {
  FragmentReassembler r;
  const auto done = feed(r, 1, {1, 0, true, "whole", PayloadType::response}, t0);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->body, "whole");
  EXPECT_EQ(done->payload_type, PayloadType::response);
}

TEST(FragmentReassembler, ReassemblesOutOfOrder) {
  FragmentReassembler r;
  EXPECT_FALSE(feed(r, 1, {5, 2, true, "e"}, t0));
  EXPECT_FALSE(feed(r, 1, {5, 0, false, "ab"}, t0));
  const auto done = feed(r, 1, {5, 1, false, "cd"}, t0);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->body, "abcde");
}

TEST(FragmentReassembler, IgnoresDuplicateFragments) {
  FragmentReassembler r;
  EXPECT_FALSE(feed(r, 1, {5, 0, false, "ab"}, t0));
  EXPECT_FALSE(feed(r, 1, {5, 0, false, "ab"}, t0));
  EXPECT_EQ(r.pending_bytes(), 2u);  // the copy was not stored twice
  EXPECT_FALSE(feed(r, 1, {5, 2, true, "e"}, t0));
  EXPECT_FALSE(feed(r, 1, {5, 2, true, "e"}, t0));
  const auto done = feed(r, 1, {5, 1, false, "cd"}, t0);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->body, "abcde");
  EXPECT_EQ(r.pending_messages(), 0u);
}

TEST(FragmentReassembler, RoundTripsForEachDatagramOutput) {
  const std::string body = patterned(50000);
  FragmentReassembler r;
  std::optional<FragmentReassembler::Complete> done;
  std::size_t fragments = 0;
  for_each_datagram({7, PayloadType::response, 42, 0, 0, 0}, body, kReferenceMaxDatagram,
                    kReferenceMaxDatagram - kDatagramHeadersSize,
                    [&](const DatagramFields& f, std::string_view chunk) {
                      ++fragments;
                      const auto bytes = build_datagram(f, chunk);
                      auto result = r.add(7, ProcslinkMessage::parse(bytes), t0);
                      if (result) done = std::move(result);
                    });
  EXPECT_GT(fragments, 1u);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->body, body);
  EXPECT_EQ(done->seq, 42u);
  EXPECT_EQ(done->payload_type, PayloadType::response);
}

TEST(FragmentReassembler, AssemblesTheNextMessageInARecycledBody) {
  FragmentReassembler r;
  const std::string big(100000, 'x');
  ASSERT_FALSE(feed(r, 1, {1, 0, false, big}, t0));
  auto first = feed(r, 1, {1, 1, true, big}, t0);
  ASSERT_TRUE(first);
  const char* storage = first->body.data();
  Hooks::recycle(r, std::move(first->body));
  // A later message, from another sender even, starts in that buffer, with none of its bytes.
  ASSERT_FALSE(feed(r, 2, {9, 0, false, "ab"}, t0));
  const auto second = feed(r, 2, {9, 1, true, "cd"}, t0);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "abcd");
  EXPECT_EQ(second->body.data(), storage);
  // Without a recycled body the next one gets a buffer of its own.
  const auto third = feed(r, 2, {10, 0, true, "ef"}, t0);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->body, "ef");
}

// The announced length is allocated when the first fragment arrives; without it the body
// grows by doubling. Either way the fragments alone decide the message: a hint that is too
// small, too large or beyond the message limit changes nothing but the allocation.
TEST(FragmentReassembler, AllocatesTheAnnouncedLengthOnceAndOnlyAsAHint) {
  const std::string body = patterned(5 * 65536 + 100);
  auto assemble = [&](std::uint32_t announced, FragmentReassembler::Limits limits) {
    FragmentReassembler r(limits);
    std::optional<FragmentReassembler::Complete> done;
    for_each_datagram({7, PayloadType::request, 1, 0, 0, 0}, body, kReferenceMaxDatagram, 65536,
                      [&](DatagramFields f, std::string_view chunk) {
                        f.message_length = announced;
                        auto result = r.add(7, ProcslinkMessage::parse(build_datagram(f, chunk)), t0);
                        if (result) done = std::move(result);
                      });
    EXPECT_TRUE(done);
    EXPECT_EQ(r.pending_messages(), 0u);
    return done ? std::move(done->body) : std::string();
  };
  const FragmentReassembler::Limits roomy;
  const std::string exact = assemble(static_cast<std::uint32_t>(body.size()), roomy);
  EXPECT_EQ(exact, body);
  EXPECT_GE(exact.capacity(), body.size());  // allocated once: the length and a page's room
  EXPECT_LE(exact.capacity(), body.size() + 4096);
  const std::string unannounced = assemble(0, roomy);
  EXPECT_EQ(unannounced, body);
  EXPECT_GE(unannounced.capacity(), 4 * 65536u + body.size() / 2);  // grown by doubling
  EXPECT_EQ(assemble(1000, roomy), body);
  const std::string over = assemble(3 * static_cast<std::uint32_t>(body.size()), roomy);
  EXPECT_EQ(over, body);
  FragmentReassembler::Limits tight;
  tight.max_message = body.size();
  const std::string beyond_limit = assemble(static_cast<std::uint32_t>(body.size()) + 1, tight);
  EXPECT_EQ(beyond_limit, body);
  EXPECT_LE(beyond_limit.capacity(), tight.max_message * 2);
  EXPECT_NE(beyond_limit.capacity(), body.size() + 1);  // not reserved past the limit
}

// A body is kept up to twice the message limit (what reassembly can have grown), but never
// below kKeptCapacity.
// What an announced length allocates counts against the sender's max_pending_bytes like bytes
// received, until its message completes or is dropped: lengths a sender announces (true or
// not) cannot make it hold more than the limit.
TEST(FragmentReassembler, AnnouncedLengthsCountAgainstTheSendersLimit) {
  FragmentReassembler::Limits limits;
  limits.max_message = 400;
  limits.max_pending_bytes = 1000;
  FragmentReassembler r(limits);
  auto announce = [&](std::uint32_t seq, std::uint16_t index, bool last, std::string chunk,
                      std::uint32_t announced) {
    DatagramFields fields{1, PayloadType::request, seq, 0,
                          static_cast<std::uint16_t>(kFlagFragment | (last ? kFlagLastFragment : 0)),
                          index, announced};
    return r.add(1, ProcslinkMessage::parse(build_datagram(fields, chunk)), t0);
  };
  ASSERT_FALSE(announce(1, 0, false, "0123456789", 300));
  EXPECT_EQ(r.pending_bytes(), 300u);  // 10 received, 300 allocated
  ASSERT_FALSE(announce(2, 0, false, "ab", 400));
  ASSERT_FALSE(announce(3, 0, false, "cd", 300));
  EXPECT_EQ(r.pending_bytes(), 1000u);
  // The limit is reached: another message is not allocated for, and its bytes do not fit.
  EXPECT_THROW(announce(4, 0, false, "ef", 400), FramingError);
  EXPECT_EQ(r.pending_bytes(), 1000u);
  // Fragments within an allocation take nothing more; beyond it, they count.
  ASSERT_FALSE(announce(3, 1, false, std::string(290, 'y'), 300));
  EXPECT_EQ(r.pending_bytes(), 1000u);
  EXPECT_THROW(announce(1, 1, false, std::string(300, 'x'), 300), FramingError);
  EXPECT_EQ(r.pending_bytes(), 700u);  // message 1 dropped, its 300 given back
  // Completing a message gives its allocation back.
  const auto done = announce(2, 1, true, "!", 400);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->body, "ab!");
  EXPECT_EQ(r.pending_bytes(), 300u);
  r.expire(t0 + limits.timeout);
  EXPECT_EQ(r.pending_bytes(), 0u);
}

// The budget for all senders together: a sender of a uid holding less makes room by evicting
// the largest message of the uid holding the most; that uid's own fragments are refused
// instead of pushing anyone out.
TEST(FragmentReassembler, TotalBudgetMakesTheLargestUidGiveWay) {
  FragmentReassembler::Limits limits;
  limits.max_total_bytes = 1000;
  FragmentReassembler r(limits);
  auto send = [&](std::uint64_t sender, std::uint32_t uid, std::uint32_t seq,
                  std::uint16_t index, bool last, std::size_t size) {
    const DatagramFields fields{static_cast<std::uint32_t>(sender), PayloadType::request, seq, 0,
                                static_cast<std::uint16_t>(kFlagFragment |
                                                           (last ? kFlagLastFragment : 0)),
                                index};
    return r.add(sender, uid, ProcslinkMessage::parse(build_datagram(fields, std::string(size, 'x'))),
                 t0);
  };
  // Uid 1000 floods from three senders up to the budget.
  ASSERT_FALSE(send(1, 1000, 1, 0, false, 400));
  ASSERT_FALSE(send(2, 1000, 1, 0, false, 300));
  ASSERT_FALSE(send(3, 1000, 1, 0, false, 300));
  EXPECT_EQ(r.pending_bytes(), 1000u);
  // Uid 1000 cannot grow past it: its largest sender's fragment is refused, nothing evicted.
  EXPECT_THROW(send(1, 1000, 1, 1, false, 10), FramingError);
  EXPECT_EQ(r.pending_bytes(), 600u);
  EXPECT_TRUE(r.take_evictions().empty());
  ASSERT_FALSE(send(2, 1000, 1, 1, false, 400));
  EXPECT_EQ(r.pending_bytes(), 1000u);
  // Uid 1001, holding nothing, gets room: uid 1000's largest message (sender 2's) gives way.
  ASSERT_FALSE(send(9, 1001, 7, 0, false, 200));
  const auto evicted = r.take_evictions();
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0].sender, 2u);
  EXPECT_EQ(evicted[0].uid, 1000u);
  EXPECT_EQ(evicted[0].bytes, 700u);
  EXPECT_EQ(r.stats().evicted, 1u);
  EXPECT_THROW(send(2, 1000, 1, 2, false, 1), FramingError);  // its tail is refused too
  // Uid 1001's message completes while uid 1000 keeps sending.
  ASSERT_FALSE(send(3, 1000, 1, 1, false, 100));
  const auto done = send(9, 1001, 7, 1, true, 300);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->body.size(), 500u);
  EXPECT_LE(r.pending_bytes(), limits.max_total_bytes);
}

// Expired messages are dropped and say when the next one expires; the budget is given back.
TEST(FragmentReassembler, NextExpiryIsTheOldestMessagesTimeout) {
  FragmentReassembler::Limits limits;
  limits.timeout = milliseconds(100);
  FragmentReassembler r(limits);
  EXPECT_FALSE(r.next_expiry());
  ASSERT_FALSE(feed(r, 1, {1, 0, false, "ab"}, t0));
  ASSERT_FALSE(feed(r, 2, {1, 0, false, "cd"}, t0 + milliseconds(30)));
  EXPECT_EQ(r.next_expiry(), t0 + milliseconds(100));
  EXPECT_EQ(r.expire(t0 + milliseconds(100)), 1u);
  EXPECT_EQ(r.next_expiry(), t0 + milliseconds(130));
  EXPECT_EQ(r.pending_bytes(), 2u);
  EXPECT_EQ(r.expire(t0 + milliseconds(130)), 1u);
  EXPECT_FALSE(r.next_expiry());
  EXPECT_EQ(r.pending_bytes(), 0u);
  EXPECT_EQ(r.stats().expired, 2u);
}

TEST(FragmentReassembler, KeepsNoRecycledBodyOverItsCapacityBound) {
  FragmentReassembler::Limits limits;
  limits.max_message = 1u << 20;
  FragmentReassembler r(limits);
  std::string huge;
  huge.reserve(Hooks::kKeptCapacity + 1);
  huge = "x";
  const char* storage = huge.data();
  Hooks::recycle(r, std::move(huge));
  const auto next = feed(r, 1, {1, 0, true, "ab"}, t0);
  ASSERT_TRUE(next);
  EXPECT_NE(next->body.data(), storage);
}

// A large kept body has its pages handed back lazily; whether the kernel took them or not,
// the next message assembled in it is exactly its fragments.
TEST(FragmentReassembler, ReusesALargeKeptBodyWhosePagesWereReleasedLazily) {
  FragmentReassembler r;
  const std::string chunk = patterned(3 * Hooks::kKeptCapacity);
  ASSERT_FALSE(feed(r, 1, {1, 0, false, chunk}, t0));
  auto first = feed(r, 1, {1, 1, true, chunk}, t0);
  ASSERT_TRUE(first);
  ASSERT_GT(first->body.capacity(), Hooks::kKeptCapacity);
  const char* storage = first->body.data();
  Hooks::recycle(r, std::move(first->body));
  const std::string other(chunk.rbegin(), chunk.rend());
  ASSERT_FALSE(feed(r, 2, {4, 0, false, "<"}, t0));
  ASSERT_FALSE(feed(r, 2, {4, 1, false, other}, t0));
  const auto second = feed(r, 2, {4, 2, true, ">"}, t0);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body.data(), storage);
  EXPECT_EQ(second->body, "<" + other + ">");
}

// Feeds a fragment whose body was first written into `room` (as a receive would put it there).
std::optional<FragmentReassembler::Complete> land(FragmentReassembler& r, std::uint64_t sender,
                                                  const FragmentSpec& f, char* room) {
  const DatagramFields fields{static_cast<std::uint32_t>(sender), f.type, f.seq, 0,
                              static_cast<std::uint16_t>(kFlagFragment |
                                                         (f.last ? kFlagLastFragment : 0)),
                              f.index};
  const auto bytes = build_datagram(fields, f.chunk);
  std::memcpy(room, f.chunk.data(), f.chunk.size());
  const ByteView headers = ByteView(bytes).first(kDatagramHeadersSize);
  return r.add(sender, ProcslinkMessage::parse(headers, std::string_view(room, f.chunk.size())), t0);
}

// A recycled buffer keeps its size, so the fragments after the first can be received straight
// into it: the message comes out exact, in that buffer, with nothing of the old bytes.
TEST(FragmentReassembler, FragmentsLandInPlaceInARecycledBuffer) {
  FragmentReassembler r;
  std::string old(Hooks::kKeptCapacity, 'z');
  const char* storage = old.data();
  Hooks::recycle(r, std::move(old));
  const std::string a = patterned(5000), b = patterned(7000), c = "tail";
  EXPECT_EQ(Hooks::landing_room(r, 1, 3, 0, a.size()), nullptr);  // no message started yet
  ASSERT_FALSE(feed(r, 1, {3, 0, false, a}, t0));
  char* room = Hooks::landing_room(r, 1, 3, 1, b.size());
  ASSERT_EQ(room, storage + a.size());
  ASSERT_FALSE(land(r, 1, {3, 1, false, b}, room));
  room = Hooks::landing_room(r, 1, 3, 2, c.size());
  ASSERT_EQ(room, storage + a.size() + b.size());
  const auto done = land(r, 1, {3, 2, true, c}, room);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->body.data(), storage);
  EXPECT_TRUE(done->body == a + b + c);
}

// A split keeps the body's first bytes apart: the rest lands at the front of the buffer, in
// place where there is room, and the head and the body come out as the message in two pieces.
TEST(FragmentReassembler, ASplitKeepsTheFirstBytesApartAndTheRestAtTheFront) {
  for (const bool recycled : {false, true}) {
    SCOPED_TRACE(recycled ? "recycled buffer" : "fresh buffer");
    FragmentReassembler r;
    if (recycled) Hooks::recycle(r, std::string(Hooks::kKeptCapacity, 'z'));
    const std::string a = "{\"s\":\"" + patterned(5000), b = patterned(7000), c = "\"}";
    Hooks::split_next(r, 6, 17);
    ASSERT_FALSE(feed(r, 1, {3, 0, false, a}, t0));
    const Hooks::SplitBuffer buffer = Hooks::split_buffer(r, 1, 3);
    ASSERT_NE(buffer.split, nullptr);
    EXPECT_EQ(buffer.split->head, a.substr(0, 6));
    EXPECT_EQ(buffer.split->checked, 17u);
    EXPECT_EQ(buffer.filled, a.substr(6));
    buffer.split->checked = 18;  // the peer's business, handed back as it is
    if (recycled) {
      char* room = Hooks::landing_room(r, 1, 3, 1, b.size());
      ASSERT_EQ(room, buffer.filled.data() + buffer.filled.size());
      ASSERT_FALSE(land(r, 1, {3, 1, false, b}, room));
    } else {
      ASSERT_FALSE(feed(r, 1, {3, 1, false, b}, t0));
    }
    EXPECT_FALSE(Hooks::take_split(r));  // nothing completed yet
    const auto done = feed(r, 1, {3, 2, true, c}, t0);
    ASSERT_TRUE(done);
    const auto split = Hooks::take_split(r);
    ASSERT_TRUE(split);
    EXPECT_EQ(split->head, a.substr(0, 6));
    EXPECT_EQ(split->checked, 18u);
    EXPECT_TRUE(split->head + done->body == a + b + c);
    EXPECT_FALSE(Hooks::take_split(r));  // taken
    // The next message, not split, comes out whole.
    ASSERT_TRUE(feed(r, 1, {4, 0, true, "{}"}, t0));
    EXPECT_FALSE(Hooks::take_split(r));
  }
}

// Only fragment 0 starting a message is split, at most at its end, and only by the add()
// right after split_next().
TEST(FragmentReassembler, SplitsOnlyTheFirstFragmentOfANewMessage) {
  FragmentReassembler r;
  const auto is_split = [&](std::uint32_t seq) { return Hooks::split_buffer(r, 1, seq).split != nullptr; };
  Hooks::split_next(r, 4, 0);
  ASSERT_FALSE(feed(r, 1, {3, 0, false, "abc"}, t0));  // past its end
  EXPECT_FALSE(is_split(3));
  Hooks::split_next(r, 1, 0);
  ASSERT_FALSE(feed(r, 1, {3, 1, false, "def"}, t0));  // not fragment 0
  EXPECT_FALSE(is_split(3));
  ASSERT_FALSE(feed(r, 1, {5, 2, false, "x"}, t0));  // fragment 2 before fragment 0
  Hooks::split_next(r, 1, 0);
  ASSERT_FALSE(feed(r, 1, {5, 0, false, "abc"}, t0));
  EXPECT_FALSE(is_split(5));
  Hooks::split_next(r, 1, 0);
  ASSERT_TRUE(feed(r, 1, {6, 0, true, "x"}, t0));  // forgotten by that add()
  ASSERT_FALSE(feed(r, 1, {7, 0, false, "abc"}, t0));
  EXPECT_FALSE(is_split(7));
  Hooks::split_next(r, 1, 0);
  EXPECT_THROW(r.add(1, ProcslinkMessage::parse(build_datagram({1, PayloadType::request, 9, 0, 0, 0}, "ab")), t0),
               FramingError);  // not a fragment: refused, and the split forgotten all the same
  ASSERT_FALSE(feed(r, 1, {9, 0, false, "abc"}, t0));
  EXPECT_FALSE(is_split(9));
  Hooks::split_next(r, 3, 0);  // the whole fragment: nothing at the front yet
  ASSERT_FALSE(feed(r, 1, {8, 0, false, "abc"}, t0));
  EXPECT_TRUE(is_split(8));
  const auto done = feed(r, 1, {8, 1, true, "d"}, t0);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->body, "d");
  EXPECT_EQ(Hooks::take_split(r)->head, "abc");
}

TEST(FragmentReassembler, OffersNoLandingRoomButForTheNextFragmentWithinTheBuffer) {
  FragmentReassembler r;
  Hooks::recycle(r, std::string(Hooks::kKeptCapacity, 'z'));
  ASSERT_FALSE(feed(r, 1, {3, 0, false, "abc"}, t0));
  EXPECT_NE(Hooks::landing_room(r, 1, 3, 1, 10), nullptr);
  EXPECT_EQ(Hooks::landing_room(r, 1, 3, 2, 10), nullptr);  // not the one expected next
  EXPECT_EQ(Hooks::landing_room(r, 1, 3, 0, 10), nullptr);  // already here
  EXPECT_EQ(Hooks::landing_room(r, 1, 4, 1, 10), nullptr);  // another message
  EXPECT_EQ(Hooks::landing_room(r, 2, 3, 1, 10), nullptr);  // another sender
  EXPECT_EQ(Hooks::landing_room(r, 1, 3, 1, Hooks::kKeptCapacity), nullptr);  // no room
  // A message in a fresh buffer has no room beyond what arrived: its fragments are copied.
  ASSERT_FALSE(feed(r, 2, {9, 0, false, "abc"}, t0));
  EXPECT_EQ(Hooks::landing_room(r, 2, 9, 1, 1), nullptr);
  // Nor has a dropped one.
  EXPECT_THROW(feed(r, 1, {3, 1, false, "x", PayloadType::response}, t0), FramingError);
  EXPECT_EQ(Hooks::landing_room(r, 1, 3, 1, 1), nullptr);
}

TEST(FragmentReassembler, RejectsWholeDatagram) {
  FragmentReassembler r;
  const auto bytes = build_datagram({1, PayloadType::request, 1, 0, 0, 0}, "x");
  EXPECT_THROW(r.add(1, ProcslinkMessage::parse(bytes), t0), FramingError);
}

TEST(FragmentReassembler, MissingFragmentNeverCompletesAndExpiresAfterTimeout) {
  FragmentReassembler::Limits limits;
  limits.timeout = milliseconds(1000);
  FragmentReassembler r(limits);
  EXPECT_FALSE(feed(r, 1, {5, 0, false, "ab"}, t0));
  EXPECT_FALSE(feed(r, 1, {5, 2, true, "e"}, t0 + milliseconds(10)));
  EXPECT_EQ(r.pending_messages(), 1u);
  EXPECT_EQ(r.expire(t0 + milliseconds(999)), 0u);
  EXPECT_EQ(r.pending_messages(), 1u);
  EXPECT_EQ(r.expire(t0 + milliseconds(1000)), 1u);
  EXPECT_EQ(r.pending_messages(), 0u);
  EXPECT_EQ(r.pending_bytes(), 0u);
  // The missing fragment arriving late starts over instead of completing stale data.
  EXPECT_FALSE(feed(r, 1, {5, 1, false, "cd"}, t0 + milliseconds(1001)));
  EXPECT_EQ(r.pending_messages(), 1u);
}

TEST(FragmentReassembler, MessageOverMaxMessageIsRejectedAndItsRestRefused) {
  FragmentReassembler::Limits limits;
  limits.max_message = 10;
  limits.timeout = milliseconds(1000);
  FragmentReassembler r(limits);
  EXPECT_FALSE(feed(r, 1, {5, 0, false, "12345"}, t0));
  EXPECT_FALSE(feed(r, 1, {5, 1, false, "12345"}, t0));  // exactly at the limit is fine
  EXPECT_THROW(feed(r, 1, {5, 2, false, "1"}, t0), FramingError);
  EXPECT_EQ(r.pending_bytes(), 0u);  // the partial message's memory is released at once
  EXPECT_THROW(feed(r, 1, {5, 3, true, "x"}, t0), FramingError);
  EXPECT_THROW(feed(r, 1, {5, 0, false, "a"}, t0), FramingError);
  // Other messages from the same sender are unaffected.
  const auto other = feed(r, 1, {6, 0, true, "fine"}, t0);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->body, "fine");
  // The refusal lasts only until the dropped message would have expired; it is not counted.
  EXPECT_EQ(r.expire(t0 + milliseconds(1000)), 0u);
  EXPECT_EQ(r.pending_messages(), 0u);
}

TEST(FragmentReassembler, MessageAtExactlyMaxMessageCompletes) {
  FragmentReassembler::Limits limits;
  limits.max_message = 6;
  FragmentReassembler r(limits);
  EXPECT_FALSE(feed(r, 1, {1, 0, false, "abc"}, t0));
  const auto done = feed(r, 1, {1, 1, true, "def"}, t0);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->body, "abcdef");
}

TEST(FragmentReassembler, LimitsPendingBytesPerSender) {
  FragmentReassembler::Limits limits;
  limits.max_pending_bytes = 10;
  FragmentReassembler r(limits);
  EXPECT_FALSE(feed(r, 1, {1, 0, false, "123456"}, t0));
  EXPECT_THROW(feed(r, 1, {2, 0, false, "12345"}, t0), FramingError);  // 6 + 5 > 10
  EXPECT_EQ(r.pending_bytes(), 6u);
  // A different sender has its own budget.
  EXPECT_FALSE(feed(r, 2, {2, 0, false, "12345678"}, t0));
  EXPECT_EQ(r.pending_bytes(), 14u);
  // The first sender's earlier message is still intact and completes.
  const auto done = feed(r, 1, {1, 1, true, "7890"}, t0);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->body, "1234567890");
}

TEST(FragmentReassembler, LimitsPendingMessagesPerSender) {
  FragmentReassembler::Limits limits;
  limits.max_pending_messages = 2;
  limits.timeout = milliseconds(1000);
  FragmentReassembler r(limits);
  EXPECT_FALSE(feed(r, 1, {1, 0, false, "a"}, t0));
  EXPECT_FALSE(feed(r, 1, {2, 0, false, "b"}, t0));
  EXPECT_THROW(feed(r, 1, {3, 0, false, "c"}, t0 + milliseconds(500)), FramingError);
  EXPECT_EQ(r.pending_messages(), 2u);
  EXPECT_FALSE(feed(r, 2, {3, 0, false, "c"}, t0 + milliseconds(500)));  // another sender
  // Once the old ones have timed out, room is made for a new message.
  EXPECT_FALSE(feed(r, 1, {3, 0, false, "c"}, t0 + milliseconds(1000)));
  EXPECT_EQ(r.pending_messages(), 2u);  // sender 1's seq 3 and sender 2's seq 3
}

TEST(FragmentReassembler, KeepsTwoInterleavedSendersApart) {
  // Same seq from both senders: the sender key, not the seq alone, identifies a message.
  FragmentReassembler s;
  EXPECT_FALSE(feed(s, 1, {7, 0, false, "A0"}, t0));
  EXPECT_FALSE(feed(s, 2, {7, 1, true, "b1"}, t0));
  const auto two = feed(s, 2, {7, 0, false, "b0"}, t0);
  ASSERT_TRUE(two);
  EXPECT_EQ(two->body, "b0b1");
  EXPECT_EQ(s.pending_messages(), 1u);
  const auto one = feed(s, 1, {7, 1, true, "A1"}, t0);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->body, "A0A1");
  EXPECT_EQ(s.pending_messages(), 0u);
}

TEST(FragmentReassembler, RejectsContradictoryLastFragments) {
  FragmentReassembler r;
  EXPECT_FALSE(feed(r, 1, {1, 3, true, "d"}, t0));
  EXPECT_THROW(feed(r, 1, {1, 2, true, "c"}, t0), FramingError);
  EXPECT_THROW(feed(r, 1, {1, 0, false, "a"}, t0), FramingError);  // the message was dropped
}

TEST(FragmentReassembler, RejectsFragmentBeyondTheLastIndex) {
  FragmentReassembler r;
  EXPECT_FALSE(feed(r, 1, {1, 1, true, "b"}, t0));
  EXPECT_THROW(feed(r, 1, {1, 2, false, "c"}, t0), FramingError);
  FragmentReassembler s;
  EXPECT_FALSE(feed(s, 1, {1, 5, false, "f"}, t0));
  EXPECT_THROW(feed(s, 1, {1, 2, true, "c"}, t0), FramingError);
}

TEST(FragmentReassembler, RejectsPayloadTypeChangeWithinMessage) {
  FragmentReassembler r;
  EXPECT_FALSE(feed(r, 1, {1, 0, false, "a", PayloadType::request}, t0));
  EXPECT_THROW(feed(r, 1, {1, 1, true, "b", PayloadType::response}, t0), FramingError);
}

}  // namespace
}  // namespace procslink
