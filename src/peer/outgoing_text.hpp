// outgoing_text.hpp - an outgoing message's text, written with room for the datagram headers
// in front and with large strings borrowed rather than copied. Header-only (hot path).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../json_writer.hpp"
#include "../text_stream.hpp"
#include "procslink/message.hpp"
#include "thread_state.hpp"

namespace procslink::detail {

inline std::size_t total_size(std::span<const std::string_view> parts) {
  std::size_t size = 0;
  for (const std::string_view part : parts) size += part.size();
  return size;
}

// Strings of kBorrowMin bytes or more are left where they are (json_writer.hpp) and sent from
// there by a gathering sendmsg, so a large string is never copied into the message. The text
// goes into a buffer its thread keeps (up to kKeptCapacity bytes), so small messages need no
// allocation either. Nested use on one thread (a caller that serves while it waits) gets
// buffers of its own.
class OutgoingText {
 public:
  static constexpr std::size_t kKeptCapacity = 1u << 20;
  OutgoingText() : kept_(ThreadScratch<Kept>::get()) {
    if (kept_ != nullptr && kept_->busy) kept_ = nullptr;
    if (kept_ != nullptr) kept_->busy = true;
    clear();
  }
  ~OutgoingText() {
    if (kept_ == nullptr) return;
    if (kept_->message.text.capacity() > kKeptCapacity) std::string().swap(kept_->message.text);
    kept_->busy = false;
  }
  OutgoingText(const OutgoingText&) = delete;
  OutgoingText& operator=(const OutgoingText&) = delete;

  // Where the message is written: append to it (what is there already is the headroom).
  std::string& text() { return message().text; }
  std::vector<BorrowedRun>* borrowed() { return &message().borrowed; }
  // Forgets what was written. The headroom keeps whatever bytes it had: the headers are
  // written over them before anything is sent.
  void clear() {
    Message& m = message();
    m.text.resize(kDatagramHeadersSize);
    m.borrowed.clear();
    m.parts.clear();
  }
  // Whether a long string was left for the sender to check (BorrowedRun::checked).
  bool has_unchecked() {
    for (const BorrowedRun& run : message().borrowed) {
      if (!run.checked) return true;
    }
    return false;
  }
  // The message's size as written: escapes an unchecked string needs are not counted yet.
  std::size_t size() {
    Message& m = message();
    std::size_t size = m.text.size() - kDatagramHeadersSize;
    for (const BorrowedRun& run : m.borrowed) size += run.bytes.size();
    return size;
  }
  // The whole message, handed out in checked slices.
  TextStream stream() {
    Message& m = message();
    return TextStream(m.text, m.borrowed, kDatagramHeadersSize);
  }
  // The whole message as consecutive parts, once written; only without unchecked strings.
  std::span<const std::string_view> parts() {
    Message& m = message();
    m.parts.clear();
    gather(m.text, m.borrowed, m.parts);
    m.parts.front().remove_prefix(kDatagramHeadersSize);  // no run is borrowed at offset 0
    return m.parts;
  }
  // Room for the datagram headers right in front of parts()[0]: a message of one datagram
  // then goes out as one piece (a second iovec costs the kernel more than copying 40 bytes).
  std::uint8_t* headroom() { return reinterpret_cast<std::uint8_t*>(message().text.data()); }

  struct Message {
    std::string text;
    std::vector<BorrowedRun> borrowed;
    std::vector<std::string_view> parts;
  };
  struct Kept {
    Message message;
    bool busy = false;
  };

 private:
  Message& message() { return kept_ != nullptr ? kept_->message : own_; }
  Kept* kept_;
  Message own_;
};

}  // namespace procslink::detail
