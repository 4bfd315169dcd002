// json_scan.hpp - the bulk scan shared by the JSON reader and writer (internal).
//
// Both copy strings in clean runs: a run ends at '"', '\\', a control character or (for the
// writer, and for the reader's UTF-8 check) a byte >= 0x80. Long strings are where the time
// goes, so whole 64-byte blocks are skipped with the widest vectors the CPU has (AVX2 when
// present, chosen once at start-up; SSE2 otherwise) and the caller finds the byte in the block.
#pragma once

namespace procslink::detail {

// The start of the first 64-byte block in [p, end) that holds a byte ending a clean run, or
// the point from which fewer than 64 bytes are left.
const char* skip_clean_blocks(const char* p, const char* end);

// The implementations, for tests: the AVX2 one only where avx2_available().
const char* skip_clean_blocks_sse2(const char* p, const char* end);
const char* skip_clean_blocks_avx2(const char* p, const char* end);
bool avx2_available();

}  // namespace procslink::detail
