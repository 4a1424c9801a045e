// The WebRTC wire, data path: lanes, fragmentation on send with DataChannel buffer backpressure,
// per-channel reassembly, and one reader that hands complete messages to the frame handler.
#include "wire/webrtc/rtc_wire.hpp"

#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <spdlog/spdlog.h>

namespace actr {

using namespace detail;
using Impl = WebRtcWire::Impl;
using Phase = Impl::Phase;

namespace {

// A lane stays valid across restarts: every send looks up the current DataChannel.
class RtcLane : public DataLane {
 public:
  RtcLane(std::weak_ptr<Impl> impl, PayloadType pt) : impl_(std::move(impl)), pt_(pt) {}
  PayloadType payload_type() const noexcept override { return pt_; }
  asio::awaitable<Result<void>> send(ConstBytes bytes) override {
    auto impl = impl_.lock();
    if (!impl) co_return make_error_code(NetworkError::DataChannelClosed);
    co_return co_await impl->send(pt_, bytes);
  }

 private:
  std::weak_ptr<Impl> impl_;
  PayloadType pt_;
};

Error not_sendable(Phase p) {
  switch (p) {
    case Phase::Closed: return make_error_code(NetworkError::DataChannelClosed);
    case Phase::Recovering: return make_error_code(NetworkError::ConnectionError);  // transient, not closed-like
    case Phase::Idle:
    case Phase::Connecting:
    case Phase::Open: break;
  }
  return make_error_code(NetworkError::DataChannelNotOpen);
}

}  // namespace

Result<std::shared_ptr<DataLane>> Impl::get_lane(PayloadType pt) {
  if (pt == PayloadType::MediaRtp) return make_error_code(NetworkError::NoRoute);
  std::lock_guard lk(mu);
  if (phase != Phase::Open) return not_sendable(phase);
  auto& lane = lanes[lane_index(pt)];
  if (!lane) lane = std::make_shared<RtcLane>(weak_from_this(), pt);
  return lane;
}

asio::awaitable<Result<void>> Impl::send(PayloadType pt, ConstBytes bytes) {
  auto self = shared_from_this();
  if (bytes.size() > cfg.max_message_size) co_return message_too_large(bytes.size(), cfg.max_message_size);
  const std::size_t n = fragment_count(bytes.size());
  if (n > kDcMaxFragments) co_return message_too_large(bytes.size(), kDcMaxFragments * kDcMaxFragmentPayload);
  const auto i = lane_index(pt);
  const std::uint32_t msg_id = next_msg_id[i].fetch_add(1, std::memory_order_relaxed);
  Bytes frag;
  for (std::size_t k = 0; k < n; ++k) {
    std::shared_ptr<rtc::DataChannelRef> ch;
    const auto deadline = Clock::now() + cfg.send_timeout;  // bounds a stall, not the whole message
    for (;;) {  // wait for room in the channel's send buffer (GStreamer cannot block us)
      const auto seen = room[i].version();
      {
        std::lock_guard lk(mu);
        if (phase != Phase::Open || !gen || !gen->channels[i]) co_return not_sendable(phase);
        ch = gen->channels[i];
      }
      if (ch->buffered_amount() <= cfg.send_high_water) break;
      auto w = co_await room[i].async_wait_change(seen, deadline);
      if (!w) co_return w.error();
    }
    auto enc = encode_fragment(msg_id, bytes, k, frag);
    if (!enc) co_return enc.error();
    auto sent = ch->send(std::move(frag));
    frag = Bytes();
    if (!sent) co_return sent.error();
    fragments_sent.fetch_add(1, std::memory_order_relaxed);
  }
  messages_sent.fetch_add(1, std::memory_order_relaxed);
  co_return ok();
}

void Impl::on_message_locked(Later& later, Gen& g, rtc::PcEvent& ev) {
  ++stats.fragments_received;
  const auto i = lane_index(ev.pt);
  auto reject = [&](Error e) {
    ++stats.inbound_rejected;
    stats.last_inbound_error = e;
    spdlog::warn("actr: webrtc[{}] {} message from {} rejected: {}", session, to_string(ev.pt), remote.to_string(),
                 e.message());
  };
  if (!ev.text.empty()) return reject(make_error_code(NetworkError::MalformedFrame));  // a text message
  auto r = g.reassembly[i].feed(ev.data, Clock::now());
  if (!r) return reject(r.error());
  if (!*r) return;  // more fragments to come
  Bytes msg = std::move(**r);
  if (inbound_bytes + msg.size() > cfg.max_inbound_queue_bytes) {
    if (ev.pt == PayloadType::StreamLatencyFirst) {
      ++stats.inbound_dropped;
      return;
    }
    spdlog::warn("actr: webrtc[{}] inbound queue over {} bytes: the frame handler is not keeping up", session,
                 cfg.max_inbound_queue_bytes);
    return die_locked(later, make_error_code(NetworkError::ResourceExhausted));
  }
  ++stats.messages_received;
  inbound_bytes += msg.size();
  inbound.push_back(Inbound{ev.pt, std::move(msg)});
  later.push_back([this] { inbound_ready.notify(); });
}

asio::awaitable<void> Impl::reader() {
  for (;;) {
    const auto seen = inbound_ready.version();
    std::optional<Inbound> item;
    FrameHandler handler;
    bool finished = false;
    {
      std::lock_guard lk(mu);
      if (!inbound.empty()) {
        item.emplace(std::move(inbound.front()));
        inbound.pop_front();
        inbound_bytes -= item->data.size();
        handler = on_frame;
      } else {
        finished = phase == Phase::Closed;  // what arrived before a remote close is still delivered
      }
    }
    if (!item) {
      if (finished) co_return;
      auto w = co_await inbound_ready.async_wait_change(seen, kNoDeadline);
      if (!w && w.error() == NetworkError::Cancelled) co_return;
      continue;
    }
    std::shared_ptr<WireHandle> wire = owner.lock();
    if (!wire || !handler) continue;
    auto handled = co_await handler(wire, remote, item->pt, item->data);  // `item` outlives the handler
    if (!handled) {
      spdlog::warn("actr: webrtc[{}] closing the connection to {}: {}", session, remote.to_string(),
                   handled.error().message());
      Later later;
      {
        std::lock_guard lk(mu);
        die_locked(later, handled.error());
        inbound.clear();  // as on a WebSocket: nothing more is read from a peer whose frame was refused
        inbound_bytes = 0;
      }
      run(later);
    }
  }
}

}  // namespace actr
