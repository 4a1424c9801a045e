// The WebRTC wire as a contract pair: the wire under test is the offerer A of two `WebRtcWire`s
// in one process (as tests/webrtc/webrtc_pair.hpp sets them up), joined by an in-process signal
// pipe, ICE on 127.0.0.1 only; the other end is the answerer B.
#include "contract/wire_pair.hpp"
#include "core/test_util.hpp"
#include "support/run_co.hpp"
#include "wire/webrtc/rtc_wire.hpp"  // private: to kill B's peer connection without a word

#include <actr/webrtc.hpp>

#include <mutex>

namespace actr::testing::contract {

namespace asio = boost::asio;

namespace {

WebRtcConfig contract_rtc_config() {
  WebRtcConfig c;
  c.local_addresses = {"127.0.0.1"};
  c.connect_timeout = std::chrono::milliseconds{15000};  // the first DTLS certificate is slow under ASan
  c.close_timeout = std::chrono::milliseconds{500};
  // A vanished peer is given up quickly (webrtcbin alone would need ~50 s to notice one).
  c.recovery_timeout = std::chrono::milliseconds{2000};
  c.restart_attempt_timeout = std::chrono::milliseconds{1000};
  c.restart_min_interval = std::chrono::milliseconds{200};
  c.restart_backoff.initial = std::chrono::milliseconds{100};
  c.restart_backoff.max = std::chrono::milliseconds{200};
  return c;
}

// The signals one wire sends, handed to the other (unless cut).
class Pipe : public PeerSignalSink {
 public:
  asio::awaitable<Result<void>> send_signal(const ActrId&, PeerSignal s) override {
    std::shared_ptr<WebRtcWire> to;
    {
      std::lock_guard lk(mu_);
      if (!cut_) to = to_.lock();
    }
    if (to) to->handle_signal(std::move(s));
    co_return ok();
  }
  void connect_to(const std::shared_ptr<WebRtcWire>& w) {
    std::lock_guard lk(mu_);
    to_ = w;
  }
  void cut() {
    std::lock_guard lk(mu_);
    cut_ = true;
  }

 private:
  std::mutex mu_;
  std::weak_ptr<WebRtcWire> to_;
  bool cut_ = false;
};

class WebRtcPair : public WirePairUnderTest {
 public:
  WebRtcPair(asio::io_context& io, FrameHandler on_frame) : io_(io) {
    a_ = make_webrtc_wire(io.get_executor(), contract_rtc_config(), actor_id(1), actor_id(2), true, to_b_,
                          std::move(on_frame));
    b_ = make_webrtc_wire(io.get_executor(), contract_rtc_config(), actor_id(2), actor_id(1), false, to_a_,
                          [this](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType pt,
                                 ConstBytes bytes) -> asio::awaitable<Result<void>> {
                            got_.push_back(Frame{pt, Bytes(bytes.begin(), bytes.end())});
                            co_return ok();
                          });
    to_b_->connect_to(b_);
    to_a_->connect_to(a_);
    b_->set_on_closed([this](const WireIdentity&, Error) { ++b_closed_; });
  }

  std::shared_ptr<WireHandle> wire() override { return a_; }
  bool peer_ready() override { return b_->is_connected(); }
  std::vector<Frame> peer_received() override { return got_; }
  int peer_sessions() override { return static_cast<int>(b_->stats().peer_connections); }
  bool peer_can_send() const override { return true; }
  asio::awaitable<Result<void>> peer_send(PayloadType pt, Bytes bytes) override {
    auto lane = b_->get_lane(pt);
    if (!lane) co_return lane.error();
    co_return co_await (*lane)->send(bytes);
  }
  void peer_close() override { run_co(io_, b_->close()); }
  void peer_die() override {
    // B's process crashes: its peer connection goes without closing a channel, nothing more is
    // signalled either way, and the signaling server reports B gone (what the coordinator turns
    // into report_connection_lost); A then tries to recover until recovery_timeout.
    to_a_->cut();
    to_b_->cut();
    auto& impl = b_->impl();
    std::shared_ptr<WebRtcWire::Impl::Gen> g;
    {
      std::lock_guard lk(impl.mu);
      g = impl.gen;
    }
    if (g) impl.retire(g, false);
    a_->report_connection_lost();
  }
  bool peer_saw_close() override { return b_closed_ > 0; }
  void shutdown() override {
    run_co(io_, a_->close());
    run_co(io_, b_->close());
  }

 private:
  asio::io_context& io_;
  std::vector<Frame> got_;
  int b_closed_ = 0;
  std::shared_ptr<Pipe> to_b_ = std::make_shared<Pipe>();  // A's outbound signals
  std::shared_ptr<Pipe> to_a_ = std::make_shared<Pipe>();  // B's outbound signals
  std::shared_ptr<WebRtcWire> a_, b_;
};

}  // namespace

WireFactory webrtc_factory() {
  WireTraits t;
  t.carried = {PayloadType::RpcReliable, PayloadType::RpcSignal, PayloadType::StreamReliable,
               PayloadType::StreamLatencyFirst};
  t.unordered = {PayloadType::StreamLatencyFirst};  // an unordered DataChannel
  t.connect_bound = std::chrono::milliseconds{30000};
  t.close_bound = std::chrono::milliseconds{1500};   // close_timeout 500 ms, plus scheduling under ASan
  t.death_bound = std::chrono::milliseconds{10000};  // recovery_timeout 2 s, plus slack
  return WireFactory{"WebRtc", t, [](asio::io_context& io, FrameHandler f) -> std::unique_ptr<WirePairUnderTest> {
                       return std::make_unique<WebRtcPair>(io, std::move(f));
                     }};
}

}  // namespace actr::testing::contract
