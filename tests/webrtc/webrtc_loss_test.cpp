// The WebRTC wire over a lossy path: every packet between the two peers goes through a UDP relay
// on 127.0.0.1 that drops some of them (the kernel here has no netem): random loss both ways, then
// an outage. STREAM_LATENCY_FIRST (unordered, max 3 retransmits) loses messages but never delivers
// a damaged one, never fails or blocks a send, and keeps no incomplete message past the TTL; the
// reliable classes deliver everything, in order, over the same path; the wire stays open.
// This test found that webrtcbin 1.22 never gave a message up (see fix_sctp_partial_reliability).
#include "webrtc/lossy_path.hpp"

#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

constexpr std::size_t kBig = 100 * 1024;  // two fragments
constexpr double kLoss = 0.12;             // each way

std::size_t latency_size(std::uint32_t seq) { return seq % 16 == 15 ? kBig : 1024; }
std::size_t rpc_size(std::uint32_t) { return 1024; }
std::size_t stream_size(std::uint32_t seq) { return 512 + (seq % 16) * 1024; }

/// Bytes and messages B holds in incomplete reassemblies of `pt`.
std::pair<std::size_t, std::size_t> reassembly_of(WebRtcWire& w, PayloadType pt) {
  std::lock_guard lk(w.impl().mu);
  if (!w.impl().gen) return {0, 0};
  const auto& r = w.impl().gen->reassembly[lane_index(pt)];
  return {r.buffered_bytes(), r.pending_messages()};
}

}  // namespace

TEST(WebRtcLoss, LatencyFirstLosesButNeverCorruptsOrBlocksWhileReliableClassesDeliverEverythingInOrder) {
  asio::io_context io;
  LossyRelay relay(20240601);
  WebRtcConfig cb = loopback_config();
  cb.max_reassembly_bytes = 1u << 20;
  cb.reassembly_ttl = 5000ms;  // incomplete messages are discarded after this (default 30 s)
  WirePair p(io, 1, 2, loopback_config(), cb);
  RelayPlumbing plumbing(relay);
  plumbing.install(p);
  p.connect();  // ICE, DTLS and SCTP set up through the relay, without loss
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(plumbing.b_candidates_rewritten, 1);
  EXPECT_GE(plumbing.a_candidates_dropped, 1);
  for (auto d : {LossyRelay::kAtoB, LossyRelay::kBtoA}) {  // it all went through the relay
    EXPECT_GT(relay.count(d).stun, 0u);
    EXPECT_GT(relay.count(d).dtls, 0u);
  }
  auto done = [](auto& f) { return f.wait_for(0s) == std::future_status::ready; };
  std::size_t peak_reassembly = 0;
  auto watch_reassembly = [&] {
    peak_reassembly = std::max(peak_reassembly, reassembly_of(*p.b, PayloadType::StreamLatencyFirst).first);
  };
  auto small = [](std::uint32_t) -> std::size_t { return 16; };

  // 1. Random loss both ways. Under 1 MiB per DataChannel, so no send has to wait for room
  // (SCTP's retransmission timer backs off to seconds under loss; waiting is back-pressure,
  // bounded by send_timeout, not what this checks).
  relay.set_loss(kLoss, kLoss);
  const Lane latency{PayloadType::StreamLatencyFirst, 0, 128, latency_size};
  const Lane rpc{PayloadType::RpcReliable, 0, 60, rpc_size};
  const Lane stream{PayloadType::StreamReliable, 0, 60, stream_size};
  // Markers after the latency-first lane (send_lanes_until_delivered).
  const Lane fence{PayloadType::StreamLatencyFirst, 10000, 10000, small};
  const auto t0 = Clock::now();
  const auto reports = send_lanes_until_delivered(io, p, latency, rpc, stream, fence, watch_reassembly, 180000ms);
  for (const auto& rep : reports) {
    EXPECT_EQ(rep.failed, 0);
    EXPECT_LT(rep.longest, 2s) << "a send waited";
  }
  std::printf("random loss: %lld ms; relay dropped %llu of %llu DTLS datagrams A->B, %llu of %llu B->A\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()),
              static_cast<unsigned long long>(relay.count(LossyRelay::kAtoB).dropped),
              static_cast<unsigned long long>(relay.count(LossyRelay::kAtoB).dtls + relay.count(LossyRelay::kAtoB).dropped),
              static_cast<unsigned long long>(relay.count(LossyRelay::kBtoA).dropped),
              static_cast<unsigned long long>(relay.count(LossyRelay::kBtoA).dtls + relay.count(LossyRelay::kBtoA).dropped));
  EXPECT_GT(relay.count(LossyRelay::kAtoB).dropped, 0u);
  EXPECT_GT(relay.count(LossyRelay::kBtoA).dropped, 0u);
  for (const auto& lane : {rpc, stream}) {  // everything, in order, intact (received() checks content)
    auto seqs = received(p.b_in, lane);
    ASSERT_EQ(seqs.size(), lane.count) << to_string(lane.pt);
    for (std::uint32_t i = 0; i < lane.count; ++i) ASSERT_EQ(seqs[i], i) << to_string(lane.pt) << " out of order";
  }
  EXPECT_TRUE(p.a->is_connected());
  EXPECT_TRUE(p.b->is_connected());

  // 2. Loss off: the latency-first class delivers everything again, fragmented messages included.
  relay.set_loss(0, 0);
  const Lane after{PayloadType::StreamLatencyFirst, 1000, 32, latency_size};
  auto fa = asio::co_spawn(io, send_all(p.a, after), asio::use_future);
  run_until(io, [&] {
    watch_reassembly();
    return done(fa) && count_of(p.b_in, after) == after.count;
  }, 60000ms);
  EXPECT_EQ(fa.get().failed, 0);

  // 3. An outage while one fragmented latency-first message goes out: A→B down, so A's SCTP
  // resends the message's first chunk on its retransmission timer (1, 3, 7 s). After the 3rd
  // resend (its 4th send) B→A goes down as well and A→B comes back, so A hears nothing from B
  // (B's heartbeat would let it resend outside the timer) until its timer expires a 4th time and
  // it abandons the message (max 3 retransmits; RFC 7496) instead of sending it a 5th time; then
  // B→A comes back. B gets the message's second fragment only: it must hold it, never deliver the
  // message, and drop it at the TTL. Random loss at a rate SCTP keeps up with seldom exhausts 3
  // retransmits, so this is the loss the count below relies on.
  const Lane burst{PayloadType::StreamLatencyFirst, 5000, 1, [](std::uint32_t) { return kBig; }};
  const auto timer_sends = [&] { return relay.count(LossyRelay::kAtoB).timer_sends.load(); };
  const auto sends_before = timer_sends();
  const auto fragments_before = p.b->stats().fragments_received;
  relay.set_loss(1, 0);
  auto fb = asio::co_spawn(io, send_all(p.a, burst), asio::use_future);
  run_until(io, [&] { return done(fb) && timer_sends() >= sends_before + 3; }, 30000ms);
  EXPECT_EQ(fb.get().failed, 0);
  relay.set_loss(1, 1);
  relay.set_loss(0, 1);
  run_until(io, [&] { return timer_sends() >= sends_before + 4; }, 30000ms);
  relay.set_loss(0, 0);
  run_until(io, [&] {
    watch_reassembly();
    return p.b->stats().fragments_received > fragments_before;
  }, 30000ms);
  EXPECT_EQ(reassembly_of(*p.b, PayloadType::StreamLatencyFirst).second, 1u) << "the second fragment is not held";

  // Incomplete messages are discarded at the TTL, not kept: B's reassembly of the class empties
  // (markers every 200 ms feed it, since expiry is checked when fragments arrive).
  const Lane probes{PayloadType::StreamLatencyFirst, 20000, 10000, small};
  auto probing = std::make_shared<std::atomic<bool>>(true);
  auto probe = asio::co_spawn(io, markers(p.a, probes.first, probing), asio::use_future);
  run_until(io, [&] {
    watch_reassembly();
    return reassembly_of(*p.b, PayloadType::StreamLatencyFirst) == std::pair<std::size_t, std::size_t>{0, 0};
  }, cb.reassembly_ttl + 15000ms);
  *probing = false;
  run_until(io, [&] { return done(probe); }, 5000ms);
  EXPECT_GT(peak_reassembly, 0u);
  EXPECT_LE(peak_reassembly, cb.max_reassembly_bytes);

  // Every message B got is one A sent, intact; none twice; the burst's message never arrived.
  for (const auto& f : p.b_in.frames) {
    auto s = seq_of(f.data);
    ASSERT_TRUE(s) << "a message too short to carry its number";
    bool known = false;
    for (const auto& lane : {latency, rpc, stream, fence, after, burst, probes}) {
      if (lane.pt != f.pt || *s < lane.first || *s >= lane.first + lane.count) continue;
      known = true;
      EXPECT_TRUE(f.data == numbered(*s, lane.size(*s))) << to_string(f.pt) << " message " << *s << " damaged";
    }
    EXPECT_TRUE(known) << to_string(f.pt) << " message " << *s << " was never sent";
  }
  EXPECT_EQ(count_of(p.b_in, burst), 0u) << "a message with an abandoned fragment was delivered";
  auto got = received(p.b_in, latency);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(std::adjacent_find(got.begin(), got.end()), got.end()) << "a message was delivered twice";
  const auto sent = latency.count + burst.count;
  const auto delivered = got.size() + count_of(p.b_in, burst);
  std::printf("latency-first: %zu of %u delivered under random loss, %zu of %u in the burst\n", got.size(),
              latency.count, count_of(p.b_in, burst), burst.count);
  EXPECT_GT(delivered, 0u);
  EXPECT_LT(delivered, sent) << "nothing was lost: the relay's loss never reached the DataChannel";
  EXPECT_EQ(p.b->stats().inbound_rejected, 0u) << p.b->stats().last_inbound_error.message();
  EXPECT_EQ(p.a_in.closed + p.b_in.closed, 0);
  EXPECT_EQ(p.a->stats().restarts_completed + p.b->stats().restarts_completed, 0u);
  EXPECT_TRUE(p.a->is_connected());
  EXPECT_TRUE(p.b->is_connected());
}
