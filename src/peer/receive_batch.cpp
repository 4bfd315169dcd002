// receive_batch.cpp - filling a batch with one recvmmsg, and claiming its datagrams.
#include "receive_batch.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "procslink/log.hpp"
#include "procslink/message.hpp"

namespace procslink::detail {

namespace {

// Whether the `length` bytes at `datagram` are a fragment of a larger message (a glance at the
// flag, as more_fragments_follow does; parsing checks it later).
bool is_fragment(const std::uint8_t* datagram, std::size_t length) {
  if (length < kDatagramHeadersSize || length > kMaxDatagramSize) return false;
  const std::uint16_t flag = load_be16(datagram + kNetlinkHeaderSize + 2);
  return (flag & (kFlagFragment | kFlagLastFragment)) != 0;
}

}  // namespace

ReceiveBatch::~ReceiveBatch() {
  if (memory_ != nullptr) munmap(memory_, std::size_t{kSlots} * kMaxDatagramSize);
}

void ReceiveBatch::reserve() {
  // Address space only: a page is backed once a datagram is written to it.
  void* memory = mmap(nullptr, std::size_t{kSlots} * kMaxDatagramSize, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) {
    throw TransportError(TransportError::Kind::other,
                         std::string("cannot reserve receive slots: ") + std::strerror(errno));
  }
  memory_ = static_cast<std::uint8_t*>(memory);
}

void ReceiveBatch::set_up(unsigned j) {
  iov_[j] = {slot(j), kMaxDatagramSize};
  msghdr& m = headers_[j].msg_hdr;
  m = {};
  m.msg_name = &senders_[j];
  m.msg_namelen = sizeof senders_[j];
  m.msg_iov = &iov_[j];
  m.msg_iovlen = 1;
  m.msg_control = control_[j];
  m.msg_controllen = sizeof control_[j];
}

ReceiveBatch::Fill ReceiveBatch::fill(int fd, bool wait) {
  if (filling_.exchange(true, std::memory_order_acquire)) return Fill::busy;
  struct Done {
    std::atomic<bool>& filling;
    ~Done() { filling.store(false, std::memory_order_release); }
  } done{filling_};
  if (!reusable()) return Fill::busy;
  if (memory_ == nullptr) {
    reserve();
    for (unsigned j = 0; j < kSlots; ++j) set_up(j);
  }
  // The kernel writes only the headers of the datagrams it took (and perhaps of the one after,
  // had it failed): those are set up again.
  for (unsigned j = 0; j < written_; ++j) set_up(j);
  // MSG_TRUNC: each msg_len is the datagram's real length, so a cut one is noticed.
  const int flags = MSG_TRUNC | (wait ? MSG_WAITFORONE : MSG_DONTWAIT);
  const unsigned most = single_next_ ? 1 : kSlots;
  int got;
  for (;;) {
    got = ::recvmmsg(fd, headers_, most, flags, nullptr);
    written_ = std::min(most, got > 0 ? static_cast<unsigned>(got) + 1 : 1u);
    if (got > 0) break;
    if (got == 0 || errno == EAGAIN || errno == EWOULDBLOCK) return Fill::nothing;
    if (errno == EINTR || errno == ENOBUFS) continue;  // ENOBUFS: the kernel dropped some
    throw TransportError(TransportError::Kind::other,
                         std::string("receive on netlink socket failed: ") + std::strerror(errno));
  }
  single_next_ = false;
  for (int j = 0; j < got; ++j) {
    single_next_ = single_next_ || is_fragment(slot(j), headers_[j].msg_len);
  }
  handled_.store(0, std::memory_order_relaxed);
  state_.store(static_cast<std::uint32_t>(got) << 16, std::memory_order_release);
  return Fill::filled;
}

std::optional<ReceiveBatch::Claimed> ReceiveBatch::claim_orphan() {
  if (orphan_turn_.exchange(true, std::memory_order_acq_rel)) return std::nullopt;
  std::optional<Claimed> claimed = claim();
  if (!claimed) orphan_turn_.store(false, std::memory_order_release);
  return claimed;
}

std::optional<ReceiveBatch::Claimed> ReceiveBatch::claim() {
  for (;;) {
    std::uint32_t s = state_.load(std::memory_order_acquire);
    if (next_of(s) >= count_of(s)) return std::nullopt;
    if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) continue;
    const unsigned j = next_of(s);
    const msghdr& m = headers_[j].msg_hdr;
    const std::size_t length = headers_[j].msg_len;
    if (length > kMaxDatagramSize) {
      log(LogLevel::warning, "dropped a ", length, "-byte datagram from nl_pid ",
          senders_[j].nl_pid, ": longer than the ", kMaxDatagramSize, "-byte datagram limit");
      handled();
      continue;
    }
    Claimed c;
    c.datagram.sender_nl_pid = senders_[j].nl_pid;
    // Only the credentials were asked for: there is no next control message to look for.
    if (const cmsghdr* h = CMSG_FIRSTHDR(&m);
        h != nullptr && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS &&
        h->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
      ucred cred;
      std::memcpy(&cred, CMSG_DATA(h), sizeof cred);
      c.datagram.credentials = {cred.pid, cred.uid, cred.gid};
    }
    c.datagram.bytes = {slot(j), length};
    c.more_behind = next_of(s) + 1 < count_of(s);
    return c;
  }
}

}  // namespace procslink::detail
