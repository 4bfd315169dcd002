// port_inodes.hpp - which socket holds a port id now, as the inode the kernel's socket table
// gives it, per network namespace of the peer's sockets: read afresh when asked, or reused
// while younger than a given age. Lets a publisher tell a subscriber's socket from a later
// one bound at the same port id (port ids are reused: autobind starts from the pid).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "clock.hpp"
#include "endpoints.hpp"

namespace procslink::detail {

class PortInodes {
 public:
  using Table = std::unordered_map<std::uint32_t, std::uint64_t>;  // port id -> inode

  // `max_age`: how old a table emit may use (0: always read afresh).
  PortInodes(const Endpoints& endpoints, std::chrono::milliseconds max_age);

  // The table of `endpoint`'s namespace, read now. Null when it cannot be read (no /proc).
  std::shared_ptr<const Table> fresh(std::size_t endpoint);
  // The table of `endpoint`'s namespace, read at most max_age ago.
  std::shared_ptr<const Table> recent(std::size_t endpoint);

  // The inode at `nl_pid` in `table`, 0 when nothing is bound there.
  static std::uint64_t inode_of(const Table& table, std::uint32_t nl_pid) {
    const auto it = table.find(nl_pid);
    return it == table.end() ? 0 : it->second;
  }

 private:
  struct Cached {
    std::shared_ptr<const Table> table;
    Clock::time_point read_at{};
  };
  const Endpoints& endpoints_;
  const Clock::duration max_age_;
  std::mutex mutex_;
  std::vector<Cached> cached_;  // per endpoint
};

}  // namespace procslink::detail
