// Opt-in measurements of the WebRTC wire on loopback (ACTR_WEBRTC_MEASURE=1): time to connect,
// round trip of 1 KiB, one-way throughput of 64 KiB and 16 MiB messages. Prints, asserts nothing
// about speed (the numbers belong in docs, with the build they came from). Each phase runs inside
// one coroutine: run_co's polling slices would otherwise dominate a sub-millisecond round trip.
#include "webrtc/webrtc_pair.hpp"

#include <actr/detail/notifier.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {
double ms_since(Deadline t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// A echoes nothing; B echoes RPC_RELIABLE back to A and only counts the rest.
struct Bench {
  asio::io_context& io;
  std::shared_ptr<PipeSink> to_b = std::make_shared<PipeSink>(), to_a = std::make_shared<PipeSink>();
  std::shared_ptr<WebRtcWire> a, b;
  detail::Notifier a_got, b_got;
  std::uint64_t a_count = 0, b_count = 0;

  explicit Bench(asio::io_context& ctx) : io(ctx) {
    a = make_webrtc_wire(io.get_executor(), loopback_config(), actor_id(1), actor_id(2), true, to_b,
                         [this](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType, ConstBytes) -> asio::awaitable<Result<void>> {
                           ++a_count;
                           a_got.notify();
                           co_return ok();
                         });
    b = make_webrtc_wire(io.get_executor(), loopback_config(), actor_id(2), actor_id(1), false, to_a,
                         [this](const std::shared_ptr<WireHandle>& w, const ActrId&, PayloadType pt, ConstBytes data) -> asio::awaitable<Result<void>> {
                           ++b_count;
                           b_got.notify();
                           if (pt == PayloadType::RpcReliable) {
                             auto lane = w->get_lane(pt);
                             if (lane) co_return co_await (*lane)->send(data);
                           }
                           co_return ok();
                         });
    to_b->connect_to(b);
    to_a->connect_to(a);
  }
  ~Bench() {
    run_co(io, a->close());
    run_co(io, b->close());
  }
};
}  // namespace

TEST(WebRtcMeasure, ConnectRoundTripThroughput) {
  if (!std::getenv("ACTR_WEBRTC_MEASURE")) GTEST_SKIP() << "set ACTR_WEBRTC_MEASURE=1";
  asio::io_context io;
  for (int i = 0; i < 6; ++i) {  // the first one pays for the process's DTLS certificate
    WirePair p(io, 10 + static_cast<std::uint64_t>(i), 100);
    const auto t0 = Clock::now();
    auto r = run_co(io, [&]() -> asio::awaitable<Result<void>> { co_return co_await p.a->connect(); }());
    ASSERT_TRUE(r);
    std::printf("connect #%d (offer out -> 4 channels open): %.1f ms\n", i, ms_since(t0));
  }
  Bench bn(io);
  ASSERT_TRUE(run_co(io, bn.a->connect()));
  run_until(io, [&] { return bn.b->is_connected(); });
  auto lane = *bn.a->get_lane(PayloadType::RpcReliable);
  auto rtt = run_co(io, [&]() -> asio::awaitable<std::vector<double>> {
    std::vector<double> out;
    const Bytes kib(1024, 0x5a);
    for (int i = 0; i < 2000; ++i) {
      const auto seen = bn.a_got.version();
      const auto t0 = Clock::now();
      (void)co_await lane->send(kib);
      (void)co_await bn.a_got.async_wait_change(seen, Clock::now() + 10s);
      if (i >= 200) out.push_back(ms_since(t0) * 1000.0);
    }
    co_return out;
  }(), 120000ms);
  std::sort(rtt.begin(), rtt.end());
  std::printf("1 KiB round trip (RPC_RELIABLE, %zu samples): p50 %.0f us, p99 %.0f us\n", rtt.size(),
              rtt[rtt.size() / 2], rtt[rtt.size() * 99 / 100]);
  auto stream = *bn.a->get_lane(PayloadType::StreamReliable);
  for (std::size_t size : {std::size_t{1024}, std::size_t{64} << 10, std::size_t{16} << 20}) {
    const int count = size > (1u << 20) ? 4 : (size > 4096 ? 512 : 20000);
    const auto secs = run_co(io, [&]() -> asio::awaitable<double> {
      const Bytes msg(size, 0x33);
      const auto base = bn.b_count;
      const auto t0 = Clock::now();
      for (int i = 0; i < count; ++i) (void)co_await stream->send(msg);
      while (bn.b_count < base + static_cast<std::uint64_t>(count)) {
        const auto seen = bn.b_got.version();
        if (bn.b_count >= base + static_cast<std::uint64_t>(count)) break;
        (void)co_await bn.b_got.async_wait_change(seen, Clock::now() + 10s);
      }
      co_return ms_since(t0) / 1000.0;
    }(), 300000ms);
    std::printf("one-way %zu B x %d (STREAM_RELIABLE): %.2f s, %.0f msg/s, %.1f MiB/s\n", size, count, secs,
                count / secs, static_cast<double>(size) * count / secs / (1 << 20));
  }
}
