// sdbus_echo.cpp - D-Bus peer to peer with sd-bus: what a systemd-minded user would pick.
//
// No bus daemon: the parent makes a stream socket pair, the server side is an sd-bus server
// (sd_bus_set_fd, sd_bus_set_server with a random server id) exporting one object whose vtable
// has Echo(s) -> s, and the client calls it with sd_bus_call_method and reads the string back,
// as sd-bus's own examples do. Built only with libsystemd-dev (PROCSLINK_BENCH_PEERS=ON).
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "echo_peers.hpp"

namespace procslink::bench {
namespace {

constexpr const char* kPath = "/org/procslink/Bench";
constexpr const char* kInterface = "org.procslink.Bench";

void check(int r, const char* what) {
  if (r < 0) throw std::runtime_error(std::string(what) + ": " + std::strerror(-r));
}

int echo(sd_bus_message* call, void*, sd_bus_error*) {
  const char* text = nullptr;
  const int r = sd_bus_message_read(call, "s", &text);
  if (r < 0) return r;
  return sd_bus_reply_method_return(call, "s", text);
}

const sd_bus_vtable kVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Echo", "s", "s", echo, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

// An sd-bus connection over `fd`, started; a server if `server`.
sd_bus* open_bus(int fd, bool server) {
  sd_bus* bus = nullptr;
  check(sd_bus_new(&bus), "sd_bus_new");
  check(sd_bus_set_fd(bus, fd, fd), "sd_bus_set_fd");
  if (server) {
    sd_id128_t id;
    check(sd_id128_randomize(&id), "sd_id128_randomize");
    check(sd_bus_set_server(bus, 1, id), "sd_bus_set_server");
    check(sd_bus_add_object_vtable(bus, nullptr, kPath, kInterface, kVtable, nullptr),
          "sd_bus_add_object_vtable");
  }
  check(sd_bus_start(bus), "sd_bus_start");
  return bus;
}

void echo_once(sd_bus* bus, const std::string& payload) {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  const int r = sd_bus_call_method(bus, nullptr, kPath, kInterface, "Echo", &error, &reply, "s",
                                   payload.c_str());
  if (r < 0) {
    const std::string message = error.message ? error.message : std::strerror(-r);
    sd_bus_error_free(&error);
    throw std::runtime_error("sd-bus Echo failed: " + message);
  }
  const char* text = nullptr;
  const int read = sd_bus_message_read(reply, "s", &text);
  const bool same = read >= 0 && text != nullptr && payload == text;
  sd_bus_message_unref(reply);
  if (!same) throw std::runtime_error("sd-bus Echo returned something else");
}

}  // namespace

EchoPeer sdbus_peer(const EchoWork& work) {
  EchoPeer peer;
  peer.name = "D-Bus (sd-bus)";
  peer.description =
      "sd-bus peer to peer over a stream socket pair, no bus daemon: an sd-bus server object "
      "with Echo(s) -> s, called with sd_bus_call_method";
  peer.link = [] { return Link::socket_pair(SOCK_STREAM); };
  peer.serve = [](const Link& link, int out_fd) {
    sd_bus* bus = open_bus(link.server_fd(), true);
    announce_nl_pid(out_fd, 0);
    for (;;) {
      const int r = sd_bus_process(bus, nullptr);
      check(r, "sd_bus_process");
      if (r == 0) check(sd_bus_wait(bus, UINT64_MAX), "sd_bus_wait");
    }
  };
  peer.round_trips = [payload = work.payload](const Link& link, const Gate& gate,
                                              std::size_t warmup, std::size_t count) {
    sd_bus* bus = open_bus(link.client_fd(), false);
    gate.wait_open();
    Measurement m = time_round_trips(warmup, count, Clock::duration::max(),
                                     [&] { echo_once(bus, payload); });
    sd_bus_flush_close_unref(bus);
    return m;
  };
  return peer;
}

}  // namespace procslink::bench
