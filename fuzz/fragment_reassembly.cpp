// Fuzz target: FragmentReassembler fed a sequence of fragments decoded from the input.
//
// The input is a little program: each step either lets time pass, expires old messages, or
// adds one fragment (sender, seq, index, last-flag, payload type, length and announced whole
// length chosen by the input) built with build_datagram and read back with
// ProcslinkMessage::parse, as a peer would, or received in place where landing_room offers
// room; completed bodies are recycled or not.
// The limits are small so that every limit is reached. Checked after every step: only
// FramingError escapes, held bytes and messages stay within the limits, and a completed
// message is the fragments' bodies in index order, no larger than max_message. At the end,
// expiring everything must leave nothing held (the byte accounting balances).
#include <algorithm>
#include <chrono>
#include <string>

#include "fuzz_support.hpp"
#include "procslink/error.hpp"
#include "procslink/message.hpp"
#include "../src/reassembly_hooks.hpp"

using namespace procslink;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kSenders = 3;
constexpr FragmentReassembler::Limits kLimits{
    /*max_message=*/600, /*max_pending_bytes=*/1000, /*max_pending_messages=*/4,
    /*timeout=*/std::chrono::milliseconds(50), /*max_total_bytes=*/1500};

// Each fragment's body repeats its own index, so the order of a completed body can be checked.
void check_completed(const FragmentReassembler::Complete& complete, std::uint32_t seq,
                     PayloadType type) {
  FUZZ_CHECK(complete.seq == seq);
  FUZZ_CHECK(complete.payload_type == type);
  FUZZ_CHECK(complete.body.size() <= kLimits.max_message);
  for (std::size_t i = 0; i < complete.body.size(); ++i) {
    const auto current = static_cast<unsigned char>(complete.body[i]);
    FUZZ_CHECK(current < 16);
    if (i > 0) FUZZ_CHECK(current >= static_cast<unsigned char>(complete.body[i - 1]));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::InputReader in(data, size);
  FragmentReassembler reassembler(kLimits);
  auto now = FragmentReassembler::Clock::time_point{} + 1h;
  int steps = 0;
  while (!in.empty() && ++steps <= 4096) {
    const std::uint8_t op = in.u8();
    if (op < 16) {
      now += std::chrono::milliseconds(in.u8());
    } else if (op < 24) {
      reassembler.expire(now);
    } else {
      const std::uint64_t sender = in.u8() % kSenders;
      const std::uint32_t seq = in.u8() % 8;
      const std::uint8_t shape = in.u8();
      const auto index = static_cast<std::uint16_t>(shape % 16);
      const bool last = (shape & 0x10) != 0;
      const PayloadType type = (shape & 0x20) != 0 ? PayloadType::response : PayloadType::request;
      const std::size_t length = in.u16() % 700;
      // The whole length a sender announces, true or not, within the limits or beyond them.
      const std::uint32_t announced = (shape & 0x40) != 0 ? in.u16() % 1300 : 0;
      const DatagramFields fields{1000 + static_cast<std::uint32_t>(sender), type, seq, 0,
                                  static_cast<std::uint16_t>(kFlagFragment |
                                                             (last ? kFlagLastFragment : 0)),
                                  index, announced};
      const std::string body(length, static_cast<char>(index));
      const auto datagram = build_datagram(fields, body);
      ProcslinkMessage fragment = ProcslinkMessage::parse(datagram);
      FUZZ_CHECK(fragment.body == body);
      // Received in place when the reassembler offers room for it, as a peer does.
      if ((op & 0x80) != 0) {
        if (char* room =
                detail::ReassemblyHooks::landing_room(reassembler, sender, seq, index, length)) {
          std::copy(body.begin(), body.end(), room);
          fragment = ProcslinkMessage::parse(ByteView(datagram).first(kDatagramHeadersSize),
                                             std::string_view(room, length));
        }
      }
      try {
        // Senders 0 and 1 share a uid; sender 2 has its own (the budget's fairness).
        const std::uint32_t uid = sender < 2 ? 1000 : 1001;
        if (auto complete = reassembler.add(sender, uid, fragment, now)) {
          check_completed(*complete, seq, type);
          // Handed back, its buffer (and size) carries the next message.
          if ((op & 0x40) != 0) {
            detail::ReassemblyHooks::recycle(reassembler, std::move(complete->body));
          }
        }
      } catch (const FramingError&) {
        // Refusing a fragment is fine; what it leaves behind is checked below.
      }
    }
    FUZZ_CHECK(reassembler.pending_bytes() <= kLimits.max_total_bytes);
    FUZZ_CHECK(reassembler.pending_messages() <= kSenders * kLimits.max_pending_messages);
  }
  reassembler.expire(now + kLimits.timeout);
  FUZZ_CHECK(reassembler.pending_messages() == 0);
  FUZZ_CHECK(reassembler.pending_bytes() == 0);
  return 0;
}
