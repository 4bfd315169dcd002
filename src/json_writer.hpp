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
struct BorrowedRun {
  std::size_t at;
  std::string_view bytes;
};
// Runs at least this long are borrowed rather than copied, where the caller allows it.
inline constexpr std::size_t kBorrowMin = 16u << 10;
// The same text, except that clean runs of kBorrowMin bytes or more inside strings are left
// where they are and listed in `borrowed` (in order): the text is `out` with each run inserted
// at its offset. A sender passes the pieces to sendmsg as they are, so a large string goes
// out without being copied into the message first. `value` must outlive the runs' use.
void append_json(std::string& out, const json& value, std::vector<BorrowedRun>& borrowed);
// The whole text in order, as views: the parts of `text` around the runs, and the runs.
void gather(std::string_view text, std::span<const BorrowedRun> borrowed,
            std::vector<std::string_view>& parts);
// Appends `text` as a JSON string, as append_json would for json(text), without making a json.
void append_json_string(std::string& out, std::string_view text);

// A request whose params are the array of `args` (see ParamArg), as append_request writes one
// whose params are a json array of the same values: no array is built to be written. Throws
// as append_envelope for a message nesting too deep.
void append_positional_request(std::string& out, std::vector<BorrowedRun>* borrowed,
                               std::string_view method, std::span<const ParamArg> args,
                               const std::int64_t* id);

// A JSON-RPC envelope in one pass through one buffer: `head` (fixed text), `first_string` as
// a JSON string if not null, then for each member with a value (a null pointer is an absent
// member; a pointer to a json null writes null) its fixed text and the value's JSON, then '}'.
// `borrowed`: as for append_json, or null to copy everything. `depth`: the envelope object's
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
