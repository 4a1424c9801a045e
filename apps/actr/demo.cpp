// `actr demo`: the main job. Starts echo nodes as separate processes on loopback, sends every
// payload class to them over WebSocket, SIGKILLs one and restarts it, and prints what happened.
#include "commands.hpp"
#include "process.hpp"

#include <actr/error.hpp>
#include <actr/node.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <nlohmann/json.hpp>

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>

namespace actr::cli {

namespace asio = boost::asio;

namespace {

// A child `actr node --echo` process on `port` (0: any); its bound port, or 0 on failure.
std::uint16_t spawn_node(ChildProcess& c, const std::string& id, std::uint16_t port) {
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  if (!c.spawn({"--log-level", "error", "node", "--id", id, "--listen", listen, "--echo", "--keepalive-ms", "500"}))
    return 0;
  auto line = c.read_line_with("listening on", std::chrono::seconds(5));  // "listening on ws://127.0.0.1:PORT/ ..."
  auto pos = line ? line->find("127.0.0.1:") : std::string::npos;
  return pos == std::string::npos ? 0 : static_cast<std::uint16_t>(std::atoi(line->c_str() + pos + 10));
}

struct Row {
  std::string phase, klass, to;
  int sent = 0, ok = 0;
  std::map<std::string, int> errors;
  std::vector<double> lat_us;
};

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

std::string err_name(const Error& e) { return std::string(to_string(static_cast<NetworkError>(e.value()))); }

}  // namespace

int run_demo(const DemoArgs& a) {
  const std::string id_a = "a1@101/acme:echo:1.0.0";
  const std::string id_b = "b2@101/acme:echo:1.0.0";
  ChildProcess node_a, node_b;
  std::uint16_t port_a = spawn_node(node_a, id_a, 0), port_b = spawn_node(node_b, id_b, 0);
  if (port_a == 0 || port_b == 0) {
    std::cerr << "actr demo: could not start the node processes\n";
    return 1;
  }
  std::printf("started node A (pid %d) on ws://127.0.0.1:%u/ and node B (pid %d) on ws://127.0.0.1:%u/\n",
              node_a.pid(), port_a, node_b.pid(), port_b);
  std::fflush(stdout);

  asio::io_context io;
  NodeConfig cfg;
  cfg.id = *ActrId::parse("de770@101/actr:demo:1.0.0");
  cfg.listen = false;
  cfg.wires.ws.keepalive_interval = std::chrono::milliseconds(500);
  cfg.manager.send_timeout = std::chrono::milliseconds(2000);
  cfg.manager.pool.connect_backoff.initial = std::chrono::milliseconds(100);
  const ActrId a_id = *ActrId::parse(id_a), b_id = *ActrId::parse(id_b);
  cfg.wires.address_book[a_id] = "ws://127.0.0.1:" + std::to_string(port_a) + "/";
  cfg.wires.address_book[b_id] = "ws://127.0.0.1:" + std::to_string(port_b) + "/";
  Node client(io.get_executor(), cfg);
  (void)client.start();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    for (auto p : live_children()) ::kill(p, SIGKILL);
    std::_Exit(130);
  });

  std::vector<Row> rows;
  double reconnect_ms = -1;
  std::string stats_a, stats_b;
  const Bytes payload(256, 0x42);

  auto run_class = [&](std::string phase, std::string klass, const ActrId& to, int n) -> asio::awaitable<void> {
    Row r{std::move(phase), klass, to == a_id ? "A" : "B", 0, 0, {}, {}};
    for (int i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      Error err;
      if (klass == "RPC_RELIABLE" || klass == "RPC_SIGNAL") {
        auto res = co_await client.call(to, "demo.Echo", payload, std::chrono::milliseconds(1000),
                                        klass == "RPC_SIGNAL" ? PayloadType::RpcSignal : PayloadType::RpcReliable);
        if (!res) err = res.error();
      } else if (klass == "TELL") {
        auto res = co_await client.tell(to, "demo.Log", payload);
        if (!res) err = res.error();
      } else {
        pb::DataStream c;
        c.set_stream_id("demo");
        c.set_sequence(static_cast<std::uint64_t>(i));
        c.set_payload(payload.data(), payload.size());
        auto res = co_await client.send_chunk(
            to, klass == "STREAM_RELIABLE" ? PayloadType::StreamReliable : PayloadType::StreamLatencyFirst, c);
        if (!res) err = res.error();
      }
      ++r.sent;
      if (err) ++r.errors[err_name(err)];
      else {
        ++r.ok;
        r.lat_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    }
    rows.push_back(std::move(r));
  };
  auto stats_of = [&](const ActrId& to) -> asio::awaitable<std::string> {
    auto s = co_await client.call(to, "actr.stats", {}, std::chrono::milliseconds(1000));
    co_return s ? std::string(s->begin(), s->end()) : std::string("unavailable: ") + s.error().message();
  };

  auto script = [&]() -> asio::awaitable<void> {
    for (const char* k : {"RPC_RELIABLE", "RPC_SIGNAL", "TELL", "STREAM_RELIABLE", "STREAM_LATENCY_FIRST"}) {
      co_await run_class("1 healthy", k, a_id, a.calls);
      co_await run_class("1 healthy", k, b_id, a.calls);
    }
    stats_a = co_await stats_of(a_id);
    stats_b = co_await stats_of(b_id);
    // Kill A hard: calls to A fail fast and typed (none hangs), B is unaffected.
    node_a.kill_now();
    co_await run_class("2 A killed", "RPC_RELIABLE", a_id, 5);
    co_await run_class("2 A killed", "RPC_RELIABLE", b_id, a.calls);
    // Restart A on the same port; the next sends dial it again.
    const auto restart = Clock::now();
    if (spawn_node(node_a, id_a, port_a) == 0) {
      std::cerr << "actr demo: could not restart node A\n";
    }
    for (int i = 0; i < 200; ++i) {
      auto r = co_await client.call(a_id, "demo.Echo", payload, std::chrono::milliseconds(500));
      if (r) {
        reconnect_ms = std::chrono::duration<double, std::milli>(Clock::now() - restart).count();
        break;
      }
    }
    co_await run_class("3 A restarted", "RPC_RELIABLE", a_id, a.calls);
    co_await run_class("3 A restarted", "STREAM_RELIABLE", a_id, a.calls);
    co_await client.stop();
  };
  asio::co_spawn(io, script(), [&](std::exception_ptr e) {
    signals.cancel();  // the Ctrl-C watcher must not keep io.run() alive once the script is done
    if (e) std::rethrow_exception(e);
  });
  io.run();
  node_a.kill_now();
  node_b.kill_now();

  if (a.json) {
    nlohmann::json j;
    for (auto& r : rows)
      j["rows"].push_back({{"phase", r.phase}, {"class", r.klass}, {"to", r.to}, {"sent", r.sent}, {"ok", r.ok}, {"errors", r.errors},
                           {"p50_us", pct(r.lat_us, 0.5)}, {"p99_us", pct(r.lat_us, 0.99)}});
    j["reconnect_ms"] = reconnect_ms;
    j["received_by_a"] = stats_a;
    j["received_by_b"] = stats_b;
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("\n%-14s %-22s %-5s %6s %6s %10s %10s  %s\n", "phase", "class", "to", "sent", "ok", "p50 us", "p99 us",
                "errors");
    for (auto& r : rows) {
      std::string errs;
      for (auto& [k, v] : r.errors) errs += k + "=" + std::to_string(v) + " ";
      std::printf("%-14s %-22s %-5s %6d %6d %10.0f %10.0f  %s\n", r.phase.c_str(), r.klass.c_str(), r.to.c_str(), r.sent, r.ok,
                  pct(r.lat_us, 0.5), pct(r.lat_us, 0.99), errs.c_str());
    }
    std::printf("\nnode A received (tells/chunks): %s\nnode B received (tells/chunks): %s\n", stats_a.c_str(),
                stats_b.c_str());
    std::printf("reconnect after SIGKILL + restart of A: %.0f ms (from restart to first successful call)\n",
                reconnect_ms);
  }
  return reconnect_ms >= 0 ? 0 : 1;
}

}  // namespace actr::cli
