// `actr bench signal`, phase 4: memory per registered peer and the heartbeat steady state, on a
// child `actr signal` process (its VmRSS and CPU time hold nothing of the clients').
#include "bench_signal_support.hpp"

namespace actr::cli::sigbench {

namespace {
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
}  // namespace

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


}  // namespace actr::cli::sigbench
