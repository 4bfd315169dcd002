// json_writer.hpp - a fast writer of compact JSON text for nlohmann::json values (internal).
//
// nlohmann's dump copies every string through a byte-at-a-time UTF-8 decoder into a bounce
// buffer, which made serialization a large part of a small call's round trip. append_json
// writes the very same text, directly into the caller's string, copying clean runs of a string
// whole. Not installed: the public API keeps speaking nlohmann::json and text.
#pragma once

#include <string>
#include <string_view>

#include "procslink/jsonrpc.hpp"

namespace procslink::detail {

// Appends the compact JSON text of `value` to `out`: byte for byte what
// value.dump(-1, ' ', false, json::error_handler_t::replace) returns. So non-ASCII text is
// copied through as UTF-8, and each ill-formed UTF-8 sequence in a string or key becomes one
// U+FFFD exactly where nlohmann would put it. Throws only what growing `out` throws.
void append_json(std::string& out, const json& value);
// Appends `text` as a JSON string, as append_json would for json(text), without making a json.
void append_json_string(std::string& out, std::string_view text);

}  // namespace procslink::detail
