// bulk_memory.hpp - capacity for large strings that are written once, front to back (internal).
//
// A fresh multi-megabyte buffer costs one page fault per 4 KiB page on first touch, and on a
// virtual machine those faults, not the copying, set the speed of a large message. Asking for
// transparent huge pages on the buffer (where the system allows them, e.g. "madvise" mode)
// turns 512 faults into one. Best effort: without THP nothing changes.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace procslink::detail {

inline constexpr std::size_t kHugePage = 2u << 20;
// Below this a string rarely spans a whole aligned huge page.
inline constexpr std::size_t kBulkThreshold = 4u << 20;

// Asks for huge pages on the whole 2 MiB pages inside [data, data + size).
inline void advise_huge_pages(char* data, std::size_t size) {
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t last = (begin + size) & ~(kHugePage - 1);
  if (last > first) (void)madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

// Lets the kernel take back the whole pages inside [data, data + size) when it needs memory,
// without writing them out: until it does, writing to them again costs no page fault. What
// they then hold is either their old bytes or zeros.
inline void release_lazily(char* data, std::size_t size) {
  const std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t first = (begin + page - 1) & ~(page - 1);
  const std::uintptr_t last = (begin + size) & ~(page - 1);
  if (last > first) (void)madvise(reinterpret_cast<void*>(first), last - first, MADV_FREE);
}

// Reserves room for `capacity` bytes. A large new buffer gets the advice before anything is
// copied into it (std::string::reserve would copy the old contents first).
inline void reserve_bulk(std::string& text, std::size_t capacity) {
  if (capacity <= text.capacity()) return;
  if (capacity < kBulkThreshold) {
    text.reserve(capacity);
    return;
  }
  std::string fresh;
  fresh.reserve(capacity);
  advise_huge_pages(fresh.data(), fresh.capacity());
  fresh.append(text);
  text.swap(fresh);
}

}  // namespace procslink::detail
