#pragma once
// Test-only WebSocket ends that speak the signaling protocol by hand: a raw client that can send
// what our client never would (garbage, text frames, forged sources) and can stop reading, and a
// "black hole" server that accepts, reads and never answers.

#include <actr/identity.hpp>
#include <actr/types.hpp>

#include "signaling.pb.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace actr::testing {

namespace sig_asio = boost::asio;
namespace sig_beast = boost::beast;
inline constexpr auto sig_use_ec = sig_asio::as_tuple(sig_asio::use_awaitable);
using RawStream = sig_beast::websocket::stream<sig_beast::tcp_stream>;

inline void fill(pb::ActrId* out, const ActrId& id) {
  out->mutable_realm()->set_realm_id(id.realm.realm_id);
  out->set_serial_number(id.serial_number);
  out->mutable_type()->set_manufacturer(id.type.manufacturer);
  out->mutable_type()->set_name(id.type.name);
  out->mutable_type()->set_version(id.type.version);
}

inline pb::SignalingEnvelope envelope(const std::string& id, std::uint32_t version = 2) {
  pb::SignalingEnvelope e;
  e.set_envelope_version(version);
  e.set_envelope_id(id);
  return e;
}

inline Bytes encoded(const pb::SignalingEnvelope& e) {
  std::string s;
  e.SerializePartialToString(&s);  // partial: tests also send envelopes with required fields missing
  return Bytes(s.begin(), s.end());
}

inline pb::AIdCredential to_pb(const Credential& c) {
  pb::AIdCredential out;
  out.set_key_id(c.key_id);
  out.set_claims(c.claims.data(), c.claims.size());
  out.set_signature(c.signature.data(), c.signature.size());
  return out;
}

// A heartbeat from `source` with `cred`.
inline pb::SignalingEnvelope ping(const std::string& id, const ActrId& source, const pb::AIdCredential& cred) {
  auto e = envelope(id);
  fill(e.mutable_actr_to_server()->mutable_source(), source);
  *e.mutable_actr_to_server()->mutable_credential() = cred;
  auto* p = e.mutable_actr_to_server()->mutable_ping();
  p->set_availability(pb::FULL);
  p->set_power_reserve(1.0F);
  p->set_mailbox_backlog(0.0F);
  return e;
}

struct RawPeer {
  std::unique_ptr<RawStream> ws;
  pb::AIdCredential credential;

  // Connects to the signaling server. `rcvbuf` > 0 shrinks the socket's receive buffer (a peer
  // that stops reading then backs up the server quickly).
  // `target`: the request target, e.g. with an identity in its query.
  static sig_asio::awaitable<RawPeer> connect(std::uint16_t port, int rcvbuf = 0, std::string target = "/") {
    RawPeer p;
    p.ws = std::make_unique<RawStream>(co_await sig_asio::this_coro::executor);
    auto& sock = sig_beast::get_lowest_layer(*p.ws).socket();
    if (rcvbuf > 0) {
      sock.open(sig_asio::ip::tcp::v4());
      sock.set_option(sig_asio::socket_base::receive_buffer_size(rcvbuf));
    }
    auto [ec] = co_await sig_beast::get_lowest_layer(*p.ws).async_connect(
        sig_asio::ip::tcp::endpoint(sig_asio::ip::make_address("127.0.0.1"), port), sig_use_ec);
    EXPECT_FALSE(ec) << ec.message();
    auto [hec] = co_await p.ws->async_handshake("127.0.0.1", target, sig_use_ec);
    EXPECT_FALSE(hec) << hec.message();
    p.ws->binary(true);
    co_return p;
  }

  sig_asio::awaitable<void> send(const Bytes& b, bool binary = true) {
    ws->binary(binary);
    auto [ec, n] = co_await ws->async_write(sig_asio::buffer(b), sig_use_ec);
    EXPECT_FALSE(ec) << ec.message();
    ws->binary(true);
  }

  sig_asio::awaitable<pb::SignalingEnvelope> read() {
    sig_beast::flat_buffer buf;
    auto [ec, n] = co_await ws->async_read(buf, sig_use_ec);
    EXPECT_FALSE(ec) << ec.message();
    pb::SignalingEnvelope e;
    EXPECT_TRUE(ws->got_binary());
    EXPECT_TRUE(e.ParseFromArray(buf.cdata().data(), static_cast<int>(buf.cdata().size())));
    co_return e;
  }

  sig_asio::awaitable<pb::SignalingEnvelope> request(const pb::SignalingEnvelope& e) {
    co_await send(encoded(e));
    co_return co_await read();
  }

  // Registers `id`; keeps the credential for later envelopes.
  sig_asio::awaitable<pb::SignalingEnvelope> register_as(const ActrId& id, const std::string& env_id = "raw-reg") {
    auto e = envelope(env_id);
    fill(e.mutable_peer_to_server()->mutable_register_request()->mutable_actr_id(), id);
    auto reply = co_await request(e);
    if (reply.server_to_actr().register_response().has_success())
      credential = reply.server_to_actr().register_response().success().credential();
    co_return reply;
  }
};

// Accepts one WebSocket client, counts what it reads, never answers. `kill()` drops the TCP
// connection without a closing handshake (a server that died).
struct BlackHole {
  explicit BlackHole(sig_asio::io_context& io)
      : acceptor(io, sig_asio::ip::tcp::endpoint(sig_asio::ip::make_address("127.0.0.1"), 0)) {}
  sig_asio::ip::tcp::acceptor acceptor;
  std::unique_ptr<RawStream> ws;
  int received = 0;
  bool accepted = false;
  bool ended = false;

  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  sig_asio::awaitable<void> serve() {
    auto [ec, sock] = co_await acceptor.async_accept(sig_use_ec);
    if (ec) co_return;
    ws = std::make_unique<RawStream>(std::move(sock));
    auto [aec] = co_await ws->async_accept(sig_use_ec);
    accepted = !aec;
    for (;;) {
      sig_beast::flat_buffer buf;
      auto [rec, n] = co_await ws->async_read(buf, sig_use_ec);
      if (rec) break;
      ++received;
    }
    ended = true;
  }
  void kill() {
    sig_beast::error_code ignored;
    sig_beast::get_lowest_layer(*ws).socket().close(ignored);
    acceptor.close(ignored);
  }
};

}  // namespace actr::testing
