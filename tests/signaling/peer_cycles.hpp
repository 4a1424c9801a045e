#pragma once
// Short-lived signaling peers, by hand: each registers the longest id actr's name rules admit,
// negotiates a WebRTC role with one long-lived peer, relays an offer to it and disconnects. Used
// to check that a signaling server keeps nothing per id once its holders are gone.

#include "signaling/raw_peer.hpp"

#include <chrono>
#include <cstdlib>
#include <string>

namespace actr::testing {

// How many short-lived peers a test runs: ACTR_SIGNALING_CYCLES (e.g. 2500, the figure of
// docs/limits.md), else `fallback` (what fits ctest's timeout under ASan on a loaded machine).
inline int peer_cycles(int fallback) {
  const char* s = std::getenv("ACTR_SIGNALING_CYCLES");
  const int n = s ? std::atoi(s) : 0;
  return n > 0 ? n : fallback;
}

// The longest id actr's rules admit: 32-character manufacturer, name and version.
inline ActrId longest_id(std::uint64_t serial) {
  return ActrId{Realm{7}, serial, ActrType{std::string(31, 'm') + "1", std::string(31, 'n') + "2", std::string(32, '9')}};
}

inline pb::SignalingEnvelope relay_from(const RawPeer& p, const std::string& env_id, const ActrId& src,
                                        const ActrId& dst) {
  auto e = envelope(env_id);
  fill(e.mutable_actr_relay()->mutable_source(), src);
  *e.mutable_actr_relay()->mutable_credential() = p.credential;
  fill(e.mutable_actr_relay()->mutable_target(), dst);
  return e;
}

// `cycles` peers, one after another, against the server on 127.0.0.1:`port`, next to a long-lived
// peer B (which pings so as to stay registered, and leaves at the end). Returns the cycles done.
inline sig_asio::awaitable<int> short_lived_peers(std::uint16_t port, int cycles) {
  using namespace std::chrono_literals;
  const ActrId bid = longest_id(1'000'000);
  auto b = co_await RawPeer::connect(port);
  auto breg = co_await b.register_as(bid, "b");
  EXPECT_TRUE(breg.server_to_actr().register_response().has_success());
  auto last_ping = std::chrono::steady_clock::now();
  // B hears each A leave (PeerGone, as its contact) some time after A's close: skip those.
  auto b_read = [&b]() -> sig_asio::awaitable<pb::SignalingEnvelope> {
    for (;;) {
      auto e = co_await b.read();
      if (!e.actr_relay().has_peer_gone()) co_return e;
    }
  };
  int done = 0;
  for (int i = 0; i < cycles; ++i) {
    const ActrId aid = longest_id(static_cast<std::uint64_t>(i) + 1);
    auto a = co_await RawPeer::connect(port);
    auto reg = co_await a.register_as(aid, "a");
    if (!reg.server_to_actr().register_response().has_success()) {
      ADD_FAILURE() << "cycle " << i << ": registration refused";
      break;
    }
    // Negotiate roles (the server remembers the pair as contacts), then relay an offer.
    auto neg = relay_from(a, "neg", aid, bid);
    auto* rn = neg.mutable_actr_relay()->mutable_role_negotiation();
    fill(rn->mutable_from(), aid);
    fill(rn->mutable_to(), bid);
    rn->set_realm_id(aid.realm.realm_id);
    auto mine = co_await a.request(neg);
    auto theirs = co_await b_read();
    EXPECT_TRUE(mine.actr_relay().has_role_assignment());
    EXPECT_TRUE(theirs.actr_relay().has_role_assignment());
    auto offer = relay_from(a, "offer", aid, bid);
    auto* sd = offer.mutable_actr_relay()->mutable_session_description();
    sd->set_type(pb::SessionDescription::OFFER);
    sd->set_sdp("v=0 cycle " + std::to_string(i));
    co_await a.send(encoded(offer));
    auto got = co_await b_read();
    if (got.actr_relay().session_description().sdp() != "v=0 cycle " + std::to_string(i)) {
      ADD_FAILURE() << "cycle " << i << ": the offer was not relayed";
      break;
    }
    auto [cec] = co_await a.ws->async_close(sig_beast::websocket::close_code::normal, sig_use_ec);
    EXPECT_FALSE(cec) << cec.message();
    if (std::chrono::steady_clock::now() - last_ping > 300ms) {  // B stays registered
      co_await b.send(encoded(ping("b-ping", bid, b.credential)));
      auto pong = co_await b_read();
      EXPECT_TRUE(pong.server_to_actr().has_pong());
      last_ping = std::chrono::steady_clock::now();
    }
    ++done;
  }
  auto [cec] = co_await b.ws->async_close(sig_beast::websocket::close_code::normal, sig_use_ec);
  EXPECT_FALSE(cec) << cec.message();
  co_return done;
}

}  // namespace actr::testing
