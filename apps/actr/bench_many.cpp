// `actr bench ws --peers N`, the many-peers cell (issue 12): N live WebSocket peers, each its own
// connection and ActrId, stream 64 B tells at one `actr` Node (the same server as the actr
// column); the aggregate rate and the server's memory per connection are measured. The client
// side is the bare wire (one process cannot host 1,000 Nodes cheaply), so the number is the
// server's: its gate, receive path and dispatch across N connections.
#include "bench.hpp"

#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/websocket.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

namespace actr::cli::bench {

namespace asio = boost::asio;

double rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6));
  return 0;
}

namespace {
using Clock = std::chrono::steady_clock;

Bytes envelope(pb::Direction dir, const std::string& route, const std::string& id, std::size_t size) {
  pb::RpcEnvelope env;
  env.set_route_key(route);
  env.set_request_id(id);
  env.set_direction(dir);
  env.set_timeout_ms(dir == pb::DIRECTION_REQUEST ? 10000 : 0);
  env.set_payload(std::string(size, 'x'));
  Bytes b(env.ByteSizeLong());
  env.SerializeToArray(b.data(), static_cast<int>(b.size()));
  return b;
}

asio::awaitable<Measured> many_client(asio::io_context& io, const PeerArgs& a, const ActrId& server) {
  Measured m;
  const auto url = "ws://127.0.0.1:" + std::to_string(a.port) + "/";
  std::optional<std::uint64_t> counted;
  asio::steady_timer wake(io, Clock::time_point::max());
  FrameHandler on_frame = [&](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType,
                              ConstBytes b) -> asio::awaitable<Result<void>> {
    pb::RpcEnvelope env;
    if (env.ParseFromArray(b.data(), static_cast<int>(b.size())) && env.direction() == pb::DIRECTION_RESPONSE)
      counted = std::stoull(env.payload());
    wake.cancel();
    co_return ok();
  };
  // Each peer keeps at most 16 KiB queued (its sends wait for room), so N peers hold no more than
  // one does by much, and the server's backlog (which the run waits out) stays bounded. Keepalive
  // is long: the only inbound traffic is pongs, which queue behind the server's backlog.
  WebSocketConfig cfg;
  cfg.send_queue_bytes = 16 * 1024;
  cfg.keepalive_interval = std::chrono::seconds(60);
  const double rss0 = rss_kib(a.server_pid);
  std::vector<std::shared_ptr<WireHandle>> wires;
  for (int i = 0; i < a.peers; ++i) {
    auto id = *ActrId::parse(std::to_string(0x10000 + i) + "@101/actr:bench-many:1.0.0");
    wires.push_back(make_websocket_client(io.get_executor(), url, id, server, cfg, on_frame));
    auto c = co_await wires.back()->connect();
    if (!c) co_return m;
  }
  m.rss_kib_per_peer = a.peers > 0 ? (rss_kib(a.server_pid) - rss0) / a.peers : 0;
  const Bytes tell = envelope(pb::DIRECTION_TELL, "bench.Sink", "t", a.size);
  std::uint64_t sent = 0;
  int running = a.peers;
  const auto t0 = Clock::now(), end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  for (auto& w : wires)
    asio::co_spawn(
        io,
        [&, lane = *w->get_lane(PayloadType::RpcReliable)]() -> asio::awaitable<void> {
          while (Clock::now() < end) {
            auto r = co_await lane->send(tell);
            if (!r) break;
            ++sent;
          }
        },
        [&](std::exception_ptr) {
          if (--running == 0) wake.cancel();
        });
  while (running > 0) {
    wake.expires_at(Clock::time_point::max());
    (void)co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  // Ask (on the first connection) until the server has counted every tell of every connection.
  auto control = *wires.front()->get_lane(PayloadType::RpcReliable);
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  for (int k = 0; Clock::now() < give_up; ++k) {
    counted.reset();
    auto asked = co_await control->send(envelope(pb::DIRECTION_REQUEST, "bench.Count", "count-" + std::to_string(k), 0));
    if (!asked) co_return m;
    while (!counted && Clock::now() < give_up) {
      wake.expires_at(Clock::now() + std::chrono::seconds(1));
      (void)co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (counted && *counted >= sent) break;
  }
  m.secs = std::chrono::duration<double>(Clock::now() - t0).count();
  m.msgs = counted && *counted == sent ? static_cast<double>(sent) : -1;
  if (m.msgs < 0) {
    const auto down = std::count_if(wires.begin(), wires.end(), [](const auto& w) { return !w->is_connected(); });
    std::fprintf(stderr, "actr bench ws --peers: the server counted %s of %llu tells; %lld of %d connections down\n",
                 counted ? std::to_string(*counted).c_str() : "none", static_cast<unsigned long long>(sent),
                 static_cast<long long>(down), a.peers);
  }
  for (auto& w : wires) co_await w->close();
  co_return m;
}
}  // namespace

int run_many_peer(const PeerArgs& a, const std::string& server_id) {
  const auto server = *ActrId::parse(server_id);
  pin(a.cpu);
  asio::io_context io(1);
  Measured m;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { m = co_await many_client(io, a, server); },
                 [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();
  print_result(a, m);
  return m.msgs > 0 ? 0 : 1;
}

}  // namespace actr::cli::bench
