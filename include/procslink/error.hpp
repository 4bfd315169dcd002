// error.hpp - the exception types a procslink user can catch.
//
// Every failure a caller can see is one of these (or, for a reply that is an error object,
// RemoteError in peer.hpp). Messages say what happened and what to check, not just the errno
// text.
//
//   try {
//     int n = channel.call<int>("count");
//   } catch (const procslink::RemoteError& e) {        // the peer answered with an error
//     std::cerr << e.code() << ' ' << e.message();
//   } catch (const procslink::TransportError& e) {     // no usable answer: retry may help
//     if (e.kind() == procslink::TransportError::Kind::timeout) ...
//   } catch (const procslink::ResultTypeError& e) {    // the answer was not an int: a bug
//   }
#pragma once

#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

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

// The message could not be delivered or no valid reply arrived.
class TransportError : public Error {
 public:
  enum class Kind {
    no_peer,            // nothing is bound at the target port id (or name) in that namespace
    timeout,            // no reply before the deadline, or a receiver stayed full
    malformed_reply,    // a reply arrived that is not a JSON-RPC response to the call
    permission_denied,  // the kernel refused: a port id or namespace needs privileges
    address_in_use,     // the port id or service name is taken (the message names the holder)
    too_large,          // the message passes a limit every peer enforces (size, nesting)
    wrong_peer,         // the answer came from the wrong peer: another name, another uid
    other,              // anything else: a socket or epoll error, the calling peer stopped
                        // or destroyed before the reply, no socket in that namespace
  };
  TransportError(Kind kind, const std::string& what) : Error(what), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// The kind's name as in the enum ("no_peer", "timeout", ...).
std::string_view to_string(TransportError::Kind kind) noexcept;
std::ostream& operator<<(std::ostream& out, TransportError::Kind kind);

// A call was answered with a success, but its result does not convert to the type the caller
// asked for (Channel::call<R>). The reply was fine and a retry would get the same: a mismatch
// between the caller's expectation and the method. The message names the method and shows the
// result received.
class ResultTypeError : public Error {
 public:
  ResultTypeError(std::string method, std::string result, const std::string& what)
      : Error(what), method_(std::move(method)), result_(std::move(result)) {}
  const std::string& method() const noexcept { return method_; }
  // The result as JSON text (shortened when long).
  const std::string& result() const noexcept { return result_; }

 private:
  std::string method_;
  std::string result_;
};

}  // namespace procslink
