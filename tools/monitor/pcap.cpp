// pcap.cpp - the pcap file format for netlink captures (see pcap.hpp).
#include "pcap.hpp"

#include <cerrno>
#include <cstring>

namespace procslink::monitor {
namespace {

constexpr std::uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr std::uint32_t kMagicNano = 0xa1b23c4d;
constexpr std::uint32_t kSnapLength = 262144;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw TransportError(TransportError::Kind::other, path + ": " + what);
}

void put32(std::uint8_t* p, std::uint32_t v) { std::memcpy(p, &v, 4); }  // native order
void put16(std::uint8_t* p, std::uint16_t v) { std::memcpy(p, &v, 2); }

}  // namespace

PcapWriter::PcapWriter(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "wb")) {
  if (file_ == nullptr) fail(path, std::strerror(errno));
  std::uint8_t header[24] = {};
  put32(header, kMagicMicro);
  put16(header + 4, 2);
  put16(header + 6, 4);
  put32(header + 16, kSnapLength);
  put32(header + 20, kLinktypeNetlink);
  if (std::fwrite(header, 1, sizeof header, file_) != sizeof header) fail(path, "write failed");
}

PcapWriter::~PcapWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void PcapWriter::write(const CapturedMessage& m) {
  const std::size_t length = kCookedHeaderSize + m.message.size();
  std::uint8_t record[16 + kCookedHeaderSize] = {};
  put32(record, static_cast<std::uint32_t>(m.time_ns / 1000000000u));
  put32(record + 4, static_cast<std::uint32_t>(m.time_ns % 1000000000u / 1000u));
  put32(record + 8, static_cast<std::uint32_t>(std::min<std::size_t>(length, kSnapLength)));
  put32(record + 12, static_cast<std::uint32_t>(length));
  std::uint8_t* cooked = record + 16;  // big-endian fields, as in the Linux cooked header
  cooked[2] = kArphrdNetlink >> 8;
  cooked[3] = kArphrdNetlink & 0xff;
  cooked[14] = static_cast<std::uint8_t>(m.family >> 8);
  cooked[15] = static_cast<std::uint8_t>(m.family & 0xff);
  const std::size_t kept = std::min<std::size_t>(m.message.size(), kSnapLength - kCookedHeaderSize);
  if (std::fwrite(record, 1, sizeof record, file_) != sizeof record ||
      std::fwrite(m.message.data(), 1, kept, file_) != kept) {
    fail(path_, "write failed");
  }
}

void PcapWriter::flush() {
  if (std::fflush(file_) != 0) fail(path_, "write failed");
}

PcapReader::PcapReader(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "rb")) {
  if (file_ == nullptr) fail(path, std::strerror(errno));
  std::uint8_t header[24];
  if (std::fread(header, 1, sizeof header, file_) != sizeof header) fail(path, "not a pcap file");
  std::uint32_t magic;
  std::memcpy(&magic, header, 4);
  swapped_ = magic == __builtin_bswap32(kMagicMicro) || magic == __builtin_bswap32(kMagicNano);
  nanoseconds_ = magic == kMagicNano || magic == __builtin_bswap32(kMagicNano);
  if (!swapped_ && magic != kMagicMicro && magic != kMagicNano) {
    fail(path, "not a pcap file (pcapng is not read: convert it with editcap -F pcap)");
  }
  const std::uint32_t linktype = field(header + 20) & 0xffff;
  if (linktype != kLinktypeNetlink) {
    fail(path, "link type " + std::to_string(linktype) + ", not NETLINK (253): capture on an "
               "nlmon device");
  }
}

PcapReader::~PcapReader() {
  if (file_ != nullptr) std::fclose(file_);
}

std::uint32_t PcapReader::field(const std::uint8_t* p) const {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped_ ? __builtin_bswap32(v) : v;
}

std::optional<CapturedMessage> PcapReader::next() {
  std::uint8_t record[16];
  const std::size_t got = std::fread(record, 1, sizeof record, file_);
  if (got == 0) return std::nullopt;
  if (got != sizeof record) fail(path_, "cut short inside a record header");
  const std::uint32_t length = field(record + 8);
  if (length > kSnapLength) fail(path_, "a record of " + std::to_string(length) + " bytes");
  std::vector<std::uint8_t> data(length);
  if (std::fread(data.data(), 1, length, file_) != length) fail(path_, "cut short inside a record");
  if (length < kCookedHeaderSize) fail(path_, "a record shorter than the cooked header");
  CapturedMessage m;
  const std::uint64_t fraction = field(record + 4);
  m.time_ns = std::uint64_t{field(record)} * 1000000000u + (nanoseconds_ ? fraction : fraction * 1000u);
  m.family = static_cast<std::uint16_t>(data[14] << 8 | data[15]);
  m.message.assign(data.begin() + kCookedHeaderSize, data.end());
  return m;
}

}  // namespace procslink::monitor
