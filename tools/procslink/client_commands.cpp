// procslink call / notify / send / list / ping: the client side of the CLI.
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>

#include "commands.hpp"
#include "procslink/procslink.hpp"

namespace procslink::cli {
namespace {

struct Target {
  std::string target;
  std::string netns;
  long timeout_ms = 5000;
};

void add_target_options(CLI::App* cmd, Target& t, bool with_timeout) {
  if (with_timeout) {
    cmd->add_option("--timeout", t.timeout_ms, "milliseconds to wait for the reply")
        ->check(CLI::PositiveNumber);
  }
  cmd->add_option("--netns", t.netns, "send from inside this network namespace (a path)");
  cmd->add_option("TARGET", t.target, "the peer: a decimal nl_pid or a service name")->required();
}

// PARAMS_JSON: absent for none, "-" for stdin, else an array or object.
json parse_params(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  std::string source = *text;
  if (source == "-") {
    source.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  json params;
  try {
    params = parse_json(source);
  } catch (const JsonRpcError& e) {
    throw UsageError("PARAMS_JSON is not valid JSON: " + std::string(e.what()));
  }
  if (!params.is_array() && !params.is_object()) {
    throw UsageError("PARAMS_JSON must be a JSON array or object, not " +
                     std::string(params.type_name()));
  }
  return params;
}

bool is_port_number(const std::string& target) {
  return !target.empty() && target.find_first_not_of("0123456789") == std::string::npos;
}

// A client peer and a channel to TARGET (a name is verified on the way).
struct Connection {
  RPCPeer peer;
  Channel channel;
  Connection(const Target& t, PeerOptions options = {})
      : peer(with_netns(std::move(options), t)), channel(open(peer, t)) {}

  static PeerOptions with_netns(PeerOptions options, const Target& t) {
    options.netns = t.netns;
    options.workers = 1;
    options.timeout = std::chrono::milliseconds(t.timeout_ms);
    return options;
  }
  static Channel open(RPCPeer& peer, const Target& t) {
    if (is_port_number(t.target)) return peer.talk_to(resolve_target(t.target));
    return peer.talk_to(std::string_view(t.target));
  }
};

int run_call(const Target& t, const std::string& method, const std::optional<std::string>& params,
             std::optional<uid_t> require_uid) {
  json parsed = parse_params(params);
  Connection connection(t);
  Channel channel = connection.channel;
  if (require_uid) channel = channel.requiring_uid(*require_uid);
  std::cout << to_text(channel.call_with(method, std::move(parsed))) << '\n';
  return kExitOk;
}

int run_notify(const Target& t, const std::string& method, const std::optional<std::string>& params) {
  json parsed = parse_params(params);
  RPCPeer peer(Connection::with_netns({}, t));
  peer.talk_to(resolve_target(t.target)).notify_with(method, std::move(parsed));
  return kExitOk;
}

// Sends RAW_BODY as is, with the transport layer only, so invalid bodies reach the peer intact.
int run_send(const Target& t, const std::string& raw_body) {
  SocketOptions options;
  options.netns = t.netns;
  NetlinkSocket socket(options);
  const std::uint32_t dest = resolve_target(t.target);
  DatagramFields fields{socket.nl_pid(), PayloadType::request, 1, 0, 0, 0};
  FragmentReassembler reassembler;
  std::size_t fragment = 0;
  for_each_datagram(fields, raw_body, kReferenceMaxDatagram, 64u << 10,
                    [&](const DatagramFields& f, std::string_view chunk) {
                      auto datagram = build_datagram(f, chunk);
                      const iovec part{datagram.data(), datagram.size()};
                      socket.send(dest, {&part, 1});
                      ++fragment;
                    });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(t.timeout_ms);
  std::vector<std::uint8_t> buffer;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return kExitOk;  // no reply (a notification, say): print nothing
    pollfd p{socket.fd(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    auto d = socket.receive(buffer, false);
    if (!d || d->sender_nl_pid != dest) continue;
    ProcslinkMessage message;
    try {
      message = ProcslinkMessage::parse(d->bytes);
    } catch (const FramingError& e) {
      throw TransportError(TransportError::Kind::malformed_reply,
                           "malformed reply from nl_pid " + std::to_string(dest) + ": " + e.what());
    }
    if (message.payload_type() != PayloadType::response) continue;
    if (!message.header.is_fragment()) {
      std::cout << message.body << '\n';
      return kExitOk;
    }
    if (auto whole = reassembler.add(dest, message)) {
      std::cout << whole->body << '\n';
      return kExitOk;
    }
  }
}

int run_list(const Target& t) {
  Connection connection(t);
  json discovered = connection.channel.call("rpc.discover");
  for (const auto& m : discovered.at("methods")) std::cout << m.at("name").get<std::string>() << '\n';
  return kExitOk;
}

int run_ping(const Target& t, int count, long spin_us) {
  PeerOptions options;
  options.spin = std::chrono::microseconds(spin_us);
  Connection connection(t, options);
  std::vector<double> rtts;
  rtts.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    const auto start = std::chrono::steady_clock::now();
    connection.channel.call("rpc.ping");
    const std::chrono::duration<double, std::micro> rtt = std::chrono::steady_clock::now() - start;
    rtts.push_back(rtt.count());
    std::printf("reply from nl_pid %u: seq=%d time=%.1f us\n", connection.channel.target(), i + 1,
                rtt.count());
  }
  std::sort(rtts.begin(), rtts.end());
  auto at = [&](double q) { return rtts[std::min(rtts.size() - 1, static_cast<std::size_t>(q * rtts.size()))]; };
  std::printf("rtt min/median/p99/max = %.1f/%.1f/%.1f/%.1f us\n", rtts.front(), at(0.5), at(0.99),
              rtts.back());
  return kExitOk;
}

}  // namespace

void add_client_commands(CLI::App& app, std::function<int()>& run) {
  struct Args {
    Target target;
    std::string method;
    std::optional<std::string> params;
    std::string raw_body;
    std::optional<uid_t> require_uid;
    int count = 10;
    long spin_us = 0;
  };
  auto a = std::make_shared<Args>();

  auto* call = app.add_subcommand("call", "call METHOD on TARGET and print the result as JSON");
  add_target_options(call, a->target, true);
  call->add_option("METHOD", a->method, "method name")->required();
  call->add_option("PARAMS_JSON", a->params, "a JSON array or object; '-' reads it from stdin");
  call->add_option("--require-uid", a->require_uid, "fail unless the answering peer has this uid");
  call->callback([&run, a] { run = [a] { return run_call(a->target, a->method, a->params, a->require_uid); }; });

  auto* notify = app.add_subcommand("notify", "send METHOD to TARGET as a notification");
  add_target_options(notify, a->target, false);
  notify->add_option("METHOD", a->method, "method name")->required();
  notify->add_option("PARAMS_JSON", a->params, "a JSON array or object; '-' reads it from stdin");
  notify->callback([&run, a] { run = [a] { return run_notify(a->target, a->method, a->params); }; });

  auto* send = app.add_subcommand("send", "send RAW_BODY verbatim as a request body and print "
                                          "the raw reply body, if any");
  add_target_options(send, a->target, true);
  send->add_option("RAW_BODY", a->raw_body, "the body, sent as is")->required();
  send->callback([&run, a] { run = [a] { return run_send(a->target, a->raw_body); }; });

  auto* list = app.add_subcommand("list", "print TARGET's method names, one per line");
  add_target_options(list, a->target, true);
  list->callback([&run, a] { run = [a] { return run_list(a->target); }; });

  auto* ping = app.add_subcommand("ping", "call TARGET's rpc.ping COUNT times and print the "
                                          "round-trip times");
  add_target_options(ping, a->target, true);
  ping->add_option("-c,--count", a->count, "number of calls")->check(CLI::PositiveNumber);
  ping->add_option("--spin", a->spin_us, "busy-poll this many microseconds before blocking")
      ->check(CLI::NonNegativeNumber);
  ping->callback([&run, a] { run = [a] { return run_ping(a->target, a->count, a->spin_us); }; });
}

}  // namespace procslink::cli
