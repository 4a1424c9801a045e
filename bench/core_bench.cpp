// Core benchmarks over in-memory wires (tests/support/memory_wire.hpp), on one thread.
//
// Every benchmark drives its own io_context from this thread: work is co_spawned and the loop
// runs handler by handler until that work has finished, so nothing here sleeps or polls a clock
// to wait for an event. Results and how to run them: docs/benchmarks.md.
//
// Never write `if (co_await x)` here: GCC 12.2 (Debian 12) miscompiles a co_await in an `if`
// condition outside a loop (the frame's fields are read shifted and the coroutine crashes on
// resume; reproduced with a 6-line asio program). Await into a local first.

#include <actr/outproc_transport_manager.hpp>

#include "core/test_util.hpp"
#include "support/memory_wire.hpp"

#include <benchmark/benchmark.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>

namespace {

using namespace actr;
using namespace actr::testing;
namespace asio = boost::asio;

constexpr int kBatch = 1000;  // sends per spawned coroutine: spawn/run cost is < 0.1% of a batch
const Bytes kMsg(64, 0x5a);   // a small RPC message

// Runs `aw` on `io` until it completes. run_one() returns after each handler, so we stop exactly
// when the coroutine is done even if unrelated timers (e.g. 10 s connect bounds) are pending.
void run(asio::io_context& io, asio::awaitable<void> aw) {
  bool done = false;
  std::exception_ptr err;
  asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e) { err = e, done = true; });
  io.restart();
  while (!done && io.run_one() > 0) continue;
  if (err) std::rethrow_exception(err);
  if (!done) throw std::logic_error("io_context ran out of work before the coroutine finished");
}

std::vector<Dest> make_dests(std::size_t n) {
  std::vector<Dest> ds;
  ds.reserve(n);
  for (std::size_t i = 0; i < n; ++i) ds.push_back(actor(i + 1));  // serials 1..n
  return ds;
}

std::size_t serial_of(const Dest& d) {
  const ActrId* id = d.as_actor_id();
  return id ? id->serial_number : 0;
}

// A dial taking a simulated time (a timer: dial_time + serial x spread), then MemoryBuilder builds
// the wires so dials and connects per (dest, kind) are still counted. Records when each dial
// completed: the reference point of a storm sender's extra wait.
class TimedBuilder : public WireBuilder {
 public:
  TimedBuilder(std::shared_ptr<MemoryBuilder> inner, std::chrono::microseconds dial_time,
               std::chrono::microseconds spread, std::size_t dests)
      : inner_(std::move(inner)), dial_time_(dial_time), spread_(spread), done_(dests + 1) {}

  asio::awaitable<Result<std::vector<std::shared_ptr<WireHandle>>>> create_connections(Dest dest,
                                                                                        WireKindSet kinds) override {
    const auto serial = serial_of(dest);
    asio::steady_timer t(co_await asio::this_coro::executor, dial_time_ + spread_ * static_cast<int>(serial));
    auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return make_error_code(NetworkError::Cancelled);  // honours cancellation, as required
    auto r = co_await inner_->create_connections(std::move(dest), kinds);
    done_.at(serial) = Clock::now();
    co_return r;
  }
  Clock::time_point dial_done(const Dest& d) const { return done_.at(serial_of(d)); }

 private:
  std::shared_ptr<MemoryBuilder> inner_;
  std::chrono::microseconds dial_time_, spread_;
  std::vector<Clock::time_point> done_;  // by serial number
};

// One manager over in-memory wires whose inbox only counts (no message is stored).
struct World {
  asio::io_context io;
  std::shared_ptr<MemoryBuilder> wires = MemoryBuilder::create(std::make_shared<Inbox>(/*store=*/false));
  std::shared_ptr<TimedBuilder> timed;  // set for the storm only
  std::unique_ptr<OutprocTransportManager> mgr;

  World() : mgr(make_mgr(wires)) {}
  World(std::chrono::microseconds dial_time, std::chrono::microseconds spread, std::size_t dests)
      : timed(std::make_shared<TimedBuilder>(wires, dial_time, spread, dests)), mgr(make_mgr(timed)) {}
  ~World() {
    mgr.reset();  // cancels the manager's tasks; let them unwind before the io_context goes
    io.restart();
    while (io.poll() > 0) continue;
  }
  std::unique_ptr<OutprocTransportManager> make_mgr(std::shared_ptr<WireBuilder> b) {
    return std::make_unique<OutprocTransportManager>(io.get_executor(), actor_id(0, "self"), std::move(b));
  }
};

// Dials each destination, waits until both its wires are Ready (level-triggered pool waits, no
// polling) and sends one message, so the WebRTC lane exists as on any live destination.
asio::awaitable<void> connect_all(OutprocTransportManager& mgr, const std::vector<Dest>& ds) {
  for (const auto& d : ds) {
    auto t = (co_await mgr.get_or_create_transport(d)).value();
    auto& pool = t->pool();
    auto ready = [&] { return pool.get_connection(WireKind::WebRtc) && pool.get_connection(WireKind::WebSocket); };
    for (auto seen = pool.version(); !ready(); seen = pool.version())  // version first: Notifier protocol
      (co_await pool.async_wait_change(seen, Clock::now() + std::chrono::seconds(10))).value();
    (co_await mgr.send(d, PayloadType::RpcReliable, kMsg)).value();
  }
}

asio::awaitable<void> direct_batch(DataLane& lane, int n, std::uint64_t& failed) {
  for (int i = 0; i < n; ++i) {
    const auto r = co_await lane.send(kMsg);  // not `if (co_await ..)`: GCC 12.2 bug, see top
    failed += r ? 0 : 1;
  }
}

// Round-robin over `ds` (creation order; their hash-map buckets are scattered anyway).
asio::awaitable<void> manager_batch(OutprocTransportManager& mgr, const std::vector<Dest>& ds, std::size_t& cursor,
                                    int n, std::uint64_t& failed) {
  for (int i = 0; i < n; ++i) {
    const Dest& d = ds[cursor];
    if (++cursor == ds.size()) cursor = 0;
    const auto r = co_await mgr.send(d, PayloadType::RpcReliable, kMsg);
    failed += r ? 0 : 1;
  }
}

// glibc's count of bytes handed out by malloc (all arenas, plus mmapped blocks).
std::size_t heap_in_use() {
  const auto mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// ---- 1. direct lane send vs manager send, same wire -------------------------------------------

void BM_SendDirectOnWire(benchmark::State& st) {
  World w;
  const auto dests = make_dests(1);
  run(w.io, connect_all(*w.mgr, dests));
  std::shared_ptr<DataLane> lane;
  run(w.io, [&]() -> asio::awaitable<void> {  // run() completes before the lambda temporary dies
    auto t = (co_await w.mgr->get_or_create_transport(dests[0])).value();
    lane = t->pool().get_connection(WireKind::WebRtc)->get_lane(PayloadType::RpcReliable).value();
  }());
  std::uint64_t failed = 0;
  while (st.KeepRunningBatch(kBatch)) run(w.io, direct_batch(*lane, kBatch, failed));
  if (failed) st.SkipWithError("a send failed");
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_SendDirectOnWire);

// ---- 1 + 3. manager send on connected destinations, 1 vs 10,000 of them ------------------------

// The in-memory wires' share of bytes_per_dest (MemoryWire objects, lane, MemoryBuilder's counters),
// built the same way without a manager. Library bytes per destination = the difference.
double wire_bytes_per_dest(const std::vector<Dest>& ds) {
  asio::io_context io;
  auto b = MemoryBuilder::create(std::make_shared<Inbox>(false));
  std::vector<std::shared_ptr<WireHandle>> keep;
  keep.reserve(2 * ds.size());
  const auto before = heap_in_use();
  run(io, [&]() -> asio::awaitable<void> {
    for (const auto& d : ds) {
      auto hs = (co_await b->create_connections(d, WireKindSet::all())).value();
      for (auto& h : hs) (co_await h->connect()).value();
      (co_await hs.at(0)->get_lane(PayloadType::RpcReliable).value()->send(kMsg)).value();  // WebRTC first
      keep.insert(keep.end(), hs.begin(), hs.end());
    }
  }());
  return static_cast<double>(heap_in_use() - before) / static_cast<double>(ds.size());
}

void BM_SendViaManager(benchmark::State& st) {
  const auto dests = make_dests(static_cast<std::size_t>(st.range(0)));
  World w;
  const auto before = heap_in_use();
  run(w.io, connect_all(*w.mgr, dests));
  const auto after = heap_in_use();
  std::size_t cursor = 0;
  std::uint64_t failed = 0;
  while (st.KeepRunningBatch(kBatch)) run(w.io, manager_batch(*w.mgr, dests, cursor, kBatch, failed));
  if (failed) st.SkipWithError("a send failed");
  if (w.wires->total_dials() != dests.size()) st.SkipWithError("a destination was dialed twice");
  st.SetItemsProcessed(st.iterations());
  if (dests.size() < 1000) return;  // per-destination memory of a handful of dests is noise
  st.counters["bytes_per_dest"] = static_cast<double>(after - before) / static_cast<double>(dests.size());
  st.counters["wire_bytes_per_dest"] = wire_bytes_per_dest(dests);
}
BENCHMARK(BM_SendViaManager)->ArgName("dests")->Arg(1)->Arg(10000);

// ---- 2. dedup storm: 1,000 cold destinations x 10 concurrent first sends ----------------------

constexpr std::size_t kStormDests = 1000;
constexpr std::size_t kSendsPerDest = 10;

asio::awaitable<void> storm_send(OutprocTransportManager& mgr, const Dest& d, Clock::time_point& done_at,
                                 std::uint64_t& failed, std::size_t& remaining) {
  const auto r = co_await mgr.send(d, PayloadType::RpcReliable, kMsg);
  done_at = Clock::now();
  failed += r ? 0 : 1;
  --remaining;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  auto it = v.begin() + static_cast<std::ptrdiff_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), it, v.end());
  return *it;
}

// Iteration time (manual) = first spawn to last send completion. All 10,000 senders are spawned
// before the loop runs, the 10 of a destination back to back, so all 10 are first sends racing
// the same cold destination. spread_us:0 is the storm as specified (every dial takes dial_ms, so
// they complete close together and their post-dial work queues on this one thread);
// dial_ms:50/spread_us:400 lets dials finish 400 us apart once every sender is parked and every
// dial started, which isolates the library's own post-dial latency from queueing on the thread.
void BM_DedupStorm(benchmark::State& st) {
  const auto dests = make_dests(kStormDests);
  std::vector<double> extra_wait_us;
  std::uint64_t failed = 0, dials = 0, max_connects = 0, min_connects = ~0ull;
  for (auto _ : st) {
    World w(std::chrono::milliseconds(st.range(0)), std::chrono::microseconds(st.range(1)), kStormDests);
    std::vector<Clock::time_point> done_at(kStormDests * kSendsPerDest);
    std::size_t remaining = done_at.size();
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < done_at.size(); ++i)
      asio::co_spawn(w.io, storm_send(*w.mgr, dests[i / kSendsPerDest], done_at[i], failed, remaining),
                     [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    while (remaining > 0 && w.io.run_one() > 0) continue;  // blocks on dial timers: events, not sleeps
    st.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
    if (remaining > 0) return st.SkipWithError("storm did not finish");
    if (w.wires->total_dials() != kStormDests) return st.SkipWithError("not one dial per destination");
    for (std::size_t i = 0; i < done_at.size(); ++i)
      extra_wait_us.push_back(
          std::chrono::duration<double, std::micro>(done_at[i] - w.timed->dial_done(dests[i / kSendsPerDest])).count());
    for (const auto& d : dests)
      for (auto k : {WireKind::WebRtc, WireKind::WebSocket})
        max_connects = std::max(max_connects, w.wires->connects(d, k)),
        min_connects = std::min(min_connects, w.wires->connects(d, k));
    dials += w.wires->total_dials();
  }
  if (failed) st.SkipWithError("a send failed");
  const auto per_storm = benchmark::Counter::kAvgIterations;
  st.counters["dials"] = benchmark::Counter(static_cast<double>(dials), per_storm);
  st.counters["connects_min"] = static_cast<double>(min_connects);  // per (dest, kind); must be 1
  st.counters["connects_max"] = static_cast<double>(max_connects);
  st.counters["wait_p50_us"] = percentile(extra_wait_us, 0.50);
  st.counters["wait_p99_us"] = percentile(extra_wait_us, 0.99);
  st.counters["wait_max_us"] = percentile(extra_wait_us, 1.0);
  st.SetItemsProcessed(st.iterations() * static_cast<std::int64_t>(kStormDests * kSendsPerDest));
}
BENCHMARK(BM_DedupStorm)
    ->ArgNames({"dial_ms", "spread_us"})
    ->Args({2, 0})
    ->Args({50, 400})
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// ---- ratios, printed after the table ------------------------------------------------------------

// Console output plus the target ratios, computed from the median aggregate when repetitions
// are on (else from the single run), so direct and manager come from the same invocation.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      auto it = r.counters.find("items_per_second");
      if (r.error_occurred || it == r.counters.end() || (r.run_type == Run::RT_Aggregate && !median)) continue;
      auto& slot = rate_[r.run_name.str()];
      if (median || !slot.first) slot = {median, it->second.value};
    }
  }
  void print_ratios() const {
    ratio("manager/direct throughput (target >= 0.9)", "BM_SendViaManager/dests:1", "BM_SendDirectOnWire");
    ratio("ns/send 10k dests / 1 dest (target <= 1.2)", "BM_SendViaManager/dests:1", "BM_SendViaManager/dests:10000");
  }

 private:
  void ratio(const char* what, const std::string& num, const std::string& den) const {
    auto a = rate_.find(num), b = rate_.find(den);
    if (a != rate_.end() && b != rate_.end()) std::printf("ratio %s: %.3f\n", what, a->second.second / b->second.second);
  }
  std::map<std::string, std::pair<bool, double>> rate_;  // name -> (is median, items/s)
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // The console report is always used (--benchmark_format is ignored); use --benchmark_out for JSON.
  RatioReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Color : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
  return 0;
}
