// events_bench.cpp - procslink_events_bench: one publisher (this process) to 1, 8 and 64
// subscriber processes. For each count: events per second delivered while the publisher
// emits as fast as it can (RPCPeer::emit to Channel::subscribe callbacks), and the emit-to-
// callback latency of paced events (median, p99); beside it, the same datagrams (same sizes)
// sent with plain NetlinkSocket sends to plain receiving sockets, in the same run.
//
//   procslink_events_bench [--events=N] [--counts=1,8,64]
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "procslink/procslink.hpp"

namespace {

using namespace procslink;

std::int64_t now_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);  // one clock for every process of the machine
  return std::int64_t{t.tv_sec} * 1000000000 + t.tv_nsec;
}

// What a subscriber process reports through its pipe when it is done.
struct Report {
  std::uint64_t received = 0;
  std::int64_t last_ns = 0;        // when the last flood event arrived
  std::int64_t latency_ns[2]{};    // paced events: median, p99
};

// Params of an event: [phase (0 flood, 1 paced, 2 done), emit time in ns].
struct Tally {
  std::uint64_t received = 0;
  std::int64_t last_ns = 0;
  std::vector<std::int64_t> latencies;
  bool done = false;
  void take(int phase, std::int64_t sent_ns) {
    const std::int64_t now = now_ns();
    if (phase == 0) {
      ++received;
      last_ns = now;
    } else if (phase == 1) {
      latencies.push_back(now - sent_ns);
    } else {
      done = true;
    }
  }
  Report report() {
    Report r{received, last_ns, {0, 0}};
    if (!latencies.empty()) {
      std::sort(latencies.begin(), latencies.end());
      r.latency_ns[0] = latencies[latencies.size() / 2];
      r.latency_ns[1] = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
    }
    return r;
  }
};

// A subscriber process: subscribes (procslink) or binds (raw), writes its port id, takes
// events until "done", writes its report.
[[noreturn]] void subscriber(bool raw, std::uint32_t publisher, int out) {
  Tally tally;
  if (raw) {
    NetlinkSocket socket;
    const std::uint32_t port = socket.nl_pid();
    (void)!::write(out, &port, sizeof port);
    std::vector<std::uint8_t> buffer;
    while (!tally.done) {
      const auto d = socket.receive(buffer, true);
      if (!d || d->bytes.size() < kDatagramHeadersSize) continue;
      const char* body = reinterpret_cast<const char*>(d->bytes.data()) + kDatagramHeadersSize;
      const char* params = std::strchr(body, '[');
      if (params == nullptr) continue;
      char* end = nullptr;
      const int phase = static_cast<int>(std::strtol(params + 1, &end, 10));
      tally.take(phase, std::strtoll(end + 1, nullptr, 10));
    }
  } else {
    PeerOptions options;
    options.workers = 1;
    RPCPeer peer(options);
    std::atomic<bool> done{false};
    Subscription s = peer.talk_to(publisher).subscribe("tick", [&](const json& p) {
      tally.take(p[0].get<int>(), p[1].get<std::int64_t>());
      if (tally.done) {
        done = true;
        done.notify_one();
      }
    });
    const std::uint32_t port = peer.nl_pid();
    (void)!::write(out, &port, sizeof port);
    // Blocked until "done", as the raw subscriber is in its receive: a process that woke to
    // look every millisecond would cost 64 subscribers 64,000 wake-ups a second on 2 CPUs.
    done.wait(false);
  }
  const Report r = tally.report();
  (void)!::write(out, &r, sizeof r);
  _exit(0);
}

struct Result {
  double events_per_s;
  double median_us;
  double p99_us;
};

// Sends one event to every subscriber: procslink's emit, or plain sends of the same datagram.
struct Publisher {
  bool raw;
  RPCPeer& peer;
  NetlinkSocket& socket;
  std::vector<std::uint32_t> ports;
  std::size_t send(int phase) {
    const json params = json::array({phase, now_ns()});
    if (!raw) return peer.emit_with("tick", params);
    const std::string body = JsonRpcRequest::serialize("tick", &params, nullptr);
    const std::vector<std::uint8_t> datagram =
        build_datagram({socket.nl_pid(), PayloadType::request, 1, 0, 0, 0, 0}, body);
    const iovec part{const_cast<std::uint8_t*>(datagram.data()), datagram.size()};
    std::size_t sent = 0;
    for (const std::uint32_t port : ports) {
      try {
        socket.send(port, std::span<const iovec>(&part, 1), false);
        ++sent;
      } catch (const TransportError&) {
      }
    }
    return sent;
  }
};

const char* g_self = nullptr;  // this program, which each subscriber process runs anew

// Sends "done" every millisecond until every subscriber has answered through its pipe.
void finish(Publisher& pub, const std::vector<int>& pipes) {
  std::vector<pollfd> waiting;
  for (const int fd : pipes) waiting.push_back({fd, POLLIN, 0});
  for (;;) {
    pub.send(2);
    ::poll(waiting.data(), waiting.size(), 1);
    if (std::all_of(waiting.begin(), waiting.end(),
                    [](const pollfd& p) { return p.revents != 0; })) {
      return;
    }
  }
}

Result run(bool raw, std::size_t subscribers, int events, RPCPeer& peer, NetlinkSocket& socket) {
  std::vector<pid_t> children;
  std::vector<int> pipes;
  Publisher pub{raw, peer, socket, {}};
  for (std::size_t i = 0; i < subscribers; ++i) {
    int fds[2];
    if (pipe(fds) != 0) std::abort();
    const pid_t child = fork();
    if (child == 0) {
      const std::string arg = std::string("--subscriber=") + (raw ? "raw," : "procslink,") +
                              std::to_string(peer.nl_pid()) + "," + std::to_string(fds[1]);
      execl(g_self, g_self, arg.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    std::uint32_t port = 0;
    if (::read(fds[0], &port, sizeof port) != sizeof port) std::abort();
    children.push_back(child);
    pipes.push_back(fds[0]);
    pub.ports.push_back(port);
  }
  while (!raw && peer.subscription_count() < subscribers) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const std::int64_t start = now_ns();
  for (int i = 0; i < events; ++i) pub.send(0);
  for (int i = 0; i < 1000; ++i) {  // paced, for the latency
    pub.send(1);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  finish(pub, pipes);
  std::uint64_t received = 0;
  std::int64_t last = start;
  std::vector<double> medians, p99s;
  for (std::size_t i = 0; i < subscribers; ++i) {
    Report r;
    if (::read(pipes[i], &r, sizeof r) != sizeof r) std::abort();
    received += r.received;
    last = std::max(last, r.last_ns);
    medians.push_back(r.latency_ns[0] / 1000.0);
    p99s.push_back(r.latency_ns[1] / 1000.0);
    close(pipes[i]);
    waitpid(children[i], nullptr, 0);
  }
  std::sort(medians.begin(), medians.end());
  return {received / ((last - start) / 1e9), medians[medians.size() / 2],
          *std::max_element(p99s.begin(), p99s.end())};
}

}  // namespace

int main(int argc, char** argv) {
  g_self = argv[0];
  if (argc == 2 && std::strncmp(argv[1], "--subscriber=", 13) == 0) {
    const std::string spec = argv[1] + 13;  // raw|procslink,PUBLISHER,FD
    const std::size_t a = spec.find(','), b = spec.find(',', a + 1);
    subscriber(spec.substr(0, a) == "raw", static_cast<std::uint32_t>(std::stoul(spec.substr(a + 1, b - a - 1))),
               std::stoi(spec.substr(b + 1)));
  }
  int events = 20000;
  std::vector<std::size_t> counts = {1, 8, 64};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--events=", 0) == 0) events = std::stoi(a.substr(9));
    if (a.rfind("--counts=", 0) == 0) {
      counts.clear();
      for (std::size_t p = 9; p < a.size();) {
        const std::size_t comma = a.find(',', p);
        counts.push_back(std::stoul(a.substr(p, comma - p)));
        p = comma == std::string::npos ? a.size() : comma + 1;
      }
    }
  }
  std::printf("| subscribers | procslink events/s delivered | raw sends delivered/s | ratio | "
              "procslink latency median / p99 (us) | raw median / p99 (us) |\n"
              "|--:|--:|--:|--:|--:|--:|\n");
  for (const std::size_t n : counts) {
    RPCPeer peer;
    peer.start();
    NetlinkSocket socket;
    const Result p = run(false, n, events, peer, socket);
    const Result r = run(true, n, events, peer, socket);
    std::printf("| %zu | %.0f | %.0f | %.2f | %.1f / %.1f | %.1f / %.1f |\n", n, p.events_per_s,
                r.events_per_s, p.events_per_s / r.events_per_s, p.median_us, p.p99_us,
                r.median_us, r.p99_us);
    std::fflush(stdout);
  }
  return 0;
}
