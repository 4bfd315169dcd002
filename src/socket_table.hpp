// socket_table.hpp - the kernel's table of NETLINK_USERSOCK sockets of a network namespace,
// port id and inode only (no holders looked up): for usersock_sockets (discovery) and for
// a publisher telling a subscriber's socket from a later one at the same port id.
#pragma once

#include <string>
#include <vector>

#include "procslink/discovery.hpp"

namespace procslink::detail {

// Port id and inode of each NETLINK_USERSOCK socket of the calling thread's namespace.
std::vector<UsersockSocket> read_netlink_table();
// The same inside `netns` ("" for the calling thread's). Throws TransportError.
std::vector<UsersockSocket> usersock_table(const std::string& netns);

}  // namespace procslink::detail
