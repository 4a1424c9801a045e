// `actr signal`: the signaling and discovery server, until SIGINT/SIGTERM.
#include "commands.hpp"
#include "metrics_http.hpp"
#include "status_json.hpp"
#include "tls_options.hpp"

#include <actr/identity.hpp>
#include <actr/signaling.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

namespace actr::cli {

namespace asio = boost::asio;

namespace {

// The AIS registration policy of the --ais-* options; an empty `error` when they make sense.
AisPolicy ais_policy(const SignalArgs& a, std::string& error) {
  AisPolicy p;
  p.open = a.ais_open;
  if (a.ais_open && (!a.ais_realm_secret_file.empty() || !a.ais_allow_types.empty()))
    error = "--ais-open admits everyone: it cannot be combined with --ais-realm-secret-file or --ais-allow-type";
  if (!a.ais_realm_secret_file.empty()) {
    std::ifstream in(a.ais_realm_secret_file, std::ios::binary);
    std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (!in.good() && !in.eof()) error = "--ais-realm-secret-file " + a.ais_realm_secret_file + ": cannot read it";
    else if (secret.empty()) error = "--ais-realm-secret-file " + a.ais_realm_secret_file + ": empty (or missing)";
    p.realm_secret = std::move(secret);
  }
  for (const auto& t : a.ais_allow_types) {
    // MFR:NAME admits every version: parse it with a placeholder version, then forget it.
    const bool any_version = std::count(t.begin(), t.end(), ':') == 1;
    auto parsed = ActrType::parse(any_version ? t + ":0" : t);
    if (!parsed) {
      error = "--ais-allow-type " + t + ": want MFR:NAME or MFR:NAME:VERSION";
      break;
    }
    if (any_version) parsed->version.clear();
    p.allowed_types.push_back(*parsed);
  }
  return p;
}

}  // namespace

int run_signal(const SignalArgs& a) {
  auto hp = split_host_port(a.listen);
  auto metrics_hp = a.metrics.empty() ? std::nullopt : split_host_port(a.metrics);
  if (!a.metrics.empty() && !metrics_hp) {
    std::cerr << "actr signal: --metrics '" << a.metrics << "' is not HOST:PORT\n";
    return 2;
  }
  if (!hp || a.ttl_ms <= 0 || a.heartbeat_ms <= 0 || a.keepalive_ms <= 0 || a.queue_limit <= 0 ||
      a.contact_ttl_ms <= 0 || a.cluster_ttl_ms <= 0) {
    std::cerr << "actr signal: bad --listen (want HOST:PORT) or a non-positive limit\n";
    return 2;
  }
  SignalingServerConfig cfg;
  cfg.registration_ttl = std::chrono::milliseconds(a.ttl_ms);
  cfg.heartbeat_interval = std::chrono::milliseconds(a.heartbeat_ms);
  cfg.keepalive_interval = std::chrono::milliseconds(a.keepalive_ms);
  cfg.client_queue_limit = static_cast<std::size_t>(a.queue_limit);
  cfg.contact_ttl = std::chrono::milliseconds(a.contact_ttl_ms);
  if (!a.cluster.empty()) {
    if (!signaling_cluster_url_valid(a.cluster)) {
      std::cerr << "actr signal: --cluster '" << a.cluster << "' is not redis://HOST[:PORT] or unix:///PATH\n";
      return 2;
    }
    cfg.cluster = a.cluster;
    cfg.cluster_ttl = std::chrono::milliseconds(a.cluster_ttl_ms);
    if (a.key_dir.empty())
      spdlog::warn("actr signal: --cluster without --key-dir: the other servers cannot verify the credentials "
                   "this one issues");
  }
  auto tls = server_tls_from_files(a.tls_cert, a.tls_key);
  if (!tls.error.empty()) {
    std::cerr << "actr signal: " << tls.error << "\n";
    return 2;
  }
  cfg.tls = tls.ctx;  // null: plain ws://
  if (a.credential_ttl_s <= 0) {
    std::cerr << "actr signal: --credential-ttl-s must be positive\n";
    return 2;
  }
  cfg.credential_lifetime = std::chrono::seconds(a.credential_ttl_s);
  if (!a.key_dir.empty()) {
    auto dir = KeyDirectory::open(a.key_dir);
    auto issuer = dir ? dir->issuer(cfg.credential_lifetime) : Result<std::shared_ptr<CredentialIssuer>>(dir.error());
    if (!issuer) {
      std::cerr << "actr signal: --key-dir " << a.key_dir << ": " << issuer.error().message() << "\n";
      return 2;
    }
    cfg.issuer = *issuer;
    spdlog::info("actr signal: signing with key {} of {}", dir->current().key_id(), a.key_dir);
  } else {
    // Credentials it issues die with the process: after a restart every client registers again.
    spdlog::warn("actr signal: no --key-dir: signing with a key for this process only");
  }
  cfg.require_identity = a.require_identity;
  if (!a.require_identity)
    spdlog::warn("actr signal: identity in the URL is optional (no --require-identity): a client without a "
                 "credential may register any id no live connection holds");
  std::string ais_error;
  cfg.ais = ais_policy(a, ais_error);
  if (!ais_error.empty()) {
    std::cerr << "actr signal: " << ais_error << "\n";
    return 2;
  }
  if (!cfg.ais.open && !cfg.ais.realm_secret && cfg.ais.allowed_types.empty())
    spdlog::info("actr signal: AIS registration closed (no --ais-open, --ais-realm-secret-file or --ais-allow-type)");
  asio::io_context io;
  SignalingServer server(io.get_executor(), cfg);
  auto port = server.listen(hp->first, hp->second);
  if (!port) {
    std::cerr << "actr signal: cannot listen on " << a.listen << ": " << port.error().message() << "\n";
    return 1;
  }
  // stdout carries exactly this line, so scripts and tests can use port 0. With TLS the scheme
  // follows, so a script knows to dial wss://.
  if (a.json)
    std::printf("%s\n", nlohmann::json{{"event", "listening"},
                                       {"url", std::string(cfg.tls ? "wss" : "ws") + "://" + hp->first + ":" +
                                                   std::to_string(*port) + "/"}}
                             .dump()
                             .c_str());
  else if (cfg.tls)
    std::printf("listening %s:%u wss\n", hp->first.c_str(), *port);
  else
    std::printf("listening %s:%u\n", hp->first.c_str(), *port);
  std::fflush(stdout);
  // Destroyed before the server (declared after it): no scrape reads a gone server.
  std::unique_ptr<MetricsServer> metrics;
  if (metrics_hp) {
    metrics = serve_metrics("actr signal", metrics_hp->first, metrics_hp->second,
                            [&server](Metrics& out) { collect_metrics(server, out); },
                            [&server] { return signal_state_json(server); }, a.json);
    if (!metrics) return 1;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    const auto st = server.stats();
    spdlog::info("actr signal: stopping ({} connections, {} registered, {} relayed, {} errors sent, {} slow "
                 "clients dropped)",
                 st.connections, st.registered, st.relayed, st.errors_sent, st.slow_dropped);
    asio::co_spawn(io, server.close(), [&](std::exception_ptr) { io.stop(); });
  });
  io.run();
  return 0;
}

}  // namespace actr::cli
