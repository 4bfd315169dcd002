// fuzz_support.hpp - what every fuzz target shares: an always-on check and a byte reader.
//
// The checks must stay on in every build type (assert() vanishes under NDEBUG), and a failure
// must abort so that libFuzzer, the replay runner and ctest all see a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition)                                                          \
  do {                                                                                 \
    if (!(condition)) {                                                                \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace procslink::fuzz {

// Reads the fuzz input front to back; past the end every read yields zero, so a decoder never
// has to check lengths and every input, however short, means something.
class InputReader {
 public:
  InputReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return offset_ >= size_; }
  std::size_t remaining() const { return empty() ? 0 : size_ - offset_; }

  std::uint8_t u8() { return empty() ? 0 : data_[offset_++]; }
  std::uint16_t u16() {
    const std::uint16_t high = u8();
    return static_cast<std::uint16_t>((high << 8) | u8());
  }
  // The next `count` bytes (fewer at the end of the input).
  std::string_view bytes(std::size_t count) {
    if (count > remaining()) count = remaining();
    std::string_view out(reinterpret_cast<const char*>(data_) + offset_, count);
    offset_ += count;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

}  // namespace procslink::fuzz
