// error.hpp - the exception types a procslink user can catch.
//
// Every failure a caller can see is one of these. Messages say what happened and what to
// check, not just the errno text.
#pragma once

#include <stdexcept>
#include <string>

namespace procslink {

// Base of every procslink exception.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bytes that are not a well-formed netlink / procslink datagram.
class FramingError : public Error {
 public:
  using Error::Error;
};

// The message could not be delivered or no valid reply arrived: no peer bound at the target,
// timeout, malformed reply, permission denied, name taken.
class TransportError : public Error {
 public:
  enum class Kind { no_peer, timeout, malformed_reply, permission_denied, address_in_use, too_large, wrong_peer, other };
  TransportError(Kind kind, const std::string& what) : Error(what), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

}  // namespace procslink
