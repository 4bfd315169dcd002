// json_reader.hpp - a fast, strict JSON text reader that builds nlohmann::json values.
//
// Internal (not installed). It accepts exactly what nlohmann::json::parse(text) accepts with its
// default arguments and yields identical values, number types included, but scans string bodies
// 16 bytes at a time and builds containers directly instead of going through a SAX layer. Unlike
// nlohmann it recurses, so it also refuses documents nesting deeper than a given limit.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace procslink {

using json = nlohmann::json;  // the same alias as in procslink/jsonrpc.hpp

namespace detail {

// Why a text was refused, and the byte offset into it where that became clear.
class JsonSyntaxError : public std::runtime_error {
 public:
  JsonSyntaxError(std::size_t offset, const std::string& what);
  std::size_t offset() const noexcept { return offset_; }

 private:
  std::size_t offset_;
};

// Parses one JSON text: a single value with only JSON whitespace (space, \t, \n, \r) around it,
// an optional UTF-8 byte order mark first and, like nlohmann, everything from a NUL byte after
// the value on ignored. Throws JsonSyntaxError for anything nlohmann::json::parse rejects
// (including numbers too large for a double), and when arrays and objects nest deeper than
// max_depth levels (a scalar is depth 0, "[]" depth 1).
json read_json(std::string_view text, int max_depth);

// For readers of a known layout, which match its fixed bytes themselves: reads the value that
// starts at text[pos] (its first byte, not whitespace) as read_json(text, max_depth) reads a
// document's value, and moves pos just past it. Throws JsonSyntaxError.
json read_json_value(std::string_view text, std::size_t& pos, int max_depth);

// The same, read into `target`: an array value into an array target reuses its storage (its
// elements are replaced; on a throw it holds the elements read so far). Any other value is
// assigned to `target` (left as it was on a throw). `spare_string`, if not null and a string:
// the first string value read takes it over (emptied), with the capacity it has: an allocation
// or two less for a reader that keeps such a string from one text to the next.
void read_json_value_into(std::string_view text, std::size_t& pos, int max_depth, json& target,
                          json* spare_string = nullptr);

// Whether what follows text[pos] is what read_json accepts after a document's value:
// whitespace, then the end or a NUL byte (and anything after it).
bool json_ends_at(std::string_view text, std::size_t pos);

// Receives one member of an object: its key, and its value to keep (moved from) or drop.
using MemberSink = std::function<void(const std::string& key, json&& value)>;

// The same, for a receiver that wants some members' string values as plain text.
class MemberReceiver {
 public:
  // For a member whose value is a string: where to read that string as text, or null to have
  // it handed to take() as a json like any other value. A json string costs an allocation of
  // its own; an envelope's "jsonrpc" and "method" are only ever compared and copied.
  virtual std::string* text_slot(std::string_view key) = 0;
  virtual void take(std::string_view key, json&& value) = 0;

 protected:
  ~MemberReceiver() = default;
};

// For a JSON text whose value is an object: hands each member to `member` in document order
// (a repeated key is handed over again; keeping the last one matches read_json) without
// building the object, then checks the rest of the text as read_json does. Returns false,
// having consumed nothing, when the value is not an object. Throws as read_json.
bool read_json_members(std::string_view text, int max_depth, const MemberSink& member);
bool read_json_members(std::string_view text, int max_depth, MemberReceiver& receiver);

// The same, for a text the caller owns and is done with. A string value without escapes that
// is most of the text (adopt_min bytes or more) takes over the text's buffer: its bytes are
// moved to the front in place, where a copy would fault in as many fresh pages (the text is
// read from a copy of its short remainder from then on). The move is the scan that finds the
// string's end: each clean block is checked and moved in one pass over it. `text` may be left
// empty or holding anything: read nothing from it, and no view of it, afterwards.
inline constexpr std::size_t kAdoptMin = 1u << 20;
bool read_json_members_taking(std::string& text, int max_depth, MemberReceiver& receiver,
                              std::size_t adopt_min = kAdoptMin);
bool read_json_members_taking(std::string& text, int max_depth, const MemberSink& member,
                              std::size_t adopt_min = kAdoptMin);

// The same, for a text in two pieces: `head`, which ends just past the opening quote of a
// string (as open_string_at_end finds one), then `rest`, which goes on from that string's
// first byte and which the caller owns and is done with; rest's first `checked` bytes are
// known to be clean string content (clean_prefix, json_writer.hpp). Reads what head + rest
// would read, offsets counted from head's start, but a string long enough takes rest's buffer
// where it lies: nothing is moved, and only the bytes after `checked` are looked at.
bool read_json_members_taking(std::string_view head, std::string& rest, std::size_t checked,
                              int max_depth, MemberReceiver& receiver,
                              std::size_t adopt_min = kAdoptMin);

// For the first piece of a longer text: when reading it as read_json_members does runs into
// its end inside a string (a key or a value) opened in it, where that string starts; nullopt
// when it does not (also when the piece is refused first). Splitting the whole text at
// `content` gives the two pieces read_json_members_taking takes.
struct OpenStringAt {
  std::size_t content;  // the offset of the string's first byte, just past its quote
  std::size_t clean;    // how many bytes from there on are clean string content (clean_prefix)
};
std::optional<OpenStringAt> open_string_at_end(std::string_view text, int max_depth);

// Empties `value` without the heap allocation nlohmann::json's destructor makes for every array
// and object (it first moves the elements onto a stack of its own, so that deep nesting cannot
// overflow the call stack). Here each element is destroyed by its own destructor, which still
// does that for the levels below, so nesting stays as safe as before.
inline void release(json& value) {
  if (value.is_array()) {
    value.get_ref<json::array_t&>().clear();
  } else if (value.is_object()) {
    value.get_ref<json::object_t&>().clear();
  }
  value = nullptr;
}

}  // namespace detail
}  // namespace procslink
