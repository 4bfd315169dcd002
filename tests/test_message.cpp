#include <gtest/gtest.h>

#include "procslink/message.hpp"
#include "procslink/jsonrpc.hpp"
#include "support/vectors.hpp"

namespace procslink {
namespace {

TEST(ReferenceDatagrams, AllSixArePresent) { EXPECT_EQ(test::load_wire_vectors().size(), 6u); }

TEST(ReferenceDatagrams, DecodeAndReframeGivesIdenticalBytes) {
  for (const auto& v : test::load_wire_vectors()) {
    SCOPED_TRACE(v.name);
    const ProcslinkMessage m = ProcslinkMessage::parse(v.datagram);
    EXPECT_EQ(m.netlink.pid, v.sender_nl_pid);
    EXPECT_EQ(m.header.payload_type, v.payload_type);
    EXPECT_EQ(m.body, v.json_body);
    DatagramFields fields{m.netlink.pid, m.payload_type(), m.header.seq, m.header.timestamp,
                          m.header.flag, m.header.reserved};
    EXPECT_EQ(build_datagram(fields, m.body), v.datagram);
  }
}

TEST(ReferenceDatagrams, DecodesReferenceHelloRequest) {
  const auto vectors = test::load_wire_vectors();
  const ProcslinkMessage m = ProcslinkMessage::parse(vectors.at(0).datagram);
  const auto request = JsonRpcRequest::from_json(parse_json(m.body));
  EXPECT_EQ(request.method, "hello");
  EXPECT_EQ(request.id, json(1));
  EXPECT_EQ(request.params, json::array({"Rayson Zhu"}));
}

}  // namespace
}  // namespace procslink
