// Writes the seed corpora of the fuzz targets (a handful of valid inputs each) with the project's
// own encoders, so the seeds stay valid when a format changes:  actr_fuzz_seeds fuzz/corpus
#include "signaling/envelope.hpp"

#include <actr/dc_fragment.hpp>
#include <actr/framing.hpp>
#include <actr/hex.hpp>

#include "package.pb.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using actr::Bytes;

fs::path g_root;

void write(const std::string& target, const std::string& name, const Bytes& b) {
  fs::create_directories(g_root / target);
  std::ofstream(g_root / target / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A credential in HEAD's shape; its signature is not valid (the fuzz targets parse, never verify).
void fake_credential(actr::pb::AIdCredential* c) {
  c->set_key_id(1);
  c->set_claims("claims");
  c->set_signature(std::string(64, 's'));
}

Bytes encode(const google::protobuf::MessageLite& m) {
  Bytes b(m.ByteSizeLong());
  m.SerializeToArray(b.data(), static_cast<int>(b.size()));
  return b;
}

const actr::ActrId kA{actr::Realm{101}, 1, actr::ActrType{"acme", "echo", "1.0.0"}};
const actr::ActrId kB{actr::Realm{101}, 2, actr::ActrType{"acme", "echo", "1.0.0"}};

void frames() {
  for (auto pt : {actr::PayloadType::RpcReliable, actr::PayloadType::StreamLatencyFirst, actr::PayloadType::MediaRtp}) {
    Bytes f;
    (void)actr::encode_frame(pt, bytes_of("hello"), f);
    write("frame", "pt" + std::to_string(static_cast<int>(pt)), f);
  }
  Bytes empty;
  (void)actr::encode_frame(actr::PayloadType::RpcSignal, {}, empty);
  write("frame", "empty", empty);
}

void reassembler() {
  // Opcodes of fuzz_reassembler.cpp: 1 = fragment [id index total fill tail], 2 = time, 3 = clear.
  write("reassembler", "two_frags", {1, 7, 0, 2, 0x61, 10, 1, 7, 1, 2, 0x62, 10});
  write("reassembler", "out_of_order", {1, 9, 2, 3, 0x63, 4, 1, 9, 0, 3, 0x64, 0, 1, 9, 1, 3, 0x65, 0});
  write("reassembler", "expiry", {1, 5, 0, 3, 0x66, 0, 2, 250, 1, 5, 1, 3, 0x67, 0, 3});
  Bytes single;
  (void)actr::encode_fragment(3, bytes_of("whole"), 0, single);
  Bytes raw{0, 0, static_cast<std::uint8_t>(single.size())};
  raw.insert(raw.end(), single.begin(), single.end());
  write("reassembler", "raw_single", raw);
}

void node_inbound() {
  actr::pb::RpcEnvelope env;
  env.set_route_key("echo");
  env.set_request_id("0123456789abcdef0123456789abcdef");
  env.set_timeout_ms(5000);
  env.set_payload("ping");
  const std::pair<actr::pb::Direction, const char*> dirs[] = {
      {actr::pb::DIRECTION_REQUEST, "request"}, {actr::pb::DIRECTION_TELL, "tell"}, {actr::pb::DIRECTION_RESPONSE, "response"}};
  for (const auto& [d, name] : dirs) {
    env.set_direction(d);
    Bytes b{0};
    auto e = encode(env);
    b.insert(b.end(), e.begin(), e.end());
    write("node_inbound", name, b);
  }
  env.mutable_error()->set_code(3);
  env.mutable_error()->set_message("no handler");
  Bytes err{1};
  auto e = encode(env);
  err.insert(err.end(), e.begin(), e.end());
  write("node_inbound", "error_response", err);
  actr::pb::DataStream chunk;
  chunk.set_stream_id("s1");
  chunk.set_sequence(42);
  chunk.set_payload("chunk");
  auto* m = chunk.add_metadata();
  m->set_key("k");
  m->set_value("v");
  Bytes c{2};
  auto ce = encode(chunk);
  c.insert(c.end(), ce.begin(), ce.end());
  write("node_inbound", "chunk", c);
}

void signaling() {
  namespace sig = actr::sig;
  auto reg = sig::make_envelope("env-1");
  auto* rr = reg.mutable_peer_to_server()->mutable_register_request();
  sig::to_pb(kA, rr->mutable_actr_id());
  rr->set_ws_address("ws://127.0.0.1:9001/");
  write("signaling_envelope", "register", sig::encode(reg));

  auto disc = sig::make_envelope("env-2");
  auto* a2s = disc.mutable_actr_to_server();
  sig::to_pb(kA, a2s->mutable_source());
  fake_credential(a2s->mutable_credential());
  sig::to_pb(kB, a2s->mutable_locate_request()->mutable_target());
  write("signaling_envelope", "discover", sig::encode(disc));

  auto relay = [&](const std::string& name, auto fill) {
    auto env = sig::make_envelope("env-3");
    auto* r = env.mutable_actr_relay();
    sig::to_pb(kA, r->mutable_source());
    fake_credential(r->mutable_credential());
    sig::to_pb(kB, r->mutable_target());
    fill(r);
    write("signaling_envelope", name, sig::encode(env));
  };
  relay("offer", [](actr::pb::ActrRelay* r) {
    actr::PeerSignal s{.kind = actr::PeerSignal::Kind::Offer, .sdp = "v=0\r\n", .sdp_exchange_id = "0f8e2c1a-7b3d-4e5f-9a6b-1c2d3e4f5a6b"};
    (void)sig::to_relay(s, r);
  });
  relay("candidate", [](actr::pb::ActrRelay* r) {
    actr::PeerSignal s{.kind = actr::PeerSignal::Kind::IceCandidate, .candidate = "candidate:1 1 UDP 1 127.0.0.1 5000 typ host",
                       .sdp_mid = "0", .sdp_mline_index = 0, .username_fragment = "abcd"};
    (void)sig::to_relay(s, r);
  });
  relay("role", [](actr::pb::ActrRelay* r) {
    sig::to_pb(kA, r->mutable_role_negotiation()->mutable_from());
    sig::to_pb(kB, r->mutable_role_negotiation()->mutable_to());
    r->mutable_role_negotiation()->set_realm_id(101);
  });
  auto bad_version = sig::make_error("env-4", "srv-1", actr::SignalingErrc::Malformed, "x");
  bad_version.set_envelope_version(1);
  write("signaling_envelope", "old_version", sig::encode(bad_version));
}

void ws_upgrade() {
  const std::string head = "GET / HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  write("ws_upgrade", "source_id", bytes_of(head + "X-Actr-Source-ID: " + actr::to_hex(kA.to_protobuf()) + "\r\n\r\n"));
  write("ws_upgrade", "credential",
        bytes_of(head + "X-Actr-Source-ID: " + actr::to_hex(kB.to_protobuf()) + "\r\nX-Actr-Credential: tok\r\n\r\n"));
  write("ws_upgrade", "no_id", bytes_of(head + "\r\n"));
  write("ws_upgrade", "not_upgrade", bytes_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: actr_fuzz_seeds <fuzz/corpus directory>\n");
    return 2;
  }
  g_root = argv[1];
  frames();
  reassembler();
  node_inbound();
  signaling();
  ws_upgrade();
  return 0;
}
