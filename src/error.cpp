// error.cpp - names for TransportError's kinds.
#include "procslink/error.hpp"

namespace procslink {

std::string_view to_string(TransportError::Kind kind) noexcept {
  using Kind = TransportError::Kind;
  switch (kind) {
    case Kind::no_peer: return "no_peer";
    case Kind::timeout: return "timeout";
    case Kind::malformed_reply: return "malformed_reply";
    case Kind::permission_denied: return "permission_denied";
    case Kind::address_in_use: return "address_in_use";
    case Kind::too_large: return "too_large";
    case Kind::wrong_peer: return "wrong_peer";
    case Kind::other: return "other";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& out, TransportError::Kind kind) {
  return out << to_string(kind);
}

}  // namespace procslink
