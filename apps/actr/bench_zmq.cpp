// The ZeroMQ baseline of `actr bench ws` (issue 12): libzmq's DEALER -> ROUTER over
// tcp://127.0.0.1, the same three modes as every other impl, in the same pinned processes.
// High-water marks are off (0 = unlimited) on both sides, as in ZeroMQ's own throughput tests;
// one-way time runs until the server has counted every message, so queued-but-undelivered
// messages never count.
#include "bench.hpp"

#include <zmq.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace actr::cli::bench {

namespace {
using Clock = std::chrono::steady_clock;

// The client's first message names its mode: the server echoes (echo, rtt) or counts (oneway;
// an empty message asks for the count).
constexpr char kModePrefix[] = "mode:";

int fail(const char* what) {
  std::fprintf(stderr, "actr bench zmq: %s: %s\n", what, zmq_strerror(zmq_errno()));
  return 1;
}

void no_hwm(void* s) {
  const int zero = 0;
  zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_RCVHWM, &zero, sizeof zero);
}

int serve(void* ctx) {
  void* s = zmq_socket(ctx, ZMQ_ROUTER);
  no_hwm(s);
  if (zmq_bind(s, "tcp://127.0.0.1:*") != 0) return fail("bind");
  char endpoint[256] = {0};
  std::size_t len = sizeof endpoint;
  zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, endpoint, &len);
  const std::string ep(endpoint);
  print_port(static_cast<std::uint16_t>(std::stoi(ep.substr(ep.rfind(':') + 1))));
  bool echo = true;
  std::uint64_t counted = 0;
  zmq_msg_t id, body;
  zmq_msg_init(&id);
  zmq_msg_init(&body);
  for (;;) {  // until killed by the orchestrator
    if (zmq_msg_recv(&id, s, 0) < 0 || zmq_msg_recv(&body, s, 0) < 0) return fail("recv");
    const auto* data = static_cast<const char*>(zmq_msg_data(&body));
    const std::size_t n = zmq_msg_size(&body);
    if (n > sizeof kModePrefix - 1 && std::string(data, sizeof kModePrefix - 1) == kModePrefix) {
      echo = std::string(data + sizeof kModePrefix - 1, n - (sizeof kModePrefix - 1)) != "oneway";
      counted = 0;
    } else if (echo) {
      zmq_msg_send(&id, s, ZMQ_SNDMORE);
      zmq_msg_send(&body, s, 0);
    } else if (n == 0) {
      const auto c = std::to_string(counted);
      zmq_msg_send(&id, s, ZMQ_SNDMORE);
      zmq_send(s, c.data(), c.size(), 0);
    } else {
      ++counted;
    }
  }
}

int run_client(void* ctx, const PeerArgs& a) {
  void* s = zmq_socket(ctx, ZMQ_DEALER);
  no_hwm(s);
  if (zmq_connect(s, ("tcp://127.0.0.1:" + std::to_string(a.port)).c_str()) != 0) return fail("connect");
  const std::string hello = kModePrefix + a.mode;
  zmq_send(s, hello.data(), hello.size(), 0);
  const std::string msg(a.size, 'x');
  std::vector<char> in(a.size + 64);
  auto recv_one = [&] { return zmq_recv(s, in.data(), in.size(), 0) == static_cast<int>(a.size); };
  Measured m;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  if (a.mode == "oneway") {
    std::uint64_t sent = 0;
    while ((sent & 63) != 0 || Clock::now() < end) {
      zmq_send(s, msg.data(), msg.size(), 0);
      ++sent;
    }
    zmq_send(s, "", 0, 0);
    char reply[32] = {0};
    if (zmq_recv(s, reply, sizeof reply - 1, 0) < 0) return fail("recv count");
    m.secs = std::chrono::duration<double>(Clock::now() - t0).count();
    m.msgs = std::stoull(reply) == sent ? static_cast<double>(sent) : -1;
  } else if (a.mode == "echo") {
    std::uint64_t sent = 0, got = 0;
    for (; sent < a.window; ++sent) zmq_send(s, msg.data(), msg.size(), 0);
    bool stopping = false;
    while (got < sent) {
      if (!recv_one()) return fail("recv");
      ++got;
      if (!stopping && (got & 63) == 0 && Clock::now() >= end) stopping = true;
      if (!stopping) zmq_send(s, msg.data(), msg.size(), 0), ++sent;
    }
    m.secs = std::chrono::duration<double>(Clock::now() - t0).count();
    m.msgs = static_cast<double>(got);
  } else {
    std::vector<double> us;
    for (int i = 0; i < kRttWarmup; ++i) {
      zmq_send(s, msg.data(), msg.size(), 0);
      if (!recv_one()) return fail("recv");
    }
    while (Clock::now() < end) {
      const auto t = Clock::now();
      zmq_send(s, msg.data(), msg.size(), 0);
      if (!recv_one()) return fail("recv");
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
    m.secs = std::chrono::duration<double>(Clock::now() - t0).count();
    m.msgs = static_cast<double>(us.size());
    m.p50_us = percentile_us(us, 0.5);
    m.p99_us = percentile_us(us, 0.99);
  }
  const int linger = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_close(s);
  print_result(a, m);
  return m.msgs > 0 ? 0 : 1;
}
}  // namespace

int run_zmq_peer(const PeerArgs& a) {
  pin(a.cpu);
  void* ctx = zmq_ctx_new();
  const int rc = a.role == "server" ? serve(ctx) : run_client(ctx, a);
  zmq_ctx_term(ctx);
  return rc;
}

}  // namespace actr::cli::bench
