// decoder.hpp - what `procslink monitor` says about each captured datagram: the procslink
// headers and JSON-RPC body of a NETLINK_USERSOCK message turned into one line (time, sender,
// kind, method or id, size, body), fragments reassembled. No I/O: the bytes come from a pcap
// file (pcap.hpp) or a live nlmon device (nlmon.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "procslink/procslink.hpp"

namespace procslink::monitor {

struct DecodedDatagram {
  std::uint64_t time_ns = 0;     // capture time, ns since the Unix epoch
  std::uint32_t sender = 0;      // nlmsghdr.nlmsg_pid: the sender's nl_pid
  // request, notification, response, error, batch, fragment (one that does not complete its
  // message yet), or invalid (not a procslink message, or a body that is not JSON-RPC).
  std::string kind;
  std::string what;              // the method (requests), the id (replies), or why invalid
  std::size_t size = 0;          // body bytes: the whole message's when reassembled
  std::string body;              // the JSON text (the whole message's when reassembled)
  std::uint16_t fragments = 0;   // how many fragments were reassembled (0: not fragmented)
};

// Decodes a stream of captured datagrams; keeps fragments until their message is complete.
class Decoder {
 public:
  DecodedDatagram decode(ByteView datagram, std::uint64_t time_ns);

 private:
  FragmentReassembler reassembler_;
};

// One line for people: "HH:MM:SS.uuuuuu nl_pid N KIND WHAT SIZE B BODY", the body cut to
// `body_limit` characters with "..." (0: whole).
std::string format_line(const DecodedDatagram& d, std::size_t body_limit);
// One JSON object: {"time", "sender", "kind", "size", "fragments", "body"} and "method"
// (requests, notifications), "id" (replies, as the JSON value) or "detail" (the others).
std::string format_json(const DecodedDatagram& d);

}  // namespace procslink::monitor
