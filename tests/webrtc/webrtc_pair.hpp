#pragma once
// Two WebRTC wires in one process, offerer A and answerer B, joined by an in-process PeerSignal
// pipe; ICE on 127.0.0.1 host candidates only, no STUN/TURN. The pipe can hold, drop, rewrite or
// replay signals, which the staleness and loss tests need.

#include <actr/error.hpp>
#include <actr/signaling_client.hpp>
#include <actr/webrtc.hpp>

#include "core/test_util.hpp"
#include "support/run_co.hpp"
#include "wire/webrtc/glib_runtime.hpp"
#include "wire/webrtc/rtc_wire.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace actr::testing {

inline WebRtcConfig loopback_config() {
  WebRtcConfig c;
  c.local_addresses = {"127.0.0.1"};
  c.connect_timeout = std::chrono::milliseconds{15000};  // the first DTLS certificate is slow under ASan
  c.recovery_timeout = std::chrono::milliseconds{15000};
  return c;
}

/// The signals one wire sends, delivered to the other wire (if any) unless the filter says no.
class PipeSink : public PeerSignalSink {
 public:
  /// Returns true to deliver, false to drop; may rewrite the signal it delivers (`sent()` keeps
  /// the original).
  using Filter = std::function<bool(PeerSignal&)>;

  boost::asio::awaitable<Result<void>> send_signal(const ActrId&, PeerSignal s) override {
    std::shared_ptr<WebRtcWire> to;
    bool deliver = true;
    {
      std::lock_guard lk(mu_);
      sent_.push_back(s);
      to = to_.lock();
      if (filter_) deliver = filter_(s);
    }
    if (deliver && to) to->handle_signal(std::move(s));
    co_return ok();
  }
  void connect_to(const std::shared_ptr<WebRtcWire>& w) {
    std::lock_guard lk(mu_);
    to_ = w;
  }
  void set_filter(Filter f) {
    std::lock_guard lk(mu_);
    filter_ = std::move(f);
  }
  std::vector<PeerSignal> sent() const {
    std::lock_guard lk(mu_);
    return sent_;
  }
  std::size_t count(PeerSignal::Kind k) const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (const auto& s : sent_) n += s.kind == k ? 1 : 0;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::weak_ptr<WebRtcWire> to_;
  Filter filter_;
  std::vector<PeerSignal> sent_;
};

struct Frame {
  PayloadType pt;
  Bytes data;
};

/// What one wire received and how it ended.
struct Inbox {
  std::vector<Frame> frames;
  int closed = 0;
  Error closed_why;
  FrameHandler handler() {
    return [this](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType pt,
                  ConstBytes b) -> boost::asio::awaitable<Result<void>> {
      frames.push_back(Frame{pt, Bytes(b.begin(), b.end())});
      co_return ok();
    };
  }
};

struct WirePair {
  boost::asio::io_context& io;
  std::shared_ptr<PipeSink> to_b = std::make_shared<PipeSink>();  // A's outbound signals
  std::shared_ptr<PipeSink> to_a = std::make_shared<PipeSink>();  // B's outbound signals
  Inbox a_in, b_in;
  std::shared_ptr<WebRtcWire> a, b;

  WirePair(boost::asio::io_context& ctx, std::uint64_t serial_a = 1, std::uint64_t serial_b = 2,
           WebRtcConfig ca = loopback_config(), WebRtcConfig cb = loopback_config(),
           std::shared_ptr<WebRtcRuntime> runtime = nullptr)
      : io(ctx) {
    a = make_webrtc_wire(io.get_executor(), ca, actor_id(serial_a), actor_id(serial_b), true, to_b, a_in.handler(),
                         runtime);
    b = make_webrtc_wire(io.get_executor(), cb, actor_id(serial_b), actor_id(serial_a), false, to_a, b_in.handler(),
                         runtime);
    to_b->connect_to(b);
    to_a->connect_to(a);
    watch(a, a_in);
    watch(b, b_in);
  }
  ~WirePair() { close(); }

  static void watch(const std::shared_ptr<WebRtcWire>& w, Inbox& in) {
    w->set_on_closed([&in](const WireIdentity&, Error why) {
      ++in.closed;
      in.closed_why = why;
    });
  }

  void connect() {
    auto ra = run_co(io, a->connect(), std::chrono::milliseconds{30000});
    ASSERT_TRUE(ra) << ra.error().message();
    auto rb = run_co(io, b->connect(), std::chrono::milliseconds{30000});
    ASSERT_TRUE(rb) << rb.error().message();
    ASSERT_TRUE(a->is_connected());
    ASSERT_TRUE(b->is_connected());
  }

  void close() {
    if (a) run_co(io, a->close());
    if (b) run_co(io, b->close());
  }
};

inline Result<void> send(boost::asio::io_context& io, const std::shared_ptr<WebRtcWire>& w, PayloadType pt,
                         ConstBytes bytes) {
  auto lane = w->get_lane(pt);
  if (!lane) return lane.error();
  auto r = run_co(io, (*lane)->send(bytes), std::chrono::milliseconds{90000});
  if (!r)
    std::fprintf(stderr, "send of %zu bytes on %s: %s\n", bytes.size(), std::string(to_string(pt)).c_str(),
                 r.error().message().c_str());
  return r;
}

inline Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 131) ^ (i >> 13) ^ seed);
  return b;
}

/// Sends `bytes` as one raw DataChannel message (no fragment header added) on w's channel for
/// `pt`: what a misbehaving peer could put on the wire.
inline Result<void> send_raw(WebRtcWire& w, PayloadType pt, Bytes bytes) {
  std::shared_ptr<rtc::DataChannelRef> ch;
  {
    auto& impl = w.impl();
    std::lock_guard lk(impl.mu);
    if (!impl.gen) return make_error_code(NetworkError::DataChannelNotOpen);
    ch = impl.gen->channels[lane_index(pt)];
  }
  if (!ch) return make_error_code(NetworkError::DataChannelNotOpen);
  return ch->send(std::move(bytes));
}

/// What a crash of w's process looks like to its peer: the peer connection is torn down without
/// closing its channels or saying anything, and w goes silent (its callbacks are cut first).
inline void kill_peer_connection(WebRtcWire& w) {
  auto& impl = w.impl();
  std::shared_ptr<WebRtcWire::Impl::Gen> g;
  {
    std::lock_guard lk(impl.mu);
    g = impl.gen;
  }
  if (g) impl.retire(g, false);
}

/// Threads of this process now (/proc/self/task).
inline std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

/// A signaling client connected to the server on 127.0.0.1:`port` and registered as `id`.
inline std::shared_ptr<SignalingClient> registered_client(boost::asio::io_context& io, std::uint16_t port,
                                                         const ActrId& id) {
  auto c = std::make_shared<SignalingClient>(io.get_executor());
  EXPECT_TRUE(run_co(io, c->connect("ws://127.0.0.1:" + std::to_string(port) + "/")));
  EXPECT_TRUE(run_co(io, c->register_actor(id)));
  return c;
}

}  // namespace actr::testing
