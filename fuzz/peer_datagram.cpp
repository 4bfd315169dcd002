// Fuzz target: the whole serving path of an RPCPeer, through a real netlink socket.
//
// The process holds one RPCPeer serving a few methods and one raw NetlinkSocket as its client.
// Each input is up to 16 records [control u8][length u16 BE][datagram bytes]; every record is
// sent as one datagram to the peer, so fragments, batches and floods of garbage reach the
// same receive, parse, reassemble, dispatch and reply code a real peer runs. The control bits
// can patch the fields a fuzzer rarely guesses: bit 0 nlmsg_pid := the client's real port
// (otherwise the datagram counts as spoofed), bit 1 nlmsg_len := the true length, bit 2
// procslinkhdr length := the true body length.
//
// Checked: the peer stays alive and serving (after each input a valid rpc.ping must be
// answered within a generous 10 s), and everything it sends back is a well-formed procslink
// response datagram from its own port whose body is a valid JSON-RPC response.
#include <poll.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "procslink/byteorder.hpp"
#include "procslink/procslink.hpp"

using namespace procslink;
using namespace std::chrono_literals;

namespace {

PeerOptions server_options() {
  PeerOptions options;
  options.workers = 2;
  options.max_workers = 8;
  options.timeout = 2s;
  options.max_message_size = 64u << 10;
  options.fragment_size = 1024;  // replies over 4 KiB go out as several fragments
  options.reassembly_timeout = 500ms;
  options.send_timeout = 500ms;
  return options;
}

struct Harness {
  RPCPeer server{server_options()};
  NetlinkSocket client;
  std::vector<std::uint8_t> buffer;
  FragmentReassembler replies{{1u << 20, 2u << 20, 16, std::chrono::milliseconds(2000)}};
  std::uint64_t probes = 0;

  Harness() {
    // Every log line is still formatted (the debug paths run too), then thrown away.
    set_log_level(LogLevel::debug);
    set_log_sink([](LogLevel, std::string_view) {});
    server.register_function("echo", [](const json& value) { return value; }, {"value"});
    server.register_function("subtract", [](double a, double b) { return a - b; },
                             {"minuend", "subtrahend"});
    server.register_function("hello", [](const std::string& name) { return "Hello, " + name; });
    server.register_raw("fail", [](const json& params, const CallContext&) -> json {
      throw JsonRpcError(-32000, "failed on purpose", params);
    });
    server.register_raw("throw", [](const json&, const CallContext&) -> json {
      throw std::runtime_error("handler threw");
    });
    server.register_function("whoami", [](const CallContext& context) {
      return json{{"nl_pid", context.sender_nl_pid}, {"method", context.method},
                  {"uid", context.credentials.uid}};
    });
    server.start();
  }

  void send(std::vector<std::uint8_t>& datagram) {
    const iovec part{datagram.data(), datagram.size()};
    try {
      client.send(server.nl_pid(), std::span<const iovec>(&part, 1));
    } catch (const TransportError& e) {
      // A full receive buffer is the peer's right; a vanished peer is a crash.
      FUZZ_CHECK(e.kind() != TransportError::Kind::no_peer);
    }
  }

  // Checks one datagram from the peer's port; true when it answers probe `probe_id`.
  bool check_reply(const ReceivedDatagram& datagram, const std::string& probe_id) {
    ProcslinkMessage message;
    try {
      message = ProcslinkMessage::parse(datagram.bytes);
    } catch (const FramingError& e) {
      std::fprintf(stderr, "peer sent a malformed datagram: %s\n", e.what());
      FUZZ_CHECK(false);
    }
    FUZZ_CHECK(message.netlink.pid == server.nl_pid());
    FUZZ_CHECK(message.payload_type() == PayloadType::response);
    std::string reassembled;
    std::string_view body = message.body;
    if (message.header.is_fragment()) {
      auto complete = replies.add(0, message);  // the peer's own fragments must never be refused
      if (!complete) return false;
      reassembled = std::move(complete->body);
      body = reassembled;
    }
    std::vector<JsonRpcResponse> responses;
    try {
      responses = parse_response_body(body);
    } catch (const FramingError& e) {
      std::fprintf(stderr, "peer sent an invalid response body: %s\n", e.what());
      FUZZ_CHECK(false);
    }
    bool answered = false;
    for (const auto& response : responses) {
      // The input may carry the same id; only a true result counts as the probe's answer.
      if (response.id == probe_id && !response.is_error() && response.result() == true) {
        answered = true;
      }
    }
    return answered;
  }

  void probe() {
    const std::string id = "probe-" + std::to_string(++probes);
    const std::string body =
        to_text(JsonRpcRequest{"rpc.ping", std::nullopt, json(id)}.to_json());
    auto datagram = build_datagram({client.nl_pid(), PayloadType::request, 0, 0, 0, 0}, body);
    send(datagram);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) {
        std::fprintf(stderr, "peer stopped answering rpc.ping\n");
        FUZZ_CHECK(false);
      }
      pollfd fd{client.fd(), POLLIN, 0};
      if (poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
      while (auto datagram = client.receive(buffer, false)) {
        // Other processes share the network namespace (tests run in parallel): a datagram
        // from any port but the peer's is not the peer's output.
        if (datagram->sender_nl_pid != server.nl_pid()) continue;
        if (check_reply(*datagram, id)) return;
      }
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Harness harness;
  fuzz::InputReader in(data, size);
  for (int record = 0; record < 16 && !in.empty(); ++record) {
    const std::uint8_t control = in.u8();
    const std::string_view bytes = in.bytes(in.u16());
    std::vector<std::uint8_t> datagram(bytes.begin(), bytes.end());
    const auto length = static_cast<std::uint32_t>(datagram.size());
    if ((control & 1) != 0 && length >= kNetlinkHeaderSize) {
      detail::store_be32(datagram.data() + 12, harness.client.nl_pid());
    }
    if ((control & 2) != 0 && length >= kNetlinkHeaderSize) {
      detail::store_be32(datagram.data(), length - kNetlinkHeaderSize);
    }
    if ((control & 4) != 0 && length >= kDatagramHeadersSize) {
      detail::store_be32(datagram.data() + kNetlinkHeaderSize + 4, length - kDatagramHeadersSize);
    }
    harness.send(datagram);
  }
  harness.probe();
  FUZZ_CHECK(harness.server.serving());
  return 0;
}
