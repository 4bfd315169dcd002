// Serves and calls through the installed library: prints "19" on success, then the version the
// headers and the linked library report.
#include <iostream>

#include <procslink/procslink.hpp>

int main() {
  procslink::RPCPeer server;
  server.register_function("subtract", [](int a, int b) { return a - b; }, {"minuend", "subtrahend"});
  server.start();
  procslink::RPCPeer client;
  std::cout << client.talk_to(server.nl_pid()).call<int>("subtract", 42, 23) << '\n';
  std::cout << procslink::kVersion << ' ' << procslink::library_version() << '\n';
}
