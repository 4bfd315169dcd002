// The seed's hello client: call the hello server at the nl_pid given on the command line.
#include <iostream>
#include <string>

#include <procslink/procslink.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: hello_client SERVER_NL_PID\n";
    return 2;
  }
  try {
    procslink::RPCPeer peer;
    auto server = peer.talk_to(static_cast<std::uint32_t>(std::stoul(argv[1])));
    std::cout << server.call<std::string>("hello", "Rayson Zhu") << '\n';
    std::cout << "add(2, 3) = " << server.call<int>("add", 2, 3) << '\n';
    std::cout << "subtract(minuend=42, subtrahend=23) = "
              << server.call_named("subtract", {{"minuend", 42}, {"subtrahend", 23}}) << '\n';
  } catch (const procslink::Error& e) {
    std::cerr << "hello_client: " << e.what() << '\n';
    return 2;
  }
}
