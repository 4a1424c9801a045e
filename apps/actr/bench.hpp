#pragma once
// `actr bench ws`: our WebSocket transport side by side with raw Beast and raw TCP peers, each a
// pair of processes on loopback, pinned per placement.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace actr::cli::bench {

/// One side of one benchmark cell (`actr bench peer ...`, run as a child process).
struct PeerArgs {
  std::string impl = "actr";  ///< actr | beast | tcp
  std::string role = "server";
  std::string mode = "oneway";  ///< oneway | echo | rtt (client side)
  std::uint16_t port = 0;
  std::size_t size = 64;
  std::size_t window = 64;
  double seconds = 2;
  int cpu = -1;  ///< pin to this CPU (-1: no pinning)
};

/// What a client measured: messages delivered in `secs`, and round-trip percentiles (rtt mode).
struct Measured {
  double msgs = 0, secs = 0, p50_us = 0, p99_us = 0;
};

/// Pins the calling process to `cpu` (no-op for -1).
void pin(int cpu);
/// Servers print "port N" then serve until killed; clients print "RESULT {json}".
void print_port(std::uint16_t port);
void print_result(const PeerArgs& a, const Measured& m);
/// Percentile of samples in microseconds.
double percentile_us(std::vector<double>& samples, double p);

int run_actr_peer(const PeerArgs& a);
int run_beast_peer(const PeerArgs& a);
int run_tcp_peer(const PeerArgs& a);

}  // namespace actr::cli::bench
