// What the signaling server keeps per id and per connection: ids within actr's name rules only
// (a 14 KB name is refused, typed), and after hundreds (ACTR_SIGNALING_CYCLES: thousands) of short-lived peers that registered,
// negotiated, offered and left, every per-id and per-connection structure is back to its size
// before them.
#include <actr/signaling.hpp>

#include "signaling/fast_config.hpp"
#include "signaling/loopback_server.hpp"
#include "signaling/peer_cycles.hpp"
#include "signaling/raw_peer.hpp"
#include "support/run_co.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <string>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;

namespace {
std::uint32_t error_code(const pb::SignalingEnvelope& e) { return e.envelope_error().code(); }
}  // namespace

TEST(SignalingMemory, NamesPastActrsRulesAreRefusedTyped) {
  LoopbackServer s;
  run_co(s.io, [&]() -> sig_asio::awaitable<void> {
    auto raw = co_await RawPeer::connect(s.port);
    auto huge = longest_id(1);
    huge.type.name = "n" + std::string(14 * 1024, 'x');  // the 14 KB name of a flood
    auto r1 = co_await raw.register_as(huge, "huge");
    EXPECT_EQ(r1.reply_for(), "huge");
    EXPECT_EQ(error_code(r1), static_cast<std::uint32_t>(SignalingErrc::InvalidArgument));
    auto bad = longest_id(2);
    bad.type.manufacturer = "a:b";  // a ':' would make the id's string form ambiguous
    auto r2 = co_await raw.register_as(bad, "colon");
    EXPECT_EQ(error_code(r2), static_cast<std::uint32_t>(SignalingErrc::InvalidArgument));
    auto e = envelope("far");
    fill(e.mutable_peer_to_server()->mutable_register_request()->mutable_actr_id(), longest_id(3));
    e.mutable_peer_to_server()->mutable_register_request()->set_ws_address("ws://h:1/" + std::string(2000, 'p'));
    auto r3 = co_await raw.request(e);
    EXPECT_EQ(error_code(r3), static_cast<std::uint32_t>(SignalingErrc::InvalidArgument));
    EXPECT_EQ(s.server->stats().registered, 0u);
    // The longest valid id registers.
    auto ok = co_await raw.register_as(longest_id(4), "ok");
    EXPECT_TRUE(ok.server_to_actr().register_response().has_success());
    EXPECT_EQ(s.server->stats().registered, 1u);
  }());
}

TEST(SignalingMemory, ThousandsOfShortLivedPeersLeaveNothingBehind) {
  auto cfg = fast_server();
  cfg.registration_ttl = 2000ms;  // the sweeper runs every 500 ms
  cfg.contact_ttl = 100ms;
  LoopbackServer s(cfg);
  const int kCycles = peer_cycles(500);
  const auto before = s.server->stats();
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::warn);  // a line per registration costs more than the cycle
  const int done = run_co(s.io, short_lived_peers(s.port, kCycles), 600s);
  spdlog::set_level(level);
  EXPECT_EQ(done, kCycles);
  const auto during = s.server->stats();
  EXPECT_EQ(during.registrations - before.registrations, static_cast<std::uint64_t>(kCycles) + 1);
  EXPECT_GE(during.relayed - before.relayed, 3u * static_cast<std::uint64_t>(kCycles));  // two role assignments and an offer each
  // Connections, registrations and contacts all go back to what they were; nothing stays per id.
  run_until(
      s.io,
      [&] {
        const auto st = s.server->stats();
        return st.connections == before.connections && st.registered == before.registered &&
               st.contacts == before.contacts;
      },
      10s);
  const auto after = s.server->stats();
  EXPECT_EQ(after.connections, 0u);
  EXPECT_EQ(after.registered, 0u);
  EXPECT_EQ(after.contacts, 0u);
  EXPECT_EQ(after.ais_addresses, 0u);
  EXPECT_EQ(after.ip_tracked, before.ip_tracked);
  EXPECT_EQ(after.slow_dropped, 0u);
}
