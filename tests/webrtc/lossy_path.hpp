#pragma once
// A lossy, slow path between two WebRTC wires of a `WirePair`: a UDP relay on 127.0.0.1 that drops
// and delays DTLS datagrams (the kernel here has no netem), the signaling edits that route ICE
// through it, and numbered messages whose size and content follow from their number, so any loss,
// damage, reordering or duplication shows. Used by webrtc_loss_test.cpp and the fault suite's
// webrtc_delay_test.cpp.
#include "webrtc/webrtc_pair.hpp"

#include "detail/asio.hpp"

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

namespace actr::testing {

using udp = boost::asio::ip::udp;

/// A UDP relay between offerer A and answerer B on one socket. Datagrams from B's real address go
/// to the address A last sent from; every other datagram is A's and goes to B. A seeded PRNG
/// drops the set share of DTLS datagrams (so of DTLS records, SCTP packets, DataChannel
/// messages) each way. STUN (ICE checks, libnice's consent keepalives) always passes: losing it
/// makes ICE declare the path dead and rebuild the connection, which the restart tests cover.
/// A set delay holds every datagram passed on (STUN too) that long, both ways, in order.
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
    boost::asio::post(io_, [this] {
      sock_.close();
      io_.stop();  // datagrams still held on their timers are dropped
    });
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
  /// One-way delay of every datagram passed on, both ways (0: sent at once).
  void set_delay(std::chrono::milliseconds d) { delay_ms_.store(static_cast<int>(d.count())); }
  const Count& count(Dir d) const { return count_[d]; }

 private:
  void receive() {
    sock_.async_receive_from(boost::asio::buffer(buf_), from_, [this](boost::system::error_code ec, std::size_t n) {
      if (ec == boost::asio::error::operation_aborted || !sock_.is_open()) return;
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
      if (data && last_data_dropped_[d] && now - last_data_[d] >= std::chrono::milliseconds(900)) ++c.timer_sends;
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
    const auto delay = std::chrono::milliseconds(delay_ms_.load());
    if (delay.count() == 0) {
      boost::system::error_code ec;
      sock_.send_to(boost::asio::buffer(buf_.data(), n), *to, 0, ec);
      return;
    }
    // Held on a timer of its own: datagrams leave in the order they came (same delay each).
    auto held = std::make_shared<std::vector<std::uint8_t>>(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, delay);
    timer->async_wait([this, held, timer, dest = *to](boost::system::error_code ec) {
      if (ec || !sock_.is_open()) return;
      sock_.send_to(boost::asio::buffer(*held), dest, 0, ec);
    });
  }

  boost::asio::io_context io_;
  udp::socket sock_{io_, udp::endpoint(boost::asio::ip::make_address_v4("127.0.0.1"), 0)};
  const std::uint16_t port_;
  std::array<std::uint8_t, 65536> buf_{};
  udp::endpoint from_;
  std::minstd_rand rng_;  // the relay's thread only, as last_data_ and last_data_dropped_
  std::array<Clock::time_point, 2> last_data_{};
  std::array<bool, 2> last_data_dropped_{};
  std::array<std::atomic<unsigned>, 2> loss_permille_{};
  std::atomic<int> delay_ms_{0};
  std::array<Count, 2> count_;
  std::mutex mu_;
  std::optional<udp::endpoint> a_, b_;
  std::thread thread_;
};

/// "candidate:F C UDP PRIO ADDR PORT typ T ..." split on spaces.
inline std::vector<std::string> fields(const std::string& line) {
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
      if (s.kind == PeerSignal::Kind::IceCandidate) {
        ++a_candidates_dropped;
        return false;
      }
      s.sdp = edit_sdp(s.sdp, [](const std::string&) { return std::optional<std::string>(); });
      return true;
    });
    p.to_a->set_filter([this](PeerSignal& s) {
      if (s.kind != PeerSignal::Kind::IceCandidate) {
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
    relay_.set_b(udp::endpoint(boost::asio::ip::make_address(f[4]), static_cast<std::uint16_t>(std::stoi(f[5]))));
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

/// Message `seq` of a lane: its size follows from seq, it starts with seq, the rest is a pattern
/// seeded by seq; so any truncation, mix-up or damage shows.
inline Bytes numbered(std::uint32_t seq, std::size_t size) {
  Bytes b = pattern(size, static_cast<std::uint8_t>(seq * 7));
  for (int i = 0; i < 4; ++i) b[i] = static_cast<std::uint8_t>(seq >> (24 - 8 * i));
  return b;
}
inline std::optional<std::uint32_t> seq_of(const Bytes& b) {
  if (b.size() < 4) return std::nullopt;
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

struct Lane {
  PayloadType pt;
  std::uint32_t first, count;
  std::size_t (*size)(std::uint32_t seq);
};

struct SendReport {
  int failed = 0;
  Clock::duration longest{};
};

/// Sends a lane's messages one after another; a failure is counted, not retried.
inline boost::asio::awaitable<SendReport> send_all(std::shared_ptr<WebRtcWire> w, Lane lane) {
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
inline boost::asio::awaitable<void> markers(std::shared_ptr<WebRtcWire> w, std::uint32_t first,
                                           std::shared_ptr<std::atomic<bool>> on) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
  auto l = w->get_lane(PayloadType::StreamLatencyFirst);
  for (auto s = first; *on && l; ++s) {
    (void)co_await (*l)->send(numbered(s, 16));
    t.expires_after(std::chrono::milliseconds(200));
    (void)co_await t.async_wait(detail::use_ec);
  }
}

/// B's messages of class `pt` with seq in [first, first + count), in arrival order; each must be
/// exactly what was sent.
inline std::vector<std::uint32_t> received(const Inbox& in, const Lane& lane) {
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
inline std::size_t count_of(const Inbox& in, const Lane& lane) {
  return static_cast<std::size_t>(std::count_if(in.frames.begin(), in.frames.end(), [&](const Frame& f) {
    auto s = seq_of(f.data);
    return f.pt == lane.pt && s && *s >= lane.first && *s < lane.first + lane.count;
  }));
}

/// Sends the `latency`, `rpc` and `stream` lanes from A at once; after its last message the
/// latency-first sender sends `fence` markers until one arrives, so everything before them on that
/// DataChannel has crossed the path at least once. Runs `io` (calling `each()` after every
/// handler) until both reliable lanes have fully arrived at B and a marker has; aborts past
/// `limit`. Returns the reports of latency, rpc and stream, in that order.
template <class Each>
std::array<SendReport, 3> send_lanes_until_delivered(boost::asio::io_context& io, WirePair& p, const Lane& latency,
                                                     const Lane& rpc, const Lane& stream, const Lane& fence, Each each,
                                                     std::chrono::milliseconds limit) {
  namespace asio = boost::asio;
  auto done = [](auto& f) { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; };
  auto fencing = std::make_shared<std::atomic<bool>>(true);
  auto fl = asio::co_spawn(io, [&, fencing]() -> asio::awaitable<SendReport> {
    auto rep = co_await send_all(p.a, latency);
    co_await markers(p.a, fence.first, fencing);
    co_return rep;
  }, asio::use_future);
  auto fr = asio::co_spawn(io, send_all(p.a, rpc), asio::use_future);
  auto fs = asio::co_spawn(io, send_all(p.a, stream), asio::use_future);
  run_until(io, [&] {
    each();
    return done(fr) && done(fs) && count_of(p.b_in, rpc) == rpc.count && count_of(p.b_in, stream) == stream.count &&
           count_of(p.b_in, fence) > 0;
  }, limit);
  *fencing = false;
  run_until(io, [&] { return done(fl); }, std::chrono::milliseconds(5000));
  return {fl.get(), fr.get(), fs.get()};
}

}  // namespace actr::testing
