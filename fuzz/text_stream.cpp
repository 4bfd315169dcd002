// Fuzz target: detail::TextStream, a sender's text handed out in slices with its long strings
// checked on the way.
//
// The input makes a request whose params hold a short string of raw bytes and one or two long
// strings (kUncheckedMin bytes or more) tiled from a piece of raw bytes, so escapes, control
// characters and ill-formed or cut UTF-8 recur all along them and at their ends, and picks the
// slice size. The request writer leaves the long strings unchecked; the slices put together
// must be the text the writer writes when it checks everything itself, and every slice but the
// last must be full.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../src/json_writer.hpp"
#include "../src/jsonrpc_text.hpp"
#include "../src/text_stream.hpp"
#include "fuzz_support.hpp"

using procslink::json;
using procslink::fuzz::InputReader;
namespace detail = procslink::detail;

namespace {

// `piece` repeated to exactly `size` bytes (the last copy perhaps cut), then `tail`.
std::string tiled(std::string_view piece, std::size_t size, std::string_view tail) {
  std::string out;
  out.reserve(size + tail.size());
  out.append(piece);
  while (out.size() < size) out.append(out, 0, std::min(out.size(), size - out.size()));
  out.resize(size);
  out.append(tail);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InputReader in(data, size);
  const std::string prefix(in.u8() % 40, '<');
  const std::string head(in.bytes(in.u8() % 64));
  const std::string piece(in.bytes(1 + in.u8() % 32));
  if (piece.empty()) return 0;
  const std::size_t long_size = detail::kUncheckedMin + in.u16() % 4096;
  const std::string tail(in.bytes(in.u8() % 8));  // perhaps a sequence the end cuts
  const bool two = (in.u8() & 1) != 0;
  const std::size_t slice = 4096 + (std::size_t{in.u16()} << 2);  // 4 KiB to 260 KiB
  json params = json::array({head, tiled(piece, long_size, tail)});
  if (two) params.push_back(json::object({{"k", tiled(tail + piece, long_size, head)}}));

  std::string expected;
  detail::append_request(expected, nullptr, "m", &params, nullptr);

  std::string text = prefix;
  std::vector<detail::BorrowedRun> runs;
  detail::append_request(text, &runs, "m", &params, nullptr);
  std::size_t unchecked = 0;
  for (const auto& run : runs) unchecked += !run.checked;
  FUZZ_CHECK(unchecked == (two ? 2u : 1u));

  detail::TextStream stream(text, runs, prefix.size());
  std::string streamed;
  std::vector<std::string_view> views;
  while (!stream.done()) {
    views.clear();
    stream.take(slice, views);
    std::size_t taken = 0;
    for (const std::string_view view : views) {
      streamed.append(view);
      taken += view.size();
    }
    FUZZ_CHECK(taken == slice || stream.done());
    FUZZ_CHECK(stream.taken() == streamed.size());
  }
  FUZZ_CHECK(stream.left() == 0);
  FUZZ_CHECK(streamed == expected);
  return 0;
}
