// grpc_echo.cpp - a gRPC unary call over a Unix domain socket: the RPC framework a user would
// reach for first.
//
// The server is the synchronous C++ server (ServerBuilder, default thread pool) listening on
// "unix:PATH" with insecure credentials; the client calls EchoService.Echo through a stub on one
// channel, a fresh ClientContext per call, the request message built once. The service comes
// from bench/echo.proto, compiled at build time. Built only with libgrpc++-dev and
// protobuf-compiler-grpc (PROCSLINK_BENCH_PEERS=ON).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "echo.grpc.pb.h"
#include "echo_peers.hpp"

namespace procslink::bench {
namespace {

class EchoServiceImpl final : public EchoService::Service {
  grpc::Status Echo(grpc::ServerContext*, const EchoText* request, EchoText* reply) override {
    reply->set_text(request->text());
    return grpc::Status::OK;
  }
};

}  // namespace

EchoPeer grpc_peer(const EchoWork& work) {
  EchoPeer peer;
  peer.name = "gRPC";
  peer.description =
      "gRPC unary call over a Unix domain socket: the synchronous C++ server, one channel and "
      "stub, a fresh ClientContext per call";
  peer.link = [] { return Link::unix_path("procslink-bench-grpc"); };
  peer.serve = [](const Link& link, int out_fd) {
    EchoServiceImpl service;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + link.path(), grpc::InsecureServerCredentials());
    builder.RegisterService(&service);
    const std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server) throw std::runtime_error("gRPC server did not start on " + link.path());
    announce_nl_pid(out_fd, 0);
    server->Wait();
  };
  peer.round_trips = [payload = work.payload](const Link& link, const Gate& gate,
                                              std::size_t warmup, std::size_t count) {
    const auto channel = grpc::CreateChannel("unix:" + link.path(), grpc::InsecureChannelCredentials());
    const auto stub = EchoService::NewStub(channel);
    EchoText request;
    request.set_text(payload);
    gate.wait_open();
    return time_round_trips(warmup, count, Clock::duration::max(), [&] {
      grpc::ClientContext context;
      EchoText reply;
      const grpc::Status status = stub->Echo(&context, request, &reply);
      if (!status.ok()) throw std::runtime_error("gRPC Echo failed: " + status.error_message());
      if (reply.text() != payload) throw std::runtime_error("gRPC Echo returned something else");
    });
  };
  return peer;
}

}  // namespace procslink::bench
