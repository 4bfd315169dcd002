// Fuzz target: detail::TextStream, a sender's text handed out in slices with its long strings
// checked on the way.
//
// The input makes a request whose params hold a short string of raw bytes and one or two long
// strings (kUncheckedMin bytes or more), and picks the slice size. A long string is clean
// filler (ASCII and UTF-8 of every length, which the slices cut anywhere) with a piece of raw
// bytes tiled over windows of it: from up to 255 bytes before the first slice's end (the
// input says how far), at its end (before a tail of raw bytes, perhaps a sequence the end
// cuts) and, if the input says so, at its start. So escapes, control characters and
// ill-formed or cut UTF-8 fall at a slice's end and at the string's; the filler keeps each run
// fast enough for thousands of runs a minute.
// The request writer leaves the long strings unchecked; the slices put together must be the
// text the writer writes when it checks everything itself, and every slice but the last must
// be full.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
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

// Writes `piece` over `out` from `from` on, repeated to `length` bytes (clamped to `out`).
void overlay(std::string& out, std::string_view piece, std::size_t from, std::size_t length) {
  from = std::min(from, out.size());
  length = std::min(length, out.size() - from);
  for (std::size_t i = 0; i < length; ++i) out[from + i] = piece[i % piece.size()];
}

// Clean string content: nothing to escape, valid UTF-8 of one to four bytes a character,
// mostly ASCII (as most text is; each 64-byte block with a byte >= 0x80 in it is checked
// byte by byte).
const std::string kFiller = std::string(200, 'a') + "procslink \xC3\xA9t\xC3\xA9 \xE2\x82\xAC" +
                            "5 \xF0\x9F\x98\x80!";

// A long string of `size` bytes: filler with `piece` repeated over [at, at + window) for each
// `at` in `windows`, then `tail`. Large strings are where a run's time goes under the
// sanitizers (each is fresh pages), so this one is made once, in place.
std::string long_string(std::string_view piece, std::size_t size,
                        std::initializer_list<std::size_t> windows, std::size_t window,
                        std::string_view tail) {
  std::string out;
  out.reserve(size + tail.size());
  while (out.size() < size) out.append(kFiller, 0, std::min(kFiller.size(), size - out.size()));
  for (const std::size_t at : windows) overlay(out, piece, at, window);
  return out.append(tail);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InputReader in(data, size);
  const std::string prefix(in.u8() % 40, '<');
  const std::string head(in.bytes(in.u8() % 64));
  const std::string piece(in.bytes(1 + in.u8() % 32));
  if (piece.empty()) return 0;
  const std::size_t long_size = detail::kUncheckedMin + in.u16() % 4096;
  const std::string tail(in.bytes(in.u8() % 8));
  const bool two = (in.u8() & 1) != 0;
  const std::size_t slice = 4096 + (std::size_t{in.u16()} << 2);  // 4 KiB to 260 KiB
  const std::uint8_t shape = in.u8();
  const std::size_t window = 64 + (shape >> 1) * 64u;  // 64 bytes to 8 KiB
  const bool at_start = (shape & 1) != 0;
  const std::size_t back = in.u8();  // how far before the first slice's end its window starts

  // Where the first long string starts in the text does not depend on what it holds: written
  // once with filler (borrowed, so not copied), the text says which of its bytes the first
  // slice ends at. Then the windows are written over the filler.
  json params = json::array();
  params.push_back(head);
  params.push_back(long_string(piece, long_size, {}, 0, tail));
  std::string probe = prefix;
  std::vector<detail::BorrowedRun> probe_runs;
  detail::append_request(probe, &probe_runs, "m", &params, nullptr);
  FUZZ_CHECK(!probe_runs.empty());
  const std::size_t boundary = prefix.size() + slice - std::min(prefix.size() + slice,
                                                                probe_runs[0].at);
  const std::size_t end = long_size - std::min(long_size, window);
  auto& first = params[1].get_ref<std::string&>();
  overlay(first, piece, boundary - std::min(boundary, back), window);
  overlay(first, piece, end, window);
  if (at_start) overlay(first, piece, 0, window);
  if (two) {
    params.push_back(json::object(
        {{"k", long_string(tail + piece, long_size, {0, end}, window, head)}}));
  }

  std::string expected;
  expected.reserve(params.size() * (long_size + 8 * window) + 4096);
  detail::append_request(expected, nullptr, "m", &params, nullptr);

  std::string text = prefix;
  std::vector<detail::BorrowedRun> runs;
  detail::append_request(text, &runs, "m", &params, nullptr);
  std::size_t unchecked = 0;
  for (const auto& run : runs) unchecked += !run.checked;
  FUZZ_CHECK(unchecked == (two ? 2u : 1u));

  detail::TextStream stream(text, runs, prefix.size());
  std::string streamed;
  streamed.reserve(expected.size());
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
