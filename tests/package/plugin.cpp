// A shared library that uses procslink inside: serves subtract and calls it.
#include <procslink/procslink.hpp>

extern "C" int plugin_subtract(int a, int b) {
  procslink::RPCPeer server;
  server.register_function("subtract", [](int x, int y) { return x - y; });
  server.start();
  procslink::RPCPeer client;
  return client.talk_to(server.nl_pid()).call<int>("subtract", a, b);
}
