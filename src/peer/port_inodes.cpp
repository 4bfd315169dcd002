// port_inodes.cpp - reading the kernel's socket table of a namespace into a port-to-inode
// map, and keeping the last one per namespace.
#include "port_inodes.hpp"

#include "../socket_table.hpp"
#include "procslink/log.hpp"

namespace procslink::detail {

PortInodes::PortInodes(const Endpoints& endpoints, std::chrono::milliseconds max_age)
    : endpoints_(endpoints), max_age_(max_age), cached_(endpoints.size()) {}

std::shared_ptr<const PortInodes::Table> PortInodes::fresh(std::size_t endpoint) {
  std::shared_ptr<Table> table;
  try {
    const std::vector<UsersockSocket> sockets = usersock_table(endpoints_[endpoint].netns());
    table = std::make_shared<Table>();
    table->reserve(sockets.size());
    for (const UsersockSocket& s : sockets) table->emplace(s.nl_pid, s.inode);
  } catch (const std::exception& e) {
    log(LogLevel::debug, "cannot read the socket table: ", e.what(),
        "; subscribers are not checked for port-id reuse");
  }
  std::lock_guard lock(mutex_);
  cached_[endpoint] = {table, Clock::now()};
  return table;
}

std::shared_ptr<const PortInodes::Table> PortInodes::recent(std::size_t endpoint) {
  {
    std::lock_guard lock(mutex_);
    const Cached& cached = cached_[endpoint];
    if (cached.read_at != Clock::time_point{} && Clock::now() - cached.read_at < max_age_) {
      return cached.table;
    }
  }
  return fresh(endpoint);
}

}  // namespace procslink::detail
