#include "json_scan.hpp"

#include <cstddef>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PROCSLINK_X86 1
#endif

namespace procslink::detail {
namespace {

// How far ahead a long scan asks for memory. The hardware prefetcher stops at page boundaries;
// without this, a string that is not in cache is scanned at the pace of memory latency (a
// 64 MiB scan measured 6.5 GB/s without, 20 GB/s with).
constexpr std::ptrdiff_t kPrefetchAhead = 4096;

#ifdef PROCSLINK_X86
inline bool block_is_clean_sse2(const char* p) {
  auto load = [p](int at) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at)); };
  const __m128i any =
      _mm_or_si128(_mm_or_si128(run_end_lanes(load(0)), run_end_lanes(load(16))),
                   _mm_or_si128(run_end_lanes(load(32)), run_end_lanes(load(48))));
  return _mm_movemask_epi8(any) == 0;
}

const char* skip_sse2(const char* p, const char* end) {
  while (end - p >= kPrefetchAhead + 64) {
    _mm_prefetch(p + kPrefetchAhead, _MM_HINT_T0);
    if (!block_is_clean_sse2(p)) return p;
    p += 64;
  }
  while (end - p >= 64 && block_is_clean_sse2(p)) p += 64;
  return p;
}

__attribute__((target("avx2"))) inline __m256i ends_run_avx2(__m256i bytes) {
  return _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(bytes, _mm256_set1_epi8('"')),
                                         _mm256_cmpeq_epi8(bytes, _mm256_set1_epi8('\\'))),
                         _mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), bytes));
}

__attribute__((target("avx2"))) inline bool block_is_clean_avx2(const char* p) {
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
  return _mm256_testz_si256(_mm256_or_si256(ends_run_avx2(a), ends_run_avx2(b)),
                            _mm256_set1_epi8(-1)) != 0;
}

__attribute__((target("avx2"))) const char* skip_avx2(const char* p, const char* end) {
  while (end - p >= kPrefetchAhead + 64) {
    _mm_prefetch(p + kPrefetchAhead, _MM_HINT_T0);
    if (!block_is_clean_avx2(p)) return p;
    p += 64;
  }
  while (end - p >= 64 && block_is_clean_avx2(p)) p += 64;
  return p;
}

bool cpu_has_avx2() {
  __builtin_cpu_init();  // this may run as a static constructor, before libgcc's own
  return __builtin_cpu_supports("avx2");
}

using Skip = const char* (*)(const char*, const char*);
const Skip kSkip = cpu_has_avx2() ? skip_avx2 : skip_sse2;
#endif

}  // namespace

#ifdef PROCSLINK_X86
const char* skip_clean_blocks_sse2(const char* p, const char* end) { return skip_sse2(p, end); }
const char* skip_clean_blocks_avx2(const char* p, const char* end) { return skip_avx2(p, end); }
bool avx2_available() { return cpu_has_avx2(); }
#else
const char* skip_clean_blocks_sse2(const char* p, const char*) { return p; }
const char* skip_clean_blocks_avx2(const char* p, const char*) { return p; }
bool avx2_available() { return false; }
#endif

const char* skip_clean_blocks(const char* p, const char* end) {
#ifdef PROCSLINK_X86
  return kSkip(p, end);
#else
  (void)end;
  return p;
#endif
}

}  // namespace procslink::detail
