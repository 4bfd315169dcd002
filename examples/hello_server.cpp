// The seed's hello server: register methods, print the port id, serve until Ctrl-C.
#include <csignal>
#include <unistd.h>

#include <iostream>

#include <procslink/procslink.hpp>

namespace {
procslink::RPCPeer* g_peer = nullptr;
}

class Calculator {
 public:
  int add(int a, int b) { return a + b; }
  int subtract(int minuend, int subtrahend) { return minuend - subtrahend; }
};

int main() {
  procslink::RPCPeer peer;
  peer.register_function("hello", [](const std::string& name) { return "Hello, " + name + "!"; });

  Calculator calculator;
  peer.register_functions_in_object(calculator, procslink::method("add", &Calculator::add),
                                    procslink::method("subtract", &Calculator::subtract,
                                                      {"minuend", "subtrahend"}));

  g_peer = &peer;
  std::signal(SIGINT, [](int) { g_peer->stop(); });
  std::signal(SIGTERM, [](int) { g_peer->stop(); });
  std::cout << "hello server: nl_pid " << peer.nl_pid() << ", pid " << ::getpid() << std::endl;
  peer.run_server_forever();
  std::cout << "hello server: stopped" << std::endl;
}
