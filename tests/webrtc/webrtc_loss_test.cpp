// The WebRTC wire over a lossy path: every packet between the two peers goes through a UDP relay
// on 127.0.0.1 that drops some of them (the kernel here has no netem): random loss both ways, then
// an outage. STREAM_LATENCY_FIRST (unordered, max 3 retransmits) loses messages but never delivers
// a damaged one, never fails or blocks a send, and keeps no incomplete message past the TTL; the
// reliable classes deliver everything, in order, over the same path; the wire stays open.
// This test found that webrtcbin 1.22 never gave a message up (see fix_sctp_partial_reliability).
#include "webrtc/webrtc_pair.hpp"

#include "detail/asio.hpp"

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using udp = asio::ip::udp;
using Kind = PeerSignal::Kind;

namespace {

/// A UDP relay between offerer A and answerer B on one socket. Datagrams from B's real address go
/// to the address A last sent from; every other datagram is A's and goes to B. A seeded PRNG
/// drops the set share of DTLS datagrams (so of DTLS records, SCTP packets, DataChannel
/// messages) each way. STUN (ICE checks, libnice's consent keepalives) always passes: losing it
/// makes ICE declare the path dead and rebuild the connection, which the restart tests cover.
class LossyRelay {
 public:
  enum Dir { kAtoB, kBtoA };
  struct Count {
    std::atomic<std::uint64_t> stun{0}, dtls{0}, dropped{0};
    /// DTLS datagrams of 500 bytes or more (SCTP DATA) that came 900 ms or more after the
    /// previous such datagram, which was dropped: while the way is down, SCTP's sends on its
    /// retransmission timer (RTO >= 1 s, doubling), not the next packet of a flight. Counted
    /// whether dropped or not.
    std::atomic<std::uint64_t> timer_sends{0};
  };

  explicit LossyRelay(std::uint32_t seed) : port_(sock_.local_endpoint().port()), rng_(seed) {
    receive();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~LossyRelay() { stop(); }

  void stop() {
    asio::post(io_, [this] { sock_.close(); });
    if (thread_.joinable()) thread_.join();
  }
  std::uint16_t port() const { return port_; }
  void set_b(const udp::endpoint& b) {
    std::lock_guard lk(mu_);
    b_ = b;
  }
  /// Drop probability of DTLS datagrams A→B and B→A (1 drops them all).
  void set_loss(double ab, double ba) {
    loss_permille_[kAtoB].store(static_cast<unsigned>(ab * 1000));
    loss_permille_[kBtoA].store(static_cast<unsigned>(ba * 1000));
  }
  const Count& count(Dir d) const { return count_[d]; }

 private:
  void receive() {
    sock_.async_receive_from(asio::buffer(buf_), from_, [this](boost::system::error_code ec, std::size_t n) {
      if (ec == asio::error::operation_aborted || !sock_.is_open()) return;
      if (!ec) forward(n);
      receive();
    });
  }
  void forward(std::size_t n) {
    std::optional<udp::endpoint> to;
    Dir d = kAtoB;
    {
      std::lock_guard lk(mu_);
      if (!b_) return;  // B's candidate has not been seen yet: nowhere to send
      if (from_ == *b_) {
        d = kBtoA;
        to = a_;
      } else {
        a_ = from_;
        to = b_;
      }
    }
    if (!to || n == 0) return;
    auto& c = count_[d];
    if (buf_[0] < 2) {  // RFC 7983: 0..3 STUN, 20..63 DTLS
      ++c.stun;
    } else {
      const auto now = Clock::now();
      const bool data = n >= 500;
      if (data && last_data_dropped_[d] && now - last_data_[d] >= 900ms) ++c.timer_sends;
      const bool drop = rng_() % 1000 < loss_permille_[d].load();
      if (data) {
        last_data_[d] = now;
        last_data_dropped_[d] = drop;
      }
      if (drop) {
        ++c.dropped;
        return;
      }
      ++c.dtls;
    }
    boost::system::error_code ec;
    sock_.send_to(asio::buffer(buf_.data(), n), *to, 0, ec);
  }

  asio::io_context io_;
  udp::socket sock_{io_, udp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0)};
  const std::uint16_t port_;
  std::array<std::uint8_t, 65536> buf_{};
  udp::endpoint from_;
  std::minstd_rand rng_;  // the relay's thread only, as last_data_ and last_data_dropped_
  std::array<Clock::time_point, 2> last_data_{};
  std::array<bool, 2> last_data_dropped_{};
  std::array<std::atomic<unsigned>, 2> loss_permille_{};
  std::array<Count, 2> count_;
  std::mutex mu_;
  std::optional<udp::endpoint> a_, b_;
  std::thread thread_;
};

/// "candidate:F C UDP PRIO ADDR PORT typ T ..." split on spaces.
std::vector<std::string> fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> f;
  for (std::string w; in >> w;) f.push_back(w);
  return f;
}

/// Rewires the signaling so A reaches B only through `relay` and B hears of A only from the
/// relay's checks: B's first UDP candidate is rewritten to point at the relay (its real address
/// goes to the relay), B's others are dropped; none of A's candidates reaches B. Candidates
/// inside SDPs get the same treatment.
class RelayPlumbing {
 public:
  explicit RelayPlumbing(LossyRelay& r) : relay_(r) {}

  void install(WirePair& p) {
    p.to_b->set_filter([this](PeerSignal& s) {
      if (s.kind == Kind::IceCandidate) {
        ++a_candidates_dropped;
        return false;
      }
      s.sdp = edit_sdp(s.sdp, [](const std::string&) { return std::optional<std::string>(); });
      return true;
    });
    p.to_a->set_filter([this](PeerSignal& s) {
      if (s.kind != Kind::IceCandidate) {
        s.sdp = edit_sdp(s.sdp, [this](const std::string& c) { return to_relay(c); });
        return true;
      }
      auto c = to_relay(s.candidate);
      if (c) s.candidate = *c;
      return c.has_value();
    });
  }

  std::atomic<int> a_candidates_dropped{0}, b_candidates_rewritten{0};

 private:
  // B's candidate line pointing at the relay, or nothing (not UDP, or B already has its one).
  std::optional<std::string> to_relay(const std::string& line) {
    auto f = fields(line);
    if (f.size() < 8 || (f[2] != "UDP" && f[2] != "udp") || b_candidates_rewritten > 0) return std::nullopt;
    relay_.set_b(udp::endpoint(asio::ip::make_address(f[4]), static_cast<std::uint16_t>(std::stoi(f[5]))));
    f[4] = "127.0.0.1";
    f[5] = std::to_string(relay_.port());
    std::string out;
    for (const auto& w : f) out += (out.empty() ? "" : " ") + w;
    ++b_candidates_rewritten;
    return out;
  }
  template <class Edit>
  static std::string edit_sdp(const std::string& sdp, Edit edit) {
    std::string out;
    std::istringstream in(sdp);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("a=candidate:", 0) == 0) {
        auto c = edit(line.substr(2));
        if (!c) continue;
        line = "a=" + *c + (line.back() == '\r' ? "\r" : "");
      }
      out += line + "\n";
    }
    return out;
  }

  LossyRelay& relay_;
};

constexpr std::size_t kBig = 100 * 1024;  // two fragments
constexpr double kLoss = 0.12;             // each way

/// Message `seq` of a lane: its size follows from seq, it starts with seq, the rest is a pattern
/// seeded by seq; so any truncation, mix-up or damage shows.
Bytes numbered(std::uint32_t seq, std::size_t size) {
  Bytes b = pattern(size, static_cast<std::uint8_t>(seq * 7));
  for (int i = 0; i < 4; ++i) b[i] = static_cast<std::uint8_t>(seq >> (24 - 8 * i));
  return b;
}
std::optional<std::uint32_t> seq_of(const Bytes& b) {
  if (b.size() < 4) return std::nullopt;
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

struct Lane {
  PayloadType pt;
  std::uint32_t first, count;
  std::size_t (*size)(std::uint32_t seq);
};
std::size_t latency_size(std::uint32_t seq) { return seq % 16 == 15 ? kBig : 1024; }
std::size_t rpc_size(std::uint32_t) { return 1024; }
std::size_t stream_size(std::uint32_t seq) { return 512 + (seq % 16) * 1024; }

struct SendReport {
  int failed = 0;
  Clock::duration longest{};
};

/// Sends a lane's messages one after another; a failure is counted, not retried.
asio::awaitable<SendReport> send_all(std::shared_ptr<WebRtcWire> w, Lane lane) {
  SendReport rep;
  auto l = w->get_lane(lane.pt);
  if (!l) co_return SendReport{static_cast<int>(lane.count), {}};
  for (std::uint32_t s = lane.first; s < lane.first + lane.count; ++s) {
    const auto t0 = Clock::now();
    auto r = co_await (*l)->send(numbered(s, lane.size(s)));
    rep.longest = std::max(rep.longest, Clock::now() - t0);
    if (!r) {
      ADD_FAILURE() << to_string(lane.pt) << " send " << s << ": " << r.error().message();
      ++rep.failed;
    }
  }
  co_return rep;
}

/// Small latency-first markers numbered from `first`, one every 200 ms while `*on`.
asio::awaitable<void> markers(std::shared_ptr<WebRtcWire> w, std::uint32_t first, std::shared_ptr<std::atomic<bool>> on) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  auto l = w->get_lane(PayloadType::StreamLatencyFirst);
  for (auto s = first; *on && l; ++s) {
    (void)co_await (*l)->send(numbered(s, 16));
    t.expires_after(200ms);
    (void)co_await t.async_wait(detail::use_ec);
  }
}

/// B's messages of class `pt` with seq in [first, first + count), in arrival order; each must be
/// exactly what was sent.
std::vector<std::uint32_t> received(const Inbox& in, const Lane& lane) {
  std::vector<std::uint32_t> seqs;
  for (const auto& f : in.frames) {
    if (f.pt != lane.pt) continue;
    auto s = seq_of(f.data);
    if (!s || *s < lane.first || *s >= lane.first + lane.count) continue;
    EXPECT_TRUE(f.data == numbered(*s, lane.size(*s))) << to_string(lane.pt) << " message " << *s << " damaged ("
                                                       << f.data.size() << " bytes)";
    seqs.push_back(*s);
  }
  return seqs;
}

/// How many of them arrived (cheap: no content check).
std::size_t count_of(const Inbox& in, const Lane& lane) {
  return static_cast<std::size_t>(std::count_if(in.frames.begin(), in.frames.end(), [&](const Frame& f) {
    auto s = seq_of(f.data);
    return f.pt == lane.pt && s && *s >= lane.first && *s < lane.first + lane.count;
  }));
}

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
  // After its last message the latency-first sender sends markers until one arrives: everything
  // before them on that DataChannel has then crossed the lossy path at least once.
  const Lane fence{PayloadType::StreamLatencyFirst, 10000, 10000, small};
  const auto t0 = Clock::now();
  auto fencing = std::make_shared<std::atomic<bool>>(true);
  auto fl = asio::co_spawn(io, [&, fencing]() -> asio::awaitable<SendReport> {
    auto rep = co_await send_all(p.a, latency);
    co_await markers(p.a, fence.first, fencing);
    co_return rep;
  }, asio::use_future);
  auto fr = asio::co_spawn(io, send_all(p.a, rpc), asio::use_future);
  auto fs = asio::co_spawn(io, send_all(p.a, stream), asio::use_future);
  run_until(io, [&] {
    watch_reassembly();
    return done(fr) && done(fs) && count_of(p.b_in, rpc) == rpc.count && count_of(p.b_in, stream) == stream.count &&
           count_of(p.b_in, fence) > 0;
  }, 180000ms);
  *fencing = false;
  run_until(io, [&] { return done(fl); }, 5000ms);
  for (auto* f : {&fl, &fr, &fs}) {
    auto rep = f->get();
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
