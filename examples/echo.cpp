// The smallest complete program on actr-transport: an echo server and its client in one process.
// The server (a Node) listens on 127.0.0.1, port 0 (the system picks a free one), prints its URL
// and answers every request with the request's payload; the client (a Node that does not listen)
// calls it and checks the answer. Exit 0 if the answer is right, 1 otherwise or after 20 s.
#include "deadline.hpp"

#include <actr/node.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace asio = boost::asio;
using namespace std::chrono_literals;

int main() {
  const auto server_id = actr::ActrId::parse("1@101/acme:echo:1.0.0");
  const auto client_id = actr::ActrId::parse("2@101/acme:client:1.0.0");
  if (!server_id || !client_id) return 1;
  asio::io_context io;  // everything below runs on this one thread

  // The server: a request handler is a coroutine returning the answer's bytes (or an error).
  actr::NodeConfig server_cfg;
  server_cfg.id = *server_id;
  server_cfg.listen_host = "127.0.0.1";
  server_cfg.listen_port = 0;
  actr::Node server(io.get_executor(), server_cfg);
  server.on_request([](actr::ActrId, actr::pb::RpcEnvelope request) -> asio::awaitable<actr::Result<actr::Bytes>> {
    co_return actr::Bytes(request.payload().begin(), request.payload().end());
  });
  const auto port = server.start();
  if (!port) {
    std::fprintf(stderr, "cannot listen: %s\n", port.error().message().c_str());
    return 1;
  }
  const std::string url = "ws://127.0.0.1:" + std::to_string(*port) + "/";
  std::printf("server listening on %s\n", url.c_str());

  // The client knows where the server is from its address book (no discovery server here).
  actr::NodeConfig client_cfg;
  client_cfg.id = *client_id;
  client_cfg.listen = false;
  client_cfg.wires.address_book[*server_id] = url;
  actr::Node client(io.get_executor(), client_cfg);
  (void)client.start();  // not listening: nothing to fail

  auto run = [&]() -> asio::awaitable<int> {
    int exit_code = 1;
    const std::string text = "hello, actr";
    const auto answer = co_await client.call(*server_id, "example.Echo", actr::Bytes(text.begin(), text.end()), 5s);
    if (!answer) {
      std::fprintf(stderr, "call failed: %s\n", answer.error().message().c_str());
    } else if (std::string(answer->begin(), answer->end()) != text) {
      std::fprintf(stderr, "wrong answer: %s\n", std::string(answer->begin(), answer->end()).c_str());
    } else {
      std::printf("answer: %s\n", text.c_str());
      exit_code = 0;
    }
    co_await client.stop();
    co_await server.stop();
    co_return exit_code;
  };
  return run_with_deadline(io, run(), 20s, "echo");
}
