// json_reader.cpp - the fast JSON reader behind detail::read_json.
//
// A recursive-descent parser over the raw bytes. Where nlohmann's lexer handles one byte per
// call through an input adapter and copies every string byte by byte into a token buffer, this
// reader finds the end of each clean run of string bytes with SSE2 and appends the run at once,
// validates UTF-8 in a tight loop, and constructs objects, arrays and strings in place. Its
// accept/reject decisions follow nlohmann 3.11's lexer and parser rule for rule.
#include "json_reader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "bulk_memory.hpp"
#include "json_scan.hpp"

namespace procslink::detail {

JsonSyntaxError::JsonSyntaxError(std::size_t offset, const std::string& what)
    : std::runtime_error("JSON syntax error at byte " + std::to_string(offset) + ": " + what),
      offset_(offset) {}

namespace {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Value of a hex digit, or 0x10000, which stays above 0xFFFF however it is shifted and or-ed.
inline std::uint32_t hex_value(char c) {
  const std::uint32_t u = static_cast<unsigned char>(c);
  if (u - '0' < 10) return u - '0';
  const std::uint32_t lower = u | 0x20;  // 'A'..'F' -> 'a'..'f'; no non-letter lands on a..f
  if (lower - 'a' < 6) return lower - 'a' + 10;
  return 0x10000;
}

// The first byte in [p, end) that ends a run, or end.
inline const char* find_run_end(const char* p, const char* end) {
#ifdef __SSE2__
  // Keys and most strings of an envelope end within 16 bytes: look there before calling the
  // block skipper. Then whole clean blocks; the 16-byte loop finds the lane.
  if (end - p >= 16) {
    if (const unsigned mask = run_end_mask(p)) return p + __builtin_ctz(mask);
    p += 16;
  }
  if (end - p >= 64) p = skip_clean_blocks(p, end);
  while (end - p >= 16) {
    if (const unsigned mask = run_end_mask(p)) return p + __builtin_ctz(mask);
    p += 16;
  }
#endif
  while (p < end && !kEndsRun[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

[[noreturn, gnu::cold, gnu::noinline]] void fail_at(std::size_t offset, const char* what) {
  throw JsonSyntaxError(offset, what);
}

class Reader {
 public:
  explicit Reader(std::string_view text)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}
  // A reader that may hand the text's buffer to one large string (read_json_members).
  Reader(std::string& owner, std::size_t adopt_min) : Reader(std::string_view(owner)) {
    owner_ = &owner;
    adopt_min_ = adopt_min;
  }

  // A text in two pieces: reading starts in `head`, which ends just past the opening quote of
  // a string that `rest` goes on with, its first `checked` bytes known clean.
  Reader(std::string_view head, std::string& rest, std::size_t checked, std::size_t adopt_min)
      : Reader(head) {
    continuation_ = &rest;
    checked_ = checked;
    adopt_min_ = adopt_min;
  }
  // A reader of a text's first piece only: a string that runs into the piece's end throws
  // OpenStringAt instead of failing (open_string_at_end).
  void probe_open_strings() { probing_ = true; }

  // Starts on text[pos], for read_json_value.
  Reader(std::string_view text, std::size_t pos) : Reader(text) { p_ += pos; }
  std::size_t offset() const { return static_cast<std::size_t>(p_ - begin_); }

  // A value that starts right at p_ (not whitespace).
  json read_value_here(int depth_left) { return read_value(depth_left); }
  // A string value whose storage the next string read takes over (see new_string).
  void take_spare_string(json* spare) { spare_string_ = spare; }
  // An array that starts right at p_, its elements appended to `elements`.
  void read_array_here(int depth_left, json::array_t& elements) {
    read_array_elements(depth_left, elements);
  }

  // Whether only what finish_document allows follows.
  bool at_document_end() {
    skip_whitespace();
    return p_ == end_ || *p_ == '\0';
  }

  json read_document(int max_depth) {
    skip_byte_order_mark();
    skip_whitespace();
    json value = read_value(max_depth);
    finish_document();
    return value;
  }

  // The top-level object's members, each handed to `member` instead of being put in a map.
  bool read_members(int max_depth, MemberReceiver& receiver) {
    skip_byte_order_mark();
    skip_whitespace();
    if (p_ == end_ || *p_ != '{') return false;
    read_object_members<std::string_view>(max_depth, [&](std::string_view key) {
      if (p_ != end_ && *p_ == '"') {
        if (std::string* text = receiver.text_slot(key)) {
          text->clear();
          ++p_;
          read_string(*text);
          return;
        }
      }
      receiver.take(key, read_value(max_depth - 1));
    });
    finish_document();
    return true;
  }

 private:
  [[noreturn]] void fail(const char* at, const char* what) const {
    fail_at(consumed_ + static_cast<std::size_t>(at - begin_), what);
  }

  // Whether a string starting at p_ could be long enough to take over the owner's buffer.
  bool may_adopt() const {
    const auto left = static_cast<std::size_t>(end_ - p_);
    return owner_ != nullptr && left >= adopt_min_ && 2 * left >= owner_->size();
  }

  // Expects p_ at the end of the head, just past the opening quote: reading goes on in the
  // second piece, where the string already lies at the front of the buffer.
  void enter_continuation() {
    consumed_ += static_cast<std::size_t>(end_ - begin_);
    owner_ = std::exchange(continuation_, nullptr);
    begin_ = p_ = owner_->data();
    end_ = begin_ + owner_->size();
  }

  // Expects p_ just past the opening quote of a string that may_adopt(). Moves the string to
  // the front of the owner's buffer as it looks for the closing quote: clean blocks in the same
  // pass that checks them (json_scan.hpp), the rest once the quote is found; a string already
  // at the front (a second piece) is only checked, from its first unchecked byte on. A string
  // long enough then takes the buffer over; a shorter one is copied into `out` from there.
  // Returns false, with `out` holding the string's bytes before `run`, when an escape comes
  // first: the usual reading goes on from `run` and p (the bytes from `run` on are in place).
  bool read_string_in_place(std::string& out, const char*& run, const char*& p) {
    char* const front = owner_->data();
    const bool at_front = p_ == front;
    const std::size_t moved =
        at_front ? skip_checked_and_clean() : move_clean_blocks(front, p_, end_);
    p = p_ + moved;
    for (;;) {
      p = find_run_end(p, end_);
      if (p == end_) fail(p, "missing closing quote");
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') break;
      if (c >= 0x80) {
        p = skip_utf8(p);  // valid UTF-8 stays in the string as it is
        continue;
      }
      out.append(front, moved);
      run = p_ + moved;
      return false;
    }
    if (!at_front) std::memmove(front + moved, p_ + moved, static_cast<std::size_t>(p - p_) - moved);
    const auto length = static_cast<std::size_t>(p - p_);
    if (length >= adopt_min_ && 2 * length >= owner_->size()) {
      adopt(p, length, out);
    } else {
      reserve_bulk(out, length);
      out.append(front, length);
      p_ = p + 1;
    }
    return true;
  }

  // For a string at the front of a second piece: how far from p_ on its bytes are known
  // clean, the checked ones taken as they are, then the whole clean blocks after them.
  std::size_t skip_checked_and_clean() {
    const std::size_t checked =
        std::min(std::exchange(checked_, 0), static_cast<std::size_t>(end_ - p_));
    return static_cast<std::size_t>(skip_clean_blocks(p_ + checked, end_) - p_);
  }

  // Makes `out` (empty) the string of `length` bytes at the front of the owner's buffer, by
  // giving it that buffer. Reading goes on in a copy of what follows the closing quote.
  [[gnu::noinline]] void adopt(const char* quote, std::size_t length, std::string& out) {
    rest_.assign(quote + 1, end_);
    consumed_ += static_cast<std::size_t>(quote + 1 - begin_);
    owner_->resize(length);
    out = std::move(*owner_);
    owner_ = nullptr;
    begin_ = p_ = rest_.data();
    end_ = begin_ + rest_.size();
  }

  void skip_byte_order_mark() {
    // nlohmann skips a UTF-8 byte order mark at the very start, and refuses a partial one.
    if (p_ != end_ && static_cast<unsigned char>(*p_) == 0xEF) {
      if (end_ - p_ < 3 || static_cast<unsigned char>(p_[1]) != 0xBB ||
          static_cast<unsigned char>(p_[2]) != 0xBF) {
        fail(p_, "invalid byte order mark");
      }
      p_ += 3;
    }
  }

  void finish_document() {
    skip_whitespace();
    // nlohmann's lexer reads a NUL byte between tokens as the end of the input.
    if (p_ != end_ && *p_ != '\0') fail(p_, "unexpected character after the value");
  }

  void skip_whitespace() {
    // Compact JSON has little whitespace, so test for "not whitespace" first.
    while (p_ != end_) {
      const char c = *p_;
      if (c > ' ' || (c != ' ' && c != '\n' && c != '\r' && c != '\t')) return;
      ++p_;
    }
  }

  // Expects p_ on the first byte of a value.
  json read_value(int depth_left) {
    if (p_ == end_) fail(p_, "unexpected end of input");
    switch (*p_) {
      case '{': return read_object(depth_left);
      case '[': return read_array(depth_left);
      case '"': {
        ++p_;
        json value = new_string();
        read_string(*value.get_ptr<json::string_t*>());
        return value;
      }
      case 't': return read_literal("true", 4, json(true));
      case 'f': return read_literal("false", 5, json(false));
      case 'n': return read_literal("null", 4, json(nullptr));
      case '-':
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
      case '8':
      case '9': return read_number();
      case '\0': fail(p_, "unexpected end of input");
      default: fail(p_, "unexpected character");
    }
  }

  // An empty string value: the spare one (see read_json_value_into), else a new one.
  json new_string() {
    if (spare_string_ != nullptr && spare_string_->is_string()) {
      json value = std::move(*spare_string_);
      spare_string_ = nullptr;
      value.get_ptr<json::string_t*>()->clear();
      return value;
    }
    return json(json::value_t::string);
  }

  json read_literal(const char* word, std::size_t length, json value) {
    if (static_cast<std::size_t>(end_ - p_) < length || std::memcmp(p_, word, length) != 0) {
      fail(p_, "invalid literal");
    }
    p_ += length;
    return value;
  }

  json read_object(int depth_left) {
    json object(json::value_t::object);
    auto& members = *object.get_ptr<json::object_t*>();
    read_object_members<std::string>(depth_left, [&](std::string& key) {
      // Key comparisons are memcmp calls, so each one counts: hinting at the end makes keys
      // that arrive in order cost one, and emplace_hint (unlike try_emplace or insert_or_assign)
      // searches the tree only once. A repeated key gets back the existing member, which then
      // takes the last value, as with nlohmann's parser.
      members.emplace_hint(members.end(), std::move(key), nullptr)->second =
          read_value(depth_left - 1);
    });
    return object;
  }

  // Expects p_ on '{'; reads keys and separators, calling on_member(key) with p_ on each
  // member's value, which on_member must read. Leaves p_ past the '}'. Key is std::string (to
  // keep) or std::string_view (only looked at: a key without escapes is not copied).
  template <typename Key, typename OnMember>
  void read_object_members(int depth_left, OnMember&& on_member) {
    if (depth_left <= 0) fail(p_, "arrays and objects nest too deep");
    ++p_;
    skip_whitespace();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return;
    }
    for (;;) {
      if (p_ == end_ || *p_ != '"') fail(p_, "expected a string as object key");
      ++p_;
      std::string text;
      Key key;
      if constexpr (std::is_same_v<Key, std::string_view>) {
        key = read_key(text);
      } else {
        read_string(key);
      }
      skip_whitespace();
      if (p_ == end_ || *p_ != ':') fail(p_, "expected ':' after object key");
      ++p_;
      skip_whitespace();
      on_member(key);
      skip_whitespace();
      if (p_ != end_ && *p_ == ',') {
        ++p_;
        skip_whitespace();
        continue;
      }
      if (p_ != end_ && *p_ == '}') {
        ++p_;
        return;
      }
      fail(p_, "expected ',' or '}' in object");
    }
  }

  json read_array(int depth_left) {
    json array(json::value_t::array);
    read_array_elements(depth_left, *array.get_ptr<json::array_t*>());
    return array;
  }

  // Expects p_ on '['; appends the elements to `elements` and leaves p_ past the ']'.
  void read_array_elements(int depth_left, json::array_t& elements) {
    if (depth_left <= 0) fail(p_, "arrays and objects nest too deep");
    ++p_;
    skip_whitespace();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return;
    }
    for (;;) {
      elements.push_back(read_value(depth_left - 1));
      skip_whitespace();
      if (p_ != end_ && *p_ == ',') {
        ++p_;
        skip_whitespace();
        continue;
      }
      if (p_ != end_ && *p_ == ']') {
        ++p_;
        return;
      }
      fail(p_, "expected ',' or ']' in array");
    }
  }

  // Expects p_ just past the opening quote; leaves it just past the closing one. A key that is
  // one clean run is viewed where it lies; any other is read into `text`. (Not while the text
  // may be taken over: a string read after the key would move the bytes under the view.)
  std::string_view read_key(std::string& text) {
    const char* p = find_run_end(p_, end_);
    if (owner_ == nullptr && p != end_ && *p == '"') {
      const std::string_view key(p_, static_cast<std::size_t>(p - p_));
      p_ = p + 1;
      return key;
    }
    read_string(text);
    return text;
  }

  // Expects p_ just past the opening quote; leaves it just past the closing one. `out` is
  // empty, so when the first run reaches the closing quote, append() allocates exactly once.
  void read_string(std::string& out) {
    if (p_ == end_ && continuation_ != nullptr) enter_continuation();
    const char* run = p_;
    const char* p = p_;
    if (may_adopt() && read_string_in_place(out, run, p)) return;
    const char* const start = p_;
    for (;;) {
      p = find_run_end(p, end_);
      // A probe takes a string that runs into the end, or may (a UTF-8 sequence cut there),
      // for a string opened in this piece and continued in the next. Up to an escape, what it
      // went past is clean.
      if (probing_ && (p == end_ || (end_ - p < 4 && static_cast<unsigned char>(*p) >= 0x80))) {
        throw OpenStringAt{consumed_ + static_cast<std::size_t>(start - begin_),
                         run == start ? static_cast<std::size_t>(p - start) : 0};
      }
      if (p == end_) fail(p, "missing closing quote");
      const unsigned char c = static_cast<unsigned char>(*p);
      if (c == '"') {
        reserve_bulk(out, out.size() + static_cast<std::size_t>(p - run));
        out.append(run, static_cast<std::size_t>(p - run));
        p_ = p + 1;
        return;
      }
      if (c == '\\') {
        out.append(run, static_cast<std::size_t>(p - run));
        p = read_escape(p, out);
        run = p;
      } else if (c < 0x20) {
        fail(p, "control characters U+0000..U+001F must be escaped in strings");
      } else {
        // Valid UTF-8 stays part of the run and is copied with it.
        p = skip_utf8(p);
      }
    }
  }

  // Validates the non-ASCII bytes from p on against RFC 3629 (no overlong forms, no
  // surrogates, nothing above U+10FFFF) and returns the first ASCII byte after them.
  const char* skip_utf8(const char* p) const {
    const auto* s = reinterpret_cast<const unsigned char*>(p);
    const auto* e = reinterpret_cast<const unsigned char*>(end_);
    while (s != e && *s >= 0x80) {
      const unsigned c = *s;
      if (c < 0xE0) {
        if (c < 0xC2 || e - s < 2 || (s[1] & 0xC0) != 0x80) break;
        s += 2;
      } else if (c < 0xF0) {
        // E0 would be overlong below A0; ED at A0 and up encodes surrogates.
        const unsigned low = c == 0xE0 ? 0xA0 : 0x80;
        const unsigned high = c == 0xED ? 0x9F : 0xBF;
        if (e - s < 3 || s[1] < low || s[1] > high || (s[2] & 0xC0) != 0x80) break;
        s += 3;
      } else if (c < 0xF5) {
        // F0 would be overlong below 90; F4 at 90 and up is above U+10FFFF.
        const unsigned low = c == 0xF0 ? 0x90 : 0x80;
        const unsigned high = c == 0xF4 ? 0x8F : 0xBF;
        if (e - s < 4 || s[1] < low || s[1] > high || (s[2] & 0xC0) != 0x80 ||
            (s[3] & 0xC0) != 0x80) {
          break;
        }
        s += 4;
      } else {
        break;
      }
    }
    if (s != e && *s >= 0x80) fail(reinterpret_cast<const char*>(s), "invalid UTF-8");
    return reinterpret_cast<const char*>(s);
  }

  // Four hex digits at p as a code unit, or a value above 0xFFFF.
  static std::uint32_t read_hex4(const char* p) {
    return hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 | hex_value(p[3]);
  }

  // Expects p on a backslash; appends what the escape means and returns the byte after it.
  const char* read_escape(const char* p, std::string& out) const {
    if (end_ - p < 2) fail(end_, "missing closing quote");
    switch (p[1]) {
      case '"': out.push_back('"'); return p + 2;
      case '\\': out.push_back('\\'); return p + 2;
      case '/': out.push_back('/'); return p + 2;
      case 'b': out.push_back('\b'); return p + 2;
      case 'f': out.push_back('\f'); return p + 2;
      case 'n': out.push_back('\n'); return p + 2;
      case 'r': out.push_back('\r'); return p + 2;
      case 't': out.push_back('\t'); return p + 2;
      case 'u': break;
      default: fail(p + 1, "invalid escape");
    }
    // A bad digit makes the code unit exceed 0xFFFF, so one compare checks all four.
    std::uint32_t code = end_ - p >= 6 ? read_hex4(p + 2) : 0x10000;
    if (code > 0xFFFF) fail(p, "\\u must be followed by 4 hex digits");
    p += 6;
    if (code >= 0xD800 && code <= 0xDFFF) {
      if (code >= 0xDC00) fail(p - 6, "lone low surrogate U+DC00..U+DFFF");
      if (end_ - p < 2 || p[0] != '\\' || p[1] != 'u') {
        fail(p, "high surrogate U+D800..U+DBFF must be followed by \\u and a low surrogate");
      }
      const std::uint32_t low = end_ - p >= 6 ? read_hex4(p + 2) : 0x10000;
      if (low > 0xFFFF) fail(p, "\\u must be followed by 4 hex digits");
      if (low < 0xDC00 || low > 0xDFFF) {
        fail(p, "high surrogate U+D800..U+DBFF must be followed by a low surrogate");
      }
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
      p += 6;
    }
    append_utf8(code, out);
    return p;
  }

  static void append_utf8(std::uint32_t code, std::string& out) {
    char bytes[4];
    std::size_t n;
    if (code < 0x80) {
      bytes[0] = static_cast<char>(code);
      n = 1;
    } else if (code < 0x800) {
      bytes[0] = static_cast<char>(0xC0 | code >> 6);
      bytes[1] = static_cast<char>(0x80 | (code & 0x3F));
      n = 2;
    } else if (code < 0x10000) {
      bytes[0] = static_cast<char>(0xE0 | code >> 12);
      bytes[1] = static_cast<char>(0x80 | (code >> 6 & 0x3F));
      bytes[2] = static_cast<char>(0x80 | (code & 0x3F));
      n = 3;
    } else {
      bytes[0] = static_cast<char>(0xF0 | code >> 18);
      bytes[1] = static_cast<char>(0x80 | (code >> 12 & 0x3F));
      bytes[2] = static_cast<char>(0x80 | (code >> 6 & 0x3F));
      bytes[3] = static_cast<char>(0x80 | (code & 0x3F));
      n = 4;
    }
    out.append(bytes, n);
  }

  // Expects p_ on '-' or a digit. The grammar is JSON's; the value type follows nlohmann:
  // without fraction and exponent, uint64 if >= 0 and it fits, int64 if < 0 and it fits,
  // otherwise (like everything with a fraction or exponent) a double.
  json read_number() {
    if (json value; read_short_integer(value)) return value;
    const char* const start = p_;
    const bool negative = *start == '-';
    const NumberParts parts = scan_number(negative ? start + 1 : start);
    if (parts.fraction == nullptr && parts.exponent == nullptr &&
        parts.int_end - parts.int_begin <= 20) {
      if (std::optional<json> value = integer_value(parts, negative)) return std::move(*value);
    }
    return double_value(start, parts, negative);
  }

  // The usual number, an integer of up to 19 digits (which cannot overflow), read in the pass
  // that finds its end. False for anything else, which read_number reads again.
  bool read_short_integer(json& value) {
    const char* p = p_;
    const bool negative = *p == '-';
    if (negative) ++p;
    if (p == end_ || !is_digit(*p)) return false;
    std::uint64_t magnitude = 0;
    if (*p == '0') {
      ++p;
    } else {
      const char* const limit = end_ - p > 19 ? p + 19 : end_;
      for (; p != limit && is_digit(*p); ++p) {
        magnitude = magnitude * 10 + static_cast<unsigned>(*p - '0');
      }
    }
    if (p != end_ && (is_digit(*p) || *p == '.' || *p == 'e' || *p == 'E')) return false;
    if (!negative) {
      value = json(static_cast<json::number_unsigned_t>(magnitude));
    } else if (magnitude <= std::uint64_t{1} << 63) {
      value = json(static_cast<json::number_integer_t>(std::uint64_t{0} - magnitude));
    } else {
      return false;
    }
    p_ = p;
    return true;
  }

  // Where a number's integer digits, fraction and exponent are (null when absent).
  struct NumberParts {
    const char* int_begin;
    const char* int_end;
    const char* fraction = nullptr;
    const char* exponent = nullptr;
  };

  // Checks the number's grammar from `p` (after any '-') and moves p_ past it.
  NumberParts scan_number(const char* p) {
    NumberParts parts{p, p};
    if (p == end_ || !is_digit(*p)) fail(p, "expected a digit");
    if (*p == '0') {
      ++p;  // a leading zero stands alone; a digit after it fails as trailing garbage
    } else {
      while (p != end_ && is_digit(*p)) ++p;
    }
    parts.int_end = p;
    if (p != end_ && *p == '.') {
      parts.fraction = ++p;
      if (p == end_ || !is_digit(*p)) fail(p, "expected a digit after '.'");
      while (p != end_ && is_digit(*p)) ++p;
    }
    if (p != end_ && (*p == 'e' || *p == 'E')) {
      parts.exponent = ++p;
      if (p != end_ && (*p == '+' || *p == '-')) ++p;
      if (p == end_ || !is_digit(*p)) fail(p, "expected a digit in the exponent");
      while (p != end_ && is_digit(*p)) ++p;
    }
    p_ = p;
    return parts;
  }

  // An integer of up to 20 digits as uint64 or int64, if it fits.
  static std::optional<json> integer_value(const NumberParts& parts, bool negative) {
    std::uint64_t magnitude = 0;
    bool fits = true;
    for (const char* d = parts.int_begin; d != parts.int_end; ++d) {
      // Only the 20th digit can overflow; the checked arithmetic costs little either way.
      fits = fits && !__builtin_mul_overflow(magnitude, 10u, &magnitude) &&
             !__builtin_add_overflow(magnitude, static_cast<unsigned>(*d - '0'), &magnitude);
    }
    if (fits && !negative) return json(static_cast<json::number_unsigned_t>(magnitude));
    if (fits && magnitude <= std::uint64_t{1} << 63) {
      // Unsigned negation wraps, and the conversion back is modular since C++20, so 2^63
      // becomes INT64_MIN without overflow.
      return json(static_cast<json::number_integer_t>(std::uint64_t{0} - magnitude));
    }
    return std::nullopt;
  }

  // The number from `start` to p_ as a double, as nlohmann reads it.
  json double_value(const char* start, const NumberParts& parts, bool negative) {
    double value;
    const auto [end, error] = std::from_chars(start, p_, value);
    if (error == std::errc() && end == p_) return json(value);
    if (error != std::errc::result_out_of_range) fail(start, "invalid number");
    // from_chars leaves the value alone when it rounds to 0 or to infinity. strtod would
    // return +-0 or +-HUGE_VAL there; nlohmann keeps the first and refuses the second.
    if (magnitude_is_huge(parts.int_begin, parts.int_end, parts.fraction, parts.exponent)) {
      fail(start, "number overflow");
    }
    return json(negative ? -0.0 : 0.0);
  }

  // For a number from_chars found out of range: true when it overflows, false when it
  // underflows. Writing it as 0.d1d2... * 10^E with d1 != 0, overflow needs E >= 309 and
  // underflow E <= -323, so the sign of E decides, and E = (digits before the point, or minus
  // the zeros after it) + exponent. Unlike strtod this needs no copy and no C locale.
  bool magnitude_is_huge(const char* int_begin, const char* int_end, const char* fraction,
                         const char* exponent) const {
    std::int64_t leading;
    if (*int_begin != '0') {
      leading = int_end - int_begin;
    } else {
      // An out-of-range value with integer part 0 has a fraction with a nonzero digit.
      if (fraction == nullptr) return false;
      const char* f = fraction;
      while (f != p_ && *f == '0') ++f;
      leading = -(f - fraction);
    }
    if (exponent == nullptr) return leading > 0;
    const bool exponent_negative = *exponent == '-';
    const char* d = exponent + (*exponent == '-' || *exponent == '+');
    while (d != p_ && *d == '0') ++d;
    // More than 18 significant digits outweigh any count of digits the text can hold.
    if (p_ - d > 18) return !exponent_negative;
    std::int64_t value = 0;
    for (; d != p_; ++d) value = value * 10 + (*d - '0');
    return leading + (exponent_negative ? -value : value) > 0;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string* owner_ = nullptr;  // the text's buffer, until a string adopts it
  std::string* continuation_ = nullptr;  // the second piece, until reading reaches it
  std::size_t checked_ = 0;       // its first bytes known clean, until its string is read
  bool probing_ = false;          // see probe_open_strings
  json* spare_string_ = nullptr;  // a string value whose storage the next string read takes
  std::size_t adopt_min_ = 0;
  std::string rest_;              // the text after that string
  std::size_t consumed_ = 0;      // bytes of the text before begin_ (for error offsets)
};

}  // namespace

json read_json(std::string_view text, int max_depth) {
  return Reader(text).read_document(max_depth);
}

json read_json_value(std::string_view text, std::size_t& pos, int max_depth) {
  Reader reader(text, pos);
  json value = reader.read_value_here(max_depth);
  pos = reader.offset();
  return value;
}

void read_json_value_into(std::string_view text, std::size_t& pos, int max_depth, json& target,
                          json* spare_string) {
  Reader reader(text, pos);
  reader.take_spare_string(spare_string);
  if (target.is_array() && pos < text.size() && text[pos] == '[') {
    auto& elements = target.get_ref<json::array_t&>();
    elements.clear();
    reader.read_array_here(max_depth, elements);
  } else {
    target = reader.read_value_here(max_depth);
  }
  pos = reader.offset();
}

bool json_ends_at(std::string_view text, std::size_t pos) {
  return pos == text.size() || Reader(text, pos).at_document_end();  // the first: the usual case
}

bool read_json_members(std::string_view text, int max_depth, MemberReceiver& receiver) {
  return Reader(text).read_members(max_depth, receiver);
}

bool read_json_members_taking(std::string& text, int max_depth, MemberReceiver& receiver,
                              std::size_t adopt_min) {
  return Reader(text, adopt_min).read_members(max_depth, receiver);
}

bool read_json_members_taking(std::string_view head, std::string& rest, std::size_t checked,
                              int max_depth, MemberReceiver& receiver, std::size_t adopt_min) {
  return Reader(head, rest, checked, adopt_min).read_members(max_depth, receiver);
}

std::optional<OpenStringAt> open_string_at_end(std::string_view text, int max_depth) {
  struct Nothing final : MemberReceiver {
    std::string* text_slot(std::string_view) override { return nullptr; }
    void take(std::string_view, json&&) override {}
  } nothing;
  Reader reader(text);
  reader.probe_open_strings();
  try {
    reader.read_members(max_depth, nothing);
  } catch (const OpenStringAt& open) {
    return open;
  } catch (const JsonSyntaxError&) {
  }
  return std::nullopt;
}

namespace {

struct SinkReceiver final : MemberReceiver {
  explicit SinkReceiver(const MemberSink& m) : member(m) {}
  std::string* text_slot(std::string_view) override { return nullptr; }
  void take(std::string_view key, json&& value) override {
    member(std::string(key), std::move(value));
  }
  const MemberSink& member;
};

}  // namespace

bool read_json_members(std::string_view text, int max_depth, const MemberSink& member) {
  SinkReceiver receiver(member);
  return Reader(text).read_members(max_depth, receiver);
}

bool read_json_members_taking(std::string& text, int max_depth, const MemberSink& member,
                              std::size_t adopt_min) {
  SinkReceiver receiver(member);
  return Reader(text, adopt_min).read_members(max_depth, receiver);
}

}  // namespace procslink::detail
