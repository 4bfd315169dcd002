// thread_state.hpp - everything the peer keeps per thread, in one place.
//
// Per-thread context (plain pointers, set for the length of a scope by whoever owns it):
//   ThreadContext::draining       the socket this thread drains while it runs a handler
//                                 (set by InboundRouter::handle, read by
//                                 ServingReceiver::hand_back_socket)
//   ThreadContext::method_cache   this serving thread's last looked-up method (set by
//                                 WorkerPool for its threads, read by MethodTable::find)
//   ThreadContext::running_for    the peer whose request handler this thread runs now
//                                 (RequestServer's ThreadTurn)
//
// Objects each thread keeps for reuse, through ThreadScratch<T> (T names the use):
//   OutgoingText::Kept     a message's text and its parts (outgoing_text.hpp)
//   SpareParams, SpareString   a request's params array and a short string (request_server.cpp)
//   SpareCall              a finished synchronous call's record (caller.cpp)
//   CallerBuffer           the buffer a caller receives its reply into (caller.cpp)
#pragma once

#include <cstddef>
#include <cstdint>

namespace procslink::detail {

struct MethodCache;

// The socket a thread drains while it runs a handler, so that a synchronous call the handler
// makes through the same peer can hand the socket back first (ServingReceiver).
struct DrainingNow {
  const void* receiver;  // the ServingReceiver whose socket it is
  std::size_t endpoint;
  std::int64_t* stamp;   // the drainer's stamp; null once handed back
  bool request = false;  // running a request's handler, not a reply's callback
};

struct ThreadContext {
  DrainingNow* draining = nullptr;
  MethodCache* method_cache = nullptr;
  const void* running_for = nullptr;
};
inline thread_local ThreadContext t_thread;

// An object each thread keeps for reuse (a buffer, a spare record), one per type T. get() is
// null once the thread's thread_local objects are being destroyed, so that a call made from a
// destructor that runs then (a goodbye from an object living as long as its thread) does
// without it rather than touching a destroyed one.
template <typename T>
class ThreadScratch {
 public:
  static T* get() {
    if (gone_) return nullptr;
    thread_local Holder holder;
    return &holder.value;
  }

 private:
  struct Holder {
    T value{};
    ~Holder() { gone_ = true; }
  };
  // Trivially destructible: still readable after every other thread_local is gone.
  static inline thread_local bool gone_ = false;
};

}  // namespace procslink::detail
