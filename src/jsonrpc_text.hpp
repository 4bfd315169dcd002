// jsonrpc_text.hpp - request and reply text for a sender that borrows large strings (internal).
//
// The same text JsonRpcRequest::append_to and append_replies write, except that long string
// runs stay where they are (json_writer.hpp, BorrowedRun): the peer sends them from there.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "json_writer.hpp"
#include "procslink/jsonrpc.hpp"

namespace procslink::detail {

// `borrowed` may be null: then everything is copied into `text`.
void append_request(std::string& text, std::vector<BorrowedRun>* borrowed,
                    std::string_view method, const json* params, const json* id);
void append_response(std::string& text, std::vector<BorrowedRun>* borrowed,
                     const JsonRpcResponse& response);
bool append_replies(std::string& text, std::vector<BorrowedRun>* borrowed, bool batch,
                    const std::vector<JsonRpcResponse>& replies);

}  // namespace procslink::detail
