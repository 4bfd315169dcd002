// roundtrip_instructions.cpp - a server and a client in one process making N echo calls, for
// counting the user-space instructions of one round trip under callgrind: the difference
// between a run of N and a run of M calls, divided by N - M, leaves out start-up and shut-down.
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null procslink_roundtrip 11000
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null procslink_roundtrip 1000
//
// scripts/count-instructions does exactly that and prints the quotient.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "procslink/procslink.hpp"

int main(int argc, char** argv) {
  using namespace procslink;
  const long calls = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 1000;
  // The payload of procslink_bench's echo rows.
  const std::string payload = "procslink benchmark payload 0123";
  RPCPeer server;
  server.register_function("echo", [](json value) { return value; }, {"value"});
  std::thread serving([&] { server.run_server_forever(); });
  {
    RPCPeer client;
    const Channel channel = client.talk_to(server.nl_pid());
    for (long i = 0; i < calls; ++i) {
      if (channel.call<std::string>("echo", payload) != payload) {
        std::fprintf(stderr, "echo returned something else\n");
        return 1;
      }
    }
  }
  server.stop();
  serving.join();
  return 0;
}
