// The signaling server and clients on a 2-thread io_context: concurrent registration, role
// negotiation of every pair from both sides at once, relay storms, a client dropping out and
// close. Runs in the ASan+UBSan suite and again under TSan (label "concurrency").
#include <actr/error.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

#include "core/test_util.hpp"
#include "support/run_co.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <future>
#include <map>
#include <thread>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// libspdlog is not built with TSan, so TSan cannot see the thread-safe initialisation of its
// registry and would report the first log lines of two threads as a race. Create it up front.
[[maybe_unused]] const bool kLoggerReady = (spdlog::default_logger_raw() != nullptr);


// Runs `aw` on the pool and waits for it from the test thread, with a deadline.
template <class T>
T wait_for(asio::io_context& io, asio::awaitable<T> aw, std::chrono::seconds limit = 120s) {
  auto fut = asio::co_spawn(io, std::move(aw), asio::use_future);
  if (fut.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "did not complete within " << limit.count() << " s";
    std::abort();
  }
  return fut.get();
}

SignalingClientConfig client_cfg() {
  SignalingClientConfig c;
  c.request_timeout = 30000ms;   // a loaded CI box (sanitizers, parallel suites) is slow, not broken
  c.heartbeat_interval = 100ms;  // heartbeats run concurrently with everything else
  c.close_timeout = 500ms;
  c.reconnect_backoff.initial = 10ms;
  c.reconnect_backoff.max = 100ms;
  return c;
}

constexpr int kClients = 6;
std::uint64_t serial(int i) { return static_cast<std::uint64_t>(i + 1); }
constexpr int kCandidates = 20;

}  // namespace

TEST(SignalingStress, ConcurrentPairsNegotiateAndRelayOnTwoThreads) {
  TwoThreads pool;
  SignalingServerConfig scfg;
  scfg.heartbeat_interval = 100ms;
  scfg.close_timeout = 500ms;
  SignalingServer server(pool.io.get_executor(), scfg);
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  const std::string url = "ws://127.0.0.1:" + std::to_string(*port) + "/";

  std::vector<std::unique_ptr<SignalingClient>> clients;
  for (int i = 0; i < kClients; ++i)
    clients.push_back(std::make_unique<SignalingClient>(pool.io.get_executor(), client_cfg()));

  // Everyone connects and registers at once.
  auto join = [&](int i) -> asio::awaitable<Error> {
    auto c = co_await clients[static_cast<std::size_t>(i)]->connect(url);
    if (!c) co_return c.error();
    auto r = co_await clients[static_cast<std::size_t>(i)]->register_actor(actor_id(serial(i)));
    co_return r ? Error{} : r.error();
  };
  std::vector<std::future<Error>> joins;
  for (int i = 0; i < kClients; ++i) joins.push_back(asio::co_spawn(pool.io, join(i), asio::use_future));
  for (auto& j : joins) {
    ASSERT_EQ(j.wait_for(120s), std::future_status::ready);
    auto e = j.get();
    ASSERT_FALSE(e) << e.message();
  }
  EXPECT_EQ(server.stats().registered, static_cast<std::uint64_t>(kClients));

  // Every pair negotiates from both sides at the same time; every client relays candidates to
  // every other client meanwhile.
  std::mutex mu;
  std::map<std::pair<int, int>, bool> offers;  // (self, peer) -> is_offerer, from negotiate_role
  auto negotiate = [&](int i, int j) -> asio::awaitable<Error> {
    auto r = co_await clients[static_cast<std::size_t>(i)]->negotiate_role(actor_id(serial(j)));
    if (!r) co_return r.error();
    std::lock_guard lk(mu);
    offers[std::pair(i, j)] = *r;
    co_return Error{};
  };
  auto storm = [&](int i) -> asio::awaitable<Error> {
    for (int n = 0; n < kCandidates; ++n) {
      for (int j = 0; j < kClients; ++j) {
        if (j == i) continue;
        PeerSignal s;
        s.kind = PeerSignal::Kind::IceCandidate;
        s.candidate = "candidate:" + std::to_string(n);
        s.username_fragment = "uf" + std::to_string(i);
        auto r = co_await clients[static_cast<std::size_t>(i)]->send_signal(actor_id(serial(j)), s);
        if (!r) co_return r.error();
      }
    }
    co_return Error{};
  };
  std::vector<std::future<Error>> work;
  for (int i = 0; i < kClients; ++i) {
    for (int j = 0; j < kClients; ++j)
      if (i != j) work.push_back(asio::co_spawn(pool.io, negotiate(i, j), asio::use_future));
    work.push_back(asio::co_spawn(pool.io, storm(i), asio::use_future));
  }
  for (auto& w : work) {
    ASSERT_EQ(w.wait_for(120s), std::future_status::ready);
    auto e = w.get();
    ASSERT_FALSE(e) << e.message();
  }
  for (int i = 0; i < kClients; ++i) {
    for (int j = i + 1; j < kClients; ++j) {
      const bool i_offers = offers[std::pair(i, j)];
      const bool j_offers = offers[std::pair(j, i)];
      EXPECT_NE(i_offers, j_offers) << i << "," << j;  // exactly one offerer per pair
      EXPECT_FALSE(i_offers);                          // the greater id (j's) offers: actrix's rule
    }
  }

  // Every candidate arrives, per source in order; every side hears each of its pairs' pushes.
  auto drain = [&](int i) -> asio::awaitable<Error> {
    auto& c = *clients[static_cast<std::size_t>(i)];
    std::map<ActrId, int> next;
    for (int n = 0; n < kCandidates * (kClients - 1); ++n) {
      auto s = co_await c.next_signal(Clock::now() + 60s);
      if (!s) co_return s.error();
      if (s->signal.candidate != "candidate:" + std::to_string(next[s->from]++))
        co_return make_error_code(NetworkError::ProtocolError);
    }
    for (int n = 0; n < kClients - 1; ++n) {  // one unsolicited assignment per peer that negotiated
      auto a = co_await c.next_role_assignment(Clock::now() + 60s);
      if (!a) co_return a.error();
    }
    co_return Error{};
  };
  std::vector<std::future<Error>> drains;
  for (int i = 0; i < kClients; ++i) drains.push_back(asio::co_spawn(pool.io, drain(i), asio::use_future));
  for (auto& d : drains) {
    ASSERT_EQ(d.wait_for(120s), std::future_status::ready);
    auto e = d.get();
    EXPECT_FALSE(e) << e.message();
  }
  EXPECT_EQ(server.stats().slow_dropped, 0u);

  // One client leaves abruptly (destroyed), the rest close while heartbeats are in flight.
  clients.back().reset();
  for (auto& c : clients)
    if (c) wait_for(pool.io, c->close());
  wait_for(pool.io, server.close());
  EXPECT_EQ(server.stats().connections, 0u);
}
