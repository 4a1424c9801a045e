#pragma once
// Shared by the phases of `actr bench signal` (bench_signal.cpp, bench_signal_memory.cpp): the
// in-process server thread, the run's context and rows, and the client helpers.

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


namespace actr::cli::sigbench {

namespace asio = boost::asio;

constexpr int kRegisterWindow = 64;  // connect + register handshakes in flight
constexpr int kRelayWindow = 64;     // relays sent and not yet arrived (the server queues 256 per client)
constexpr int kMaxSetupPairs = 16;   // pairs negotiating set-ups at once
// In-process: no heartbeats within a run (the server suggests the same and keeps registrations
// for 3 intervals). Against the child: a ping a second (shorter than its 5 s suggestion, so used).
constexpr auto kNoHeartbeat = std::chrono::seconds(60);
constexpr auto kHeartbeat = std::chrono::seconds(1);

// The realm is this process's id: with --cluster, an engine outlives a run and keeps the last
// run's registrations until they expire (a server that stops leaves them to their clients).
inline ActrId bench_id(const std::string& name, int i) {
  static const std::string realm = std::to_string(1 + ::getpid() % 100000);
  return *ActrId::parse(std::to_string(0x10000 + i) + "@" + realm + "/actr:" + name + ":1.0.0");
}

inline double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

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
inline asio::awaitable<bool> for_each(asio::io_context& io, int n, int window, std::function<asio::awaitable<bool>(int)> job) {
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
inline asio::awaitable<bool> register_all(asio::io_context& io, std::vector<std::shared_ptr<SignalingClient>>& clients,
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

inline asio::awaitable<void> close_all(asio::io_context& io, std::vector<std::shared_ptr<SignalingClient>>& clients) {
  (void)co_await for_each(io, static_cast<int>(clients.size()), kRegisterWindow, [&](int i) -> asio::awaitable<bool> {
    if (auto& c = clients[static_cast<std::size_t>(i)]) co_await c->close();
    co_return true;
  });
}

inline asio::awaitable<void> pause(asio::io_context& io, Clock::duration d) {
  asio::steady_timer t(io, d);
  co_await t.async_wait(asio::use_awaitable);
}

/// 4. (bench_signal_memory.cpp) A child `actr signal`: VmRSS per registered peer, heartbeats.
asio::awaitable<bool> bench_memory(Ctx& c);

}  // namespace actr::cli::sigbench
