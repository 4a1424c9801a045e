// `actr bench webrtc`, the `actr` peers: two Nodes registered with `actr signal`; the client's
// manager sets the WebRTC wire up through signaling (role negotiation, offer/answer relayed by
// the server, the node's WebRtcCoordinator), then every message is a `Node::send_chunk` on the
// measured lane (STREAM_RELIABLE / STREAM_LATENCY_FIRST) → manager → WebRTC wire, and on the far
// side the gate → the stream queue → the chunk handler (which, in echo and rtt, sends the chunk
// back the same way). Counts are asked with `Node::call`. Also the cold-start client: the time
// from the first call to a peer it never talked to until a message is delivered over WebRTC.
#include "bench_rtc.hpp"

#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/webrtc.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>

namespace actr::cli::bench {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Every server process of a run has its own id (a killed one's registration outlives it).
ActrId server_id(int index) { return *ActrId::parse(std::to_string(1000 + index) + "@101/actr:bench-rtc-server:1.0.0"); }
ActrId client_id(int index, int client) {
  return *ActrId::parse(std::to_string(5000 + index + 100000 * client) + "@101/actr:bench-rtc-client:1.0.0");
}

NodeConfig node_config(const PeerArgs& a, bool server) {
  NodeConfig c;
  c.id = server ? server_id(a.index) : client_id(a.index, a.client);
  c.signal_url = a.signal;
  c.webrtc.local_addresses = {"127.0.0.1"};
  c.webrtc.connect_timeout = 20s;
  c.listen = server;  // the server's WebSocket address is what discovery hands out (wires webrtc,ws)
  c.manager.send_timeout = 20s;
  c.wires.kinds = WireKindSet{};
  c.wires.kinds.add(WireKind::WebRtc);
  if (server || a.wires.find("ws") != std::string::npos) c.wires.kinds.add(WireKind::WebSocket);
  return c;
}

int node_server(const PeerArgs& a) {
  asio::io_context io(1);
  Node node(io.get_executor(), node_config(a, true));
  LaneCounts counts;
  std::uint64_t webrtc_seen = 0;
  node.on_request([&](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
    std::string s = req.payload();
    if (req.route_key() == "bench.Count") s = counts.text();
    if (req.route_key() == "bench.First") {
      // Cold start: when this request arrived, and whether it came over WebRTC. Its clients call
      // one at a time and nothing else reaches this server then, so the WebRTC frame counter
      // moved since the previous bench.First exactly if this request rode WebRTC.
      const auto now = node.stats().frames_webrtc;
      s = std::to_string(mono_ns()) + " " + (now > webrtc_seen ? "1" : "0");
      webrtc_seen = now;
    }
    co_return Bytes(s.begin(), s.end());
  });
  node.on_chunk([&](const ActrId& from, PayloadType pt, const pb::DataStream& chunk) {
    counts.count(pt == PayloadType::StreamLatencyFirst);
    if (a.mode != "oneway") asio::co_spawn(io, node.send_chunk(from, pt, chunk), asio::detached);
  });
  auto port = node.start();
  if (!port) return 1;
  asio::signal_set stop(io, SIGTERM, SIGINT);
  stop.async_wait([&](const boost::system::error_code&, int) {
    asio::co_spawn(io, node.stop(), [&](std::exception_ptr) { io.stop(); });
  });
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto r = co_await node.wait_registered(RtcClock::now() + 20s);
    if (r) print_port(*port);  // ready: registered, so discoverable
    else std::fprintf(stderr, "bench server: not registered: %s\n", r.error().message().c_str());
  }, asio::detached);
  io.run();
  WebRtcRuntime::process_default()->shutdown();
  quiesce_gstreamer();
  return 0;
}

// Table cells. The first call sets the WebRTC wire up and is timed as the connect.
asio::awaitable<Measured> node_cell(Node& node, const PeerArgs& a, std::uint64_t& echoes, Waker& waker) {
  Measured m;
  const auto to = server_id(a.index);
  const auto t0 = mono_ns();
  auto first = co_await node.call(to, "bench.Echo", {}, 20s);
  if (!first) {
    std::fprintf(stderr, "bench client: first call: %s\n", first.error().message().c_str());
    co_return m;
  }
  const double connect_ms = static_cast<double>(mono_ns() - t0) / 1e6;
  const PayloadType pt = a.lane == "latency" ? PayloadType::StreamLatencyFirst : PayloadType::StreamReliable;
  pb::DataStream chunk;
  chunk.set_stream_id("b");
  chunk.set_payload(std::string(a.size, 'x'));
  std::uint64_t seq = 0;
  RtcOps ops;
  ops.send = [&]() {
    chunk.set_sequence(++seq);
    return node.send_chunk(to, pt, chunk);
  };
  ops.counts = [&]() -> asio::awaitable<std::optional<std::array<double, 4>>> {
    auto r = co_await node.call(to, "bench.Count", {}, 5s);
    if (!r) co_return std::nullopt;
    co_return LaneCounts::parse(std::string(r->begin(), r->end()));
  };
  ops.echoes = &echoes;
  ops.waker = &waker;
  m = co_await measure_rtc(a, ops);
  m.connect_ms = connect_ms;
  co_return m;
}

// Cold start: for each of `peers` servers (registered, never contacted), calls until one is
// delivered over WebRTC; times are the server's arrival time − our first call.
asio::awaitable<nlohmann::json> node_cold(Node& node, const PeerArgs& a) {
  nlohmann::json out = nlohmann::json::array();
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (int i = 0; i < a.peers; ++i) {
    const auto to = server_id(a.index + i);
    const auto t0 = mono_ns();
    const auto give_up = RtcClock::now() + 30s;
    double first_ms = -1, first_webrtc_ms = -1;
    int calls = 0;
    std::string error;
    while (RtcClock::now() < give_up) {
      auto r = co_await node.call(to, "bench.First", {}, 20s);
      ++calls;
      if (!r) {
        error = r.error().message();
        break;
      }
      double arrival = 0, webrtc = 0;
      std::sscanf(std::string(r->begin(), r->end()).c_str(), "%lf %lf", &arrival, &webrtc);
      const double ms = (arrival - static_cast<double>(t0)) / 1e6;
      if (first_ms < 0) first_ms = ms;
      if (webrtc > 0) {
        first_webrtc_ms = ms;
        break;
      }
      pause.expires_after(1ms);  // still over WebSocket: keep sending, one call per millisecond
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    out.push_back({{"peer", i}, {"first_ms", first_ms}, {"first_webrtc_ms", first_webrtc_ms}, {"calls", calls},
                   {"error", error}});
  }
  co_return out;
}

int node_client(const PeerArgs& a) {
  asio::io_context io(1);
  Node node(io.get_executor(), node_config(a, false));
  std::uint64_t echoes = 0;
  Waker waker(io.get_executor());
  node.on_chunk([&](const ActrId&, PayloadType, const pb::DataStream&) {
    ++echoes;
    waker.wake();
  });
  if (!node.start()) return 1;
  Measured m;
  nlohmann::json cold;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto reg = co_await node.wait_registered(RtcClock::now() + 20s);
        if (!reg) std::fprintf(stderr, "bench client: not registered: %s\n", reg.error().message().c_str());
        else if (a.mode == "cold") cold = co_await node_cold(node, a);
        else m = co_await node_cell(node, a, echoes, waker);
        co_await node.stop();
      },
      [&](std::exception_ptr e) {
        io.stop();
        if (e) std::rethrow_exception(e);
      });
  io.run();
  WebRtcRuntime::process_default()->shutdown();
  quiesce_gstreamer();
  if (a.mode == "cold") {
    std::printf("COLD %s\n", cold.dump().c_str());
    std::fflush(stdout);
    return cold.is_array() && !cold.empty() ? 0 : 1;
  }
  print_result(a, m);
  return m.msgs > 0 ? 0 : 1;
}

}  // namespace

int run_rtc_node_peer(const PeerArgs& a) { return a.role == "server" ? node_server(a) : node_client(a); }

}  // namespace actr::cli::bench
