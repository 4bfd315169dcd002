// procslink call / notify / send / list / ping: the client side of the CLI.
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>

#include "commands.hpp"
#include "connection.hpp"
#include "procslink/procslink.hpp"

namespace procslink::cli {
namespace {

// The params of a request from this CLI may take up to the peer's max_message_size.
const std::size_t kParamsLimit = PeerOptions{}.max_message_size;

int run_call(const TargetOptions& t, const std::string& method,
             const std::optional<std::string>& params, std::optional<uid_t> require_uid) {
  json parsed = read_params(params, kParamsLimit);
  Connection connection(t);
  Channel channel = connection.channel;
  if (require_uid) channel = channel.requiring_uid(*require_uid);
  std::cout << to_text(channel.call_with(method, std::move(parsed))) << '\n';
  return kExitOk;
}

int run_notify(const TargetOptions& t, const std::string& method,
               const std::optional<std::string>& params) {
  json parsed = read_params(params, kParamsLimit);
  Connection connection(t);
  connection.channel.notify_with(method, std::move(parsed));
  return kExitOk;
}

// Whether a request body owes a reply: not when it is made only of notifications.
bool expects_reply(std::string_view body) {
  const ParsedRequestBody parsed = parse_request_body(body);
  if (parsed.whole_body_error) return true;
  return std::any_of(parsed.items.begin(), parsed.items.end(), [](const auto& item) {
    const auto* request = std::get_if<JsonRpcRequest>(&item.content);
    return request == nullptr || !request->is_notification();
  });
}

// Exit status for a raw reply body: 1 when it is, or a batch holding, an error reply.
int reply_status(std::string_view body, std::uint32_t from) {
  try {
    const std::vector<JsonRpcResponse> replies = parse_response_body(body);
    const bool error = std::any_of(replies.begin(), replies.end(),
                                   [](const JsonRpcResponse& r) { return r.is_error(); });
    return error ? kExitRemoteError : kExitOk;
  } catch (const FramingError& e) {
    throw TransportError(TransportError::Kind::malformed_reply,
                         "the reply from nl_pid " + std::to_string(from) +
                             " is not a JSON-RPC response: " + e.what());
  }
}

// The body of the first response from `dest` (reassembled if fragmented), or nullopt when
// none arrives within `timeout_ms`.
std::optional<std::string> receive_raw_reply(const NetlinkSocket& socket, std::uint32_t dest,
                                             long timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  FragmentReassembler reassembler;
  std::vector<std::uint8_t> buffer;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
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
    if (!message.header.is_fragment()) return std::string(message.body);
    if (auto whole = reassembler.add(dest, message)) return std::move(whole->body);
  }
}

// Sends RAW_BODY as is, with the transport layer only, so invalid bodies reach the peer intact.
// Prints the raw reply body; exit 1 when it is an error reply, 2 when none came (unless the
// body is made only of notifications, which owe none).
int run_send(const TargetOptions& t, const std::string& raw_body) {
  const Target target = parse_target_or_usage(t.target);
  if (!target.name.empty()) Connection verified(t);  // the name's peer answers to it
  SocketOptions options;
  options.netns = t.netns;
  NetlinkSocket socket(options);
  const std::uint32_t dest = target.nl_pid;
  DatagramFields fields{socket.nl_pid(), PayloadType::request, 1, 0, 0, 0};
  for_each_datagram(fields, raw_body, kReferenceMaxDatagram, PeerOptions{}.fragment_size,
                    [&](const DatagramFields& f, std::string_view chunk) {
                      auto datagram = build_datagram(f, chunk);
                      const iovec part{datagram.data(), datagram.size()};
                      socket.send(dest, {&part, 1});
                    });
  if (!expects_reply(raw_body)) return kExitOk;
  const std::optional<std::string> reply = receive_raw_reply(socket, dest, t.timeout_ms);
  if (!reply) {
    throw TransportError(TransportError::Kind::timeout,
                         "no reply from nl_pid " + std::to_string(dest) + " within " +
                             std::to_string(t.timeout_ms) + " ms (is the peer alive and serving?)");
  }
  std::cout << *reply << '\n' << std::flush;
  return reply_status(*reply, dest);
}

int run_list(const TargetOptions& t) {
  Connection connection(t);
  json discovered = connection.channel.call("rpc.discover");
  for (const auto& m : discovered.at("methods")) std::cout << m.at("name").get<std::string>() << '\n';
  // The events it declares (an older peer's document has none), each as "event NAME".
  for (const auto& e : discovered.value("x-events", json::array())) {
    std::cout << "event " << e.at("name").get<std::string>() << '\n';
  }
  return kExitOk;
}

int run_ping(const TargetOptions& t, int count, long spin_us) {
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
    TargetOptions target;
    std::string method;
    std::optional<std::string> params;
    std::string raw_body;
    std::optional<uid_t> require_uid;
    int count = 10;
    long spin_us = 0;
  };
  auto a = std::make_shared<Args>();

  auto* call = app.add_subcommand("call", "call METHOD on TARGET and print the result as JSON");
  add_target_options(call, a->target);
  call->add_option("METHOD", a->method, "method name")->required();
  call->add_option("PARAMS_JSON", a->params, "a JSON array or object; '-' reads it from stdin");
  call->add_option("--require-uid", a->require_uid, "fail unless the answering peer has this uid");
  call->callback([&run, a] { run = [a] { return run_call(a->target, a->method, a->params, a->require_uid); }; });

  auto* notify = app.add_subcommand("notify", "send METHOD to TARGET as a notification");
  add_target_options(notify, a->target);
  notify->add_option("METHOD", a->method, "method name")->required();
  notify->add_option("PARAMS_JSON", a->params, "a JSON array or object; '-' reads it from stdin");
  notify->callback([&run, a] { run = [a] { return run_notify(a->target, a->method, a->params); }; });

  auto* send = app.add_subcommand("send", "send RAW_BODY verbatim as a request body and print "
                                          "the raw reply body (exit 1 for an error reply, 2 for "
                                          "none; a body of notifications only waits for none)");
  add_target_options(send, a->target);
  send->add_option("RAW_BODY", a->raw_body, "the body, sent as is")->required();
  send->callback([&run, a] { run = [a] { return run_send(a->target, a->raw_body); }; });

  auto* list = app.add_subcommand(
      "list", "print TARGET's method names, one per line, then the events it declares as "
              "'event NAME'");
  add_target_options(list, a->target);
  list->callback([&run, a] { run = [a] { return run_list(a->target); }; });

  auto* ping = app.add_subcommand("ping", "call TARGET's rpc.ping COUNT times and print the "
                                          "round-trip times");
  add_target_options(ping, a->target);
  ping->add_option("-c,--count", a->count, "number of calls")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  ping->add_option("--spin", a->spin_us, "busy-poll this many microseconds before blocking")
      ->check(CLI::Range(0L, 1000000L))
      ->capture_default_str();
  ping->callback([&run, a] { run = [a] { return run_ping(a->target, a->count, a->spin_us); }; });
}

}  // namespace procslink::cli
