// Fuzz target: a JSON-RPC response body as a client sees it, parse_response_body.
//
// Any byte string either parses or throws FramingError (nothing else may escape: a client must
// be able to drop a bad reply). Every response parsed survives to_json/from_json and
// to_text/parse_response_body unchanged.
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "procslink/error.hpp"
#include "procslink/jsonrpc.hpp"

using namespace procslink;

namespace {

void check_same_response(const JsonRpcResponse& got, const JsonRpcResponse& sent) {
  FUZZ_CHECK(got.id == sent.id);
  FUZZ_CHECK(got.is_error() == sent.is_error());
  if (sent.is_error()) {
    FUZZ_CHECK(got.error() == sent.error());
  } else {
    FUZZ_CHECK(got.result() == sent.result());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::vector<JsonRpcResponse> responses;
  try {
    responses = parse_response_body(body);
  } catch (const FramingError&) {
    return 0;
  }
  FUZZ_CHECK(!responses.empty());
  for (const auto& response : responses) {
    FUZZ_CHECK(response.id.is_null() || response.id.is_string() || response.id.is_number());
    check_same_response(JsonRpcResponse::from_json(response.to_json()), response);
    const std::vector<JsonRpcResponse> again = parse_response_body(to_text(response.to_json()));
    FUZZ_CHECK(again.size() == 1);
    check_same_response(again.front(), response);
  }
  return 0;
}
