// vectors.hpp - test support: the reference implementation's datagrams (wire-vectors.json).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace procslink::test {

struct WireVector {
  std::string name;
  std::uint32_t sender_nl_pid;
  std::uint16_t payload_type;
  std::string json_body;
  std::vector<std::uint8_t> datagram;
};

inline std::vector<std::uint8_t> from_hex(const std::string& hex) {
  std::vector<std::uint8_t> bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<std::uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

inline std::vector<WireVector> load_wire_vectors() {
  std::ifstream file(std::string(PROCSLINK_TEST_DATA) + "/wire-vectors.json");
  const auto doc = nlohmann::json::parse(file);
  std::vector<WireVector> vectors;
  for (const auto& v : doc.at("vectors")) {
    vectors.push_back({v.at("name"), v.at("sender_nl_pid"), v.at("payload_type"),
                       v.at("json_body"), from_hex(v.at("datagram_hex"))});
  }
  return vectors;
}

}  // namespace procslink::test
