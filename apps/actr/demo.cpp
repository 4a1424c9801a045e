// `actr demo`: the main job. Starts a signaling server and echo nodes as separate processes on
// loopback, sends every payload class to them over WebRTC DataChannels (set up through
// signaling) and WebSocket, closes a WebRTC wire to show traffic moving to WebSocket and back,
// SIGKILLs a node and restarts it, and prints what happened.
#include "commands.hpp"
#include "identity_options.hpp"
#include "process.hpp"

#include <actr/ais_client.hpp>
#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/webrtc.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <nlohmann/json.hpp>

#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <cstdio>
#include <iostream>
#include <map>

namespace actr::cli {

namespace asio = boost::asio;

namespace {

// A child `actr node --echo` process on `port` (0: any), serving only peers with a credential
// from `signal`. Its identity comes from the AIS of `signal` at the first start and is kept in
// `credential` (the file), so a restart is the same actor. Sets `id` to the id it got (the AIS
// picks the serial); its bound port, or 0 on failure.
std::uint16_t spawn_node(ChildProcess& c, const std::string& type_id, const std::string& credential, std::uint16_t port,
                         const std::string& signal, const std::string& log_level, std::string& id) {
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  if (!c.spawn({"--log-level", log_level, "node", "--id", type_id, "--credential", credential, "--listen", listen,
                "--echo", "--keepalive-ms", "500", "--signal", signal, "--wires", "webrtc,ws", "--require-identity"}))
    return 0;
  // "listening on ws://127.0.0.1:PORT/ as ID"
  auto line = c.read_line_with("listening on", std::chrono::seconds(20));
  auto pos = line ? line->find("127.0.0.1:") : std::string::npos;
  auto as = line ? line->rfind(" as ") : std::string::npos;
  if (pos == std::string::npos || as == std::string::npos) return 0;
  id = line->substr(as + 4);
  return static_cast<std::uint16_t>(std::atoi(line->c_str() + pos + 10));
}

// The demo's own identity, from the AIS of `signal` (it calls the nodes as a credentialed actor).
std::optional<AisIdentity> demo_identity(const std::string& signal, const ActrId& who) {
  auto r = ais_register_now(signal, AisRegistration{who.realm, who.type, std::nullopt, std::nullopt});
  if (!r) return std::nullopt;
  return std::move(*r);
}

struct Row {
  std::string phase, klass, to;
  int sent = 0, ok = 0;
  std::uint64_t via_rtc = 0, via_ws = 0;  // sent over each wire (requests, tells, chunks)
  std::map<std::string, int> errors;
  std::vector<double> lat_us;
};

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}


}  // namespace

int run_demo(const DemoArgs& a) {
  // Realm and type of each node; the AIS picks the serials.
  const std::string type_a = "1@101/acme:echo:1.0.0";
  const std::string type_b = "2@101/acme:echo:1.0.0";
  char dir_template[] = "/tmp/actr-demo-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) {
    std::cerr << "actr demo: cannot create a directory for the credentials\n";
    return 1;
  }
  struct RemoveDir {
    std::string path;
    ~RemoveDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } remove_dir{dir};
  const std::string cred_a = std::string(dir) + "/a.json", cred_b = std::string(dir) + "/b.json";
  std::string id_a, id_b;
  ChildProcess node_a, node_b;
  ChildProcess signal_server;
  std::string signal_url;
  // Credentials on: the server registers only actors whose identity its AIS issued (open to every
  // type: a demo), and the nodes serve only callers with such a credential.
  if (signal_server.spawn({"--log-level", a.child_log_level, "signal", "--listen", "127.0.0.1:0", "--require-identity",
                           "--ais-open"})) {
    if (auto line = signal_server.read_line_with("listening", std::chrono::seconds(5)))
      signal_url = "ws://" + line->substr(line->rfind(' ') + 1) + "/";
  }
  if (signal_url.empty()) {
    std::cerr << "actr demo: could not start the signaling server\n";
    return 1;
  }
  std::printf("started actr signal (pid %d) on %s (identity required; AIS open)\n", signal_server.pid(),
              signal_url.c_str());
  std::uint16_t port_a = spawn_node(node_a, type_a, cred_a, 0, signal_url, a.child_log_level, id_a);
  std::uint16_t port_b = spawn_node(node_b, type_b, cred_b, 0, signal_url, a.child_log_level, id_b);
  const auto parsed_a = ActrId::parse(id_a), parsed_b = ActrId::parse(id_b);
  if (port_a == 0 || port_b == 0 || !parsed_a || !parsed_b) {
    std::cerr << "actr demo: could not start the node processes\n";
    return 1;
  }
  std::printf("started node A %s (pid %d) on ws://127.0.0.1:%u/ and node B %s (pid %d) on ws://127.0.0.1:%u/\n",
              id_a.c_str(), node_a.pid(), port_a, id_b.c_str(), node_b.pid(), port_b);
  std::fflush(stdout);
  const auto me = demo_identity(signal_url, *ActrId::parse("3@101/actr:demo:1.0.0"));
  if (!me) {
    std::cerr << "actr demo: no identity from the AIS of " << signal_url << "\n";
    return 1;
  }

  asio::io_context io;
  NodeConfig cfg;
  cfg.id = me->id;
  cfg.identity.credential = me->credential;
  cfg.listen = false;
  cfg.wires.ws.keepalive_interval = std::chrono::milliseconds(500);
  cfg.manager.send_timeout = std::chrono::milliseconds(2000);
  cfg.manager.pool.connect_backoff.initial = std::chrono::milliseconds(100);
  cfg.signal_url = signal_url;
  cfg.webrtc.local_addresses = {"127.0.0.1"};
  cfg.webrtc.recovery_timeout = std::chrono::milliseconds(2000);
  cfg.health_check_interval = std::chrono::milliseconds(500);
  cfg.resend_after = std::chrono::milliseconds(200);  // demo calls time out after 1 s
  const ActrId a_id = *parsed_a, b_id = *parsed_b;
  cfg.wires.address_book[a_id] = "ws://127.0.0.1:" + std::to_string(port_a) + "/";
  cfg.wires.address_book[b_id] = "ws://127.0.0.1:" + std::to_string(port_b) + "/";
  auto client_node = std::make_unique<Node>(io.get_executor(), cfg);
  Node& client = *client_node;
  (void)client.start();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    for (auto p : live_children()) ::kill(p, SIGKILL);
    std::_Exit(130);
  });

  std::vector<Row> rows;
  double reconnect_ms = -1, webrtc_up_ms = -1, webrtc_back_ms = -1, webrtc_restart_ms = -1;
  std::string stats_a, stats_b;
  const Bytes payload(256, 0x42);

  // `n` sends of `klass` to `to`; with `until`, also on (for up to 15 s) until it holds.
  auto run_class = [&](std::string phase, std::string klass, const ActrId& to, int n,
                       std::function<bool()> until = nullptr) -> asio::awaitable<void> {
    Row r{std::move(phase), klass, to == a_id ? "A" : "B", 0, 0, 0, 0, {}, {}};
    const auto before = client.stats();
    const auto start = Clock::now();
    for (int i = 0;; ++i) {
      const bool done = !until || until();  // evaluated every time: `until` may record when it first held
      if (i >= n && (done || Clock::now() - start > std::chrono::seconds(15))) break;
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
      if (err) ++r.errors[error_name(err)];
      else {
        ++r.ok;
        r.lat_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    }
    r.via_rtc = client.stats().sent_webrtc - before.sent_webrtc;
    r.via_ws = client.stats().sent_websocket - before.sent_websocket;
    rows.push_back(std::move(r));
  };
  // Calls `to` until a response arrives over WebRTC (bounded); the time it took, or -1.
  auto until_webrtc = [&](const ActrId& to, std::chrono::milliseconds limit) -> asio::awaitable<double> {
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < limit) {
      const auto rtc = client.stats().frames_webrtc;
      (void)co_await client.call(to, "demo.Echo", payload, std::chrono::milliseconds(1000));
      if (client.stats().frames_webrtc > rtc) co_return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    }
    co_return -1.0;
  };
  // What `to` counted. Stream chunks ride other channels than the stats call and may still be
  // on their way: ask again (for up to 2 s) until the tells and reliable chunks are all in.
  auto stats_of = [&](const ActrId& to, int expected) -> asio::awaitable<std::string> {
    std::string last;
    asio::steady_timer pause(io);
    for (const auto t0 = Clock::now(); Clock::now() - t0 < std::chrono::seconds(2);) {
      auto s = co_await client.call(to, "actr.stats", {}, std::chrono::milliseconds(1000));
      if (!s) co_return "unavailable: " + s.error().message();
      last.assign(s->begin(), s->end());
      auto j = nlohmann::json::parse(last, nullptr, false);
      if (!j.is_discarded() && j.value("tell", 0) >= expected && j.value("STREAM_RELIABLE", 0) >= expected) break;
      pause.expires_after(std::chrono::milliseconds(50));
      (void)co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return last;
  };

  auto script = [&]() -> asio::awaitable<void> {
    (void)co_await client.wait_registered(Clock::now() + std::chrono::seconds(5));
    webrtc_up_ms = co_await until_webrtc(a_id, std::chrono::seconds(15));
    (void)co_await until_webrtc(b_id, std::chrono::seconds(15));
    for (const char* k : {"RPC_RELIABLE", "RPC_SIGNAL", "TELL", "STREAM_RELIABLE", "STREAM_LATENCY_FIRST"}) {
      co_await run_class("1 healthy", k, a_id, a.calls);
      co_await run_class("1 healthy", k, b_id, a.calls);
    }
    stats_a = co_await stats_of(a_id, a.calls);
    stats_b = co_await stats_of(b_id, a.calls);
    // Close the WebRTC wire to A: RPC moves to WebSocket without a failed call, and the health
    // checker brings WebRTC back.
    // Calls go on while it is down, and until the pool holds a new connected WebRTC wire.
    if (auto t = co_await client.manager().get_or_create_transport(Dest::actor(a_id))) {
      auto transport = *t;
      const auto old = transport->pool().get_connection(WireKind::WebRtc);
      const auto closed_at = Clock::now();
      transport->close_connection(WireKind::WebRtc);
      auto back = [&] {
        auto now = transport->pool().get_connection(WireKind::WebRtc);
        if (!now || now == old || !now->is_connected()) return false;
        if (webrtc_back_ms < 0)
          webrtc_back_ms = std::chrono::duration<double, std::milli>(Clock::now() - closed_at).count();
        return true;
      };
      co_await run_class("2 A WebRTC closed", "RPC_RELIABLE", a_id, a.calls, back);
    }
    co_await run_class("3 A WebRTC back", "RPC_RELIABLE", a_id, a.calls);
    // Kill A hard: calls to A fail typed within their deadline (none hangs), B is unaffected.
    node_a.kill_now();
    co_await run_class("4 A killed", "RPC_RELIABLE", a_id, 5);
    co_await run_class("4 A killed", "RPC_RELIABLE", b_id, a.calls);
    // Restart A on the same port; the next sends dial it again.
    const auto restart = Clock::now();
    std::string restarted_id;
    if (spawn_node(node_a, type_a, cred_a, port_a, signal_url, a.child_log_level, restarted_id) == 0 ||
        restarted_id != id_a) {
      std::cerr << "actr demo: could not restart node A\n";
    }
    // Until it answers: a refused dial, or the unreachable mark it left, fails at once, so pause
    // between tries rather than spin.
    asio::steady_timer retry(io);
    while (Clock::now() - restart < std::chrono::seconds(20)) {
      auto r = co_await client.call(a_id, "demo.Echo", payload, std::chrono::milliseconds(500));
      if (r) {
        reconnect_ms = std::chrono::duration<double, std::milli>(Clock::now() - restart).count();
        break;
      }
      retry.expires_after(std::chrono::milliseconds(20));
      (void)co_await retry.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_await run_class("5 A restarted", "RPC_RELIABLE", a_id, a.calls);
    co_await run_class("5 A restarted", "STREAM_RELIABLE", a_id, a.calls);
    // The signaling server told us A restarted, so the dead WebRTC wire was closed at once and
    // calls rode WebSocket; the health checker now negotiates WebRTC with the new process.
    webrtc_restart_ms = co_await until_webrtc(a_id, std::chrono::seconds(15));
    co_await run_class("6 A WebRTC again", "RPC_RELIABLE", a_id, a.calls);
    co_await client.stop();
  };
  asio::co_spawn(io, script(), [&](std::exception_ptr e) {
    signals.cancel();  // the Ctrl-C watcher must not keep io.run() alive once the script is done
    if (e) std::rethrow_exception(e);
  });
  io.run();
  node_a.kill_now();
  node_b.kill_now();
  signal_server.kill_now();
  // The client's wires go first, then our WebRTC runtime (GLib and GStreamer threads) ends
  // before the exit handlers run.
  client_node.reset();
  WebRtcRuntime::process_default()->shutdown();

  if (a.json) {
    nlohmann::json j;
    for (auto& r : rows)
      j["rows"].push_back({{"phase", r.phase}, {"class", r.klass}, {"to", r.to}, {"sent", r.sent}, {"ok", r.ok}, {"errors", r.errors},
                           {"p50_us", pct(r.lat_us, 0.5)}, {"p99_us", pct(r.lat_us, 0.99)},
                           {"sent_via_webrtc", r.via_rtc}, {"sent_via_websocket", r.via_ws}});
    j["reconnect_ms"] = reconnect_ms;
    j["webrtc_up_ms"] = webrtc_up_ms;
    j["webrtc_back_ms"] = webrtc_back_ms;
    j["webrtc_to_restarted_ms"] = webrtc_restart_ms;
    j["received_by_a"] = stats_a;
    j["received_by_b"] = stats_b;
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("\n%-18s %-22s %-3s %6s %6s %10s %10s %13s  %s\n", "phase", "class", "to", "sent", "ok", "p50 us",
                "p99 us", "sent rtc/ws", "errors");
    for (auto& r : rows) {
      std::string errs;
      for (auto& [k, v] : r.errors) errs += k + "=" + std::to_string(v) + " ";
      const std::string via = std::to_string(r.via_rtc) + "/" + std::to_string(r.via_ws);
      std::printf("%-18s %-22s %-3s %6d %6d %10.0f %10.0f %13s  %s\n", r.phase.c_str(), r.klass.c_str(), r.to.c_str(),
                  r.sent, r.ok, pct(r.lat_us, 0.5), pct(r.lat_us, 0.99), via.c_str(), errs.c_str());
    }
    std::printf("\nnode A received (tells/chunks): %s\nnode B received (tells/chunks): %s\n", stats_a.c_str(),
                stats_b.c_str());
    std::printf("first response over WebRTC (signaling, role negotiation, ICE, DTLS, SCTP): %.0f ms after start\n",
                webrtc_up_ms);
    std::printf("WebRTC to A closed: calls carried on over WebSocket; a new WebRTC connection %.0f ms after the close\n",
                webrtc_back_ms);
    std::printf("reconnect after SIGKILL + restart of A: %.0f ms (from restart to first successful call)\n",
                reconnect_ms);
    std::printf("WebRTC to the restarted A: %.0f ms after its first call\n", webrtc_restart_ms);
  }
  return reconnect_ms >= 0 && webrtc_up_ms >= 0 && webrtc_back_ms >= 0 && webrtc_restart_ms >= 0 ? 0 : 1;
}

}  // namespace actr::cli
