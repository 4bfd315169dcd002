// nlmon.cpp - the nlmon device (made and removed with ip(8)) and its packet socket.
#include "nlmon.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace procslink::monitor {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw TransportError(TransportError::Kind::other, what);
}

// Runs `ip ARGS...`; returns its exit status and, through `output`, what it printed.
int run_ip(const std::vector<std::string>& args, std::string& output) {
  int out[2];
  if (pipe(out) != 0) fail("pipe: " + std::string(std::strerror(errno)));
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(out[1], 2);
    close(out[0]);
    std::vector<char*> argv{const_cast<char*>("ip")};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp("ip", argv.data());
    _exit(127);
  }
  close(out[1]);
  char chunk[512];
  ssize_t n;
  while ((n = read(out[0], chunk, sizeof chunk)) > 0) output.append(chunk, static_cast<std::size_t>(n));
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

void create_device(const std::string& name) {
  std::string output;
  if (run_ip({"link", "add", name, "type", "nlmon"}, output) != 0) {
    if (output.find("Unknown device type") != std::string::npos) {
      fail("this kernel has no nlmon (ip link add " + name + " type nlmon: " + output +
           "); capture where it has one with tcpdump -i nlmon0 -w FILE, then use --read FILE");
    }
    fail("cannot create nlmon device " + name + ": " + output);
  }
  output.clear();
  if (run_ip({"link", "set", name, "up"}, output) != 0) {
    std::string ignored;
    run_ip({"link", "delete", name}, ignored);
    fail("cannot bring " + name + " up: " + output);
  }
}

}  // namespace

NlmonCapture::NlmonCapture(const std::string& interface, bool create) : interface_(interface) {
  if (if_nametoindex(interface.c_str()) == 0) {
    if (!create) {
      fail("no nlmon device " + interface + " (pass --create to make one: it needs "
           "CAP_NET_ADMIN and nlmon in the kernel; or decode a capture with --read FILE)");
    }
    create_device(interface);
    created_ = true;
  }
  fd_ = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd_ < 0) {
    const int err = errno;
    release();
    fail("cannot open a packet socket: " + std::string(std::strerror(err)) +
         (err == EPERM ? " (capturing needs CAP_NET_RAW)" : ""));
  }
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
  if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int err = errno;
    release();
    fail("cannot capture on " + interface + ": " + std::strerror(err));
  }
}

NlmonCapture::~NlmonCapture() { release(); }

void NlmonCapture::release() noexcept {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (created_) {
    std::string ignored;
    run_ip({"link", "delete", interface_}, ignored);
    created_ = false;
  }
}

std::optional<CapturedMessage> NlmonCapture::next(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
  CapturedMessage m;
  m.message.resize(kMaxDatagramSize);
  sockaddr_ll from{};
  socklen_t from_length = sizeof from;
  const ssize_t n = recvfrom(fd_, m.message.data(), m.message.size(), MSG_TRUNC,
                             reinterpret_cast<sockaddr*>(&from), &from_length);
  if (n < 0) {
    if (errno == EINTR) return std::nullopt;
    fail("reading " + interface_ + ": " + std::strerror(errno));
  }
  m.message.resize(std::min<std::size_t>(static_cast<std::size_t>(n), m.message.size()));
  m.family = ntohs(from.sll_protocol);
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  m.time_ns = static_cast<std::uint64_t>(now.tv_sec) * 1000000000u + static_cast<std::uint64_t>(now.tv_nsec);
  return m;
}

}  // namespace procslink::monitor
