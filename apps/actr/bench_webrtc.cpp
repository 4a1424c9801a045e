// `actr bench webrtc`: the orchestrator. Every cell is a server and a client process of one
// implementation on 127.0.0.1, pinned per placement, spawned from this executable; the client
// prints its result. `raw` and `wire` peers exchange their offer/answer/candidates over a
// loopback TCP pipe of their own; `actr` peers go through an `actr signal` process started here.
// Then the cold start: fresh server nodes, one client node that contacts each in turn.
#include "bench.hpp"
#include "commands.hpp"
#include "process.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>

namespace actr::cli {

namespace {

using namespace std::chrono_literals;
using Strings = std::vector<std::string>;

struct Run {
  explicit Run(const BenchRtcArgs& args) : a(args) {}
  const BenchRtcArgs& a;
  int scpu = -1, ccpu = -1;
  std::string signal_url;
  int next_index = 0;
  int failures = 0;
  std::map<std::string, std::vector<double>> connect_ms;  // per impl
  nlohmann::json out = nlohmann::json::object();
};

Strings operator+(Strings a, const Strings& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Waits for a child to end by itself; false (with a note on stderr) if it failed or hung.
bool ended_well(ChildProcess& c, const std::string& what, std::chrono::milliseconds d) {
  const auto rc = c.wait(d);
  if (rc && *rc == 0) return true;
  std::fprintf(stderr, "actr bench webrtc: %s %s\n", what.c_str(),
               rc ? ("exited with status " + std::to_string(*rc)).c_str() : "did not exit in time (killed)");
  return false;
}

std::optional<bench::Measured> run_cell(Run& run, const std::string& impl, const std::string& mode,
                                        const std::string& lane, std::size_t size) {
  const auto& a = run.a;
  const std::string what = impl + " " + lane + " " + mode + " " + std::to_string(size) + " B";
  Strings common{"--log-level", "error", "bench",   "peer", "--impl",    "rtc-" + impl,
                 "--mode",      mode,    "--lane",  lane,   "--size",    std::to_string(size),
                 "--window",    std::to_string(a.window), "--seconds", std::to_string(a.seconds),
                 "--rate",      std::to_string(a.rate)};
  if (impl == "actr") common = common + Strings{"--signal", run.signal_url, "--index", std::to_string(run.next_index++)};
  ChildProcess server, client;
  if (!server.spawn(common + Strings{"--role", "server", "--cpu", std::to_string(run.scpu)})) return std::nullopt;
  auto port_line = server.read_line_with("port ", 30s);
  if (!port_line) {
    std::fprintf(stderr, "actr bench webrtc: %s: the server did not start\n", what.c_str());
    return std::nullopt;
  }
  if (!client.spawn(common + Strings{"--role", "client", "--port", port_line->substr(5), "--cpu", std::to_string(run.ccpu)}))
    return std::nullopt;
  auto line = client.read_line_with("RESULT ", std::chrono::milliseconds(static_cast<long>(a.seconds * 1000) + 60000));
  bool ok = ended_well(client, what + " client", 20s);
  if (impl == "actr") server.terminate();  // the others end when their client hangs up
  ok = ended_well(server, what + " server", 20s) && ok;
  if (!line || !ok) return std::nullopt;
  auto j = nlohmann::json::parse(line->substr(7), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  bench::Measured m{j["msgs"].get<double>(), j["secs"].get<double>(),  j["p50_us"].get<double>(),
                    j["p99_us"].get<double>(), j["sent"].get<double>(), j["lost"].get<double>(),
                    j["connect_ms"].get<double>()};
  if (m.msgs <= 0 || m.secs <= 0) return std::nullopt;
  return m;
}

std::string cell_text(const bench::Measured& m, const std::string& mode, bool latency, std::size_t size) {
  char b[96];
  if (mode == "rtt") {
    std::snprintf(b, sizeof b, "p50 %.0f p99 %.0f us", m.p50_us, m.p99_us);
    std::string s = b;
    if (m.lost > 0) s += " lost " + std::to_string(static_cast<long>(m.lost));
    return s;
  }
  std::string s = bench::fmt_rate(m.msgs / m.secs, size);
  if (mode == "oneway" && latency && m.sent > 0) {
    std::snprintf(b, sizeof b, " %.1f%%", 100.0 * m.msgs / m.sent);
    s += b;
  }
  return s;
}

void run_table(Run& run) {
  const auto& a = run.a;
  if (!a.json) {
    std::printf("%-6s %-9s %-7s", "size", "lane", "mode");
    for (const auto& impl : a.impls) std::printf(" %-26s", impl.c_str());
    std::printf(" vs raw\n");
  }
  run.out["cells"] = nlohmann::json::array();
  for (const auto& size_s : a.sizes) {
    const auto size = bench::parse_size(size_s);
    for (const auto& lane : a.lanes) {
      const bool latency = lane == "latency";
      for (const auto& mode : a.modes) {
        if (latency && mode == "echo") continue;  // a lost message would stall the window
        std::map<std::string, bench::Measured> row;
        if (!a.json) std::printf("%-6s %-9s %-7s", size_s.c_str(), lane.c_str(), mode.c_str()), std::fflush(stdout);
        for (const auto& impl : a.impls) {
          auto m = run_cell(run, impl, mode, lane, size);
          std::string cell = "failed";
          if (m) {
            row[impl] = *m;
            cell = cell_text(*m, mode, latency, size);
            run.connect_ms[impl].push_back(m->connect_ms);
            run.out["cells"].push_back({{"impl", impl}, {"lane", lane}, {"mode", mode}, {"size", size},
                                        {"placement", a.placement}, {"msgs", m->msgs}, {"secs", m->secs},
                                        {"msg_per_s", m->msgs / m->secs}, {"p50_us", m->p50_us},
                                        {"p99_us", m->p99_us}, {"sent", m->sent}, {"lost", m->lost},
                                        {"connect_ms", m->connect_ms}});
          } else {
            ++run.failures;
          }
          if (!a.json) std::printf(" %-26s", cell.c_str()), std::fflush(stdout);
        }
        if (a.json) continue;
        for (const char* ours : {"actr", "wire"}) {
          if (!row.count(ours) || !row.count("raw")) continue;
          const auto& x = row[ours];
          const auto& r = row["raw"];
          std::printf(" %s %.2fx", ours, mode == "rtt" ? x.p50_us / r.p50_us : (x.msgs / x.secs) / (r.msgs / r.secs));
        }
        std::printf("\n");
      }
    }
  }
  if (a.json) return;
  std::printf("\nconnect, client side, ms (p50 / min / max over the cells; wire, raw: start → channels open; actr: first\n"
              "call, which sets the WebRTC wire up through `actr signal`):");
  for (auto& [impl, v] : run.connect_ms) {
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    std::printf("  %s %.0f / %.0f / %.0f", impl.c_str(), v[v.size() / 2], v.front(), v.back());
  }
  std::printf("\n");
}

// Fresh server nodes (registered, idle); two client nodes, one after the other, call each of
// them in turn. Client 1 meets fresh servers; client 2 meets servers that already made one
// WebRTC connection. A process's first connection also pays for its DTLS certificate.
void run_cold(Run& run, const std::string& wires) {
  const auto& a = run.a;
  const int base = run.next_index;
  run.next_index += a.cold;
  std::vector<ChildProcess> servers(static_cast<std::size_t>(a.cold));
  const Strings common{"--log-level", "error", "bench", "peer", "--impl", "rtc-actr", "--signal", run.signal_url};
  bool ok = true;
  for (int i = 0; i < a.cold && ok; ++i) {
    auto& s = servers[static_cast<std::size_t>(i)];
    ok = s.spawn(common + Strings{"--role", "server", "--mode", "rtt", "--index", std::to_string(base + i), "--cpu",
                                  std::to_string(run.scpu)}) &&
         s.read_line_with("port ", 30s).has_value();
  }
  nlohmann::json results = nlohmann::json::array();
  for (int c = 1; c <= 2 && ok; ++c) {
    ChildProcess client;
    std::optional<std::string> line;
    if (client.spawn(common + Strings{"--role", "client", "--mode", "cold", "--wires", wires, "--peers",
                                      std::to_string(a.cold), "--index", std::to_string(base), "--client",
                                      std::to_string(c), "--cpu", std::to_string(run.ccpu)})) {
      line = client.read_line_with("COLD ", 180s);
      ok = ended_well(client, "cold-start client", 20s);
    }
    auto j = line ? nlohmann::json::parse(line->substr(5), nullptr, false) : nlohmann::json();
    ok = ok && j.is_array();
    if (ok) results.push_back(j);
  }
  for (auto& s : servers) s.terminate();
  for (auto& s : servers) ok = ended_well(s, "cold-start server", 20s) && ok;
  if (!ok) {
    ++run.failures;
    if (!a.json) std::printf("cold start, client wires %s: failed\n", wires.c_str());
    return;
  }
  run.out["cold"][wires] = results;
  if (a.json) return;
  std::printf("cold start, client wires %s: first call to a peer → the peer has the message (ms; calls made)\n",
              wires.c_str());
  for (std::size_t c = 0; c < results.size(); ++c) {
    std::printf("  client %zu (fresh process), servers %-6s", c + 1, c == 0 ? "fresh" : "warm");
    for (const auto& p : results[c]) {
      if (p["first_webrtc_ms"].get<double>() < 0) ++run.failures;
      std::printf("  peer %d: first %.0f, over WebRTC %.0f (%d)%s", p["peer"].get<int>() + 1, p["first_ms"].get<double>(),
                  p["first_webrtc_ms"].get<double>(), p["calls"].get<int>(),
                  p["error"].get<std::string>().empty() ? "" : (" [" + p["error"].get<std::string>() + "]").c_str());
    }
    std::printf("\n");
  }
}

}  // namespace

int run_bench_webrtc(const BenchRtcArgs& a) {
  Run run(a);
  if (!bench::placement_cpus(a.placement, run.scpu, run.ccpu)) {
    std::cerr << "actr bench webrtc: --placement is same, split or free\n";
    return 2;
  }
  if (!a.json)
    std::printf("actr bench webrtc: %s; placement %s (server CPU %s, client CPU %s); %.1f s per cell; echo window %zu; "
                "one-way offered %s\n"
                "each cell = a server and a client process on 127.0.0.1. raw = webrtcbin used directly; wire =\n"
                "make_webrtc_wire (fragment header, lanes, backpressure, reassembly); actr = Node::send_chunk through the\n"
                "manager over WebRTC (set up via `actr signal`). reliable = ordered DataChannel, latency = unordered, max\n"
                "3 retransmits (oneway: delivered share). Ratios vs raw: rate (higher is better); rtt: p50 (lower is better)\n\n",
                bench::cpu_model().c_str(), a.placement.c_str(), run.scpu < 0 ? "any" : std::to_string(run.scpu).c_str(),
                run.ccpu < 0 ? "any" : std::to_string(run.ccpu).c_str(), a.seconds, a.window,
                a.rate > 0 ? (std::to_string(static_cast<long>(a.rate)) + "/s").c_str() : "as fast as sent");
  ChildProcess signal;
  const bool need_signal = a.cold > 0 || std::find(a.impls.begin(), a.impls.end(), "actr") != a.impls.end();
  if (need_signal) {
    auto line = signal.spawn({"--log-level", "error", "signal", "--listen", "127.0.0.1:0"})
                    ? signal.read_line_with("listening ", 10s)
                    : std::nullopt;
    if (!line) {
      std::cerr << "actr bench webrtc: `actr signal` did not start\n";
      return 1;
    }
    run.signal_url = "ws://" + line->substr(10) + "/";
  }
  run_table(run);
  if (a.cold > 0) {
    if (!a.json) std::printf("\n");
    run_cold(run, "webrtc");
    run_cold(run, "webrtc,ws");
  }
  if (need_signal) {
    signal.terminate();
    if (!ended_well(signal, "actr signal", 10s)) ++run.failures;
  }
  if (a.json) std::cout << run.out.dump(2) << "\n";
  return run.failures == 0 ? 0 : 1;
}

}  // namespace actr::cli
