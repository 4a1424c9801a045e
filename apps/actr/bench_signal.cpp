// `actr bench signal` (issue 14): what one signaling server holds on this machine. Throughput is
// measured against a SignalingServer in this process, on its own thread and io_context pinned to
// the server CPU of the placement, with every SignalingClient on the main thread (the client CPU);
// the server thread's own CPU clock says how much of its CPU each operation cost. Its clients do
// not heartbeat (60 s), so registrations are counted alone. Memory and the heartbeat steady state
// are measured on a child `actr signal` process instead: its VmRSS holds nothing of the clients',
// and its CPU time (/proc/PID/stat) is the server's alone.
#include "bench.hpp"
#include "commands.hpp"
#include "process.hpp"

#include <actr/detail/task_group.hpp>
#include <actr/identity.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <nlohmann/json.hpp>

#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <thread>

namespace actr::cli {

namespace asio = boost::asio;

namespace {

constexpr int kRegisterWindow = 64;  // connect + register handshakes in flight
constexpr int kRelayWindow = 64;     // relays sent and not yet arrived (the server queues 256 per client)
constexpr int kMaxSetupPairs = 16;   // pairs negotiating set-ups at once
// In-process: no heartbeats within a run (the server suggests the same and keeps registrations
// for 3 intervals). Against the child: a ping a second (shorter than its 5 s suggestion, so used).
constexpr auto kNoHeartbeat = std::chrono::seconds(60);
constexpr auto kHeartbeat = std::chrono::seconds(1);

ActrId bench_id(const std::string& name, int i) {
  return *ActrId::parse(std::to_string(0x10000 + i) + "@101/actr:" + name + ":1.0.0");
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The in-process server: its own io_context, run by a thread pinned to `cpu`.
class ServerThread {
 public:
  ServerThread(int cpu, SignalingServerConfig cfg) : server_(io_.get_executor(), std::move(cfg)) {
    auto port = server_.listen("127.0.0.1", 0);
    if (!port) return;
    port_ = *port;
    thread_ = std::thread([this, cpu] {
      bench::pin(cpu);
      io_.run();
    });
    pthread_getcpuclockid(thread_.native_handle(), &clock_);
  }
  ~ServerThread() { stop(); }
  std::uint16_t port() const { return port_; }
  /// CPU seconds the server thread has used.
  double cpu_seconds() const {
    timespec ts{};
    if (!thread_.joinable() || clock_gettime(clock_, &ts) != 0) return 0;
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  }
  // Closes the server (bounded by its close_timeout), then lets the thread end.
  void stop() {
    if (!thread_.joinable()) return;
    asio::co_spawn(io_, server_.close(), [this](std::exception_ptr) { work_.reset(); });
    thread_.join();
  }

 private:
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  SignalingServer server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  clockid_t clock_{};
};

struct Ctx {
  asio::io_context& io;
  const BenchSignalArgs& a;
  ServerThread& server;
  ServerThread* second = nullptr;  // --cluster: the odd-numbered clients of a phase register here
  int server_cpu = -1;
  std::string url_of(int i) const {
    const auto& s = second && i % 2 == 1 ? *second : server;
    return "ws://127.0.0.1:" + std::to_string(s.port()) + "/";
  }
  double cpu() const { return server.cpu_seconds() + (second ? second->cpu_seconds() : 0.0); }
  nlohmann::json rows = nlohmann::json::array();
  Deadline end() const {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  }
  // One measured row: `ops` in `secs`, `cpu` seconds of the server thread meanwhile.
  void row(const std::string& metric, const std::string& what, double ops, double secs, double cpu) {
    rows.push_back({{"bench", "signal"}, {"metric", metric}, {"what", what}, {"peers", a.peers},
                    {"placement", a.placement}, {"ops", ops}, {"secs", secs}, {"per_s", ops / secs},
                    {"server_cpu", cpu / secs}, {"server_us_per_op", ops > 0 ? cpu * 1e6 / ops : 0.0}});
    if (!a.json)
      std::printf("%-10s %-46s %10s  server CPU %3.0f%%  %6.1f us/op\n", metric.c_str(), what.c_str(),
                  bench::fmt_rate(ops / secs, 0).c_str(), 100 * cpu / secs, ops > 0 ? cpu * 1e6 / ops : 0.0),
          std::fflush(stdout);
  }
  void failed(const std::string& metric) {
    rows.push_back({{"bench", "signal"}, {"metric", metric}, {"peers", a.peers}, {"failed", true}});
    if (!a.json) std::printf("%-10s failed\n", metric.c_str()), std::fflush(stdout);
  }
};

// Runs job(i) for every i in [0, n), `window` at a time (tasks of one TaskGroup on the client
// thread). False if a job failed or they did not all end in time.
asio::awaitable<bool> for_each(asio::io_context& io, int n, int window, std::function<asio::awaitable<bool>(int)> job) {
  detail::TaskGroup group(io.get_executor());
  int next = 0;
  bool good = true;
  for (int w = 0; w < std::min(n, window); ++w)
    group.spawn("bench-signal", [&]() -> asio::awaitable<void> {
      while (good && next < n) {
        auto r = co_await job(next++);
        if (!r) good = false;
      }
    });
  auto idle = co_await group.async_wait_idle(Clock::now() + std::chrono::seconds(60) + n * std::chrono::milliseconds(20));
  if (!idle) {
    group.close();
    (void)co_await group.async_wait_idle(Clock::now() + std::chrono::seconds(10));
    co_return false;
  }
  co_return good;
}

// Connects and registers clients[i] as `name` i, for every i, `kRegisterWindow` at a time.
asio::awaitable<bool> register_all(asio::io_context& io, std::vector<std::shared_ptr<SignalingClient>>& clients,
                                   const std::function<std::string(int)>& url_of, const std::string& name,
                                   std::chrono::milliseconds heartbeat = kNoHeartbeat) {
  SignalingClientConfig cfg;
  cfg.reconnect = false;  // a dropped client is a failure of the run, not something to hide
  cfg.heartbeat_interval = heartbeat;
  co_return co_await for_each(io, static_cast<int>(clients.size()), kRegisterWindow, [&](int i) -> asio::awaitable<bool> {
    clients[static_cast<std::size_t>(i)] = std::make_shared<SignalingClient>(io.get_executor(), cfg);
    auto& c = *clients[static_cast<std::size_t>(i)];
    auto up = co_await c.connect(url_of(i));
    if (!up) co_return false;
    auto r = co_await c.register_actor(bench_id(name, i));
    co_return r.has_value();
  });
}

asio::awaitable<void> close_all(asio::io_context& io, std::vector<std::shared_ptr<SignalingClient>>& clients) {
  (void)co_await for_each(io, static_cast<int>(clients.size()), kRegisterWindow, [&](int i) -> asio::awaitable<bool> {
    if (auto& c = clients[static_cast<std::size_t>(i)]) co_await c->close();
    co_return true;
  });
}

asio::awaitable<void> pause(asio::io_context& io, Clock::duration d) {
  asio::steady_timer t(io, d);
  co_await t.async_wait(asio::use_awaitable);
}

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

// CPU seconds process `pid` has used (user + system, /proc/PID/stat; clock-tick resolution).
double process_cpu_seconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::istringstream in(stat.substr(std::min(stat.size(), stat.rfind(')') + 2)));  // the name may hold spaces
  std::string skip;
  double utime = 0, stime = 0;
  for (int k = 3; k < 14; ++k) in >> skip;  // fields 3..13 (1-based); 14, 15: utime, stime
  in >> utime >> stime;
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// 4. A child `actr signal`: its VmRSS with 1 registered peer, then with N heartbeating (the growth
// per peer); meanwhile the heartbeats it answers, and its CPU time for them.
asio::awaitable<bool> bench_memory(Ctx& c) {
  ChildProcess child;
  std::optional<std::string> line;
  if (child.spawn({"--log-level", "error", "signal", "--listen", "127.0.0.1:0"}))
    line = child.read_line_with("listening ", std::chrono::seconds(10));
  if (!line) {
    c.failed("memory");
    co_return false;
  }
  bench::pin(c.server_cpu, child.pid());
  const auto url = "ws://127.0.0.1:" + line->substr(line->rfind(':') + 1) + "/";
  std::vector<std::shared_ptr<SignalingClient>> first(1), rest(static_cast<std::size_t>(c.a.peers - 1));
  bool good = co_await register_all(c.io, first, [&url](int) { return url; }, "bench-mem0", kHeartbeat);
  co_await pause(c.io, std::chrono::milliseconds(300));
  const double rss1 = bench::rss_kib(child.pid());
  if (good) good = co_await register_all(c.io, rest, [&url](int) { return url; }, "bench-mem", kHeartbeat);
  auto pongs = [&] {
    std::uint64_t n = first[0] ? first[0]->pongs() : 0;
    for (auto& cl : rest) n += cl ? cl->pongs() : 0;
    return n;
  };
  co_await pause(c.io, kHeartbeat);  // every client's first ping is due within it
  const auto p0 = pongs();
  const auto t0 = Clock::now();
  const auto cpu0 = process_cpu_seconds(child.pid());
  co_await pause(c.io, c.end() - Clock::now());
  if (good)
    c.row("heartbeat", std::to_string(c.a.peers) + " registered (child), a ping each every 1 s",
          static_cast<double>(pongs() - p0), since(t0), process_cpu_seconds(child.pid()) - cpu0);
  const double rssn = bench::rss_kib(child.pid());
  const double per_peer = (rssn - rss1) / (c.a.peers - 1);
  if (good && rss1 > 0) {
    c.rows.push_back({{"bench", "signal"}, {"metric", "memory"}, {"peers", c.a.peers}, {"placement", c.a.placement},
                      {"method", "VmRSS of a child `actr signal` process, 1 peer registered vs N heartbeating"},
                      {"rss_kib_1_peer", rss1}, {"rss_kib_n_peers", rssn}, {"kib_per_peer", per_peer}});
    if (!c.a.json)
      std::printf("%-10s child `actr signal` VmRSS %.1f MiB with 1 peer, %.1f MiB with %d: %.1f KiB per registered peer\n",
                  "memory", rss1 / 1024, rssn / 1024, c.a.peers, per_peer);
  } else {
    c.failed("memory");
  }
  co_await close_all(c.io, first);
  co_await close_all(c.io, rest);
  child.terminate();
  (void)child.wait(std::chrono::seconds(5));
  co_return good && rss1 > 0;
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
