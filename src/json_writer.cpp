// json_writer.cpp - append_json: nlohmann's compact dump, without its byte-at-a-time decoder.
//
// A string is copied in clean runs. A vector scan (json_scan.hpp) finds the next byte that may need
// work
// ('"', '\\', a control character, a non-ASCII byte); well-formed UTF-8 stays inside the run,
// so only escapes and ill-formed bytes end one. Doubles go through nlohmann's own Grisu2
// formatter: its output is not std::to_chars's for every value, and floats are rare here.
#include "json_writer.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "bulk_memory.hpp"
#include "procslink/error.hpp"
#include "json_scan.hpp"

namespace procslink::detail {
namespace {

using Byte = unsigned char;

// dump's escape for each control character: the short form where JSON has one, else \u00xx
// with lowercase hex digits.
struct Escape {
  std::uint8_t size;
  char text[7];
};

constexpr std::array<Escape, 0x20> make_control_escapes() {
  constexpr char hex[] = "0123456789abcdef";
  std::array<Escape, 0x20> table{};
  for (std::size_t c = 0; c < table.size(); ++c) {
    table[c] = {6, {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf], 0}};
  }
  table['\b'] = {2, {'\\', 'b'}};
  table['\t'] = {2, {'\\', 't'}};
  table['\n'] = {2, {'\\', 'n'}};
  table['\f'] = {2, {'\\', 'f'}};
  table['\r'] = {2, {'\\', 'r'}};
  return table;
}
constexpr std::array<Escape, 0x20> kControlEscapes = make_control_escapes();

// The first byte in [p, end) that ends a clean run, or end. `begin` is where the string
// starts: the last 16 bytes may be read again from there rather than one at a time.
inline const Byte* find_stop(const Byte* begin, const Byte* p, const Byte* end) {
#ifdef __SSE2__
  // Long clean runs are the case to win: skip whole clean blocks, then find the byte.
  if (end - p >= 64) {
    p = reinterpret_cast<const Byte*>(skip_clean_blocks(reinterpret_cast<const char*>(p),
                                                        reinterpret_cast<const char*>(end)));
  }
  while (end - p >= 16) {
    if (const unsigned mask = run_end_mask(p)) return p + std::countr_zero(mask);
    p += 16;
  }
  if (p == end) return end;
  if (end - begin >= 16) {
    // The bytes before p in this load were handled already, whatever they are: mask them off.
    const Byte* const last = end - 16;
    const unsigned mask = run_end_mask(last) & (~0u << (p - last));
    return mask != 0 ? last + std::countr_zero(mask) : end;
  }
#else
  (void)begin;
#endif
  while (p != end && !kEndsRun[*p]) ++p;
  return p;
}

// What dump's decoder makes of the bytes at p, where *p >= 0x80: a well-formed sequence, or
// else the maximal prefix of one (at least one byte), which it replaces with a single U+FFFD
// before reading on from the byte that broke it. Hoehrmann's DFA in dump_escaped allows
// exactly these second bytes: E0 A0..BF (no overlong forms), ED 80..9F (no surrogates),
// F0 90..BF, F4 80..8F (nothing above U+10FFFF); C0, C1 and F5..FF start nothing.
struct Sequence {
  std::size_t size;
  bool valid;
};

inline Sequence utf8_sequence(const Byte* p, const Byte* end) {
  const Byte lead = p[0];
  if (lead < 0xC2 || lead > 0xF4) return {1, false};
  const std::size_t left = static_cast<std::size_t>(end - p);
  Byte low = 0x80;
  Byte high = 0xBF;
  std::size_t size = 2;
  if (lead >= 0xF0) {
    size = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else if (lead >= 0xE0) {
    size = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  }
  if (left < 2 || p[1] < low || p[1] > high) return {1, false};
  for (std::size_t i = 2; i < size; ++i) {
    if (i >= left || (p[i] & 0xC0) != 0x80) return {i, false};
  }
  return {size, true};
}

// Copies size <= 16 bytes with at most two overlapping loads and stores.
inline void copy_short(char* to, const char* from, std::size_t size) {
  if (size >= 8) {
    std::uint64_t head, tail;
    std::memcpy(&head, from, 8);
    std::memcpy(&tail, from + size - 8, 8);
    std::memcpy(to, &head, 8);
    std::memcpy(to + size - 8, &tail, 8);
  } else if (size >= 4) {
    std::uint32_t head, tail;
    std::memcpy(&head, from, 4);
    std::memcpy(&tail, from + size - 4, 4);
    std::memcpy(to, &head, 4);
    std::memcpy(to + size - 4, &tail, 4);
  } else if (size > 0) {
    to[0] = from[0];
    to[size / 2] = from[size / 2];
    to[size - 1] = from[size - 1];
  }
}

// Copies size <= 64 bytes: a call to memcpy costs more than the copy for the keys, fixed text
// and short strings a message is made of. Above 16 bytes, with overlapping 16-byte moves.
inline void copy_small(char* to, const char* from, std::size_t size) {
#ifdef __SSE2__
  if (size > 16) {
    const auto load = [from](std::size_t at) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + at));
    };
    const auto store = [to](std::size_t at, __m128i v) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(to + at), v);
    };
    const __m128i a = load(0), b = load(size - 16);
    if (size > 32) {
      const __m128i c = load(16), d = load(size - 32);
      store(16, c);
      store(size - 32, d);
    }
    store(0, a);
    store(size - 16, b);
    return;
  }
  copy_short(to, from, size);
#else
  std::memcpy(to, from, size);
#endif
}
inline constexpr std::size_t kSmallCopy = 64;

// Output goes through a buffer on the stack, so that a small reply costs one append to the
// string rather than one per token, each an out-of-line call that checks the capacity. The
// write position is passed along and returned by value: kept in this object, it would go
// through memory after every byte, since a store through char* may alias anything.
class Output {
 public:
  static constexpr std::size_t kCapacity = 1024;

  // `defer_checks`: long strings are borrowed unchecked (BorrowedRun::checked).
  explicit Output(std::string& out, std::vector<BorrowedRun>* borrowed = nullptr,
                  bool defer_checks = false)
      : out_(out), borrowed_(borrowed), defer_checks_(borrowed != nullptr && defer_checks) {}
  bool borrows() const { return borrowed_ != nullptr; }
  bool defers_checks() const { return defer_checks_; }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  char* start() { return buffer_; }

  // Where `size` <= kCapacity bytes can be written: at `at`, or at the start once flushed.
  char* room(char* at, std::size_t size) { return left(at) >= size ? at : flush(at); }

  char* put(char* at, char c) {
    at = room(at, 1);
    *at = c;
    return at + 1;
  }
  // Inline for what fits (most keys and values are a few bytes), the rest out of line.
  char* put(char* at, const char* text, std::size_t size) {
    if (size <= kSmallCopy && left(at) >= size) {
      copy_small(at, text, size);
      return at + size;
    }
    return put_large(at, text, size);
  }
  [[gnu::noinline]] char* put_large(char* at, const char* text, std::size_t size) {
    if (left(at) < size) {
      at = flush(at);
      if (borrowed_ != nullptr && size >= kBorrowMin) {
        borrowed_->push_back({out_.size(), std::string_view(text, size), true});
        return at;
      }
      // Copying a long run twice would cost more than the call.
      if (size > kCapacity / 2) {
        out_.append(text, size);
        return at;
      }
    }
    std::memcpy(at, text, size);
    return at + size;
  }
  char* put(char* at, const Byte* first, const Byte* last) {
    return put(at, reinterpret_cast<const char*>(first), static_cast<std::size_t>(last - first));
  }
  template <std::size_t N>
  char* put(char* at, const char (&text)[N]) {
    static_assert(N - 1 <= kSmallCopy);
    at = room(at, N - 1);
    copy_small(at, text, N - 1);
    return at + N - 1;
  }

  // Makes the string's capacity enough for what is buffered up to `at` and `more` bytes.
  void reserve(const char* at, std::size_t more) {
    reserve_bulk(out_, out_.size() + static_cast<std::size_t>(at - buffer_) + more);
  }
  char* flush(const char* at) {
    out_.append(buffer_, static_cast<std::size_t>(at - buffer_));
    return buffer_;
  }

  // A string's whole content, left for the sender to check as it sends it.
  char* put_unchecked(char* at, std::string_view content) {
    at = flush(at);
    borrowed_->push_back({out_.size(), content, false});
    return at;
  }

 private:
  std::size_t left(const char* at) const {
    return static_cast<std::size_t>(buffer_ + kCapacity - at);
  }

  std::string& out_;
  std::vector<BorrowedRun>* borrowed_;
  bool defer_checks_;
  char buffer_[kCapacity];
};

// A string's content, without the quotes: clean runs copied (or borrowed) whole, escapes
// written where dump writes them, each ill-formed UTF-8 sequence replaced with one U+FFFD.
char* write_content(Output& out, char* at, std::string_view text) {
  const Byte* const begin = reinterpret_cast<const Byte*>(text.data());
  const Byte* const end = begin + text.size();
  const Byte* run = begin;  // start of the bytes not yet written, all to be copied as is
  const Byte* p = begin;
  for (;;) {
    p = find_stop(begin, p, end);
    if (p == end) break;
    if (*p >= 0x80) {
      // Non-ASCII text comes in words: take them here rather than rescanning after each one.
      do {
        const Sequence sequence = utf8_sequence(p, end);
        if (!sequence.valid) {
          at = out.put(at, run, p);
          at = out.put(at, "\xEF\xBF\xBD");
          run = p + sequence.size;
        }
        p += sequence.size;
      } while (p != end && *p >= 0x80);
      continue;
    }
    at = out.put(at, run, p);
    if (*p == '"') {
      at = out.put(at, "\\\"");
    } else if (*p == '\\') {
      at = out.put(at, "\\\\");
    } else {
      const Escape& escape = kControlEscapes[*p];
      at = out.put(at, escape.text, escape.size);
    }
    run = ++p;
  }
  return out.put(at, run, end);
}

char* write_string(Output& out, char* at, std::string_view text) {
  if (text.size() <= kSmallCopy) {
    // Most keys and values: short and clean, written with one check for room.
    const Byte* const begin = reinterpret_cast<const Byte*>(text.data());
    const Byte* const end = begin + text.size();
    const Byte* p = text.size() <= 16 ? begin : find_stop(begin, begin, end);
    while (p != end && !kEndsRun[*p]) ++p;
    if (p == end) {
      at = out.room(at, kSmallCopy + 2);
      *at = '"';
      copy_small(at + 1, text.data(), text.size());
      at[text.size() + 1] = '"';
      return at + text.size() + 2;
    }
  }
  if (text.size() >= kUncheckedMin && out.defers_checks()) {
    return out.put(out.put_unchecked(out.put(at, '"'), text), '"');
  }
  // The long runs of a long string go to the string directly. Most strings need no escape, so
  // this is usually the only growth for one.
  // Room for what usually follows it too (the closing brackets of an envelope): a few bytes
  // over would double the string and copy it all.
  if (text.size() > Output::kCapacity / 2 && !out.borrows()) {
    out.reserve(at, text.size() + 2 + Output::kCapacity);
  }
  return out.put(write_content(out, out.put(at, '"'), text), '"');
}

template <typename Integer>
char* write_integer(Output& out, char* at, Integer value) {
  constexpr std::size_t kMaxChars = 21;  // a sign and 20 digits
  at = out.room(at, kMaxChars);
  return std::to_chars(at, at + kMaxChars, value).ptr;
}

char* write_double(Output& out, char* at, double value) {
  if (!std::isfinite(value)) return out.put(at, "null");
  // The formatter serializer::dump_float calls, with as much room as its buffer has.
  constexpr std::size_t kMaxChars = 64;
  at = out.room(at, kMaxChars);
  return nlohmann::detail::to_chars(at, at + kMaxChars, value);
}

[[noreturn]] void throw_too_deep() {
  throw TransportError(TransportError::Kind::too_large,
                       "the message nests arrays and objects more than " +
                           std::to_string(kMaxJsonDepth) +
                           " levels deep (its envelope included), which no procslink peer reads");
}

// `depth_left`: how many levels of arrays and objects may still open here.
constexpr int kUnlimitedDepth = std::numeric_limits<int>::max();

char* write_value(Output& out, char* at, const json& value, int depth_left = kUnlimitedDepth) {
  switch (value.type()) {
    case json::value_t::null:
      return out.put(at, "null");
    case json::value_t::boolean:
      return *value.get_ptr<const json::boolean_t*>() ? out.put(at, "true") : out.put(at, "false");
    case json::value_t::number_integer:
      return write_integer(out, at, *value.get_ptr<const json::number_integer_t*>());
    case json::value_t::number_unsigned:
      return write_integer(out, at, *value.get_ptr<const json::number_unsigned_t*>());
    case json::value_t::number_float:
      return write_double(out, at, *value.get_ptr<const json::number_float_t*>());
    case json::value_t::string:
      return write_string(out, at, *value.get_ptr<const json::string_t*>());
    case json::value_t::array: {
      if (--depth_left < 0) throw_too_deep();
      at = out.put(at, '[');
      bool first = true;
      for (const json& element : *value.get_ptr<const json::array_t*>()) {
        if (!first) at = out.put(at, ',');
        first = false;
        at = write_value(out, at, element, depth_left);
      }
      return out.put(at, ']');
    }
    case json::value_t::object: {
      if (--depth_left < 0) throw_too_deep();
      at = out.put(at, '{');
      bool first = true;
      for (const auto& [key, member] : *value.get_ptr<const json::object_t*>()) {
        if (!first) at = out.put(at, ',');
        first = false;
        at = write_string(out, at, key);
        at = out.put(at, ':');
        at = write_value(out, at, member, depth_left);
      }
      return out.put(at, '}');
    }
    case json::value_t::binary: {
      // dump's own shape for binary values, which JSON has no type for.
      const json::binary_t& binary = *value.get_ptr<const json::binary_t*>();
      at = out.put(at, "{\"bytes\":[");
      bool first = true;
      for (const std::uint8_t byte : binary) {
        if (!first) at = out.put(at, ',');
        first = false;
        at = write_integer(out, at, byte);
      }
      at = out.put(at, "],\"subtype\":");
      at = binary.has_subtype() ? write_integer(out, at, binary.subtype()) : out.put(at, "null");
      return out.put(at, '}');
    }
    case json::value_t::discarded:
      return out.put(at, "<discarded>");
  }
  return at;
}

}  // namespace

void append_json(std::string& out, const json& value) {
  Output output(out);
  output.flush(write_value(output, output.start(), value));
}

void append_json(std::string& out, const json& value, std::vector<BorrowedRun>& borrowed) {
  Output output(out, &borrowed);
  output.flush(write_value(output, output.start(), value));
}

void gather(std::string_view text, std::span<const BorrowedRun> borrowed,
            std::vector<std::string_view>& parts) {
  std::size_t done = 0;
  for (const BorrowedRun& run : borrowed) {
    if (run.at > done) parts.push_back(text.substr(done, run.at - done));
    parts.push_back(run.bytes);
    done = run.at;
  }
  if (text.size() > done) parts.push_back(text.substr(done));
}

void append_envelope(std::string& out, std::vector<BorrowedRun>* borrowed, std::string_view head,
                     const std::string_view* first_string,
                     std::span<const EnvelopeMember> members, int depth) {
  if (depth > kMaxJsonDepth) throw_too_deep();
  Output output(out, borrowed, true);
  char* at = output.put(output.start(), head.data(), head.size());
  if (first_string) at = write_string(output, at, *first_string);
  for (const EnvelopeMember& member : members) {
    if (member.value == nullptr) continue;
    at = output.put(at, member.name.data(), member.name.size());
    at = write_value(output, at, *member.value, kMaxJsonDepth - depth);
  }
  output.flush(output.put(at, '}'));
}

void append_positional_request(std::string& out, std::vector<BorrowedRun>* borrowed,
                               std::string_view method, std::span<const ParamArg> args,
                               const std::int64_t* id) {
  Output output(out, borrowed, true);
  char* at = output.put(output.start(), R"({"jsonrpc":"2.0","method":)");
  at = write_string(output, at, method);
  at = output.put(at, R"(,"params":[)");
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i > 0) at = output.put(at, ',');
    // Inside the request object and its params array.
    at = args[i].value != nullptr ? write_value(output, at, *args[i].value, kMaxJsonDepth - 2)
                                  : write_string(output, at, args[i].text);
  }
  at = output.put(at, ']');
  if (id != nullptr) {
    at = output.put(at, R"(,"id":)");
    at = write_integer(output, at, *id);
  }
  output.flush(output.put(at, '}'));
}

void append_json_string(std::string& out, std::string_view text) {
  Output output(out);
  output.flush(write_string(output, output.start(), text));
}

void append_string_content(std::string& out, std::vector<BorrowedRun>* borrowed,
                           std::string_view content) {
  Output output(out, borrowed);
  output.flush(write_content(output, output.start(), content));
}

std::size_t clean_prefix(std::string_view content, std::size_t from, std::size_t want) {
  const Byte* const begin = reinterpret_cast<const Byte*>(content.data());
  const Byte* const end = begin + content.size();
  const Byte* const limit = begin + std::min(want, content.size());
  const Byte* p = begin + from;
  while (p < limit) {
    p = find_stop(begin, p, limit);
    if (p == limit || *p < 0x80) break;
    // A sequence that `want` cuts is checked whole, from the bytes behind the limit.
    const Sequence sequence = utf8_sequence(p, end);
    if (!sequence.valid) break;
    p += sequence.size;
  }
  return static_cast<std::size_t>(p - begin);
}

}  // namespace procslink::detail
