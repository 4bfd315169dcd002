// byteorder.hpp - big-endian loads and stores, the only place procslink converts byte order.
//
// The reference implementation packs both headers with Python's struct "!" (network order), so
// every integer on the wire is big-endian, including the nlmsghdr the kernel would normally
// expect in host order (the kernel never parses NETLINK_USERSOCK payloads between user ports).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace procslink::detail {

// One load or store and a byte swap each (not byte by byte: stores through uint8_t* may alias
// anything, which keeps a compiler from merging them).
template <typename T>
inline T to_big_endian(T v) {
  if constexpr (std::endian::native == std::endian::big) {
    return v;
  } else if constexpr (sizeof(T) == 2) {
    return __builtin_bswap16(v);
  } else if constexpr (sizeof(T) == 4) {
    return __builtin_bswap32(v);
  } else {
    return __builtin_bswap64(v);
  }
}

inline std::uint16_t load_be16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return to_big_endian(v);
}
inline std::uint32_t load_be32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return to_big_endian(v);
}
inline std::uint64_t load_be64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return to_big_endian(v);
}
inline void store_be16(std::uint8_t* p, std::uint16_t v) {
  v = to_big_endian(v);
  std::memcpy(p, &v, sizeof v);
}
inline void store_be32(std::uint8_t* p, std::uint32_t v) {
  v = to_big_endian(v);
  std::memcpy(p, &v, sizeof v);
}
inline void store_be64(std::uint8_t* p, std::uint64_t v) {
  v = to_big_endian(v);
  std::memcpy(p, &v, sizeof v);
}

}  // namespace procslink::detail
