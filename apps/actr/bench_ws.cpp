// `actr bench ws`: the orchestrator (spawns each cell's server and client as pinned child
// processes, collects their results, prints ratios) and the `actr` peer, which measures the real
// stack: Node → OutprocTransportManager → WebSocket wire, and the gate → dispatch on the far side.
#include "bench.hpp"
#include "commands.hpp"
#include "process.hpp"

#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/websocket.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <nlohmann/json.hpp>

#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

namespace actr::cli {

namespace asio = boost::asio;

namespace bench {

void pin(int cpu, int pid) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(pid, sizeof set, &set) != 0) std::perror("sched_setaffinity");
}

void print_port(std::uint16_t port) {
  std::printf("port %u\n", port);
  std::fflush(stdout);
}

void print_result(const PeerArgs& a, const Measured& m) {
  nlohmann::json j{{"impl", a.impl},     {"mode", a.mode},     {"size", a.size},     {"msgs", m.msgs},
                   {"secs", m.secs},     {"p50_us", m.p50_us}, {"p99_us", m.p99_us}, {"sent", m.sent},
                   {"lost", m.lost},     {"connect_ms", m.connect_ms}, {"rss_kib_per_peer", m.rss_kib_per_peer}};
  std::printf("RESULT %s\n", j.dump().c_str());
  std::fflush(stdout);
}

double percentile_us(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

std::size_t parse_size(const std::string& s) {
  std::size_t v = std::stoull(s);
  if (!s.empty() && (s.back() == 'k' || s.back() == 'K')) v *= 1024;
  return v;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string fmt_rate(double per_s, std::size_t size) {
  char b[64];
  int n = per_s < 1e3    ? std::snprintf(b, sizeof b, "%.0f/s", per_s)
          : per_s < 10e3 ? std::snprintf(b, sizeof b, "%.1fk/s", per_s / 1e3)
                         : std::snprintf(b, sizeof b, "%.0fk/s", per_s / 1e3);
  if (size >= 16 * 1024)
    std::snprintf(b + n, sizeof b - static_cast<std::size_t>(n), " %.0fMiB/s", per_s * static_cast<double>(size) / (1 << 20));
  return b;
}

bool placement_cpus(const std::string& placement, int& server_cpu, int& client_cpu) {
  server_cpu = client_cpu = -1;
  if (placement == "same") server_cpu = client_cpu = 0;
  else if (placement == "split") server_cpu = 1, client_cpu = 0;
  else if (placement != "free") return false;
  return true;
}

namespace {
const char* kServerId = "b5e@101/actr:bench-server:1.0.0";
const char* kClientId = "b5c@101/actr:bench-client:1.0.0";

asio::awaitable<Measured> actr_client(Node& node, const PeerArgs& a) {
  const auto to = *ActrId::parse(kServerId);
  const Bytes payload(a.size, 0x78);
  const auto timeout = std::chrono::milliseconds(10000);
  Measured m;
  const auto t0 = Clock::now(), end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  if (a.mode == "oneway") {
    // Tells complete once queued on the connection: the writer packs them. The receiver's count
    // (asked over the same ordered lane) says when all of them were delivered.
    std::uint64_t sent = 0;
    while (Clock::now() < end) {
      auto r = co_await node.tell(to, "bench.Sink", payload);
      if (!r) co_return m;
      ++sent;
    }
    // The receiver may still be draining a backlog (slow builds): ask until it has them all.
    const auto drain_limit = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < drain_limit) {
      auto c = co_await node.call(to, "bench.Count", {}, timeout);
      if (!c) co_return m;
      const auto got = std::stoull(std::string(c->begin(), c->end()));
      if (got >= sent) {
        m.msgs = static_cast<double>(sent);
        break;
      }
    }
    m.secs = std::chrono::duration<double>(Clock::now() - t0).count();
  } else if (a.mode == "echo") {
    std::uint64_t done = 0, failed = 0;
    auto lane = [&]() -> asio::awaitable<void> {
      while (Clock::now() < end) {
        auto r = co_await node.call(to, "bench.Echo", payload, timeout);
        ++(r && r->size() == a.size ? done : failed);
      }
    };
    // `window` calls in flight at all times. The lanes start only once this coroutine is
    // suspended on `all_done` (single-threaded context), so its cancel cannot come too early.
    auto ex = co_await asio::this_coro::executor;
    std::size_t running = a.window;
    asio::steady_timer all_done(ex, Clock::time_point::max());
    for (std::size_t i = 0; i < a.window; ++i)
      asio::co_spawn(ex, lane(), [&](std::exception_ptr) {
        if (--running == 0) all_done.cancel();
      });
    co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    m.secs = std::chrono::duration<double>(Clock::now() - t0).count();
    m.msgs = failed == 0 ? static_cast<double>(done) : -1;
  } else {
    std::vector<double> us;
    for (int i = 0; i < 200; ++i) (void)co_await node.call(to, "bench.Echo", payload, timeout);
    const auto s0 = Clock::now();
    while (Clock::now() < end + (s0 - t0)) {
      const auto t = Clock::now();
      auto r = co_await node.call(to, "bench.Echo", payload, timeout);
      if (!r) co_return m;
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
    m.secs = std::chrono::duration<double>(Clock::now() - s0).count();
    m.msgs = static_cast<double>(us.size());
    m.p50_us = percentile_us(us, 0.5);
    m.p99_us = percentile_us(us, 0.99);
  }
  co_return m;
}
// ---- the wire alone: WebSocket wire + gate, no Node / manager above it -------------------------
// Control frames ride RPC_SIGNAL ("count?" → decimal count). Data to be echoed rides
// STREAM_RELIABLE; one-way data rides RPC_RELIABLE and is only counted (the server echoed it too,
// which made the wire's one-way cell carry twice the bytes of raw Beast's).

asio::awaitable<Measured> wire_client(asio::io_context& io, const PeerArgs& a) {
  Measured m;
  std::uint64_t got = 0;
  std::optional<std::uint64_t> counted;
  asio::steady_timer wake(io, Clock::time_point::max());
  WebSocketConfig cfg;
  auto wire = make_websocket_client(
      io.get_executor(), "ws://127.0.0.1:" + std::to_string(a.port) + "/", *ActrId::parse(kClientId),
      *ActrId::parse(kServerId), cfg,
      [&](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType pt, ConstBytes b) -> asio::awaitable<Result<void>> {
        if (pt == PayloadType::RpcSignal) counted = std::stoull(std::string(b.begin(), b.end()));
        else ++got;
        wake.cancel();
        co_return ok();
      });
  auto c = co_await wire->connect();
  if (!c) co_return m;
  auto data = *wire->get_lane(PayloadType::StreamReliable);
  auto control = *wire->get_lane(PayloadType::RpcSignal);
  auto sink = *wire->get_lane(PayloadType::RpcReliable);
  const Bytes payload(a.size, 0x78), ask{'?'};
  auto wait_for = [&](auto pred) -> asio::awaitable<void> {
    while (!pred()) {
      wake.expires_at(Clock::time_point::max());
      co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  };
  const auto t0 = Clock::now(), end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  if (a.mode == "oneway") {
    std::uint64_t sent = 0;
    while (Clock::now() < end) {
      auto r = co_await sink->send(payload);
      if (!r) co_return m;
      ++sent;
    }
    (void)co_await control->send(ask);
    co_await wait_for([&] { return counted.has_value(); });
    m.secs = std::chrono::duration<double>(Clock::now() - t0).count();
    m.msgs = *counted == sent ? static_cast<double>(sent) : -1;
  } else if (a.mode == "echo") {
    std::uint64_t sent = 0;
    while (Clock::now() < end) {
      co_await wait_for([&] { return sent - got < a.window; });
      (void)co_await data->send(payload);
      ++sent;
    }
    co_await wait_for([&] { return got == sent; });
    m.secs = std::chrono::duration<double>(Clock::now() - t0).count();
    m.msgs = static_cast<double>(got);
  } else {
    std::vector<double> us;
    std::uint64_t sent = 0;
    while (Clock::now() < end) {
      const auto t = Clock::now();
      (void)co_await data->send(payload);
      ++sent;
      co_await wait_for([&] { return got == sent; });
      if (sent > 10) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
    m.secs = std::chrono::duration<double>(Clock::now() - t0).count();
    m.msgs = static_cast<double>(us.size());
    m.p50_us = percentile_us(us, 0.5);
    m.p99_us = percentile_us(us, 0.99);
  }
  co_await wire->close();
  co_return m;
}

int run_wire_peer(const PeerArgs& a) {
  asio::io_context io(1);
  if (a.role == "server") {
    std::uint64_t sunk = 0;
    WebSocketServer server(
        io.get_executor(), WebSocketConfig{},
        [&](const std::shared_ptr<WireHandle>& w, const ActrId&, PayloadType pt, ConstBytes b) -> asio::awaitable<Result<void>> {
          if (pt == PayloadType::RpcSignal) {
            const auto s = std::to_string(sunk);
            co_return co_await (*w->get_lane(PayloadType::RpcSignal))->send(Bytes(s.begin(), s.end()));
          }
          ++sunk;
          if (pt == PayloadType::RpcReliable) co_return ok();  // one-way: counted only
          co_return co_await (*w->get_lane(PayloadType::StreamReliable))->send(b);  // echo
        },
        nullptr);
    auto port = server.listen("127.0.0.1", 0);
    if (!port) return 1;
    print_port(*port);
    io.run();
    return 0;
  }
  Measured m;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { m = co_await wire_client(io, a); },
                 [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();
  print_result(a, m);
  return m.msgs > 0 ? 0 : 1;
}

}  // namespace

int run_actr_peer(const PeerArgs& a) {
  pin(a.cpu);
  if (a.impl == "wire") return run_wire_peer(a);
  if (a.impl == "many") return run_many_peer(a, kServerId);
  asio::io_context io(1);
  NodeConfig cfg;
  cfg.id = *ActrId::parse(a.role == "server" ? kServerId : kClientId);
  cfg.listen = a.role == "server";
  cfg.wires.address_book[*ActrId::parse(kServerId)] = "ws://127.0.0.1:" + std::to_string(a.port) + "/";
  Node node(io.get_executor(), cfg);
  if (a.role == "server") {
    std::uint64_t sunk = 0;
    node.on_tell([&](const ActrId&, const pb::RpcEnvelope&) { ++sunk; });
    node.on_request([&](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
      if (req.route_key() == "bench.Count") {
        const auto s = std::to_string(sunk);
        co_return Bytes(s.begin(), s.end());
      }
      co_return Bytes(req.payload().begin(), req.payload().end());
    });
    auto port = node.start();
    if (!port) return 1;
    print_port(*port);
    io.run();  // until killed
    return 0;
  }
  (void)node.start();
  Measured m;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    m = co_await actr_client(node, a);
    co_await node.stop();
  }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();
  print_result(a, m);
  return m.msgs > 0 ? 0 : 1;
}

}  // namespace bench

namespace {

// One cell: server and client processes of `impl`, pinned per placement. The client's result.
// `peers` > 0: the many-peers cell (an actr server, the `many` client with that many peers).
std::optional<bench::Measured> run_cell(const std::string& impl, const std::string& mode, std::size_t size,
                                        const BenchArgs& a, int server_cpu, int client_cpu, int peers = 0) {
  ChildProcess server, client;
  if (!server.spawn({"--log-level", "error", "bench", "peer", "--impl", peers > 0 ? "actr" : impl, "--role", "server",
                     "--cpu", std::to_string(server_cpu)}))
    return std::nullopt;
  auto port_line = server.read_line_with("port ", std::chrono::seconds(10));
  if (!port_line) return std::nullopt;
  const auto port = port_line->substr(5);
  std::vector<std::string> args{"--log-level", "error", "bench", "peer", "--impl", impl, "--role", "client", "--mode", mode,
                                "--port", port, "--size", std::to_string(size), "--window", std::to_string(a.window),
                                "--seconds", std::to_string(a.seconds), "--cpu", std::to_string(client_cpu)};
  if (peers > 0)
    args.insert(args.end(), {"--peers", std::to_string(peers), "--server-pid", std::to_string(server.pid())});
  if (!client.spawn(args)) return std::nullopt;
  const auto deadline = std::chrono::milliseconds(static_cast<long>(a.seconds * 1000) + 30000 + peers * 20);
  auto line = client.read_line_with("RESULT ", deadline);
  (void)client.wait(std::chrono::seconds(5));
  server.kill_now();
  if (!line) return std::nullopt;
  auto j = nlohmann::json::parse(line->substr(7), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  bench::Measured m{j["msgs"].get<double>(), j["secs"].get<double>(), j["p50_us"].get<double>(), j["p99_us"].get<double>()};
  m.rss_kib_per_peer = j.value("rss_kib_per_peer", 0.0);
  if (m.msgs <= 0) return std::nullopt;
  return m;
}

// 1 peer, then `a.peers`, streaming 64 B tells at one actr Node: aggregate rate and the server's
// memory per connection. False if a cell failed.
bool run_many_peers(const BenchArgs& a, int scpu, int ccpu, nlohmann::json& out) {
  std::optional<bench::Measured> one = run_cell("many", "oneway", 64, a, scpu, ccpu, 1);
  std::optional<bench::Measured> many = run_cell("many", "oneway", 64, a, scpu, ccpu, a.peers);
  for (auto& [n, m] : {std::pair{1, one}, std::pair{a.peers, many}})
    if (m)
      out.push_back({{"impl", "actr"}, {"mode", "many_peers"}, {"peers", n}, {"size", 64}, {"placement", a.placement},
                     {"msgs", m->msgs}, {"secs", m->secs}, {"msg_per_s", m->msgs / m->secs},
                     {"rss_kib_per_peer", m->rss_kib_per_peer}});
  if (!a.json) {
    auto rate = [](const std::optional<bench::Measured>& m) { return m ? bench::fmt_rate(m->msgs / m->secs, 64) : std::string("failed"); };
    std::printf("\nmany peers (64 B tells from N WebSocket peers, each its own connection, to one actr Node):\n"
                "  1 peer %s; %d peers %s", rate(one).c_str(), a.peers, rate(many).c_str());
    if (one && many)
      std::printf(" (%.2fx the 1-peer rate); server memory %.1f KiB per connection", (many->msgs / many->secs) / (one->msgs / one->secs),
                  many->rss_kib_per_peer);
    std::printf("\n");
  }
  return one && many;
}

}  // namespace

int run_bench_ws(const BenchArgs& given) {
  BenchArgs a = given;
  if (!bench::kHaveZmq && std::find(a.impls.begin(), a.impls.end(), "zmq") != a.impls.end()) {
    std::cerr << "actr bench ws: this build has no ZeroMQ (libzmq3-dev was not found); zmq column left out\n";
    a.impls.erase(std::remove(a.impls.begin(), a.impls.end(), "zmq"), a.impls.end());
  }
  int scpu = -1, ccpu = -1;
  if (!bench::placement_cpus(a.placement, scpu, ccpu)) {
    std::cerr << "actr bench ws: --placement is same, split or free\n";
    return 2;
  }
  if (!a.json)
    std::printf("actr bench ws: %s; placement %s (server CPU %s, client CPU %s); %.1f s per cell; echo window %zu\n"
                "each cell = a server and a client process on 127.0.0.1. actr = Node (envelopes, manager, dispatch); wire = the\n"
                "WebSocket wire and gate alone; zmq = libzmq DEALER/ROUTER. Ratios vs raw Beast and vs ZeroMQ: rate (higher is\n"
                "better); rtt: p50 (lower is better)\n\n",
                bench::cpu_model().c_str(), a.placement.c_str(), scpu < 0 ? "any" : std::to_string(scpu).c_str(),
                ccpu < 0 ? "any" : std::to_string(ccpu).c_str(), a.seconds, a.window);
  nlohmann::json out = nlohmann::json::array();
  if (!a.json) {
    std::printf("%-6s %-7s", "size", "mode");
    for (auto& impl : a.impls) std::printf(" %-22s", impl.c_str());
    std::printf(" %s\n", "vs beast | vs zmq");
  }
  int failures = 0;
  for (const auto& size_s : a.sizes) {
    const auto size = bench::parse_size(size_s);
    for (const auto& mode : a.modes) {
      std::map<std::string, bench::Measured> row;
      if (!a.json) std::printf("%-6s %-7s", size_s.c_str(), mode.c_str()), std::fflush(stdout);
      for (const auto& impl : a.impls) {
        auto m = run_cell(impl, mode, size, a, scpu, ccpu);
        std::string cell = "failed";
        if (m) {
          row[impl] = *m;
          cell = mode == "rtt" ? ([&] {
            char b[64];
            std::snprintf(b, sizeof b, "p50 %.0f p99 %.0f us", m->p50_us, m->p99_us);
            return std::string(b);
          })()
                               : bench::fmt_rate(m->msgs / m->secs, size);
          out.push_back({{"impl", impl}, {"mode", mode}, {"size", size}, {"placement", a.placement}, {"msgs", m->msgs},
                         {"secs", m->secs}, {"msg_per_s", m->msgs / m->secs}, {"p50_us", m->p50_us}, {"p99_us", m->p99_us}});
        } else {
          ++failures;
        }
        if (!a.json) std::printf(" %-22s", cell.c_str()), std::fflush(stdout);
      }
      if (!a.json) {
        for (const char* base : {"beast", "zmq"}) {
          if (std::string(base) == "zmq" && row.count("zmq") && (row.count("actr") || row.count("wire"))) std::printf(" |");
          for (const char* ours : {"actr", "wire"}) {
            if (!row.count(ours) || !row.count(base)) continue;
            const auto& x = row[ours];
            const auto& b = row[base];
            const double r = mode == "rtt" ? x.p50_us / b.p50_us : (x.msgs / x.secs) / (b.msgs / b.secs);
            std::printf(" %s %.2fx", ours, r);
          }
        }
        std::printf("\n");
      }
    }
  }
  if (a.peers > 0 && !run_many_peers(a, scpu, ccpu, out)) ++failures;
  if (a.json) std::cout << out.dump(2) << "\n";
  return failures == 0 ? 0 : 1;
}

}  // namespace actr::cli
