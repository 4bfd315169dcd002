// procslink monitor: procslink traffic decoded one line per datagram, live from an nlmon
// device or from a pcap file (--read), optionally saved as pcap (--write).
#include <csignal>
#include <iostream>

#include "commands.hpp"
#include "monitor/decoder.hpp"
#include "monitor/nlmon.hpp"
#include "monitor/pcap.hpp"

namespace procslink::cli {
namespace {

constexpr std::uint16_t kUsersock = 2;  // NETLINK_USERSOCK
constexpr std::size_t kBodyLimit = 80;

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_monitor_stop_signal(int) { g_stop = 1; }

struct MonitorArgs {
  std::string read;
  std::string write;
  std::string interface = "nlmon0";
  bool create = false;
  bool full = false;
  bool json = false;
  long count = 0;  // 0: no limit
};

// Decodes, prints and saves each USERSOCK message `next` yields until it yields none, the
// count is reached or a signal arrives.
template <typename Next>
void pump(const MonitorArgs& a, Next next) {
  std::optional<monitor::PcapWriter> writer;
  if (!a.write.empty()) writer.emplace(a.write);
  monitor::Decoder decoder;
  long shown = 0;
  while (!g_stop && (a.count == 0 || shown < a.count)) {
    bool finished = false;
    std::optional<monitor::CapturedMessage> m = next(finished);
    if (finished) break;
    if (!m || m->family != kUsersock) continue;
    if (writer) writer->write(*m);
    const monitor::DecodedDatagram d = decoder.decode(m->message, m->time_ns);
    std::cout << (a.json ? monitor::format_json(d) : monitor::format_line(d, a.full ? 0 : kBodyLimit))
              << '\n' << std::flush;
    ++shown;
  }
  if (writer) writer->flush();
}

int run_monitor(const MonitorArgs& a) {
  if (!a.read.empty()) {
    monitor::PcapReader reader(a.read);
    pump(a, [&](bool& finished) {
      auto m = reader.next();
      finished = !m;
      return m;
    });
    return kExitOk;
  }
  monitor::NlmonCapture capture(a.interface, a.create);
  struct sigaction stop{};
  stop.sa_handler = on_monitor_stop_signal;
  sigaction(SIGINT, &stop, nullptr);
  sigaction(SIGTERM, &stop, nullptr);
  pump(a, [&](bool&) { return capture.next(200); });
  return kExitOk;
}

}  // namespace

void add_monitor(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<MonitorArgs>();
  auto* cmd = app.add_subcommand(
      "monitor", "print procslink traffic one line per datagram (time, sender nl_pid, kind, "
                 "method or id, size, body), live from an nlmon device or from a pcap file");
  cmd->add_option("--read", a->read, "decode this pcap capture (link type NETLINK) instead");
  cmd->add_option("--write", a->write, "also save the procslink messages seen as pcap here");
  cmd->add_option("-i,--interface", a->interface, "the nlmon device to capture on")
      ->capture_default_str();
  cmd->add_flag("--create", a->create,
                "create the nlmon device if it is missing, and remove it at the end");
  cmd->add_flag("-v,--full", a->full, "print whole bodies (abbreviated to 80 bytes otherwise)");
  cmd->add_flag("--json", a->json, "print one JSON object per datagram");
  cmd->add_option("-c,--count", a->count, "stop after this many datagrams")
      ->check(CLI::Range(1L, 1L << 40));
  cmd->callback([&run, a] { run = [a] { return run_monitor(*a); }; });
}

}  // namespace procslink::cli
