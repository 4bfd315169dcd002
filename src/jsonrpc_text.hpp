// jsonrpc_text.hpp - request and reply text for a sender that borrows large strings (internal).
//
// The same text JsonRpcRequest::append_to and append_replies write, except that long string
// runs stay where they are (json_writer.hpp, BorrowedRun): the peer sends them from there.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json_reader.hpp"
#include "json_writer.hpp"
#include "procslink/jsonrpc.hpp"

namespace procslink::detail {

// `borrowed` may be null: then everything is copied into `text`. A message nesting deeper than
// kMaxJsonDepth throws TransportError(too_large) (see append_envelope); `depth` is the
// response's own level (2 inside a batch).
void append_request(std::string& text, std::vector<BorrowedRun>* borrowed,
                    std::string_view method, const json* params, const json* id);
void append_response(std::string& text, std::vector<BorrowedRun>* borrowed,
                     const JsonRpcResponse& response, int depth = 1);
// The same, except that a response nesting too deep to be read is replaced by the internal
// error reply with its id (so every reply owed goes out). Returns false when it was.
bool append_response_or_error(std::string& text, std::vector<BorrowedRun>* borrowed,
                              const JsonRpcResponse& response, int depth = 1);
// The replies owed for a request body (as procslink::append_replies), each written by
// append_response_or_error; `replaced`, if not null, receives how many were replaced.
bool append_replies(std::string& text, std::vector<BorrowedRun>* borrowed, bool batch,
                    const std::vector<JsonRpcResponse>& replies, std::size_t* replaced = nullptr);

// A body in the layout append_request and append_response write (no whitespace, members in
// their order, a method name without escapes, a success reply): read with its fixed bytes
// matched rather than parsed. True when it was, with the request or reply in the out
// parameter; false for anything else, for the general readers below (which do not try these
// again; parse_request_body and parse_response_body try them first). Never throws.
// `spare_params`, if not null: an array whose storage array params are read into (it is moved
// into the request's params then, elements replaced), saving the array's two allocations.
// `spare_string`, if not null: a string value the first string in the params may take over
// (see read_json_value_into).
bool read_request_layout(std::string_view body, JsonRpcRequest& request,
                         json* spare_params = nullptr, json* spare_string = nullptr);
bool read_success_layout(std::string_view body, std::optional<JsonRpcResponse>& response);
// The same for the success reply to the call with integer id `id`, written with that id as
// peers write it: only its result is read, into `result`. False (result untouched) for
// anything else, which read_success_layout or the general readers then take.
bool read_result_layout(std::string_view body, std::int64_t id, json& result);

// A body the caller is done with, as reassembly leaves it: whole in `rest` (head empty), or in
// two pieces, `head` then `rest`, with rest's first `checked` bytes known to be clean string
// content (see read_json_members_taking).
struct OwnedBody {
  OwnedBody(std::string& whole) : rest(whole) {}  // NOLINT(google-explicit-constructor)
  OwnedBody(std::string& rest_, std::string_view head_, std::size_t checked_)
      : rest(rest_), head(head_), checked(checked_) {}
  std::string& rest;
  std::string_view head;
  std::size_t checked = 0;
};

// The usual body, one object, read without a list around it; nullopt when the body is not a
// single object (a batch, or not JSON that starts with '{'): parse_*_body handles those.
// A request comes back as the request, or as the error reply it earns (whole-body errors
// included); a response throws FramingError as parse_response_body does.
std::optional<ParsedRequestBody::Item> parse_single_request(std::string_view body);
// The same, for a body the caller is done with: a large string in it may take its buffer
// (read_json_members). On nullopt the body is untouched; otherwise read nothing from it.
std::optional<ParsedRequestBody::Item> parse_single_request_taking(OwnedBody body);
std::optional<JsonRpcResponse> parse_single_response(std::string_view body);
// The same, and a large result string may take the body's buffer (see read_json_members_taking).
std::optional<JsonRpcResponse> parse_single_response_taking(OwnedBody body);

// Where a body whose first fragment is `first` may be split for parse_single_*_taking: the
// string that runs on past the fragment, if any (open_string_at_end).
std::optional<OpenStringAt> string_running_on(std::string_view first);

}  // namespace procslink::detail
