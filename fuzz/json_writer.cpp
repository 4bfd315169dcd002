// Fuzz target: detail::append_json, the fast JSON writer, against nlohmann's dump.
//
// The input is decoded into a json value: one kind byte per node, strings and object keys as
// raw bytes (so escapes, control characters and broken UTF-8 anywhere, long repeated runs that
// cross every block of the scan), numbers from raw bits (NaN, infinities, subnormals, -0.0),
// binary values, nesting. append_json must write byte for byte what
// dump(-1, ' ', false, error_handler_t::replace) writes, after what the string already held;
// and with long runs borrowed instead of copied, the same text once the pieces are joined.
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../src/json_writer.hpp"
#include "fuzz_support.hpp"

using procslink::json;
using procslink::fuzz::InputReader;

namespace {

constexpr int kMaxDepth = 24;
// Repeated strings stop growing past this many bytes in all, to keep executions fast.
constexpr std::size_t kRepeatBudget = 256 * 1024;

class ValueDecoder {
 public:
  explicit ValueDecoder(InputReader& in) : in_(in) {}

  json value(int depth) {
    switch (in_.u8() % 12) {
      case 0: return nullptr;
      case 1: return false;
      case 2: return true;
      case 3: return static_cast<std::int64_t>(u64());
      case 4: return u64();
      case 5: return std::bit_cast<double>(u64());
      case 6: return static_cast<std::int8_t>(in_.u8());
      case 7:
      case 8: return text();
      case 9: {
        const std::string_view bytes = in_.bytes(in_.u8() % 64);
        json::binary_t::container_type data(bytes.begin(), bytes.end());
        const std::uint8_t subtype = in_.u8();
        if (subtype == 0) return json::binary(std::move(data));
        return json::binary(std::move(data), subtype - 1u);
      }
      case 10: {
        json array = json::array();
        if (depth >= kMaxDepth) return array;
        for (int n = in_.u8() % 16; n > 0; --n) array.push_back(value(depth + 1));
        return array;
      }
      default: {
        json object = json::object();
        if (depth >= kMaxDepth) return object;
        for (int n = in_.u8() % 16; n > 0; --n) {
          std::string key = text();
          object[std::move(key)] = value(depth + 1);
        }
        return object;
      }
    }
  }

 private:
  std::uint64_t u64() {
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | in_.u8();
    return bits;
  }

  // A length byte, then that many raw bytes; or, from 0xE0 up, a piece of up to 32 bytes
  // repeated up to 2048 times and a raw tail.
  std::string text() {
    const std::uint8_t length = in_.u8();
    if (length < 0xE0) return std::string(in_.bytes(length));
    const std::string piece(in_.bytes(1 + (length & 0x1F)));
    std::size_t count = 1 + in_.u16() % 2048;
    if (repeated_ + piece.size() * count > kRepeatBudget) count = 1;
    repeated_ += piece.size() * count;
    std::string out;
    out.reserve(piece.size() * count + 32);
    for (; count > 0; --count) out += piece;
    out += in_.bytes(in_.u8() % 32);
    return out;
  }

  InputReader& in_;
  std::size_t repeated_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InputReader in(data, size);
  const std::string prefix(in.u8() % 40, '<');
  const json value = ValueDecoder(in).value(0);

  const std::string expected = value.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out = prefix;
  procslink::detail::append_json(out, value);
  FUZZ_CHECK(out.size() == prefix.size() + expected.size());
  FUZZ_CHECK(out.compare(0, prefix.size(), prefix) == 0);
  FUZZ_CHECK(out.compare(prefix.size(), std::string::npos, expected) == 0);

  // With long runs borrowed rather than copied, the pieces put together are the same text.
  std::string text = prefix;
  std::vector<procslink::detail::BorrowedRun> borrowed;
  procslink::detail::append_json(text, value, borrowed);
  std::vector<std::string_view> parts;
  procslink::detail::gather(text, borrowed, parts);
  std::string joined;
  for (const std::string_view part : parts) joined.append(part);
  FUZZ_CHECK(joined == out);
  for (const auto& run : borrowed) FUZZ_CHECK(run.bytes.size() >= procslink::detail::kBorrowMin);
  return 0;
}
