// procslink_side.cpp - procslink's echo server and the clients that time it.
#include "procslink_side.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>

#include "procslink/procslink.hpp"

namespace procslink::bench {
namespace {

double pipelined_seconds(const Channel& channel, std::size_t window, std::size_t count) {
  const json params = json::array({kSmallPayload});
  std::mutex mu;
  std::condition_variable finished;
  std::size_t issued = 0, completed = 0;
  std::exception_ptr failure;
  std::function<void(CallOutcome)> done = [&](CallOutcome outcome) {
    std::exception_ptr error;
    try {
      if (outcome.get() != params[0]) throw std::runtime_error("echo returned something else");
    } catch (...) {
      error = std::current_exception();
    }
    bool more = false;
    {
      std::lock_guard lock(mu);
      if (error && !failure) failure = error;
      ++completed;
      if (issued < count && !failure) {
        ++issued;
        more = true;
      }
      if (completed == issued) finished.notify_all();
    }
    if (more) channel.async_call_with("echo", params, done);
  };
  const std::size_t first = std::min(window, count);
  const auto start = Clock::now();
  {
    std::lock_guard lock(mu);
    issued = first;
  }
  for (std::size_t i = 0; i < first; ++i) channel.async_call_with("echo", params, done);
  std::unique_lock lock(mu);
  finished.wait(lock, [&] { return completed == issued && (issued == count || failure); });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (failure) std::rethrow_exception(failure);
  return seconds;
}

}  // namespace

EchoWork procslink_echo_work() {
  // The raw datagrams are exactly as long as procslink's request and reply for this payload.
  return {kSmallPayload,
          kDatagramHeadersSize +
              to_text(JsonRpcRequest{"echo", json::array({kSmallPayload}), 12345}.to_json()).size(),
          kDatagramHeadersSize +
              to_text(JsonRpcResponse::success(12345, kSmallPayload).to_json()).size()};
}

std::size_t procslink_fragment_size() { return PeerOptions{}.fragment_size; }

void quiet_procslink_log() { set_log_level(LogLevel::error); }

[[noreturn]] void serve_procslink_echo(int out_fd, std::chrono::microseconds spin) {
  PeerOptions options;
  options.spin = spin;
  RPCPeer peer(options);
  // The demo server's echo, registered the same way.
  peer.register_function("echo", [](json value) { return value; }, {"value"});
  announce_nl_pid(out_fd, peer.nl_pid());
  peer.run_server_forever();
  std::_Exit(0);
}

Measurement procslink_round_trips(std::uint32_t server, std::chrono::microseconds spin,
                                  const Gate& gate, std::size_t warmup, std::size_t count, Clock::duration limit) {
  PeerOptions options;
  options.spin = spin;
  RPCPeer client(options);
  const Channel channel = client.talk_to(server);
  const json payload = kSmallPayload;
  gate.wait_open();
  return time_round_trips(warmup, count, limit, [&] {
    const json result = channel.call("echo", payload);
    if (result != payload) throw std::runtime_error("echo returned something else");
  });
}

double procslink_pipelined_seconds(std::uint32_t server, const Gate& gate, std::size_t window,
                                   std::size_t count) {
  RPCPeer client;
  const Channel channel = client.talk_to(server);
  // Warm up the pool and the code paths before timing.
  pipelined_seconds(channel, window, std::max<std::size_t>(count / 10, window));
  gate.wait_open();
  return pipelined_seconds(channel, window, count);
}

double procslink_large_seconds(std::uint32_t server, const Gate& gate, std::size_t size,
                               std::size_t warmup, std::size_t repeats, bool give_back) {
  RPCPeer client;
  const Channel channel = client.talk_to(server).with_timeout(std::chrono::seconds(120));
  const json params = json::array({std::string(size, 'a')});
  gate.wait_open();
  // Untimed echoes first, as many as the raw copy makes: they settle the buffers both sides
  // then reuse (docs/performance.md, large echo: first use of a buffer).
  for (std::size_t i = 0; i < warmup; ++i) {
    json warm = channel.call_with("echo", params);
    if (give_back) client.give_back(std::move(warm));
  }
  const auto start = Clock::now();
  for (std::size_t r = 0; r < repeats; ++r) {
    json result = channel.call_with("echo", params);
    if (!result.is_string() || result.get_ref<const std::string&>().size() != size) {
      throw std::runtime_error("echo returned something else");
    }
    if (give_back) client.give_back(std::move(result));  // as a raw copy reuses its buffer
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace procslink::bench
