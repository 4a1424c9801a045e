// The WebSocket wire as a contract pair: the wire under test is a client
// (`make_websocket_client`) dialing a `WebSocketServer` on 127.0.0.1 (port 0); the other end is
// the server-side wire the gate hands to its PeerHandler.
#include "contract/wire_pair.hpp"
#include "core/test_util.hpp"
#include "support/run_co.hpp"
#include "wire/websocket/ws_wire.hpp"  // private: to cut the server's socket without a close frame

#include <boost/asio/post.hpp>

namespace actr::testing::contract {

namespace asio = boost::asio;

namespace {

WebSocketConfig contract_ws_config() {
  WebSocketConfig c;
  c.connect_timeout = std::chrono::milliseconds{5000};
  c.close_timeout = std::chrono::milliseconds{300};
  return c;
}

class WebSocketPair : public WirePairUnderTest {
 public:
  WebSocketPair(asio::io_context& io, FrameHandler on_frame)
      : io_(io),
        server_(io.get_executor(), contract_ws_config(),
                [this](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType pt,
                       ConstBytes b) -> asio::awaitable<Result<void>> {
                  got_.push_back(Frame{pt, Bytes(b.begin(), b.end())});
                  co_return ok();
                },
                [this](const ActrId&, const std::shared_ptr<WireHandle>& w) { peers_.push_back(w); }) {
    auto port = server_.listen("127.0.0.1", 0);
    if (!port) {
      ADD_FAILURE() << "listen: " << port.error().message();
      return;
    }
    wire_ = make_websocket_client(io.get_executor(), "ws://127.0.0.1:" + std::to_string(*port) + "/contract",
                                  actor_id(7), actor_id(1000), contract_ws_config(), std::move(on_frame));
  }

  std::shared_ptr<WireHandle> wire() override { return wire_; }
  bool peer_ready() override { return !peers_.empty() && peers_.back()->is_connected(); }
  std::vector<Frame> peer_received() override { return got_; }
  int peer_sessions() override { return static_cast<int>(peers_.size()); }
  bool peer_can_send() const override { return true; }
  asio::awaitable<Result<void>> peer_send(PayloadType pt, Bytes bytes) override {
    if (peers_.empty()) co_return make_error_code(NetworkError::ConnectionNotFound);
    auto lane = peers_.back()->get_lane(pt);
    if (!lane) co_return lane.error();
    co_return co_await (*lane)->send(bytes);
  }
  void peer_close() override { run_co(io_, peers_.back()->close()); }
  void peer_die() override {
    // The peer's process is gone: its kernel closes the socket, no WebSocket close frame is sent.
    if (auto conn = std::static_pointer_cast<ws::WsWire>(peers_.back())->connection()) conn->abort();
  }
  bool peer_saw_close() override { return !peers_.empty() && !peers_.back()->is_connected(); }
  void shutdown() override {
    if (wire_) run_co(io_, wire_->close());
    run_co(io_, server_.close());
  }

 private:
  asio::io_context& io_;
  std::vector<Frame> got_;                          // before server_: its handlers use them
  std::vector<std::shared_ptr<WireHandle>> peers_;
  WebSocketServer server_;
  std::shared_ptr<WireHandle> wire_;
};

}  // namespace

WireFactory websocket_factory() {
  WireTraits t;
  t.carried = {PayloadType::RpcReliable, PayloadType::RpcSignal, PayloadType::StreamReliable,
               PayloadType::StreamLatencyFirst};
  t.connect_bound = std::chrono::milliseconds{10000};
  t.close_bound = std::chrono::milliseconds{1000};
  t.death_bound = std::chrono::milliseconds{5000};
  return WireFactory{"WebSocket", t, [](asio::io_context& io, FrameHandler f) -> std::unique_ptr<WirePairUnderTest> {
                       return std::make_unique<WebSocketPair>(io, std::move(f));
                     }};
}

}  // namespace actr::testing::contract
