// `actr bench signal` (issue 14): what one signaling server holds on this machine. Throughput is
// measured against a SignalingServer in this process, on its own thread and io_context pinned to
// the server CPU of the placement, with every SignalingClient on the main thread (the client CPU);
// the server thread's own CPU clock says how much of its CPU each operation cost. Its clients do
// not heartbeat (60 s), so registrations are counted alone. Memory and the heartbeat steady state
// are measured on a child `actr signal` process instead: its VmRSS holds nothing of the clients',
// and its CPU time (/proc/PID/stat) is the server's alone.
#include "bench_signal_support.hpp"

namespace actr::cli {

using namespace sigbench;

namespace {

// 1. N clients connect + register (TCP connect and WebSocket upgrade included).
asio::awaitable<bool> bench_register(Ctx& c) {
  std::vector<std::shared_ptr<SignalingClient>> clients(static_cast<std::size_t>(c.a.peers));
  const auto t0 = Clock::now();
  const auto cpu0 = c.cpu();
  const bool up = co_await register_all(c.io, clients, [&c](int i) { return c.url_of(i); }, "bench-reg");
  if (up) c.row("register", "connect + register, " + std::to_string(kRegisterWindow) + " at a time", c.a.peers, since(t0),
                c.cpu() - cpu0);
  else c.failed("register");
  co_await close_all(c.io, clients);
  co_return up;
}

PeerSignal ice_candidate(int k) {
  PeerSignal s;
  s.kind = PeerSignal::Kind::IceCandidate;
  s.candidate = "candidate:" + std::to_string(k) + " 1 UDP 2122260223 192.168.1.10 5432" + std::to_string(k) + " typ host";
  s.sdp_mid = "0";
  s.sdp_mline_index = 0;
  s.username_fragment = "bEnC";
  return s;
}

PeerSignal description(PeerSignal::Kind kind) {
  PeerSignal s;
  s.kind = kind;
  s.sdp = std::string(800, 's');  // a DataChannel-only SDP is 600-900 bytes
  s.sdp_exchange_id = "6f1c8a52-93b1-4c1e-9d0a-2b7c5e0f4a11";
  return s;
}

// 2. One pair: A relays ICE candidates to B, `kRelayWindow` sent and not yet arrived at B.
asio::awaitable<bool> bench_relay(Ctx& c) {
  std::vector<std::shared_ptr<SignalingClient>> pair(2);
  bool good = co_await register_all(c.io, pair, [&c](int i) { return c.url_of(i); }, "bench-relay");
  std::uint64_t sent = 0, got = 0;
  const auto to = bench_id("bench-relay", 1);
  const auto signal = ice_candidate(1);
  const auto t0 = Clock::now(), end = c.end();
  const auto cpu0 = c.cpu();
  while (good) {
    while (sent - got < kRelayWindow && Clock::now() < end) {
      auto r = co_await pair[0]->send_signal(to, signal);
      if (!r) break;
      ++sent;
    }
    if (got == sent) break;
    auto s = co_await pair[1]->next_signal(Clock::now() + std::chrono::seconds(5));
    if (!s) good = false;
    else ++got;
  }
  if (good && got > 0)
    c.row("relay", "1 pair, ICE candidates, window " + std::to_string(kRelayWindow), static_cast<double>(got), since(t0),
          c.cpu() - cpu0);
  else c.failed("relay");
  co_await close_all(c.io, pair);
  co_return good && got > 0;
}

// One hop of a set-up: `from` relays `signal` to `to`; true once it arrived, of the kind sent.
asio::awaitable<bool> hop(SignalingClient& from, SignalingClient& to, const ActrId& to_id, PeerSignal signal,
                          Deadline deadline) {
  const auto kind = signal.kind;
  auto sent = co_await from.send_signal(to_id, std::move(signal));
  if (!sent) co_return false;
  auto got = co_await to.next_signal(deadline);
  co_return got.has_value() && got->signal.kind == kind;
}

// One set-up's signaling between x and y: role negotiation, offer, answer, 2 ICE candidates each
// way (sent one after another, as a trickle; each hop waits for its arrival).
asio::awaitable<bool> one_setup(SignalingClient& x, const ActrId& xid, SignalingClient& y, const ActrId& yid) {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  auto role = co_await x.negotiate_role(yid);
  if (!role) co_return false;
  auto told = co_await y.next_role_assignment(deadline);
  if (!told || told->is_offerer == *role) co_return false;
  auto& off = *role ? x : y;
  auto& ans = *role ? y : x;
  const auto& off_id = *role ? xid : yid;
  const auto& ans_id = *role ? yid : xid;
  bool good = co_await hop(off, ans, ans_id, description(PeerSignal::Kind::Offer), deadline);
  if (good) good = co_await hop(ans, off, off_id, description(PeerSignal::Kind::Answer), deadline);
  for (int k = 0; good && k < 2; ++k) {
    good = co_await hop(off, ans, ans_id, ice_candidate(k), deadline);
    if (good) good = co_await hop(ans, off, off_id, ice_candidate(k), deadline);
  }
  co_return good;
}

// 3. Pairs doing set-ups' signaling back to back, each pair one set-up at a time.
asio::awaitable<bool> bench_setup(Ctx& c) {
  const int pairs = std::clamp(c.a.peers / 2, 1, kMaxSetupPairs);
  std::vector<std::shared_ptr<SignalingClient>> clients(static_cast<std::size_t>(2 * pairs));
  bool good = co_await register_all(c.io, clients, [&c](int i) { return c.url_of(i); }, "bench-setup");
  std::uint64_t done = 0;
  const auto t0 = Clock::now(), end = c.end();
  const auto cpu0 = c.cpu();
  if (good)
    good = co_await for_each(c.io, pairs, pairs, [&](int p) -> asio::awaitable<bool> {
      const auto xi = static_cast<std::size_t>(2 * p);
      while (Clock::now() < end) {
        auto ok = co_await one_setup(*clients[xi], bench_id("bench-setup", 2 * p), *clients[xi + 1],
                                     bench_id("bench-setup", 2 * p + 1));
        if (!ok) co_return false;
        ++done;
      }
      co_return true;
    });
  if (good && done > 0)
    c.row("setup", std::to_string(pairs) + " pairs: role + offer + answer + 4 ICE", static_cast<double>(done),
          since(t0), c.cpu() - cpu0);
  else c.failed("setup");
  co_await close_all(c.io, clients);
  co_return good && done > 0;
}

// Descriptors for 2 x peers sockets (clients and in-process server) and some to spare.
bool raise_fd_limit(int peers) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  lim.rlim_cur = lim.rlim_max;
  (void)setrlimit(RLIMIT_NOFILE, &lim);
  return getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur >= static_cast<rlim_t>(2 * peers + 256);
}

}  // namespace

int run_bench_signal(const BenchSignalArgs& a) {
  int scpu = -1, ccpu = -1;
  if (!bench::placement_cpus(a.placement, scpu, ccpu)) {
    std::cerr << "actr bench signal: --placement is same, split or free\n";
    return 2;
  }
  if (a.peers < 2 || a.seconds <= 0) {
    std::cerr << "actr bench signal: --peers must be at least 2 and --seconds positive\n";
    return 2;
  }
  if (!raise_fd_limit(a.peers)) {
    std::cerr << "actr bench signal: RLIMIT_NOFILE is too low for " << a.peers << " peers (need " << 2 * a.peers + 256
              << " descriptors; see ulimit -Hn)\n";
    return 2;
  }
  // Thousands of connections from 127.0.0.1: the per-address limits (loopback is exempt by
  // default anyway) are off, so what is measured is the server, not its admission policy.
  SignalingServerConfig cfg;
  cfg.ip_limits.enabled = false;
  cfg.heartbeat_interval = kNoHeartbeat;
  cfg.registration_ttl = 3 * kNoHeartbeat;
  std::optional<ServerThread> second;
  if (!a.cluster.empty()) {
    // Two servers on one engine, one signing key (each verifies the other's credentials); both
    // on the server CPU, beside the engine (the caller places redis-server).
    if (!signaling_cluster_url_valid(a.cluster)) {
      std::cerr << "actr bench signal: --cluster is redis://HOST[:PORT] or unix:///PATH\n";
      return 2;
    }
    cfg.cluster = a.cluster;
    auto issuer = CredentialIssuer::ephemeral(std::chrono::seconds{3600});
    if (!issuer) return 1;
    cfg.issuer = *issuer;
  }
  ServerThread server(scpu, cfg);
  if (!a.cluster.empty()) second.emplace(scpu, cfg);
  if (server.port() == 0 || (second && second->port() == 0)) {
    std::cerr << "actr bench signal: the server cannot listen on 127.0.0.1\n";
    return 1;
  }
  bench::pin(ccpu);  // the client thread; the server thread pinned itself
  if (!a.json)
    std::printf("actr bench signal: %s; placement %s (server thread CPU %s, clients CPU %s); %d peers; %.1f s windows\n"
                "%s; every SignalingClient on one thread; ws:// on 127.0.0.1\n\n",
                bench::cpu_model().c_str(), a.placement.c_str(), scpu < 0 ? "any" : std::to_string(scpu).c_str(),
                ccpu < 0 ? "any" : std::to_string(ccpu).c_str(), a.peers, a.seconds,
                second ? ("two in-process SignalingServers on " + a.cluster + ", each on its own thread").c_str()
                       : "one in-process SignalingServer on its own thread");
  asio::io_context io(1);
  Ctx c{io, a, server, second ? &*second : nullptr, scpu};
  int failures = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (auto phase : {bench_register, bench_relay, bench_setup, bench_memory}) {
          if (phase == bench_memory && c.second) continue;  // its child is one server without an engine
          auto ok = co_await phase(c);
          if (!ok) ++failures;
        }
      },
      [&](std::exception_ptr e) {
        if (e) ++failures;
      });
  io.run();
  server.stop();
  if (second) second->stop();
  if (a.json) std::cout << c.rows.dump(2) << "\n";
  return failures == 0 ? 0 : 1;
}

}  // namespace actr::cli