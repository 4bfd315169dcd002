// decoder.cpp - a captured datagram to a DecodedDatagram and to text.
#include "decoder.hpp"

#include <ctime>

namespace procslink::monitor {
namespace {

// Kind and method-or-id of one JSON-RPC object.
void classify_item(const json& item, DecodedDatagram& d) {
  if (!item.is_object()) {
    d.kind = "invalid";
    d.what = "not a JSON-RPC object";
  } else if (item.contains("method")) {
    d.kind = item.contains("id") ? "request" : "notification";
    d.what = item["method"].is_string() ? item["method"].get<std::string>() : to_text(item["method"]);
  } else if (item.contains("error")) {
    d.kind = "error";
    d.what = item.contains("id") ? to_text(item["id"]) : "null";
  } else if (item.contains("result")) {
    d.kind = "response";
    d.what = item.contains("id") ? to_text(item["id"]) : "null";
  } else {
    d.kind = "invalid";
    d.what = "neither a request nor a response";
  }
}

void classify_body(DecodedDatagram& d) {
  json parsed;
  try {
    parsed = parse_json(d.body);
  } catch (const std::exception&) {
    d.kind = "invalid";
    d.what = "body is not JSON";
    return;
  }
  if (parsed.is_array() && !parsed.empty()) {
    classify_item(parsed[0], d);
    d.what = "batch of " + std::to_string(parsed.size()) + ", first " + d.kind + " " + d.what;
    d.kind = "batch";
    return;
  }
  classify_item(parsed, d);
}

}  // namespace

DecodedDatagram Decoder::decode(ByteView datagram, std::uint64_t time_ns) {
  DecodedDatagram d;
  d.time_ns = time_ns;
  if (datagram.size() >= kNetlinkHeaderSize) {
    d.sender = NetlinkMessageHeader::decode_unchecked(datagram.data()).pid;
  }
  ProcslinkMessage message;
  try {
    message = ProcslinkMessage::parse(datagram);
    if (message.header.is_fragment()) {
      auto whole = reassembler_.add(d.sender, message);
      if (!whole) {
        d.kind = "fragment";
        d.what = "#" + std::to_string(message.header.reserved) + " of seq " +
                 std::to_string(message.header.seq);
        d.size = message.body.size();
        return d;
      }
      d.fragments = static_cast<std::uint16_t>(message.header.reserved + 1);
      d.body = std::move(whole->body);
    } else {
      d.body = std::string(message.body);
    }
  } catch (const FramingError& e) {
    d.kind = "invalid";
    d.what = e.what();
    d.size = datagram.size();
    return d;
  }
  d.size = d.body.size();
  classify_body(d);
  return d;
}

std::string format_line(const DecodedDatagram& d, std::size_t body_limit) {
  const std::time_t seconds = static_cast<std::time_t>(d.time_ns / 1000000000u);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char clock[32];
  std::snprintf(clock, sizeof clock, "%02d:%02d:%02d.%06u", utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<unsigned>(d.time_ns % 1000000000u / 1000u));
  std::string body = d.body;
  if (body_limit != 0 && body.size() > body_limit) body = body.substr(0, body_limit) + "...";
  std::string line = std::string(clock) + " nl_pid " + std::to_string(d.sender) + " " + d.kind +
                     " " + d.what + " " + std::to_string(d.size) + " B";
  if (d.fragments != 0) {
    line += " (" + std::to_string(d.fragments) + (d.fragments == 1 ? " fragment)" : " fragments)");
  }
  if (!body.empty()) line += " " + body;
  return line;
}

std::string format_json(const DecodedDatagram& d) {
  json line{{"time", static_cast<double>(d.time_ns) / 1e9},
            {"sender", d.sender},
            {"kind", d.kind},
            {"size", d.size},
            {"fragments", d.fragments},
            {"body", d.body}};
  const bool is_call = d.kind == "request" || d.kind == "notification";
  const bool is_reply = d.kind == "response" || d.kind == "error";
  if (is_reply) {
    line["id"] = parse_json(d.what);  // the id as the reply gave it: a number, a string or null
  } else {
    line[is_call ? "method" : "detail"] = d.what;
  }
  return to_text(line);
}

}  // namespace procslink::monitor
