#pragma once
// `actr bench ws` and `actr bench webrtc`: our transports side by side with raw baselines (Beast,
// TCP; webrtcbin), each cell a pair of processes on loopback, pinned per placement.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace actr::cli::bench {

/// One side of one benchmark cell (`actr bench peer ...`, run as a child process).
struct PeerArgs {
  std::string impl = "actr";  ///< ws: actr | wire | beast | tcp; webrtc: actr | wire | raw
  std::string role = "server";
  std::string mode = "oneway";  ///< oneway | echo | rtt (client side)
  std::uint16_t port = 0;
  std::size_t size = 64;
  std::size_t window = 64;
  double seconds = 2;
  int cpu = -1;  ///< pin to this CPU (-1: no pinning)
  // webrtc only
  std::string lane = "reliable";  ///< reliable | latency (the DataChannel measured)
  std::string signal;             ///< actr: ws://HOST:PORT of `actr signal`
  std::string wires = "webrtc";   ///< actr cold start: webrtc | webrtc,ws
  int peers = 1;                  ///< actr cold start: cold peers to contact one after another
  int index = 0;                  ///< actr: which server (and client) of the run, for their ids
  int client = 0;                 ///< actr cold start: which client of the same servers, for its id
  int server_pid = -1;            ///< ws many-peers client: the server whose memory it reads
  double rate = 0;                ///< webrtc one-way: messages offered per second (0: as fast as sends go)
};

/// Sends due by now at `rate` per second since `start` (paced one-way cells): a sender sends
/// while it is behind this count, then waits a millisecond.
inline std::uint64_t due(double rate, double seconds_since_start) {
  return static_cast<std::uint64_t>(rate * seconds_since_start) + 1;
}

/// What a client measured: messages delivered in `secs`, and round-trip percentiles (rtt mode).
struct Measured {
  double msgs = 0, secs = 0, p50_us = 0, p99_us = 0;
  double sent = 0;        ///< webrtc: messages sent (latency-first one-way: delivered = msgs)
  double lost = 0;        ///< webrtc latency-first rtt: pings without an answer within 200 ms
  double connect_ms = 0;  ///< webrtc: start of the peer connection → all channels open (client side)
  double rss_kib_per_peer = 0;  ///< ws many peers: the server's RSS growth per connected peer
};

/// Round trips before the measured ones (`bench webrtc`: every impl the same).
constexpr int kRttWarmup = 20;

/// Pins the calling thread (`pid` 0), or the process `pid`, to `cpu` (no-op for -1).
void pin(int cpu, int pid = 0);
/// VmRSS of process `pid` in KiB, from /proc/PID/status (0 if unreadable).
double rss_kib(int pid);
/// Servers print "port N" then serve until killed; clients print "RESULT {json}".
void print_port(std::uint16_t port);
void print_result(const PeerArgs& a, const Measured& m);
/// Percentile of samples in microseconds.
double percentile_us(std::vector<double>& samples, double p);
/// "64", "1k" → bytes.
std::size_t parse_size(const std::string& s);
/// /proc/cpuinfo's model name.
std::string cpu_model();
/// "12k/s", or "1.2k/s 75MiB/s" for sizes ≥ 16 KiB.
std::string fmt_rate(double per_s, std::size_t size);
/// CPUs of server and client for a placement (same | split | free; -1 = not pinned); false if
/// the placement is unknown.
bool placement_cpus(const std::string& placement, int& server_cpu, int& client_cpu);

int run_actr_peer(const PeerArgs& a);
int run_beast_peer(const PeerArgs& a);
int run_tcp_peer(const PeerArgs& a);
/// `bench ws --peers N` client: N WebSocket wires streaming tells at an actr Node (bench_many.cpp).
int run_many_peer(const PeerArgs& a, const std::string& server_id);
/// libzmq DEALER -> ROUTER (bench_zmq.cpp; only in builds that found libzmq, `kHaveZmq`).
int run_zmq_peer(const PeerArgs& a);
#ifdef ACTR_BENCH_ZMQ
inline constexpr bool kHaveZmq = true;
#else
inline constexpr bool kHaveZmq = false;
#endif
/// Ends GStreamer's pooled streaming threads (they outlive every pipeline). One that ran DTLS
/// holds OpenSSL per-thread state, which OpenSSL's atexit cleanup orphans (a leak report under
/// LSan) while the thread lives; `bench webrtc` peers call this last. In bench_rtc_raw.cpp.
void quiesce_gstreamer();
/// `bench webrtc` peers: ours (impl actr | wire) and the raw webrtcbin baseline (impl raw).
int run_rtc_peer(const PeerArgs& a);
int run_rtc_raw_peer(const PeerArgs& a);

}  // namespace actr::cli::bench
