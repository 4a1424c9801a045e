// `actr bench webrtc`, our side: the measuring routine shared by our clients, and the `wire`
// peers — one `make_webrtc_wire` per process (client = offerer, server = answerer), signals
// carried over the cell's SignalPipe as JSON lines. Data rides STREAM_RELIABLE (lane reliable)
// or STREAM_LATENCY_FIRST (lane latency); the count query rides RPC_SIGNAL.
#include "bench_pipe.hpp"
#include "bench_rtc.hpp"

#include <actr/error.hpp>
#include <actr/webrtc.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <cstdio>
#include <sstream>

namespace actr::cli::bench {

namespace asio = boost::asio;
using namespace std::chrono_literals;

std::int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(RtcClock::now().time_since_epoch()).count();
}

void LaneCounts::count(bool latency) {
  if (latency) {
    ++lat;
    lat_last = mono_ns();
  } else {
    ++rel;
    rel_last = mono_ns();
  }
}

std::string LaneCounts::text() const {
  return std::to_string(rel) + " " + std::to_string(rel_last) + " " + std::to_string(lat) + " " +
         std::to_string(lat_last);
}

std::optional<std::array<double, 4>> LaneCounts::parse(const std::string& s) {
  std::array<double, 4> v{};
  std::istringstream in(s);
  for (auto& x : v)
    if (!(in >> x)) return std::nullopt;
  return v;
}

asio::awaitable<Measured> measure_rtc(const PeerArgs& a, RtcOps& ops) {
  Measured m;
  const bool lat = a.lane == "latency";
  const auto dur = std::chrono::duration_cast<RtcClock::duration>(std::chrono::duration<double>(a.seconds));
  const std::uint64_t& got = *ops.echoes;
  Waker& w = *ops.waker;
  if (a.mode == "rtt") {
    const auto patience = lat ? RtcClock::duration(200ms) : RtcClock::duration(5s);
    for (int i = 0; i < kRttWarmup; ++i) {
      const auto want = got + 1;
      auto r = co_await ops.send();
      if (!r) co_return m;
      (void)co_await w.until([&] { return got >= want; }, RtcClock::now() + patience);
    }
    std::vector<double> us;
    const auto t0 = RtcClock::now(), end = t0 + dur;
    while (RtcClock::now() < end) {
      const auto want = got + 1;
      const auto t = RtcClock::now();
      auto r = co_await ops.send();
      if (!r) break;
      const bool back = co_await w.until([&] { return got >= want; }, RtcClock::now() + patience);
      if (back) us.push_back(std::chrono::duration<double, std::micro>(RtcClock::now() - t).count());
      else if (lat) ++m.lost;
      else break;  // a reliable echo never came: a failed run
    }
    m.secs = std::chrono::duration<double>(RtcClock::now() - t0).count();
    m.msgs = static_cast<double>(us.size());
    m.p50_us = percentile_us(us, 0.5);
    m.p99_us = percentile_us(us, 0.99);
  } else if (a.mode == "echo") {
    std::uint64_t sent = 0;
    const auto base = got;
    const auto t0 = RtcClock::now(), end = t0 + dur;
    while (RtcClock::now() < end) {
      const bool room = co_await w.until([&] { return sent - (got - base) < a.window; }, RtcClock::now() + 5s);
      if (!room) break;
      auto r = co_await ops.send();
      if (!r) break;
      ++sent;
    }
    const bool drained = co_await w.until([&] { return got - base == sent; }, RtcClock::now() + 10s);
    m.secs = std::chrono::duration<double>(RtcClock::now() - t0).count();
    m.msgs = drained ? static_cast<double>(sent) : -1;
  } else {  // oneway
    const auto t0 = mono_ns();
    const auto start = RtcClock::now(), end = start + dur;
    asio::steady_timer tick(co_await asio::this_coro::executor);
    while (RtcClock::now() < end) {
      if (a.rate > 0 &&
          m.sent >= static_cast<double>(due(a.rate, std::chrono::duration<double>(RtcClock::now() - start).count()))) {
        tick.expires_after(1ms);
        co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      auto r = co_await ops.send();
      if (!r) break;
      ++m.sent;
    }
    const std::size_t at = lat ? 2 : 0;
    double last_count = -1;
    asio::steady_timer pause(co_await asio::this_coro::executor);
    const auto give_up = RtcClock::now() + 10s;
    for (int quiet = 0; quiet < 3 && RtcClock::now() < give_up;) {  // all arrived, or (lossy lane) the count stopped
      auto v = co_await ops.counts();
      if (!v) break;
      quiet = lat && (*v)[at] == last_count ? quiet + 1 : 0;
      last_count = (*v)[at];
      m.msgs = last_count;
      m.secs = ((*v)[at + 1] - static_cast<double>(t0)) / 1e9;
      if (last_count >= m.sent) break;
      pause.expires_after(lat ? 50ms : 5ms);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (!lat && m.msgs != m.sent) m.msgs = -1;  // the reliable lane lost a message: a failed run
  }
  co_return m;
}

namespace {

nlohmann::json to_json(const PeerSignal& s) {
  nlohmann::json j{{"kind", static_cast<int>(s.kind)}, {"sdp", s.sdp},         {"x", s.sdp_exchange_id},
                   {"c", s.candidate},                 {"reason", s.reason}};
  if (s.sdp_mid) j["mid"] = *s.sdp_mid;
  if (s.sdp_mline_index) j["m"] = *s.sdp_mline_index;
  if (s.username_fragment) j["uf"] = *s.username_fragment;
  return j;
}

PeerSignal from_json(const nlohmann::json& j) {
  PeerSignal s;
  s.kind = static_cast<PeerSignal::Kind>(j.value("kind", 0));
  s.sdp = j.value("sdp", "");
  s.sdp_exchange_id = j.value("x", std::string{});
  s.candidate = j.value("c", "");
  s.reason = j.value("reason", "");
  if (j.contains("mid")) s.sdp_mid = j["mid"].get<std::string>();
  if (j.contains("m")) s.sdp_mline_index = j["m"].get<std::uint32_t>();
  if (j.contains("uf")) s.username_fragment = j["uf"].get<std::string>();
  return s;
}

// Our signals, out over the pipe (blocking write of one small line; the pipe serialises them).
class PipeSink : public PeerSignalSink {
 public:
  explicit PipeSink(SignalPipe& p) : pipe_(p) {}
  asio::awaitable<Result<void>> send_signal(const ActrId&, PeerSignal s) override {
    if (!pipe_.send(to_json(s))) co_return make_error_code(NetworkError::ConnectionClosed);
    co_return ok();
  }

 private:
  SignalPipe& pipe_;
};

ActrId wire_id(std::uint64_t serial) { return *ActrId::parse(std::to_string(serial) + "@101/actr:bench-rtc:1.0.0"); }

WebRtcConfig loopback() {
  WebRtcConfig c;
  c.local_addresses = {"127.0.0.1"};
  c.connect_timeout = 20s;  // the first DTLS certificate of a process is slow under ASan
  return c;
}

int run_wire_peer(const PeerArgs& a) {
  asio::io_context io(1);
  const bool server = a.role == "server";
  SignalPipe pipe;
  if (server) {
    auto p = SignalPipe::listen();
    if (!p) return 1;
    pipe = std::move(*p);
    print_port(pipe.port());
    if (!pipe.accept()) return 1;
  } else {
    auto p = SignalPipe::connect(a.port);
    if (!p) return 1;
    pipe = std::move(*p);
  }
  const PayloadType data_pt = a.lane == "latency" ? PayloadType::StreamLatencyFirst : PayloadType::StreamReliable;
  LaneCounts counts;
  std::uint64_t echoes = 0;
  Waker waker(io.get_executor());
  std::string reply;  // client: the server's last count reply
  FrameHandler on_frame = [&](const std::shared_ptr<WireHandle>& w, const ActrId&, PayloadType pt,
                              ConstBytes b) -> asio::awaitable<Result<void>> {
    if (!server) {
      if (pt == PayloadType::RpcSignal) reply.assign(b.begin(), b.end());
      else ++echoes;
      waker.wake();
      co_return ok();
    }
    if (pt == PayloadType::RpcSignal) {
      const auto s = counts.text();
      co_return co_await (*w->get_lane(PayloadType::RpcSignal))->send(Bytes(s.begin(), s.end()));
    }
    counts.count(pt == PayloadType::StreamLatencyFirst);
    if (a.mode == "oneway") co_return ok();
    auto lane = w->get_lane(pt);
    // The answerer can be handed a message before it is open itself (the offerer opens first and
    // sends at once, while our last channel is still being announced): wait for it, ≤ 5 s.
    asio::steady_timer retry(io);
    for (int i = 0; !lane && lane.error() == make_error_code(NetworkError::DataChannelNotOpen) && i < 5000; ++i) {
      retry.expires_after(1ms);
      co_await retry.async_wait(asio::as_tuple(asio::use_awaitable));
      lane = w->get_lane(pt);
    }
    if (!lane) co_return lane.error();
    co_return co_await (*lane)->send(b);  // echo
  };
  auto wire = make_webrtc_wire(io.get_executor(), loopback(), wire_id(server ? 2 : 1), wire_id(server ? 1 : 2),
                               !server, std::make_shared<PipeSink>(pipe), on_frame);
  auto gone = [&] {  // the client closed the pipe: the cell is over
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { co_await wire->close(); }, [&](std::exception_ptr) { io.stop(); });
  };
  pipe.start([wire](nlohmann::json j) { wire->handle_signal(from_json(j)); },
             [&] { asio::post(io, gone); });
  Measured m;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const auto t0 = mono_ns();
        auto c = co_await wire->connect();
        if (!c) {
          std::fprintf(stderr, "wire peer: connect: %s\n", c.error().message().c_str());
          if (server) io.stop();
          co_return;
        }
        if (server) co_return;  // serves from the frame handler until the pipe closes
        m.connect_ms = static_cast<double>(mono_ns() - t0) / 1e6;
        auto data = wire->get_lane(data_pt);
        auto control = wire->get_lane(PayloadType::RpcSignal);
        if (!data || !control) co_return;
        const Bytes payload(a.size, 0x78), ask{'?'};
        RtcOps ops;
        ops.send = [&]() { return (*data)->send(payload); };
        ops.counts = [&]() -> asio::awaitable<std::optional<std::array<double, 4>>> {
          reply.clear();
          auto r = co_await (*control)->send(ask);
          if (!r) co_return std::nullopt;
          const bool answered = co_await waker.until([&] { return !reply.empty(); }, RtcClock::now() + 5s);
          co_return answered ? LaneCounts::parse(reply) : std::nullopt;
        };
        ops.echoes = &echoes;
        ops.waker = &waker;
        const auto connect_ms = m.connect_ms;
        m = co_await measure_rtc(a, ops);
        m.connect_ms = connect_ms;
        co_await wire->close();
      },
      [&](std::exception_ptr e) {
        if (!server) io.stop();
        if (e) std::rethrow_exception(e);
      });
  io.run();
  if (!server) print_result(a, m);
  pipe.close();  // client: the server sees EOF and ends; both: joins the reader
  wire.reset();
  WebRtcRuntime::process_default()->shutdown();
  quiesce_gstreamer();
  return server || m.msgs > 0 ? 0 : 1;
}

}  // namespace

int run_rtc_peer(const PeerArgs& a) {
  pin(a.cpu);  // before any thread starts: GStreamer's threads inherit the mask
  if (a.impl == "rtc-wire") return run_wire_peer(a);
  return run_rtc_node_peer(a);
}

}  // namespace actr::cli::bench
