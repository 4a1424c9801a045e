#pragma once
// `actr bench webrtc`, our side (impls `wire` and `actr`): what both peers' clients share — one
// measuring routine over "send one message on the lane" and "ask the server for its counts",
// driven on a single-threaded io_context.

#include "bench.hpp"

#include <actr/result.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace actr::cli::bench {

using RtcClock = std::chrono::steady_clock;

/// CLOCK_MONOTONIC in ns: the same clock in every process of the machine, so a server's arrival
/// times compare with a client's send times.
std::int64_t mono_ns();

/// The server's counts as text, "REL_COUNT REL_LAST_NS LAT_COUNT LAT_LAST_NS" (the last arrival).
struct LaneCounts {
  std::uint64_t rel = 0, lat = 0;
  std::int64_t rel_last = 0, lat_last = 0;
  void count(bool latency);
  std::string text() const;
  static std::optional<std::array<double, 4>> parse(const std::string& s);
};

/// Wakes the measuring coroutine when something arrived (single-threaded context only).
class Waker {
 public:
  explicit Waker(boost::asio::any_io_executor ex) : t_(ex, RtcClock::time_point::max()) {}
  void wake() { t_.cancel(); }
  /// Waits until `pred()` holds (true) or `deadline` passes (false).
  template <class Pred>
  boost::asio::awaitable<bool> until(Pred pred, RtcClock::time_point deadline) {
    while (!pred()) {
      if (RtcClock::now() >= deadline) co_return false;
      t_.expires_at(deadline);
      co_await t_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    co_return true;
  }

 private:
  boost::asio::steady_timer t_;
};

/// What the measuring routine needs from one implementation's client.
struct RtcOps {
  std::function<boost::asio::awaitable<Result<void>>()> send;  ///< one message on the measured lane
  std::function<boost::asio::awaitable<std::optional<std::array<double, 4>>>()> counts;  ///< the server's
  const std::uint64_t* echoes = nullptr;  ///< messages back from the server (the handler wakes `waker`)
  Waker* waker = nullptr;
};

/// One cell's measurement (mode and lane from `a`), the same for every impl of ours and the same
/// rules as the raw baseline: rtt = one in flight after kRttWarmup (latency-first: a ping without
/// an answer in 200 ms counts as lost); echo = `window` in flight (reliable lane); oneway = send
/// for the duration, rate = the server's count / (its last arrival − our first send).
boost::asio::awaitable<Measured> measure_rtc(const PeerArgs& a, RtcOps& ops);

/// The `actr` peers (Node through `actr signal`): table cells (modes oneway/echo/rtt) and the
/// cold-start client (mode cold).
int run_rtc_node_peer(const PeerArgs& a);

}  // namespace actr::cli::bench
