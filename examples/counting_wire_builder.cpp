// A custom WireBuilder (include/actr/wire.hpp, the seam between the transport manager and the
// wires): it wraps the library's DefaultWireBuilder, logs each dial and counts it. The
// OutprocTransportManager asks its builder for wires once per destination and reuses them, so three
// messages to one node cost one dial. The receiver is a Node on 127.0.0.1 (port 0).
// Exit 0 if the node got the three messages and the builder saw exactly one dial; 1 otherwise or
// after 20 s.
#include "deadline.hpp"

#include <actr/default_wire_builder.hpp>
#include <actr/node.hpp>
#include <actr/outproc_transport_manager.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Delegates to another builder; what it adds is the log line and the count. A real one might pick
// kinds by policy, add credentials, or build a wire of its own (a WireHandle subclass).
class CountingWireBuilder : public actr::WireBuilder {
 public:
  explicit CountingWireBuilder(std::shared_ptr<actr::WireBuilder> inner) : inner_(std::move(inner)) {}

  asio::awaitable<actr::Result<std::vector<std::shared_ptr<actr::WireHandle>>>> create_connections(
      actr::Dest dest, actr::WireKindSet kinds) override {
    const int n = ++dials_;
    auto wires = co_await inner_->create_connections(std::move(dest), kinds);
    if (wires) std::printf("dial %d: %zu wire(s) built\n", n, wires->size());
    else std::printf("dial %d failed: %s\n", n, wires.error().message().c_str());
    co_return wires;
  }
  int dials() const { return dials_.load(); }

 private:
  std::shared_ptr<actr::WireBuilder> inner_;
  std::atomic<int> dials_{0};  // the manager may dial from any thread of its executor
};

int main() {
  const auto server_id = actr::ActrId::parse("1@101/acme:sink:1.0.0");
  const auto my_id = actr::ActrId::parse("2@101/acme:sender:1.0.0");
  if (!server_id || !my_id) return 1;
  asio::io_context io;

  // The receiver counts the one-way messages (tells) it gets; the third wakes `all_arrived`.
  constexpr int kMessages = 3;
  int received = 0;
  asio::steady_timer all_arrived(io, asio::steady_timer::time_point::max());
  actr::NodeConfig server_cfg;
  server_cfg.id = *server_id;
  actr::Node server(io.get_executor(), server_cfg);
  server.on_tell([&](const actr::ActrId& from, const actr::pb::RpcEnvelope& tell) {
    std::printf("got '%s' from %s\n", tell.payload().c_str(), from.to_string().c_str());
    if (++received == kMessages) all_arrived.cancel();
  });
  const auto port = server.start();
  if (!port) return 1;

  // The sender: a transport manager over our builder, which wraps the default one. The default
  // builder's frame handler gets what the peer sends back on these wires (nothing, for tells).
  actr::DefaultWireBuilderConfig wires;
  wires.kinds = {actr::WireKind::WebSocket};
  wires.address_book[*server_id] = "ws://127.0.0.1:" + std::to_string(*port) + "/";
  auto inner = std::make_shared<actr::DefaultWireBuilder>(
      io.get_executor(), *my_id, wires,
      [](const std::shared_ptr<actr::WireHandle>&, const actr::ActrId&, actr::PayloadType,
         actr::ConstBytes) -> asio::awaitable<actr::Result<void>> { co_return actr::ok(); });
  auto builder = std::make_shared<CountingWireBuilder>(inner);
  actr::OutprocTransportManager manager(io.get_executor(), *my_id, builder);

  auto run = [&]() -> asio::awaitable<int> {
    for (int i = 0; i < kMessages; ++i) {
      // What travels is an actr RpcEnvelope (protobuf); Direction TELL: no answer expected.
      actr::pb::RpcEnvelope tell;
      tell.set_route_key("example.Log");
      tell.set_request_id("tell-" + std::to_string(i));
      tell.set_direction(actr::pb::DIRECTION_TELL);
      tell.set_timeout_ms(0);
      tell.set_payload("message " + std::to_string(i));
      const std::string bytes = tell.SerializeAsString();
      const auto sent =
          co_await manager.send(actr::Dest::actor(*server_id), actr::PayloadType::RpcReliable,
                                actr::ConstBytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
      if (!sent) std::fprintf(stderr, "send %d failed: %s\n", i, sent.error().message().c_str());
    }
    all_arrived.expires_after(10s);  // cancelled by the third tell, or it expires
    if (received < kMessages) (void)co_await all_arrived.async_wait(asio::as_tuple(asio::use_awaitable));
    std::printf("received %d of %d, dials %d\n", received, kMessages, builder->dials());
    const int exit_code = received == kMessages && builder->dials() == 1 ? 0 : 1;
    (void)co_await manager.close_all();
    co_await server.stop();
    co_return exit_code;
  };
  return run_with_deadline(io, run(), 20s, "counting_wire_builder");
}
