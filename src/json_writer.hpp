// json_writer.hpp - a fast writer of compact JSON text for nlohmann::json values (internal).
//
// nlohmann's dump copies every string through a byte-at-a-time UTF-8 decoder into a bounce
// buffer, which made serialization a large part of a small call's round trip. append_json
// writes the very same text, directly into the caller's string, copying clean runs of a string
// whole. Not installed: the public API keeps speaking nlohmann::json and text.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "procslink/jsonrpc.hpp"

namespace procslink::detail {

// Appends the compact JSON text of `value` to `out`: byte for byte what
// value.dump(-1, ' ', false, json::error_handler_t::replace) returns. So non-ASCII text is
// copied through as UTF-8, and each ill-formed UTF-8 sequence in a string or key becomes one
// U+FFFD exactly where nlohmann would put it. Throws only what growing `out` throws.
void append_json(std::string& out, const json& value);

// A run of string bytes that belongs at offset `at` of the text but was not copied there.
// `checked` false: a whole string's content (between its quotes) as the caller gave it, not
// yet looked at; it may need escapes or hold ill-formed UTF-8 (see TextStream).
struct BorrowedRun {
  std::size_t at;
  std::string_view bytes;
  bool checked = true;
};
// Runs at least this long are borrowed rather than copied, where the caller allows it.
inline constexpr std::size_t kBorrowMin = 16u << 10;
// Strings at least this long are borrowed unchecked by the envelope writers below (and only
// there): a sender checks each fragment's slice as it sends it (text_stream.hpp), so scanning
// the string overlaps the receiver's copying of the fragment before.
inline constexpr std::size_t kUncheckedMin = 256u << 10;
// The same text, except that clean runs of kBorrowMin bytes or more inside strings are left
// where they are and listed in `borrowed` (in order): the text is `out` with each run inserted
// at its offset. A sender passes the pieces to sendmsg as they are, so a large string goes
// out without being copied into the message first. `value` must outlive the runs' use.
void append_json(std::string& out, const json& value, std::vector<BorrowedRun>& borrowed);
// The whole text in order, as views: the parts of `text` around the runs, and the runs (all
// checked: an unchecked run is handed out as it is).
void gather(std::string_view text, std::span<const BorrowedRun> borrowed,
            std::vector<std::string_view>& parts);
// Appends `text` as a JSON string, as append_json would for json(text), without making a json.
void append_json_string(std::string& out, std::string_view text);
// Appends what append_json_string would write between the quotes, borrowing clean runs
// (checked) where `borrowed` is not null.
void append_string_content(std::string& out, std::vector<BorrowedRun>* borrowed,
                           std::string_view content);
// Checks a string's content from offset `from` towards `want`: returns an offset >= `want`
// (the end of the UTF-8 sequence `want` falls in, if any) when every byte in between may be
// sent as it is, else the offset of the first one that may not (one to escape, or the start
// of an ill-formed sequence).
std::size_t clean_prefix(std::string_view content, std::size_t from, std::size_t want);

// A request whose params are the array of `args` (see ParamArg), as append_request writes one
// whose params are a json array of the same values: no array is built to be written. Borrows
// and throws as append_envelope.
void append_positional_request(std::string& out, std::vector<BorrowedRun>* borrowed,
                               std::string_view method, std::span<const ParamArg> args,
                               const std::int64_t* id);

// A JSON-RPC envelope in one pass through one buffer: `head` (fixed text), `first_string` as
// a JSON string if not null, then for each member with a value (a null pointer is an absent
// member; a pointer to a json null writes null) its fixed text and the value's JSON, then '}'.
// `borrowed`: as for append_json, except that strings of kUncheckedMin bytes or more are
// borrowed unchecked; or null to copy everything. `depth`: the envelope object's
// own nesting level (1 for a message, 2 inside a batch). A message nesting deeper than
// kMaxJsonDepth, which no peer's reader accepts, throws TransportError(too_large) instead of
// being written (what was appended to `out` by then is left there).
struct EnvelopeMember {
  std::string_view name;  // e.g. ,"params":
  const json* value;
};
void append_envelope(std::string& out, std::vector<BorrowedRun>* borrowed, std::string_view head,
                     const std::string_view* first_string,
                     std::span<const EnvelopeMember> members, int depth = 1);

}  // namespace procslink::detail
