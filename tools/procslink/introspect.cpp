// procslink introspect: TARGET's methods with their types, from its OpenRPC document
// (rpc.discover), one method a line, or the document itself with --json.
#include <iostream>
#include <string>

#include "commands.hpp"
#include "connection.hpp"
#include "procslink/procslink.hpp"

namespace procslink::cli {
namespace {

// A JSON Schema as a short type: integer, array<string>, object, string?, any.
std::string type_text(const json& schema) {
  if (!schema.is_object() || schema.empty()) return "any";
  if (auto one_of = schema.find("oneOf"); one_of != schema.end() && one_of->size() == 2 &&
                                          (*one_of)[1].value("type", "") == "null") {
    return type_text((*one_of)[0]) + "?";
  }
  const std::string type = schema.value("type", "");
  if (type == "array" && schema.contains("items")) return "array<" + type_text(schema["items"]) + ">";
  if (type == "object" && schema.contains("additionalProperties")) {
    return "object<" + type_text(schema["additionalProperties"]) + ">";
  }
  return type.empty() ? "any" : type;
}

// subtract(minuend: integer, subtrahend: integer) -> integer; an untyped handler without
// parameter names takes anything: sum(...) -> any
std::string signature(const json& method) {
  std::string text = method.value("name", "?") + "(";
  if (method.value("x-untyped", false) && method.value("params", json::array()).empty()) {
    text += "...";
  }
  bool first = true;
  for (const auto& param : method.value("params", json::array())) {
    if (!first) text += ", ";
    first = false;
    text += param.value("name", "?");
    if (!param.value("required", false)) text += "?";
    text += ": " + type_text(param.value("schema", json::object()));
  }
  text += ")";
  const json result = method.value("result", json::object());
  return text + " -> " + type_text(result.value("schema", json::object()));
}

int run_introspect(const TargetOptions& t, bool as_json) {
  Connection connection(t);
  const json document = connection.channel.call("rpc.discover");
  if (as_json) {
    std::cout << document.dump(2) << '\n';
    return kExitOk;
  }
  if (!document.contains("methods") || !document["methods"].is_array()) {
    throw TransportError(TransportError::Kind::malformed_reply,
                         "rpc.discover's answer is not an OpenRPC document (no methods)");
  }
  for (const auto& method : document["methods"]) std::cout << signature(method) << '\n';
  return kExitOk;
}

}  // namespace

void add_introspect(CLI::App& app, std::function<int()>& run) {
  struct Args {
    TargetOptions target;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* introspect = app.add_subcommand(
      "introspect", "print TARGET's methods with their parameter and result types, one a line "
                    "(from its OpenRPC document, rpc.discover)");
  add_target_options(introspect, a->target);
  introspect->add_flag("--json", a->json, "print the OpenRPC document itself");
  introspect->callback([&run, a] { run = [a] { return run_introspect(a->target, a->json); }; });
}

}  // namespace procslink::cli
