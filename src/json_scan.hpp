// json_scan.hpp - the bulk scan shared by the JSON reader and writer (internal).
//
// Both copy strings in clean runs: a run ends at '"', '\\', a control character or (for the
// writer, and for the reader's UTF-8 check) a byte >= 0x80. Long strings are where the time
// goes, so whole 64-byte blocks are skipped with the widest vectors the CPU has (AVX-512 or
// AVX2 when present, chosen once at start-up; SSE2 otherwise), from the first 64-byte boundary
// on, and the caller finds the byte in the block.
// A reader that moves a string anyway checks and moves each block in the same pass, so the
// string is read once rather than once to find its end and once more to move it.
#pragma once

#include <array>
#include <cstddef>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace procslink::detail {

// The bytes that end a clean run of string content.
inline constexpr std::array<bool, 256> kEndsRun = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
  return table;
}();

#ifdef __SSE2__
// 0xFF in each lane whose byte ends a run. A signed compare against 0x20 catches both the
// control characters and every byte >= 0x80, which are negative as int8.
inline __m128i run_end_lanes(__m128i bytes) {
  return _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, _mm_set1_epi8('"')),
                                   _mm_cmpeq_epi8(bytes, _mm_set1_epi8('\\'))),
                      _mm_cmplt_epi8(bytes, _mm_set1_epi8(0x20)));
}

// One bit per byte of the 16 at p that ends a run.
inline unsigned run_end_mask(const void* p) {
  const __m128i bytes = _mm_loadu_si128(static_cast<const __m128i*>(p));
  return static_cast<unsigned>(_mm_movemask_epi8(run_end_lanes(bytes)));
}
#endif

// A point q in [p, end] with every byte of [p, q) clean, such that the first byte ending a
// clean run lies within the 64 bytes from q, or fewer than 64 bytes are left from q. (The
// blocks are p's first 64 bytes, then 64-byte aligned ones.)
const char* skip_clean_blocks(const char* p, const char* end);

// Copies the clean 64-byte blocks at the start of [p, end) to `to`, up to the first block
// holding a byte that ends a clean run (which is left where it is) or the point from which
// fewer than 64 bytes are left; returns how many bytes it copied, a multiple of 64. `to` may
// lie before p in the same buffer (each block is read whole before it is written), never after.
std::size_t move_clean_blocks(char* to, const char* p, const char* end);

// The implementations, for tests: the AVX2 ones only where avx2_available(), the AVX-512 one
// only where avx512_available().
const char* skip_clean_blocks_sse2(const char* p, const char* end);
const char* skip_clean_blocks_avx2(const char* p, const char* end);
const char* skip_clean_blocks_avx512(const char* p, const char* end);
std::size_t move_clean_blocks_sse2(char* to, const char* p, const char* end);
std::size_t move_clean_blocks_avx2(char* to, const char* p, const char* end);
bool avx2_available();
bool avx512_available();

}  // namespace procslink::detail
