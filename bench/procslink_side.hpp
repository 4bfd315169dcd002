// procslink_side.hpp - procslink's half of every scenario: the echo server and the clients that
// time it (round trips, pipelined asynchronous calls, large strings). Each runs in a forked
// child, as its raw-netlink counterpart in raw_netlink.hpp does. Used by procslink_bench.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "echo_peers.hpp"
#include "harness.hpp"

namespace procslink::bench {

// The payload of every small echo: a short string, as a typical small call carries.
inline const std::string kSmallPayload = "procslink benchmark payload 0123";

// The echo's payload with the sizes of procslink's request and reply datagrams for it.
EchoWork procslink_echo_work();
// The body bytes per fragment of a large message (PeerOptions' default).
std::size_t procslink_fragment_size();
// Only errors from the library's log: the benchmark's servers drop nothing worth a line.
void quiet_procslink_log();

// Server: a peer with the demo server's echo, registered the same way. Never returns.
[[noreturn]] void serve_procslink_echo(int out_fd, std::chrono::microseconds spin);

// Synchronous echo calls of kSmallPayload, each timed after `warmup` untimed ones, until `count`
// are timed or `limit` has passed since the gate opened.
Measurement procslink_round_trips(std::uint32_t server, std::chrono::microseconds spin,
                                  const Gate& gate, std::size_t warmup, std::size_t count,
                                  Clock::duration limit = Clock::duration::max());

// Keeps `window` asynchronous calls in flight, starting the next one from each completion,
// until `count` completed; returns seconds. Warms up with a tenth of the calls before the gate.
double procslink_pipelined_seconds(std::uint32_t server, const Gate& gate, std::size_t window,
                                   std::size_t count);

// Echoes a `size`-byte JSON string `repeats` times after `warmup` untimed echoes; returns
// seconds. With `give_back`, each result is handed back (RPCPeer::give_back) as a raw copy
// reuses its buffer.
double procslink_large_seconds(std::uint32_t server, const Gate& gate, std::size_t size,
                               std::size_t warmup, std::size_t repeats, bool give_back);

}  // namespace procslink::bench
