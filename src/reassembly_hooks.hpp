// reassembly_hooks.hpp - what the peer does with a FragmentReassembler beyond its public API
// (internal): hand a large message's buffer back for the next one, find where the next
// fragment of a message may be received in place, and keep a message's first bytes apart so
// that a long string lands at the front of the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "procslink/message.hpp"

namespace procslink::detail {

struct ReassemblyHooks {
  // Above this a recycled buffer's pages are given back to the kernel lazily once it is idle
  // (see release_spare).
  static constexpr std::size_t kKeptCapacity = 4u << 20;
  // Takes a completed body back once its reader is done with it. The next fragmented message
  // is assembled in that buffer, so a stream of large messages does not fault in fresh pages
  // for each one. One buffer is kept, the largest handed back, of at most twice max_message
  // bytes.
  static void recycle(FragmentReassembler& reassembler, std::string&& body);
  // For a time when no message is incomplete: gives the kept buffer's pages back to the kernel
  // lazily (MADV_FREE) if it is larger than kKeptCapacity: kept while memory is plentiful,
  // reclaimed without swapping when it is short. True if it did.
  static bool release_spare(FragmentReassembler& reassembler);
  // Where the body of fragment `index` of message `seq` from `sender`, `length` bytes, may be
  // received in place: inside the message's buffer, when it is the fragment expected next and
  // the buffer has that much room already (a recycled buffer keeps its size). Receive it there,
  // then add() it as usual: add() sees it is in place and copies nothing. Null otherwise. The
  // room stays valid until the reassembler is next used.
  static char* landing_room(FragmentReassembler& reassembler, std::uint64_t sender,
                            std::uint32_t seq, std::uint16_t index, std::size_t length);
  // The room for whichever fragment of message `seq` from `sender` comes next: where it starts
  // in the message's buffer, how many bytes the buffer has there, and the fragment's index.
  // Empty (length 0) when the message is unknown, refused, or its buffer has no room left.
  // Valid as landing_room's.
  struct Room {
    char* at = nullptr;
    std::size_t length = 0;
    std::uint16_t index = 0;
  };
  static Room next_room(FragmentReassembler& reassembler, std::uint64_t sender, std::uint32_t seq);

  // A message whose first bytes are kept apart: its buffer holds the body from offset
  // head.size() on, so a string that starts there lies at the buffer's front, where it can
  // become a string value without being moved.
  struct Split {
    std::string head;         // the body's first bytes
    std::size_t checked = 0;  // for the peer: how much of the buffer's front it has checked
  };
  // Has the next add() split the message it starts at body offset `at`, if the fragment it
  // adds is fragment 0 of a new message and has that many bytes: their first `at` go to the
  // split's head (with `checked` in the split), the rest to the front of the buffer, where the
  // next fragments follow. That add() forgets it either way.
  static void split_next(FragmentReassembler& reassembler, std::size_t at, std::size_t checked);
  // A split message's split and the bytes its buffer holds so far; a null split when the
  // message is unknown or not split. Valid as landing_room's.
  struct SplitBuffer {
    Split* split = nullptr;
    std::string_view filled;
  };
  static SplitBuffer split_buffer(FragmentReassembler& reassembler, std::uint64_t sender,
                                  std::uint32_t seq);
  // The split of the message the last add() completed, if that message was split: its
  // Complete::body is then the body from head.size() on.
  static std::optional<Split> take_split(FragmentReassembler& reassembler);
};

}  // namespace procslink::detail
