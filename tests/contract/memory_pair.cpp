// The in-memory wire (tests/support/memory_wire.hpp) as a contract pair: the other end is the
// builder's Inbox; the wire has no inbound path. "The other end closes/dies" is the wire's own
// fault trigger `drop()` (the peer vanished), the only way a memory wire learns of it.
#include "contract/wire_pair.hpp"
#include "core/test_util.hpp"
#include "support/memory_wire.hpp"
#include "support/run_co.hpp"

namespace actr::testing::contract {

namespace {

class MemoryPair : public WirePairUnderTest {
 public:
  explicit MemoryPair(boost::asio::io_context& io) : io_(io), builder_(MemoryBuilder::create()) {
    auto r = run_co(io_, builder_->create_connections(actor(42), WireKindSet{WireKind::WebSocket}));
    if (r && r->size() == 1) wire_ = std::dynamic_pointer_cast<MemoryWire>(r->front());
    if (!wire_) ADD_FAILURE() << "memory builder made no wire";
  }

  std::shared_ptr<WireHandle> wire() override { return wire_; }
  bool peer_ready() override { return wire_->is_connected(); }
  std::vector<Frame> peer_received() override {
    for (auto& m : builder_->inbox()->drain()) got_.push_back(Frame{m.pt, std::move(m.bytes)});
    return got_;
  }
  void peer_close() override { wire_->drop(); }
  void peer_die() override { wire_->drop(); }
  bool peer_saw_close() override { return !wire_->is_connected(); }
  void shutdown() override {
    if (wire_) run_co(io_, wire_->close());
  }

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<MemoryBuilder> builder_;
  std::shared_ptr<MemoryWire> wire_;
  std::vector<Frame> got_;
};

}  // namespace

WireFactory memory_factory() {
  WireTraits t;
  t.carried = {PayloadType::RpcReliable, PayloadType::RpcSignal, PayloadType::StreamReliable,
               PayloadType::StreamLatencyFirst};
  t.inbound = false;
  t.connect_bound = std::chrono::milliseconds{1000};
  t.close_bound = std::chrono::milliseconds{500};
  t.death_bound = std::chrono::milliseconds{1000};
  return WireFactory{"Memory", t, [](boost::asio::io_context& io, FrameHandler) -> std::unique_ptr<WirePairUnderTest> {
                       return std::make_unique<MemoryPair>(io);
                     }};
}

}  // namespace actr::testing::contract
