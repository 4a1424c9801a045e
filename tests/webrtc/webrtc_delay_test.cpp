// Fault suite, case 3: the WebRTC wire over a path with 5 % loss each way and 50 ms of delay each
// way (the UDP relay of lossy_path.hpp; the kernel here has no netem). The reliable classes
// (RPC_RELIABLE, STREAM_RELIABLE) deliver every message, in order, intact; STREAM_LATENCY_FIRST
// only degrades: it may lose messages, but it never delivers a damaged or a duplicated one and
// never fails or blocks a send; the wire stays up without an ICE restart.
#include "webrtc/lossy_path.hpp"

#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

constexpr auto kDelay = 50ms;  // each way
constexpr double kLoss = 0.05;  // each way

std::size_t latency_size(std::uint32_t seq) { return seq % 16 == 15 ? 100 * 1024 : 1024; }  // some fragmented
std::size_t rpc_size(std::uint32_t) { return 1024; }
std::size_t stream_size(std::uint32_t seq) { return 512 + (seq % 16) * 1024; }

long long ms(Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

}  // namespace

TEST(FaultWebRtcLossDelay, FivePercentLossAnd50MsDelayLoseNothingReliableAndOnlyDegradeLatencyFirst) {
  asio::io_context io;
  LossyRelay relay(20261202);
  relay.set_delay(kDelay);  // ICE, DTLS and SCTP are set up over the slow path too
  WirePair p(io, 1, 2, loopback_config(), loopback_config());
  RelayPlumbing plumbing(relay);
  plumbing.install(p);
  p.connect();
  ASSERT_FALSE(HasFatalFailure());
  for (auto d : {LossyRelay::kAtoB, LossyRelay::kBtoA}) {  // it all goes through the relay
    EXPECT_GT(relay.count(d).stun, 0u);
    EXPECT_GT(relay.count(d).dtls, 0u);
  }
  auto done = [](auto& f) { return f.wait_for(0s) == std::future_status::ready; };

  // The delay is there: one message takes at least the one-way delay.
  const Lane probe{PayloadType::RpcReliable, 90000, 1, rpc_size};
  const auto t_probe = Clock::now();
  auto fp = asio::co_spawn(io, send_all(p.a, probe), asio::use_future);
  run_until(io, [&] { return done(fp) && count_of(p.b_in, probe) == 1; }, 20000ms);
  const auto one_way = Clock::now() - t_probe;
  EXPECT_GE(one_way, kDelay);

  relay.set_loss(kLoss, kLoss);
  const Lane latency{PayloadType::StreamLatencyFirst, 0, 128, latency_size};
  const Lane rpc{PayloadType::RpcReliable, 0, 60, rpc_size};
  const Lane stream{PayloadType::StreamReliable, 0, 60, stream_size};
  // Markers after the latency-first lane (send_lanes_until_delivered).
  const Lane fence{PayloadType::StreamLatencyFirst, 10000, 10000, [](std::uint32_t) -> std::size_t { return 16; }};
  const auto t0 = Clock::now();
  const auto reports = send_lanes_until_delivered(io, p, latency, rpc, stream, fence, [] {}, 180000ms);
  const auto took = Clock::now() - t0;
  for (const auto& rep : reports) {
    EXPECT_EQ(rep.failed, 0);
    EXPECT_LT(rep.longest, 2s) << "a send waited";
  }

  // Reliable classes: everything, in order, intact (received() checks every byte).
  for (const auto& lane : {rpc, stream}) {
    auto seqs = received(p.b_in, lane);
    ASSERT_EQ(seqs.size(), lane.count) << to_string(lane.pt);
    for (std::uint32_t i = 0; i < lane.count; ++i) ASSERT_EQ(seqs[i], i) << to_string(lane.pt) << " out of order";
  }
  // Latency-first: what arrived is intact and arrived once.
  auto got = received(p.b_in, latency);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(std::adjacent_find(got.begin(), got.end()), got.end()) << "a message was delivered twice";
  EXPECT_GT(got.size(), 0u);
  EXPECT_GT(relay.count(LossyRelay::kAtoB).dropped, 0u);
  EXPECT_GT(relay.count(LossyRelay::kBtoA).dropped, 0u);
  EXPECT_EQ(p.b->stats().inbound_rejected, 0u) << p.b->stats().last_inbound_error.message();
  EXPECT_EQ(p.a_in.closed + p.b_in.closed, 0);
  EXPECT_EQ(p.a->stats().restarts_completed + p.b->stats().restarts_completed, 0u);
  EXPECT_TRUE(p.a->is_connected());
  EXPECT_TRUE(p.b->is_connected());

  const auto& ab = relay.count(LossyRelay::kAtoB);
  const auto& ba = relay.count(LossyRelay::kBtoA);
  std::printf("webrtc 5%% loss + %lld ms: one message %lld ms; %u rpc + %u stream delivered in order in %lld ms; "
              "latency-first %zu of %u delivered; relay dropped %llu of %llu DTLS datagrams A->B, %llu of %llu B->A\n",
              static_cast<long long>(kDelay.count()), ms(one_way), rpc.count, stream.count, ms(took), got.size(),
              latency.count, static_cast<unsigned long long>(ab.dropped.load()),
              static_cast<unsigned long long>(ab.dtls + ab.dropped), static_cast<unsigned long long>(ba.dropped.load()),
              static_cast<unsigned long long>(ba.dtls + ba.dropped));
}
