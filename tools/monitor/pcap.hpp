// pcap.hpp - netlink captures in the classic pcap format, link type NETLINK (253), as
// `tcpdump -i nlmon0 -w FILE` writes them: each record a 16-byte cooked header (packet type,
// ARPHRD_NETLINK 824, no address, the netlink family big-endian) and then the netlink message.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "procslink/procslink.hpp"

namespace procslink::monitor {

inline constexpr std::uint32_t kLinktypeNetlink = 253;
inline constexpr std::uint16_t kArphrdNetlink = 824;
inline constexpr std::size_t kCookedHeaderSize = 16;

struct CapturedMessage {
  std::uint64_t time_ns = 0;
  std::uint16_t family = 0;            // the netlink protocol: NETLINK_USERSOCK is 2
  std::vector<std::uint8_t> message;   // from the nlmsghdr on
};

// Writes a capture; throws TransportError when the file cannot be written.
class PcapWriter {
 public:
  explicit PcapWriter(const std::string& path);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  void write(const CapturedMessage& m);
  void flush();

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// Reads a capture written by PcapWriter or tcpdump (either byte order, micro- or nanosecond
// timestamps). Throws TransportError for a file that is missing, not pcap, of another link
// type, or cut short inside a record.
class PcapReader {
 public:
  explicit PcapReader(const std::string& path);
  ~PcapReader();
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;
  std::optional<CapturedMessage> next();  // nullopt at the end

 private:
  std::uint32_t field(const std::uint8_t* p) const;
  std::string path_;
  std::FILE* file_ = nullptr;
  bool swapped_ = false;
  bool nanoseconds_ = false;
};

}  // namespace procslink::monitor
