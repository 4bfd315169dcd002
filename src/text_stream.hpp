// text_stream.hpp - an outgoing JSON text handed out in slices, its unchecked strings checked
// slice by slice (internal).
//
// The envelope writers leave a long string unchecked (BorrowedRun::checked false): a sender
// that frames the text as it goes checks the next fragment's slice of it just before sending
// that fragment, while the receiver is still copying the one before, instead of scanning the
// whole string before the first fragment leaves. Where a string turns out to need an escape or
// to hold an ill-formed UTF-8 sequence, the rest of it is written anew from there, as
// append_json writes it, and handed out from that copy: the bytes handed out are always
// exactly append_json's text.
#pragma once

#include <cstddef>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "json_writer.hpp"

namespace procslink::detail {

class TextStream {
 public:
  // The text `text` with the `borrowed` runs inserted (json_writer.hpp), from offset `from`
  // on. What the views point to must outlive the stream.
  TextStream(std::string_view text, std::span<const BorrowedRun> borrowed, std::size_t from = 0);
  TextStream(const TextStream&) = delete;
  TextStream& operator=(const TextStream&) = delete;

  // Appends views of the next `limit` bytes (fewer only at the end) to `out`, each checked.
  void take(std::size_t limit, std::vector<std::string_view>& out);
  bool done() const { return next_ == parts_.size(); }
  // The bytes before the first string still to be checked, of a stream nothing was taken
  // from yet (left() when there is none).
  std::size_t lead() const;
  // Bytes handed out so far, and still to come: escapes not found yet are not counted, so
  // the total is a lower bound until done().
  std::size_t taken() const { return taken_; }
  std::size_t left() const { return left_; }

 private:
  struct Part {
    std::string_view bytes;
    bool checked;
  };
  // What replaces an unchecked part from its first byte that cannot go as it is.
  struct Rewrite {
    std::string text;
    std::vector<BorrowedRun> runs;
  };
  void rewrite_rest(std::size_t at);

  std::vector<Part> parts_;
  std::size_t next_ = 0;   // parts_[next_] is handed out next, from its start
  std::size_t clean_ = 0;  // how much of an unchecked parts_[next_] is known to be clean
  std::size_t taken_ = 0;
  std::size_t left_ = 0;
  std::deque<Rewrite> rewrites_;  // a deque: the views into them stay valid as it grows
};

}  // namespace procslink::detail
