// socket_table.cpp - the NETLINK_USERSOCK sockets of a network namespace: the kernel's table
// (/proc/thread-self/net/netlink, read from inside the namespace) alone, port id and inode; and
// with the processes holding them, each inode looked up among the /proc/PID/fd links
// (socket:[INODE]) this caller may read.
#include <dirent.h>
#include <linux/netlink.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "procslink/discovery.hpp"
#include "procslink/error.hpp"
#include "procslink/transport.hpp"
#include "socket_table.hpp"

namespace procslink {
namespace detail {

// Port id and inode of each NETLINK_USERSOCK line of the calling thread's table.
std::vector<UsersockSocket> read_netlink_table() {
  // /proc/net follows the thread group leader's network namespace; this thread may have
  // entered another one (run_in_network_namespace), so its own view is read first.
  std::ifstream table("/proc/thread-self/net/netlink");
  if (!table) table.open("/proc/self/net/netlink");
  if (!table) {
    throw TransportError(TransportError::Kind::other,
                         "cannot read /proc/self/net/netlink (is /proc mounted?)");
  }
  std::vector<UsersockSocket> sockets;
  std::string line;
  std::getline(table, line);  // column titles
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string sk, skip;
    unsigned protocol = 0;
    UsersockSocket s;
    fields >> sk >> protocol >> s.nl_pid;
    for (int i = 0; i < 6; ++i) fields >> skip;  // Groups Rmem Wmem Dump Locks Drops
    fields >> s.inode;
    if (fields && protocol == NETLINK_USERSOCK && s.nl_pid != 0) sockets.push_back(s);
  }
  return sockets;
}

std::vector<UsersockSocket> usersock_table(const std::string& netns) {
  std::vector<UsersockSocket> sockets;
  if (netns.empty()) {
    sockets = read_netlink_table();
  } else {
    run_in_network_namespace(netns, [&] { sockets = read_netlink_table(); });
  }
  return sockets;
}

}  // namespace detail

namespace {


bool is_number(const char* text) {
  return *text != '\0' && std::string_view(text).find_first_not_of("0123456789") ==
                              std::string_view::npos;
}

std::optional<uid_t> real_uid_of(const std::string& pid) {
  std::ifstream status("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) return static_cast<uid_t>(std::stoul(line.substr(4)));
  }
  return std::nullopt;
}

// Fills in the holder of every socket in `by_inode` whose inode a readable /proc/PID/fd has.
void find_holders(std::map<std::uint64_t, UsersockSocket*>& by_inode) {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return;
  while (dirent* entry = readdir(proc)) {
    if (!is_number(entry->d_name)) continue;
    const std::string pid = entry->d_name;
    const std::string fd_dir = "/proc/" + pid + "/fd";
    DIR* fds = opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    while (dirent* fd = readdir(fds)) {
      char target[64];
      const ssize_t n = readlink((fd_dir + "/" + fd->d_name).c_str(), target, sizeof target - 1);
      std::uint64_t inode = 0;
      if (n <= 0 || std::sscanf(std::string(target, static_cast<std::size_t>(n)).c_str(),
                                "socket:[%lu]", &inode) != 1) {
        continue;
      }
      auto it = by_inode.find(inode);
      if (it == by_inode.end() || it->second->pid) continue;  // the first holder found stays
      UsersockSocket& s = *it->second;
      s.pid = static_cast<pid_t>(std::stol(pid));
      std::ifstream comm("/proc/" + pid + "/comm");
      std::string name;
      if (std::getline(comm, name)) s.process = name;
      s.uid = real_uid_of(pid);
    }
    closedir(fds);
  }
  closedir(proc);
}

}  // namespace

std::vector<UsersockSocket> usersock_sockets(const std::string& netns) {
  std::vector<UsersockSocket> sockets = detail::usersock_table(netns);
  std::map<std::uint64_t, UsersockSocket*> by_inode;
  for (auto& s : sockets) by_inode[s.inode] = &s;
  find_holders(by_inode);
  std::sort(sockets.begin(), sockets.end(),
            [](const UsersockSocket& a, const UsersockSocket& b) { return a.nl_pid < b.nl_pid; });
  return sockets;
}

}  // namespace procslink
