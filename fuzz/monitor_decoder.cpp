// Fuzz target: the decoder of `procslink monitor` (tools/monitor/decoder.cpp) fed a capture's
// worth of datagrams, as it would read them from a pcap file or an nlmon device.
//
// The input is records [length u16][datagram]. Checked for every datagram: decode never
// throws, whatever the bytes; the kind is one of the documented ones; a request, notification,
// response, error or batch has a body that is JSON and a size equal to it; and both output
// formats render it (the JSON line parses back).
#include <set>
#include <string>

#include "fuzz_support.hpp"
#include "monitor/decoder.hpp"

using namespace procslink;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::set<std::string> kKinds = {"request", "notification", "response", "error",
                                               "batch",   "fragment",     "invalid"};
  fuzz::InputReader input(data, size);
  monitor::Decoder decoder;
  std::uint64_t time_ns = 1700000000000000000u;
  while (!input.empty()) {
    const std::string_view bytes = input.bytes(input.u16());
    const ByteView datagram(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    const monitor::DecodedDatagram d = decoder.decode(datagram, time_ns += 1000);
    FUZZ_CHECK(kKinds.count(d.kind) == 1);
    if (d.kind != "fragment" && d.kind != "invalid") {
      FUZZ_CHECK(d.size == d.body.size());
      parse_json(d.body);  // throws (and so crashes the target) if it is not JSON
    }
    FUZZ_CHECK(!monitor::format_line(d, 80).empty());
    FUZZ_CHECK(parse_json(monitor::format_json(d)).at("kind") == d.kind);
  }
  return 0;
}
