#pragma once
// The "wire pair factory" of the wire contract suite (wire_contract_test.cpp): one wire under
// test plus the other end it talks to, on one single-threaded io_context that the test drives
// (run_co / run_until). Each real wire and the in-memory wire implement it once; the suite is
// written once against it.

#include <actr/error.hpp>
#include <actr/result.hpp>
#include <actr/types.hpp>
#include <actr/websocket.hpp>
#include <actr/wire.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace actr::testing::contract {

struct Frame {
  PayloadType pt;
  Bytes data;
};

/// One wire under test and its other end. Created unconnected: `wire()->connect()` reaches the
/// other end. All members are called on the test's thread (the io_context's only thread).
class WirePairUnderTest {
 public:
  virtual ~WirePairUnderTest() = default;
  /// The wire under test (its frame handler is the one given to the factory).
  virtual std::shared_ptr<WireHandle> wire() = 0;
  /// The other end holds its side of the connection and can send (a predicate for run_until).
  virtual bool peer_ready() = 0;
  /// Everything the other end received from the wire so far, in arrival order.
  virtual std::vector<Frame> peer_received() = 0;
  /// Connections (sessions) the other end has seen so far; -1 if it cannot tell.
  virtual int peer_sessions() { return -1; }
  /// Whether the other end can send to the wire under test (its inbound path exists).
  virtual bool peer_can_send() const { return false; }
  /// The other end sends one message to the wire under test.
  virtual boost::asio::awaitable<Result<void>> peer_send(PayloadType, Bytes) {
    co_return make_error_code(NetworkError::NotImplemented);
  }
  /// The other end closes its side cleanly.
  virtual void peer_close() = 0;
  /// The other end's process vanishes without a word (and whatever would tell the wire so in a
  /// deployment, e.g. signaling reporting the peer gone, does so).
  virtual void peer_die() = 0;
  /// The other end has noticed that the wire under test went away (a predicate for run_until).
  virtual bool peer_saw_close() = 0;
  /// Closes everything (bounded). Run by the fixture before the pair is destroyed.
  virtual void shutdown() = 0;
};

/// What a wire promises beyond the common contract, and the time bounds the suite allows it.
struct WireTraits {
  std::vector<PayloadType> carried;    ///< lanes it has; every other PayloadType gives NoRoute
  std::vector<PayloadType> unordered;  ///< carried, delivered complete but possibly reordered
  bool inbound = true;                 ///< frames from the other end reach the wire's frame handler
  std::chrono::milliseconds connect_bound{20000};
  std::chrono::milliseconds close_bound{2000};  ///< close() completes within this
  std::chrono::milliseconds death_bound{20000};  ///< peer_die() → on_closed within this
};

struct WireFactory {
  std::string name;
  WireTraits traits;
  std::function<std::unique_ptr<WirePairUnderTest>(boost::asio::io_context& io, FrameHandler on_frame)> make;
};

WireFactory memory_factory();
WireFactory websocket_factory();
WireFactory webrtc_factory();

}  // namespace actr::testing::contract
