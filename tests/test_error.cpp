// The exception types: every TransportError kind has its own printable name.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "procslink/error.hpp"

namespace procslink {
namespace {

using Kind = TransportError::Kind;

TEST(TransportErrorKind, EveryKindPrintsItsEnumeratorName) {
  const std::pair<Kind, const char*> kinds[] = {
      {Kind::no_peer, "no_peer"},           {Kind::timeout, "timeout"},
      {Kind::malformed_reply, "malformed_reply"}, {Kind::permission_denied, "permission_denied"},
      {Kind::address_in_use, "address_in_use"}, {Kind::too_large, "too_large"},
      {Kind::wrong_peer, "wrong_peer"},     {Kind::other, "other"}};
  std::set<std::string> seen;
  for (const auto& [kind, name] : kinds) {
    EXPECT_EQ(to_string(kind), name);
    std::ostringstream out;
    out << kind;
    EXPECT_EQ(out.str(), name);
    seen.insert(out.str());
  }
  EXPECT_EQ(seen.size(), std::size(kinds));
}

TEST(ResultTypeError, KeepsTheMethodAndTheResult) {
  const ResultTypeError e("hello", R"("text")", "result of 'hello' is not an int");
  EXPECT_EQ(e.method(), "hello");
  EXPECT_EQ(e.result(), R"("text")");
  EXPECT_STREQ(e.what(), "result of 'hello' is not an int");
  const Error& base = e;  // caught as any procslink error, but not as a TransportError
  EXPECT_EQ(dynamic_cast<const TransportError*>(&base), nullptr);
}

}  // namespace
}  // namespace procslink
