// text_stream.cpp - handing out an outgoing text in slices, checking unchecked strings on the
// way, and rewriting the rest of one that needs escapes.
#include "text_stream.hpp"

#include <algorithm>

namespace procslink::detail {

TextStream::TextStream(std::string_view text, std::span<const BorrowedRun> borrowed,
                       std::size_t from) {
  std::size_t done = 0;
  const auto add = [&](std::string_view bytes, bool checked) {
    // Skip what lies before `from` (the text's headroom), then keep what is left.
    const std::size_t skip = std::min(from, bytes.size());
    from -= skip;
    bytes.remove_prefix(skip);
    if (bytes.empty()) return;
    parts_.push_back({bytes, checked});
    left_ += bytes.size();
  };
  for (const BorrowedRun& run : borrowed) {
    if (run.at > done) add(text.substr(done, run.at - done), true);
    add(run.bytes, run.checked);
    done = run.at;
  }
  if (text.size() > done) add(text.substr(done), true);
}

std::size_t TextStream::lead() const {
  std::size_t lead = 0;
  for (const Part& part : parts_) {
    if (!part.checked) break;
    lead += part.bytes.size();
  }
  return lead;
}

void TextStream::take(std::size_t limit, std::vector<std::string_view>& out) {
  while (limit > 0 && next_ < parts_.size()) {
    Part& part = parts_[next_];
    const std::size_t size = std::min(limit, part.bytes.size());
    if (!part.checked && clean_ < size) {
      clean_ = clean_prefix(part.bytes, clean_, size);
      if (clean_ < size) {
        rewrite_rest(clean_);
        continue;  // the part now ends where the rewrite starts
      }
    }
    out.push_back(part.bytes.substr(0, size));
    part.bytes.remove_prefix(size);
    clean_ = part.checked ? 0 : clean_ - size;
    limit -= size;
    taken_ += size;
    left_ -= size;
    if (part.bytes.empty()) {
      ++next_;
      clean_ = 0;
    }
  }
}

// Ends the unchecked part parts_[next_] at `at` and puts the rest of its string, written as
// append_json writes a string's content, right behind it.
void TextStream::rewrite_rest(std::size_t at) {
  Rewrite& rewrite = rewrites_.emplace_back();
  const std::string_view rest = parts_[next_].bytes.substr(at);
  append_string_content(rewrite.text, &rewrite.runs, rest);
  std::vector<std::string_view> views;
  gather(rewrite.text, rewrite.runs, views);
  std::vector<Part> rewritten;
  std::size_t size = 0;
  for (const std::string_view view : views) {
    rewritten.push_back({view, true});
    size += view.size();
  }
  left_ = left_ - rest.size() + size;
  const auto here = parts_.begin() + static_cast<std::ptrdiff_t>(next_);
  if (at == 0) {
    *here = rewritten.front();
    parts_.insert(here + 1, rewritten.begin() + 1, rewritten.end());
  } else {
    *here = {here->bytes.substr(0, at), true};
    parts_.insert(here + 1, rewritten.begin(), rewritten.end());
  }
}

}  // namespace procslink::detail
