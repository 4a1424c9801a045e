// `actr node` and `actr call`.
#include "commands.hpp"
#include "identity_options.hpp"
#include "metrics_http.hpp"
#include "status_json.hpp"
#include "tls_options.hpp"

#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/webrtc.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <thread>

namespace actr::cli {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

std::optional<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  int port = std::atoi(s.c_str() + colon + 1);
  if (port < 0 || port > 65535) return std::nullopt;
  return std::pair{s.substr(0, colon), static_cast<std::uint16_t>(port)};
}

namespace {

// How an ActrId is written, for error messages about a bad --id / --to.
constexpr const char* kActrIdForm = "SERIAL@REALM/MANUFACTURER:NAME:VERSION, e.g. 1@101/acme:echo:1.0.0";

std::optional<PayloadType> class_of(const std::string& k) {
  if (k == "rpc" || k == "tell") return PayloadType::RpcReliable;
  if (k == "signal") return PayloadType::RpcSignal;
  if (k == "stream") return PayloadType::StreamReliable;
  if (k == "latency") return PayloadType::StreamLatencyFirst;
  return std::nullopt;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}
// SIGTERM to exit: the node's orderly stop gets kStopBound (WebRTC closes run concurrently, each
// bounded by WebRtcConfig::close_timeout); what remains (the WebRTC runtime's forced teardown,
// exit handlers) fits in the rest of kExitBound, which a watchdog enforces.
constexpr auto kStopBound = std::chrono::milliseconds(1200);
constexpr auto kExitBound = std::chrono::milliseconds(1900);

asio::awaitable<void> stop_within(Node& node, std::chrono::milliseconds bound) {
  asio::steady_timer timer(co_await asio::this_coro::executor, bound);
  auto r = co_await (node.stop() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (r.index() == 1) spdlog::warn("actr node: stop took longer than {} ms; exiting anyway", bound.count());
}

// Detached on purpose: it must outlive main() (exit handlers, sanitizer reports) and touches no
// shared state, so process exit simply ends it.
void exit_anyway_after(std::chrono::milliseconds bound) {
  std::thread([bound] {
    std::this_thread::sleep_for(bound);
    std::fprintf(stderr, "actr node: shutdown took longer than %lld ms; exiting anyway\n",
                 static_cast<long long>(bound.count()));
    std::_Exit(3);
  }).detach();
}

// Registration with --signal: "registered with URL" on stdout once it succeeds (scripts wait for
// it). A signaling server whose certificate is refused makes the node unable to work as asked,
// and waiting will not fix it: say why on stderr and exit 1 (the node has stopped trying, see
// Node::wait_registered).
asio::awaitable<void> report_registration(Node& node, std::string url, bool json, int& exit_code) {
  for (;;) {
    auto r = co_await node.wait_registered(Clock::now() + std::chrono::hours(1));
    if (r) {
      // With several --signal servers: the one that took us.
      if (auto sig = node.signaling(); sig && !sig->current_url().empty()) url = sig->current_url();
      if (json)
        std::printf("%s\n", nlohmann::json{{"event", "registered"}, {"url", url}}.dump().c_str());
      else
        std::printf("registered with %s\n", url.c_str());
      std::fflush(stdout);
      co_return;
    }
    if (r.error() == make_error_code(NetworkError::TimeoutError)) continue;
    const bool forbidden = r.error() == make_error_code(NetworkError::PermissionError);
    if (!is_tls_failure(r.error()) && !forbidden) co_return;  // stopping
    const auto why = last_tls_failure();
    const std::string code = error_name(r.error());
    std::fprintf(stderr, "actr node: signaling %s: %s (%s)\n", url.c_str(), code.c_str(),
                 forbidden ? "HTTP 403: the server refuses this actor"
                 : why     ? why->reason.c_str()
                           : r.error().message().c_str());
    exit_code = 1;
    co_await stop_within(node, kStopBound);
    co_return;
  }
}

// "ws://HOST:PORT[/...]" or "wss://...": what a node's address or a signaling URL must look like.
bool is_ws_url(const std::string& url) {
  const auto scheme = url.rfind("wss://", 0) == 0 ? 6u : url.rfind("ws://", 0) == 0 ? 5u : 0u;
  if (scheme == 0) return false;
  const auto path = url.find('/', scheme);
  return split_host_port(url.substr(scheme, path == std::string::npos ? std::string::npos : path - scheme)).has_value();
}

// --signal: one signaling URL or several separated by commas, each as `is_ws_url` wants.
bool is_ws_url_list(const std::string& list) {
  const auto urls = split_signal_urls(list);
  return !urls.empty() && std::all_of(urls.begin(), urls.end(), [](const std::string& u) { return is_ws_url(u); });
}

// The TLS failure behind a summary's errors, for people ("certificate verify failed: ...").
std::string tls_reason() {
  auto f = last_tls_failure();
  return f ? f->url + ": " + f->reason : std::string();
}

}  // namespace

int run_node(const NodeArgs& a) {
  // Without --id the credential file names the node.
  auto id = a.id.empty() ? Result<ActrId>(make_error_code(NetworkError::InvalidArgument)) : ActrId::parse(a.id);
  const bool id_ok = id || (a.id.empty() && !a.credential.empty());
  auto hp = split_host_port(a.listen);
  if (!id_ok && a.id.empty()) std::cerr << "actr node: --id (or --credential) is required\n";
  else if (!id_ok)
    std::cerr << "actr node: --id '" << a.id << "' is not an ActrId (want " << kActrIdForm << ")\n";
  if (!hp) std::cerr << "actr node: --listen '" << a.listen << "' is not HOST:PORT\n";
  auto metrics_hp = a.metrics.empty() ? std::nullopt : split_host_port(a.metrics);
  if (!a.metrics.empty() && !metrics_hp)
    std::cerr << "actr node: --metrics '" << a.metrics << "' is not HOST:PORT\n";
  const bool signal_ok = a.signal.empty() || is_ws_url_list(a.signal);
  if (!signal_ok)
    std::cerr << "actr node: --signal '" << a.signal << "' is not ws://HOST:PORT/ or wss://HOST:PORT/ (or a comma-separated list of them)\n";
  if (!id_ok || !hp || (!a.metrics.empty() && !metrics_hp) || !signal_ok) return 2;
  NodeConfig cfg;
  if (id) cfg.id = *id;
  cfg.listen_host = hp->first;
  cfg.listen_port = hp->second;
  auto server_tls = server_tls_from_files(a.tls_cert, a.tls_key);
  auto client_tls = client_tls_from_file(a.ca);
  for (const auto* e : {&server_tls.error, &client_tls.error}) {
    if (e->empty()) continue;
    std::cerr << "actr node: " << *e << "\n";
    return 2;
  }
  cfg.listen_tls = server_tls.ctx;
  cfg.wires.ws.tls = client_tls.ctx;     // wss:// peers
  cfg.signaling.tls = client_tls.ctx;    // wss:// --signal
  cfg.wires.ws.keepalive_interval = std::chrono::milliseconds(a.keepalive_ms);
  cfg.limits.max_message_size = a.max_message_bytes;
  cfg.limits.reassembly_bytes = a.reassembly_bytes;
  cfg.limits.send_queue_bytes = a.queue_bytes;
  cfg.limits.inflight_bytes_per_connection = a.inflight_bytes;
  cfg.limits.inflight_bytes_total = a.inflight_total_bytes;
  cfg.wires.kinds = WireKindSet{};
  for (const auto& w : a.wires) {
    if (w == "ws") cfg.wires.kinds.add(WireKind::WebSocket);
    else if (w == "webrtc") cfg.wires.kinds.add(WireKind::WebRtc);
    else {
      std::cerr << "actr node: --wires '" << w << "' is not one of webrtc, ws\n";
      return 2;
    }
  }
  if (!a.signal.empty()) {
    cfg.signal_url = a.signal;
    cfg.webrtc.local_addresses = {hp->first};  // gather ICE candidates where the node listens
  }
  cfg.max_webrtc_setups = static_cast<std::size_t>(a.max_webrtc_setups);
  if (a.require_identity && a.signal.empty() && a.credential.empty()) {
    std::cerr << "actr node: --require-identity needs --signal or --credential (the issuer's key is the one "
                 "trusted)\n";
    return 2;
  }
  std::optional<AisIdentity> ident;
  const IdentitySource src{a.signal, a.credential, a.realm_secret_file, client_tls.ctx};
  if (int rc = apply_identity("actr node", id ? std::optional<ActrId>(*id) : std::nullopt, src, true, cfg, ident);
      rc >= 0)
    return rc;
  if (ident && !a.signal.empty()) cfg.signaling.reacquire = reacquire_at_ais(a.signal, *ident, client_tls.ctx);
  cfg.identity.require = a.require_identity;
  for (const auto& p : a.peers) {
    auto eq = p.find('=');
    auto pid = eq == std::string::npos ? Result<ActrId>(make_error_code(NetworkError::InvalidArgument))
                                       : ActrId::parse(p.substr(0, eq));
    if (!pid) {
      std::cerr << "actr node: bad --peer " << p << " (want ID=URL)\n";
      return 2;
    }
    cfg.wires.address_book[*pid] = p.substr(eq + 1);
  }
  asio::io_context io;
  Node node(io.get_executor(), cfg);
  std::map<std::string, std::uint64_t> counts;
  if (a.echo) {
    node.on_request([&](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
      if (req.route_key() == "actr.stats") {
        nlohmann::json j = counts;
        auto s = j.dump();
        co_return Bytes(s.begin(), s.end());
      }
      co_return Bytes(req.payload().begin(), req.payload().end());
    });
    node.on_tell([&](const ActrId&, const pb::RpcEnvelope&) { ++counts["tell"]; });
    node.on_chunk([&](const ActrId&, PayloadType pt, const pb::DataStream&) { ++counts[std::string(to_string(pt))]; });
  }
  // SIGINT/SIGTERM: a bounded stop. The handler is installed before "listening" is printed, so a
  // supervisor that signals as soon as it reads the line is handled too.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    // Whatever is stuck (a GStreamer call that never returns, a teardown past its bound), the
    // process ends within kExitBound of the signal.
    exit_anyway_after(kExitBound);
    signals.async_wait([&](const boost::system::error_code& ec2, int) {
      if (!ec2) io.stop();  // a second signal: stop now
    });
    asio::co_spawn(io, stop_within(node, kStopBound), [&](std::exception_ptr) { io.stop(); });
  });
  auto port = node.start();
  if (!port) {
    std::cerr << "actr node: cannot listen on " << a.listen << ": " << port.error().message() << "\n";
    return 1;
  }
  const std::string url =
      std::string(cfg.listen_tls ? "wss" : "ws") + "://" + hp->first + ":" + std::to_string(*port) + "/";
  if (a.json)
    std::printf("%s\n", nlohmann::json{{"event", "listening"}, {"url", url}, {"id", cfg.id.to_string()}}.dump().c_str());
  else
    std::printf("listening on %s as %s\n", url.c_str(), cfg.id.to_string().c_str());
  std::fflush(stdout);
  int exit_code = 0;
  // After start (the node's gate exists), destroyed before the node (declared after it). Cannot
  // serve: the node stops as on a signal and the exit code says so.
  std::unique_ptr<MetricsServer> metrics;
  if (metrics_hp) {
    metrics = serve_metrics("actr node", metrics_hp->first, metrics_hp->second,
                            [&node](Metrics& out) { collect_metrics(node, out); },
                            [&node] { return node_state_json(node); }, a.json);
    if (!metrics) {
      exit_code = 1;
      asio::co_spawn(io, stop_within(node, kStopBound), [&](std::exception_ptr) { io.stop(); });
    }
  }
  if (cfg.signal_url)
    asio::co_spawn(io, report_registration(node, *cfg.signal_url, a.json, exit_code), [&](std::exception_ptr) {
      if (exit_code != 0) io.stop();
    });
  if (ident && !a.signal.empty() && !ident->renewal_token.empty())
    asio::co_spawn(io, renew_identity(node, a.signal, *ident, client_tls.ctx), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  io.run();
  // WebRTC's GLib and GStreamer threads end before the exit handlers run (the runtime's shutdown
  // tears down what node.stop() did not finish, without lingering).
  if (cfg.signal_url) WebRtcRuntime::process_default()->shutdown();
  return exit_code;
}

int run_call(const CallArgs& a) {
  auto id = ActrId::parse(a.id);
  auto to = ActrId::parse(a.to);
  auto pt = class_of(a.klass);
  // Say which argument is wrong and what it should look like, not just that one of them is.
  if (!id) std::cerr << "actr call: --id '" << a.id << "' is not an ActrId (want " << kActrIdForm << ")\n";
  if (!to) std::cerr << "actr call: --to '" << a.to << "' is not an ActrId (want " << kActrIdForm << ")\n";
  if (!pt) std::cerr << "actr call: --class '" << a.klass << "' is not one of rpc, signal, stream, latency, tell\n";
  const bool url_ok = is_ws_url(a.url), signal_ok = a.signal.empty() || is_ws_url_list(a.signal);
  if (!url_ok) std::cerr << "actr call: --url '" << a.url << "' is not ws://HOST:PORT/ or wss://HOST:PORT/\n";
  if (!signal_ok)
    std::cerr << "actr call: --signal '" << a.signal
              << "' is not ws://HOST:PORT/ or wss://HOST:PORT/ (or a comma-separated list of them)\n";
  if (!id || !to || !pt || !url_ok || !signal_ok) return 2;
  auto client_tls = client_tls_from_file(a.ca);
  if (!client_tls.error.empty()) {
    std::cerr << "actr call: " << client_tls.error << "\n";
    return 2;
  }
  NodeConfig cfg;
  cfg.id = *id;
  cfg.listen = false;
  std::optional<AisIdentity> ident;
  const IdentitySource src{a.signal, a.credential, a.realm_secret_file, client_tls.ctx};
  // With --signal and no credential file, an AIS that does not register us leaves --id (the
  // signaling server may still take it over the socket), as for `actr node`.
  if (int rc = apply_identity("actr call", *id, src, true, cfg, ident); rc >= 0) return rc;
  cfg.wires.address_book[*to] = a.url;
  cfg.wires.ws.tls = client_tls.ctx;
  cfg.resend_after = std::chrono::milliseconds(a.resend_ms);
  if (!a.signal.empty()) {
    // WebRTC through the signaling server as well: calls go over the DataChannel once it is up
    // (WebSocket until then). ICE candidates are gathered on the host of --url.
    cfg.signal_url = a.signal;
    cfg.signaling.tls = client_tls.ctx;
    const auto host_start = a.url.find("://");
    if (host_start != std::string::npos) {
      auto hp = split_host_port(a.url.substr(host_start + 3, a.url.find('/', host_start + 3) - host_start - 3));
      if (hp) cfg.webrtc.local_addresses = {hp->first};
    }
  }
  asio::io_context io;
  Node node(io.get_executor(), cfg);
  (void)node.start();
  std::vector<double> lat_us;
  std::map<std::string, int> errors;
  const Bytes payload(static_cast<std::size_t>(a.size), 0x61);
  // The \r progress line is for a person watching a terminal; in a pipe or a file it would run
  // into the summary.
  const bool progress = a.count > 1 && !a.json && ::isatty(STDERR_FILENO) == 1;
  int attempted = 0;
  auto body = [&]() -> asio::awaitable<void> {
    if (cfg.signal_url) {
      // A WebRTC wire is dialed through the registration: dialing before it would fail the kind.
      auto reg = co_await node.wait_registered(Clock::now() + std::chrono::seconds(10));
      if (!reg)
        std::fprintf(stderr, "actr call: --signal %s: not registered (%s); calling over WebSocket only\n",
                     a.signal.c_str(), error_name(reg.error()).c_str());
    }
    auto last_print = Clock::now();
    for (int i = 0; i < a.count; ++i) {
      ++attempted;
      const auto t0 = Clock::now();
      Error err;
      if (a.klass == "tell") {
        auto r = co_await node.tell(*to, "actr.cli", payload);
        if (!r) err = r.error();
      } else if (is_rpc(*pt)) {
        auto r = co_await node.call(*to, "actr.cli.Echo", payload, std::chrono::milliseconds(a.timeout_ms), *pt);
        if (!r) err = r.error();
      } else {
        pb::DataStream c;
        c.set_stream_id("cli");
        c.set_sequence(static_cast<std::uint64_t>(i));
        c.set_payload(payload.data(), payload.size());
        auto r = co_await node.send_chunk(*to, *pt, c);
        if (!r) err = r.error();
      }
      if (err) ++errors[error_name(err)];
      else lat_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      // The server's certificate, or its refusal of our credential, will not change for the next
      // call either: stop now.
      if (is_tls_failure(err) || err == make_error_code(NetworkError::AuthenticationError)) break;
      if (progress && Clock::now() - last_print > std::chrono::milliseconds(250)) {
        std::fprintf(stderr, "\r%d/%d ok=%zu errors=%zu", i + 1, a.count, lat_us.size(),
                     static_cast<std::size_t>(i + 1) - lat_us.size());
        last_print = Clock::now();
      }
      if (a.interval_ms > 0 && i + 1 < a.count) {
        asio::steady_timer pause(io, std::chrono::milliseconds(a.interval_ms));
        auto [ec] = co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        (void)ec;
      }
    }
    if (progress) std::fprintf(stderr, "\r%d/%d done%20s\n", attempted, a.count, "");
    co_await node.stop();
  };
  asio::co_spawn(io, body(), [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();
  if (cfg.signal_url) WebRtcRuntime::process_default()->shutdown();
  nlohmann::json j;
  j["count"] = a.count;
  j["ok"] = lat_us.size();
  j["errors"] = errors;
  j["p50_us"] = percentile(lat_us, 0.5);
  j["p99_us"] = percentile(lat_us, 0.99);
  const auto tls = tls_reason();
  if (!tls.empty()) j["tls_failure"] = tls;
  if (a.json) {
    std::cout << j.dump() << "\n";
  } else {
    std::printf("count %d  ok %zu  p50 %.0f us  p99 %.0f us\n", a.count, lat_us.size(), percentile(lat_us, 0.5),
                percentile(lat_us, 0.99));
    for (auto& [k, v] : errors) std::printf("  error %-24s %d\n", k.c_str(), v);
    if (!tls.empty()) std::printf("  TLS: %s\n", tls.c_str());
  }
  return lat_us.size() == static_cast<std::size_t>(a.count) ? 0 : 1;
}

}  // namespace actr::cli
